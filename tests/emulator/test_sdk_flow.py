"""The emulator issue's acceptance script, through every door, with unmodified Azure SDK clients."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from .builders import UBUNTU_2004_GEN1, linux_vm, network_for_vm


def run_acceptance_flow(door) -> dict[str, object]:
    """Everything the issue's "done when" lists, in order; returns what it observed."""
    compute, resources = door.compute_client(), door.resource_client()
    nic_id = network_for_vm(door, "rg")
    vm = compute.virtual_machines.begin_create_or_update("rg", "vm1", linux_vm(nic_id)).result()
    os_disk_before = vm.storage_profile.os_disk.managed_disk.id
    view = compute.virtual_machines.instance_view("rg", "vm1")
    sizes = [s.name for s in compute.virtual_machines.list_available_sizes("rg", "vm1")]
    disks = [d.id for d in compute.disks.list_by_resource_group("rg")]

    with pytest.raises(HttpResponseError) as refused:
        compute.virtual_machines.begin_update("rg", "vm1", {"properties": {
            "hardwareProfile": {"vmSize": "Standard_D4s_v5"}}}).result()
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    compute.virtual_machines.begin_update("rg", "vm1", {"properties": {
        "hardwareProfile": {"vmSize": "Standard_NC4as_T4_v3"}}}).result()
    compute.virtual_machines.begin_start("rg", "vm1").result()
    after = compute.virtual_machines.get("rg", "vm1", expand="instanceView")

    gen1_nic = door.network_client().network_interfaces.begin_create_or_update(
        "rg", "nic-gen1", {"location": "eastus", "properties": {"ipConfigurations": [
            {"name": "ipconfig1", "properties": {"subnet": {"id": vm_subnet(door)}}}]}}).result().id
    with pytest.raises(HttpResponseError) as gen1:
        compute.virtual_machines.begin_create_or_update(
            "rg", "vm-a100", linux_vm(gen1_nic, "Standard_NC24ads_A100_v4", UBUNTU_2004_GEN1, "vm-a100")).result()
    with pytest.raises(ResourceNotFoundError) as missing:
        compute.virtual_machines.get("rg", "no-such-vm")
    with pytest.raises(HttpResponseError) as bad_name:
        compute.virtual_machines.begin_create_or_update("rg", "bad$name", linux_vm(gen1_nic)).result()

    resources.resource_groups.begin_delete("rg").result()
    return {
        "power": [s.code for s in view.statuses],
        "sizes": sizes,
        "os_disk_before": os_disk_before,
        "disks": disks,
        "refused": refused.value,
        "after": after,
        "gen1": gen1.value,
        "missing": missing.value,
        "bad_name": bad_name.value,
        "group_exists": resources.resource_groups.check_existence("rg"),
        "left": [k for k in door.emulator.resources if "/resourcegroups/rg/" in k],
    }


def vm_subnet(door) -> str:
    return door.network_client().virtual_networks.get("rg", "vnet").subnets[0].id


def test_acceptance_flow_through_each_door(door):
    seen = run_acceptance_flow(door)
    assert "PowerState/running" in seen["power"]
    assert "Standard_D4ds_v5" in seen["sizes"] and "Standard_NC4as_T4_v3" not in seen["sizes"]
    assert seen["os_disk_before"] in seen["disks"]
    assert seen["refused"].status_code == 409 and seen["refused"].error.code == "OperationNotAllowed"
    assert "resource disk to non-resource disk" in seen["refused"].error.message
    assert seen["after"].hardware_profile.vm_size == "Standard_NC4as_T4_v3"
    assert seen["after"].storage_profile.os_disk.managed_disk.id == seen["os_disk_before"]
    assert any(s.code == "PowerState/running" for s in seen["after"].instance_view.statuses)
    assert seen["gen1"].status_code == 400 and "cannot boot Hypervisor Generation '1'" in seen["gen1"].error.message
    assert seen["missing"].status_code == 404 and seen["missing"].error.code == "ResourceNotFound"
    assert seen["bad_name"].status_code == 400
    assert seen["group_exists"] is False
    assert seen["left"] == []


def test_async_client_works_in_process():
    from azure.mgmt.compute.aio import ComputeManagementClient
    from azure.mgmt.resource.resources.aio import ResourceManagementClient

    from dsvmctl.testing import mock_azure

    async def scenario(azure):
        kwargs = {"transport": azure.async_transport(), "polling_interval": 0}
        async with ResourceManagementClient(azure.async_credential, azure.subscription_id, **kwargs) as rc:
            await rc.resource_groups.create_or_update("rg-async", {"location": "westeurope"})
            groups = [g.name async for g in rc.resource_groups.list()]
        async with ComputeManagementClient(azure.async_credential, azure.subscription_id, **kwargs) as cc:
            sizes = [s.name async for s in cc.virtual_machine_sizes.list("westeurope")]
            poller = await cc.disks.begin_create_or_update("rg-async", "data1", {
                "location": "westeurope", "sku": {"name": "Premium_LRS"},
                "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 64}})
            disk = await poller.result()
        return groups, sizes, disk

    with mock_azure() as azure:
        groups, sizes, disk = asyncio.run(scenario(azure))
    assert groups == ["rg-async"]
    assert "Standard_NC4as_T4_v3" in sizes
    assert disk.disk_size_gb == 64 and disk.disk_state == "Unattached"


def test_serve_command_writes_endpoint_and_serves_unmodified_clients(tmp_path):
    state = tmp_path / "state"
    proc = subprocess.Popen([sys.executable, "-m", "dsvmctl", "emulator", "serve", "--port", "0",
                             "--state-dir", str(state)], stderr=subprocess.PIPE, text=True)
    try:
        endpoint_file = state / "endpoint.json"
        deadline = time.monotonic() + 20
        while not endpoint_file.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert endpoint_file.exists(), proc.stderr.read() if proc.poll() is not None else "no endpoint.json"
        endpoint = json.loads(endpoint_file.read_text())
        for key in ("arm_endpoint", "authority_host", "ca_bundle", "tenant_id", "subscription_id",
                    "client_id", "client_secret"):
            assert endpoint[key], key
        assert endpoint["arm_endpoint"].startswith("https://127.0.0.1:")
        assert oct(endpoint_file.stat().st_mode & 0o777) == "0o600"

        from azure.identity import ClientSecretCredential
        from azure.mgmt.resource.resources import ResourceManagementClient

        credential = ClientSecretCredential(endpoint["tenant_id"], endpoint["client_id"], endpoint["client_secret"],
                                            authority=endpoint["authority_host"],
                                            connection_verify=endpoint["ca_bundle"], disable_instance_discovery=True)
        client = ResourceManagementClient(credential, endpoint["subscription_id"], base_url=endpoint["arm_endpoint"],
                                          connection_verify=endpoint["ca_bundle"],
                                          credential_scopes=[endpoint["credential_scope"]])
        client.resource_groups.create_or_update("persisted", {"location": "eastus"})
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert not (state / "endpoint.json").exists()
    # State persists in the directory: a new emulator over it sees the group.
    from dsvmctl.emulator.core import Emulator

    assert Emulator(state_dir=state).resource_group("persisted") is not None
