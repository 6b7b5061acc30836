"""The Azure side dsvmctl talks to: a credential, an endpoint and the SDK clients.

`LocalBackend` is the embedded local cloud: the emulator in this process (its state under the
user's state directory, shared by every dsvmctl command), reached through the azure-core
transport, with an SSH server per running VM. `AzureBackend` is a real subscription.
The rest of `cloud/` is written against this class only, so the same code runs on both.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NotLoggedIn

if TYPE_CHECKING:
    from ..paths import StatePaths

POLLING_INTERVAL_AZURE = 5  # seconds between LRO polls on real Azure (the SDK default is 30)


# Retries a failing call gets before the user sees an error: 5xx/429 answers and dropped
# connections (the SDK's defaults: 3 each, and none for a POST or PATCH whose connection dropped).
STATUS_RETRIES = 6
CONNECTION_RETRIES = 6


def arm_retry_policy(backoff_factor: float = 0.8):
    """azure-core's RetryPolicy, also retrying POST and PATCH after a dropped connection: the
    calls dsvmctl makes with them (power actions, VM updates, runCommand scripts that enable
    services) leave the same result when repeated, as ARM's power actions are idempotent."""
    from azure.core.pipeline.policies import RetryPolicy

    policy = RetryPolicy(retry_status=STATUS_RETRIES, retry_read=CONNECTION_RETRIES,
                         retry_connect=CONNECTION_RETRIES, retry_backoff_factor=backoff_factor)
    policy._method_whitelist = policy._method_whitelist | {"POST", "PATCH"}  # no public knob for this
    return policy


class ArmBackend:
    kind = "abstract"
    subscription_id: str
    credential: Any
    client_kwargs: dict[str, Any]

    @cached_property
    def resources(self):
        from azure.mgmt.resource.resources import ResourceManagementClient

        return ResourceManagementClient(self.credential, self.subscription_id, **self.client_kwargs)

    @cached_property
    def deployments(self):
        from azure.mgmt.resource.deployments import DeploymentsMgmtClient

        return DeploymentsMgmtClient(self.credential, self.subscription_id, **self.client_kwargs)

    @cached_property
    def network(self):
        from azure.mgmt.network import NetworkManagementClient

        return NetworkManagementClient(self.credential, self.subscription_id, **self.client_kwargs)

    @cached_property
    def compute(self):
        from azure.mgmt.compute import ComputeManagementClient

        return ComputeManagementClient(self.credential, self.subscription_id, **self.client_kwargs)

    def ssh_endpoint(self, vm: Any, public_ip: str | None) -> tuple[str, int]:
        if not public_ip:
            from ..errors import CloudError

            raise CloudError(f"VM {vm.name} has no public IP address, so SSH cannot reach it",
                             fix="attach a Standard static public IP (the shipped templates create one)")
        return public_ip, 22

    def close(self) -> None: ...


class LocalBackend(ArmBackend):
    kind = "local"

    def __init__(self, paths: "StatePaths | Path", unsandboxed: bool = False) -> None:
        from ..emulator.core import Emulator
        from ..emulator.transport import EmulatorTransport
        from ..emulator.credentials import StaticTokenCredential
        from ..paths import StatePaths
        from .localhosts import LocalHosts

        self.paths = StatePaths.of(paths)
        self.home = self.paths.root
        self.emulator = Emulator(state_dir=self.paths.local_cloud)
        self.emulator.faults.configure_from_environment()  # DSVMCTL_FAULTS: chaos runs, tests
        self.hosts = LocalHosts(self.paths, unsandboxed=unsandboxed)
        self.emulator.hooks.append(self.hosts)
        self.subscription_id = self.emulator.subscription_id
        self.credential = StaticTokenCredential()
        self.client_kwargs = {"transport": EmulatorTransport(self.emulator), "polling_interval": 0,
                              "retry_policy": arm_retry_policy(backoff_factor=0.05)}

    def ssh_endpoint(self, vm: Any, public_ip: str | None) -> tuple[str, int]:
        """A local VM answers on 127.0.0.1 at its own port (its public IP is a placeholder)."""
        body = self.emulator.get(vm.id)
        return "127.0.0.1", self.hosts.ensure(self.emulator, body)

    def close(self) -> None:
        self.hosts.close()


class AzureBackend(ArmBackend):
    kind = "azure"

    def __init__(self, subscription_id: str | None = None) -> None:
        subscription_id = subscription_id or os.environ.get("AZURE_SUBSCRIPTION_ID")
        if not subscription_id:
            raise NotLoggedIn("no Azure subscription selected (AZURE_SUBSCRIPTION_ID is not set)",
                              fix="log in with `az login`, then `export AZURE_SUBSCRIPTION_ID=$(az account show "
                                  "--query id -o tsv)`; or try everything offline with --cloud local")
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError as err:  # pragma: no cover - a broken install
            raise NotLoggedIn(f"azure-identity is not installed ({err})", fix="pip install dsvmctl") from None
        self.subscription_id = subscription_id
        self.credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
        self.client_kwargs = {"polling_interval": POLLING_INTERVAL_AZURE, "retry_policy": arm_retry_policy()}
        self._check_login()

    def _check_login(self) -> None:
        from azure.core.exceptions import ClientAuthenticationError

        try:
            self.credential.get_token("https://management.azure.com/.default")
        except ClientAuthenticationError:
            raise NotLoggedIn("could not get Azure credentials (no az login, environment variables, managed "
                              "identity or other DefaultAzureCredential source worked)",
                              fix="run `az login` (or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET "
                                  "for a service principal); or try everything offline with --cloud local") from None


def open_backend(kind: str, home: "StatePaths | Path", subscription_id: str | None = None) -> ArmBackend:
    if kind == "local":
        return LocalBackend(home)
    if kind == "azure":
        return AzureBackend(subscription_id)
    from ..errors import UsageError

    raise UsageError(f"unknown cloud {kind!r}", fix="use --cloud local or --cloud azure")
