"""The azure-core door: transports that hand requests straight to an Emulator, in-process.

`responses` only intercepts the requests library, so async (`.aio`) clients, which use
aiohttp, need this: `ComputeManagementClient(cred, sub, transport=EmulatorAsyncTransport(em))`.
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import ServiceResponseError
from azure.core.pipeline.transport import AsyncHttpTransport, HttpTransport
from azure.core.rest._http_response_impl import RestHttpClientTransportResponse
from azure.core.rest._http_response_impl_async import RestAsyncHttpClientTransportResponse

from .core import Emulator
from .faults import ConnectionResetFault
from .wire import Request

REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
           404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 429: "Too Many Requests",
           500: "Internal Server Error", 503: "Service Unavailable"}


class _Raw:
    """The little of http.client.HTTPResponse that azure-core's rest responses read."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.reason, self._headers, self._body = status, REASONS.get(status, ""), headers, body

    def getheaders(self) -> list[tuple[str, str]]:
        return list(self._headers.items())

    def read(self) -> bytes:
        return self._body


def _call(emulator: Emulator, request: Any) -> _Raw:
    body = request.content if isinstance(getattr(request, "content", None), bytes) else (request.body or b"")
    if isinstance(body, str):
        body = body.encode()
    wire = Request(request.method, request.url, dict(request.headers), body or b"")
    try:
        response = emulator.handle(wire)
    except ConnectionResetFault as exc:
        raise ServiceResponseError(f"Connection reset by peer (emulated fault on {exc})") from None
    return _Raw(response.status, response.all_headers(wire), response.content())


class _Response(RestHttpClientTransportResponse):
    """A complete in-memory response; streaming just yields the body."""

    def iter_bytes(self, **kwargs: Any):
        yield self.read()

    iter_raw = iter_bytes


class _AsyncResponse(RestAsyncHttpClientTransportResponse):
    async def iter_bytes(self, **kwargs: Any):
        yield await self.read()

    iter_raw = iter_bytes


class EmulatorTransport(HttpTransport):
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def send(self, request, **kwargs: Any):
        return _Response(request=request, internal_response=_call(self.emulator, request))

    def open(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self): return self
    def __exit__(self, *args: Any) -> None: ...


class EmulatorAsyncTransport(AsyncHttpTransport):
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    async def send(self, request, **kwargs: Any):
        response = _AsyncResponse(request=request, internal_response=_call(self.emulator, request))
        await response.read()
        return response

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def __aenter__(self): return self
    async def __aexit__(self, *args: Any) -> None: ...
