"""FastAPI dependencies, as `Annotated` aliases the routes name in their signatures: the
api's one application service (`Models`) and the caller a request's key belongs to.

Both come from `app.state`, where the app's lifespan puts what it wired (`app.py`), so
the routes know the service and the key port, never the runtime or an adapter."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.handlers import Models
from services.api.keys import Caller
from services.api.ports import Authenticator
from shared.errors import UnauthenticatedError

_bearer = HTTPBearer(auto_error=False, description="An API key from `jan-models keys create`")


# Async, though they await nothing: FastAPI runs a plain `def` dependency in a worker
# thread, a thread-pool hop per request for a dictionary lookup.
async def get_models(request: Request) -> Models:
    models: Models = request.app.state.models
    return models


ModelsDep = Annotated[Models, Depends(get_models)]


async def get_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UnauthenticatedError
    keys: Authenticator = request.app.state.keys
    caller = await keys.authenticate(credentials.credentials)
    if caller is None:
        raise UnauthenticatedError
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]
