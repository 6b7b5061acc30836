"""The emulator's doors as one parametrized fixture, so every test runs through each (as moto does)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from dsvmctl.emulator.core import Emulator

SDK_KWARGS = {"polling_interval": 0, "retry_backoff_factor": 0.01}


@dataclass
class Door:
    name: str
    emulator: Emulator
    credential: Any
    base_url: str
    verify: Any
    client_kwargs: dict[str, Any] = field(default_factory=dict)
    token: str | None = None
    subscription: str | None = None  # a subscription of the test's own; the emulator's default otherwise

    @property
    def subscription_id(self) -> str:
        return self.subscription or self.emulator.subscription_id

    @property
    def faults(self):
        return self.emulator.faults

    def url(self, path: str, api_version: str | None = "2025-04-01") -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path}" + (f"{sep}api-version={api_version}" if api_version else "")

    def request(self, method: str, path: str, body: Any = None, *, api_version: str | None = "2025-04-01",
                raw: bytes | None = None) -> requests.Response:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return requests.request(method, self.url(path, api_version), data=data, headers=headers,
                                verify=self.verify, timeout=30)

    def rg_path(self, group: str, tail: str = "") -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{group}{tail}"

    def resource_client(self):
        from azure.mgmt.resource.resources import ResourceManagementClient

        return ResourceManagementClient(self.credential, self.subscription_id, **self.client_kwargs)

    def network_client(self):
        from azure.mgmt.network import NetworkManagementClient

        return NetworkManagementClient(self.credential, self.subscription_id, **self.client_kwargs)

    def compute_client(self):
        from azure.mgmt.compute import ComputeManagementClient

        return ComputeManagementClient(self.credential, self.subscription_id, **self.client_kwargs)


@pytest.fixture(params=["in-process", "https"])
def door(request, tmp_path):
    if request.param == "in-process":
        from dsvmctl.testing import mock_azure

        with mock_azure() as azure:
            yield Door("in-process", azure.emulator, azure.credential, "https://management.azure.com", True,
                       dict(SDK_KWARGS))
        return
    from azure.identity import ClientSecretCredential

    from dsvmctl.emulator.server import EmulatorServer

    with EmulatorServer(tmp_path / "emulator") as server:
        endpoint = server.endpoint()
        credential = ClientSecretCredential(
            endpoint["tenant_id"], endpoint["client_id"], endpoint["client_secret"],
            authority=endpoint["authority_host"], connection_verify=endpoint["ca_bundle"],
            disable_instance_discovery=True,
        )
        kwargs = dict(SDK_KWARGS, base_url=endpoint["arm_endpoint"], connection_verify=endpoint["ca_bundle"],
                      credential_scopes=[endpoint["credential_scope"]])
        token = credential.get_token(endpoint["credential_scope"]).token
        yield Door("https", server.emulator, credential, endpoint["arm_endpoint"], endpoint["ca_bundle"],
                   kwargs, token)


@pytest.fixture
def group(door):
    """A door with the resource group "rg" in eastus, where most tests put their resources."""
    door.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    return door
