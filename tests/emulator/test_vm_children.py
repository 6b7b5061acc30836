"""A VM's extensions and managed run commands: written and deleted as long-running operations."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceNotFoundError

from .builders import linux_vm, network_for_vm


@pytest.fixture
def running_vm(door):
    nic_id = network_for_vm(door)
    door.compute_client().virtual_machines.begin_create_or_update("rg", "vm1", linux_vm(nic_id)).result()
    return door


EXTENSION = {"location": "eastus", "properties": {"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
                                                  "typeHandlerVersion": "2.1", "settings": {}}}


def test_deleting_an_extension_is_a_202_with_both_lro_headers_and_the_extension_goes_at_its_end(running_vm):
    path = running_vm.rg_path("rg", "/providers/Microsoft.Compute/virtualMachines/vm1/extensions/script")
    created = running_vm.request("PUT", path, EXTENSION, api_version="2023-09-01")
    assert created.status_code == 201 and "Azure-AsyncOperation" in created.headers
    deleted = running_vm.request("DELETE", path, api_version="2023-09-01")
    assert deleted.status_code == 202 and deleted.content == b""
    assert "Azure-AsyncOperation" in deleted.headers and "monitor=true" in deleted.headers["Location"]


@pytest.mark.parametrize("kind", ["extensions", "run_commands"])
def test_the_sdk_deletes_extensions_and_run_commands_through_their_lro(running_vm, kind):
    compute = running_vm.compute_client()
    operations = compute.virtual_machine_extensions if kind == "extensions" else compute.virtual_machine_run_commands
    body = EXTENSION if kind == "extensions" else {"location": "eastus", "properties": {
        "source": {"script": "echo hi"}}}
    get = operations.get if kind == "extensions" else operations.get_by_virtual_machine
    operations.begin_create_or_update("rg", "vm1", "child", body).result()
    assert get("rg", "vm1", "child").provisioning_state == "Succeeded"
    operations.begin_delete("rg", "vm1", "child").result()
    with pytest.raises(ResourceNotFoundError):
        get("rg", "vm1", "child")


def test_a_vm_get_lists_its_extensions_as_child_resources(running_vm):
    compute = running_vm.compute_client()
    assert compute.virtual_machines.get("rg", "vm1").resources is None
    compute.virtual_machine_extensions.begin_create_or_update("rg", "vm1", "script", EXTENSION).result()
    assert [r.name for r in compute.virtual_machines.get("rg", "vm1").resources] == ["script"]


def test_a_run_command_without_a_script_is_created_and_its_execution_fails_as_the_agent_reports_it(running_vm):
    commands = running_vm.compute_client().virtual_machine_run_commands
    created = commands.begin_create_or_update("rg", "vm1", "empty", {"location": "eastus", "properties": {
        "source": {}, "asyncExecution": False}}).result()
    assert created.provisioning_state == "Succeeded" and created.timeout_in_seconds == 0
    view = commands.get_by_virtual_machine("rg", "vm1", "empty", expand="instanceView").instance_view
    assert (view.execution_state, view.exit_code) == ("Failed", -202)
    assert "Either 'source.script' or 'source.scriptUri' has to be specified" in view.execution_message


def test_an_extension_reports_its_minor_upgrade_default_and_never_its_protected_settings(running_vm):
    extensions = running_vm.compute_client().virtual_machine_extensions
    secret = {**EXTENSION, "properties": {**EXTENSION["properties"], "protectedSettings": {"commandToExecute": "x"}}}
    created = extensions.begin_create_or_update("rg", "vm1", "script", secret).result()
    assert created.auto_upgrade_minor_version is False and created.protected_settings is None
    raw = running_vm.request("GET", running_vm.rg_path(
        "rg", "/providers/Microsoft.Compute/virtualMachines/vm1/extensions/script"), api_version="2023-09-01").json()
    assert raw["properties"]["autoUpgradeMinorVersion"] is False and "protectedSettings" not in raw["properties"]
    upgrading = {**EXTENSION, "properties": {**EXTENSION["properties"], "autoUpgradeMinorVersion": True}}
    assert extensions.begin_create_or_update("rg", "vm1", "script", upgrading).result().auto_upgrade_minor_version


def test_the_instance_view_reports_each_extension_and_its_handler_as_the_agent_does(running_vm):
    compute = running_vm.compute_client()
    compute.virtual_machine_extensions.begin_create_or_update("rg", "vm1", "script", EXTENSION).result()
    view = compute.virtual_machines.instance_view("rg", "vm1")
    (extension,) = view.extensions
    assert (extension.name, extension.type, extension.type_handler_version) == (
        "script", "Microsoft.Azure.Extensions.CustomScript", "2.1")
    assert extension.statuses[0].message == "Enable succeeded."
    (handler,) = view.vm_agent.extension_handlers
    assert handler.type == "Microsoft.Azure.Extensions.CustomScript" and handler.status.display_status == "Ready"
