"""Test Azure code without Azure: `mock_azure`, moto-style, for tests and scripts.

    from dsvmctl.testing import mock_azure

    with mock_azure() as azure:
        client = ComputeManagementClient(azure.credential, azure.subscription_id, polling_interval=0)
        ...                                   # any azure-mgmt-* client, default endpoints
        assert azure.count_requests("PATCH", "/virtualMachines/") == 1
        azure.faults.throttle("PUT", "/virtualMachines/", retry_after=1)

    @mock_azure()
    def test_something(): ...

Inside it, requests to management.azure.com and login.microsoftonline.com (made through the
requests library, as every synchronous Azure SDK client does) reach one in-process emulator.
Async clients take `transport=azure.async_transport()`. Pass `polling_interval=0` to clients:
like real ARM, the emulator sends no Retry-After on quick operations, and the SDK would wait
its default 30 s between polls.

It imports only runtime dependencies (no pytest), so it works in any test runner or script;
the pytest fixture `azure_mock` lives in `dsvmctl.pytest_plugin` (entry point `dsvmctl`).
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any, Callable

from .emulator.credentials import AsyncStaticTokenCredential, StaticTokenCredential

ARM_HOSTS = ("management.azure.com",)
LOGIN_HOSTS = ("login.microsoftonline.com",)
_METHODS = ("GET", "PUT", "POST", "PATCH", "DELETE", "HEAD")


class AzureMock:
    """What `mock_azure` yields: the emulator, its state and its fault handle."""

    def __init__(self, **emulator_options: Any) -> None:
        from .emulator.core import Emulator
        from .emulator.identity import Identity

        self.emulator = Emulator(**emulator_options)
        self.identity = Identity(self.emulator.tenant_id, "any", "any", b"dsvmctl-in-process",
                                 accept_any_client=True)
        self.credential = StaticTokenCredential()
        self.async_credential = AsyncStaticTokenCredential()
        self._mock = None

    # -- state and faults --------------------------------------------------------------------------

    @property
    def subscription_id(self) -> str:
        return self.emulator.subscription_id

    @property
    def tenant_id(self) -> str:
        return self.emulator.tenant_id

    @property
    def faults(self):
        return self.emulator.faults

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        """Every resource by id (lower-case), as the emulator stores it."""
        return self.emulator.resources

    def resources_of_type(self, resource_type: str, resource_group: str | None = None) -> list[dict[str, Any]]:
        return self.emulator.find(resource_type, resource_group=resource_group)

    def power_state(self, vm_id: str) -> str | None:
        return self.emulator.meta_of(vm_id).get("power")

    def count_requests(self, method: str | None = None, path_pattern: str | None = None) -> int:
        return self.emulator.count_requests(method, path_pattern)

    @property
    def request_log(self) -> list[tuple[str, str, int]]:
        return self.emulator.request_log

    def async_transport(self):
        from .emulator.transport import EmulatorAsyncTransport

        return EmulatorAsyncTransport(self.emulator)

    def transport(self):
        from .emulator.transport import EmulatorTransport

        return EmulatorTransport(self.emulator)

    # -- the responses door ------------------------------------------------------------------------

    def start(self) -> "AzureMock":
        import responses

        self._mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        hosts = "|".join(re.escape(h) for h in ARM_HOSTS + LOGIN_HOSTS)
        pattern = re.compile(rf"https://({hosts})(:\d+)?/.*")
        for method in _METHODS:
            self._mock.add_callback(method, pattern, callback=self._callback)
        self._mock.add_passthru(re.compile(r"https?://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/"))
        self._mock.start()
        return self

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock.reset()
            self._mock = None

    def _callback(self, prepared) -> tuple[int, dict[str, str], bytes]:
        import requests

        from .emulator.faults import ConnectionResetFault
        from .emulator.wire import Request

        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode()
        request = Request(prepared.method, prepared.url, dict(prepared.headers), body)
        if any(host in request.base_url for host in LOGIN_HOSTS):
            response = self.identity.handle(request)
            if response is None:
                response = _not_found(request)
        else:
            try:
                response = self.emulator.handle(request)
            except ConnectionResetFault:
                raise requests.exceptions.ConnectionError("Connection reset by peer (emulated fault)") from None
        return response.status, response.all_headers(request), response.content()

    def __enter__(self) -> "AzureMock":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _not_found(request):
    from .emulator.wire import Response

    return Response(404, {"error": "not_found", "error_description": f"No such endpoint: {request.path}"})


class mock_azure:  # noqa: N801 - lower case, like moto's mock_aws
    """Context manager and decorator that routes Azure SDK traffic to an in-process emulator."""

    def __init__(self, **emulator_options: Any) -> None:
        self.options = emulator_options
        self.mock: AzureMock | None = None

    def __enter__(self) -> AzureMock:
        self.mock = AzureMock(**self.options).start()
        return self.mock

    def __exit__(self, *exc: Any) -> None:
        if self.mock is not None:
            self.mock.stop()

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with mock_azure(**self.options):
                    return await func(*args, **kwargs)
            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with mock_azure(**self.options):
                return func(*args, **kwargs)
        return wrapper
