"""Raw HTTP to the apiserver: one shared aiohttp session, bodies as bytes.

kubernetes-asyncio's `ApiClient.call_api` cost the deployer more CPU than the applies
themselves: every request walked the body through `sanitize_for_serialization`,
`json.dumps`, and its session (created with `trust_env=True`) looked up proxies and read
`~/.netrc` in a worker thread per request. Here the caller hands in bytes (the deployer
encodes with orjson), the session does not consult the environment, and the answer comes
back as status, bytes and `Retry-After`, left to the caller to decode only when needed.

What makes the client talk to the right cluster still comes from kubernetes-asyncio's
`Configuration` as the kubeconfig or in-cluster loader filled it: host, CA, client
certificate, `insecure-skip-tls-verify`, `tls-server-name`, `proxy-url`, and the bearer
token, which is read through `Configuration.auth_settings()` on every request so the
in-cluster token refresh (and exec plugins' refresh) keep working.
"""

import ssl
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from kubernetes_asyncio.client import Configuration

JSON: Final = "application/json"


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    body: bytes
    retry_after: str | None


def ssl_context(configuration: Configuration) -> ssl.SSLContext:
    """The TLS context kubernetes-asyncio's REST client builds from the same configuration."""
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, keyfile=configuration.key_file)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if getattr(configuration, "disable_strict_ssl_verification", False):
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return context


class KubeTransport:
    def __init__(
        self,
        configuration: Configuration,
        *,
        timeout: float,
        connections: int = 64,
        user_agent: str = "jan-models-deployer",
    ) -> None:
        self._configuration = configuration
        self._user_agent = user_agent
        self._host = str(configuration.host).rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._extra: dict[str, Any] = {}
        if configuration.tls_server_name:
            self._extra["server_hostname"] = configuration.tls_server_name
        if configuration.proxy:
            self._extra["proxy"] = configuration.proxy
            if configuration.proxy_headers:
                self._extra["proxy_headers"] = configuration.proxy_headers

    def _open(self) -> aiohttp.ClientSession:
        """The session, made on first use (aiohttp wants a running loop for it)."""
        if self._session is None:
            https = self._host.startswith("https:")
            connector = aiohttp.TCPConnector(
                limit=self._connections,
                ssl=ssl_context(self._configuration) if https else False,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, trust_env=False, timeout=self._timeout
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        body: bytes | None = None,
        content_type: str = JSON,
    ) -> RawResponse:
        """One request; transport failures raise aiohttp.ClientError, TimeoutError or OSError."""
        headers = {"Accept": JSON, "User-Agent": self._user_agent}
        if body is not None:
            headers["Content-Type"] = content_type
        auth = (await self._configuration.auth_settings()).get("BearerToken")
        if auth and auth.get("value"):
            headers["Authorization"] = auth["value"]
        url = f"{self._host}{path}?{query}" if query else f"{self._host}{path}"
        async with self._open().request(
            method, url, data=body, headers=headers, **self._extra
        ) as response:
            return RawResponse(
                status=response.status,
                body=await response.read(),
                retry_after=response.headers.get("Retry-After"),
            )
