"""FastAPI dependencies, as `Annotated` aliases the routes name in their signatures."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.adapters.api_keys import Caller
from services.api.handlers import Models
from services.api.runtime import ApiRuntime
from shared.errors import UnauthenticatedError

_bearer = HTTPBearer(auto_error=False, description="An API key from `jan-models keys create`")


# Async, though they await nothing: FastAPI runs a plain `def` dependency in a worker
# thread, a thread-pool hop per request for a dictionary lookup.
async def get_runtime(request: Request) -> ApiRuntime:
    runtime: ApiRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ApiRuntime, Depends(get_runtime)]


async def get_models(runtime: RuntimeDep) -> Models:
    return runtime.models


ModelsDep = Annotated[Models, Depends(get_models)]


async def get_caller(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UnauthenticatedError
    caller = await runtime.keys.authenticate(credentials.credentials)
    if caller is None:
        raise UnauthenticatedError
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]
