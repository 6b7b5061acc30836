"""Rules Azure enforces, with Azure's status codes, error codes and messages."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

from .builders import UBUNTU_2004_GEN1, linux_vm, network_for_vm, windows_vm


def _resize(door, size: str, group: str = "rg", vm: str = "vm1"):
    return door.compute_client().virtual_machines.begin_update(
        group, vm, {"properties": {"hardwareProfile": {"vmSize": size}}}).result()


@pytest.fixture
def running_vm(door):
    nic_id = network_for_vm(door)
    door.compute_client().virtual_machines.begin_create_or_update("rg", "vm1", linux_vm(nic_id)).result()
    return door


def test_resize_to_size_without_temp_disk_is_refused(running_vm):
    with pytest.raises(HttpResponseError) as err:
        _resize(running_vm, "Standard_D4s_v5")
    assert err.value.status_code == 409
    assert err.value.error.code == "OperationNotAllowed"
    assert err.value.error.message.startswith(
        "Unable to resize the VM 'vm1' since changing from resource disk to non-resource disk VM size")


def test_resize_of_running_vm_outside_its_cluster_needs_deallocation(running_vm):
    with pytest.raises(HttpResponseError) as err:
        _resize(running_vm, "Standard_NC4as_T4_v3")
    assert err.value.status_code == 409
    message = err.value.error.message
    assert "not available in the current hardware cluster" in message
    assert "Standard_D8ds_v5" in message.split("The available sizes are:")[1]


def test_resize_inside_the_cluster_is_one_patch_and_restarts(running_vm):
    before = running_vm.emulator.count_requests("PATCH")
    vm = _resize(running_vm, "Standard_D8ds_v5")
    assert vm.hardware_profile.vm_size == "Standard_D8ds_v5"
    assert running_vm.emulator.count_requests("PATCH") - before == 1
    assert running_vm.emulator.count_requests("POST", "/deallocate$") == 0


def test_deallocated_vm_can_take_any_offered_size_and_keeps_its_disk(running_vm):
    compute = running_vm.compute_client()
    disk_before = compute.virtual_machines.get("rg", "vm1").storage_profile.os_disk.managed_disk.id
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    sizes = [s.name for s in compute.virtual_machines.list_available_sizes("rg", "vm1")]
    assert "Standard_NC4as_T4_v3" in sizes
    _resize(running_vm, "Standard_NC4as_T4_v3")
    compute.virtual_machines.begin_start("rg", "vm1").result()
    vm = compute.virtual_machines.get("rg", "vm1")
    assert vm.storage_profile.os_disk.managed_disk.id == disk_before


def test_gen2_only_size_refuses_a_gen1_vm_even_when_deallocated(door):
    nic_id = network_for_vm(door)
    compute = door.compute_client()
    compute.virtual_machines.begin_create_or_update("rg", "vm1", linux_vm(nic_id, image=UBUNTU_2004_GEN1)).result()
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    with pytest.raises(HttpResponseError) as err:
        _resize(door, "Standard_NC24ads_A100_v4")
    assert err.value.status_code == 400 and err.value.error.code == "BadRequest"
    assert "cannot boot Hypervisor Generation '1'" in err.value.error.message


def test_quota_is_checked_per_family_with_the_numbers(running_vm):
    compute = running_vm.compute_client()
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    _resize(running_vm, "Standard_NC24ads_A100_v4")  # deallocated: quota is counted on start
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machines.begin_start("rg", "vm1").result()
    assert err.value.status_code == 409 and err.value.error.code == "OperationNotAllowed"
    message = err.value.error.message
    assert "exceeding approved StandardNCADSA100v4Family Cores quota" in message
    assert "Current Limit: 0, Current Usage: 0, Additional Required: 24" in message


def test_quota_limit_is_configurable(running_vm):
    running_vm.emulator.set_quota("eastus", "StandardNCADSA100v4Family", 24)
    compute = running_vm.compute_client()
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    _resize(running_vm, "Standard_NC24ads_A100_v4")
    compute.virtual_machines.begin_start("rg", "vm1").result()
    usages = {u.name.value: u for u in compute.usage.list("eastus")}
    assert usages["StandardNCADSA100v4Family"].current_value == 24
    assert usages["StandardNCADSA100v4Family"].limit == 24


def test_size_restricted_for_the_subscription_is_refused_and_listed(door):
    nic_id = network_for_vm(door)
    with pytest.raises(HttpResponseError) as err:
        door.compute_client().virtual_machines.begin_create_or_update(
            "rg", "vm1", linux_vm(nic_id, "Standard_NC40ads_H100_v5")).result()
    assert err.value.status_code == 409 and err.value.error.code == "SkuNotAvailable"
    skus = {s.name: s for s in door.compute_client().resource_skus.list(filter="location eq 'eastus'")}
    restriction = skus["Standard_NC40ads_H100_v5"].restrictions[0]
    assert restriction.reason_code == "NotAvailableForSubscription"
    assert skus["Standard_D4s_v5"].restrictions == []


def test_resource_skus_report_capabilities_as_strings(door):
    skus = {s.name: s for s in door.compute_client().resource_skus.list(filter="location eq 'westeurope'")}
    caps = {c.name: c.value for c in skus["Standard_NC24ads_A100_v4"].capabilities}
    assert caps["HyperVGenerations"] == "V2"
    assert caps["GPUs"] == "1" and caps["vCPUs"] == "24"
    no_temp = {c.name: c.value for c in skus["Standard_D4s_v5"].capabilities}
    assert no_temp["MaxResourceVolumeMB"] == "0"
    assert all(s.locations == ["westeurope"] for s in skus.values())


def test_image_versions_report_hyperv_generation(door):
    images = door.compute_client().virtual_machine_images
    gen2 = images.get("eastus", "microsoft-dsvm", "ubuntu-2204", "2204-gen2", "latest")
    gen1_versions = images.list("eastus", "microsoft-dsvm", "ubuntu-2004", "2004")
    gen1 = images.get("eastus", "microsoft-dsvm", "ubuntu-2004", "2004", gen1_versions[-1].name)
    assert gen2.hyper_v_generation == "V2" and gen1.hyper_v_generation == "V1"


def test_retired_dsvm_image_is_not_found(door):
    nic_id = network_for_vm(door)
    image = {"publisher": "microsoft-dsvm", "offer": "ubuntu-1804", "sku": "1804-gen2", "version": "latest"}
    with pytest.raises(HttpResponseError) as err:
        door.compute_client().virtual_machines.begin_create_or_update("rg", "vm1", linux_vm(nic_id, image=image)).result()
    assert err.value.status_code == 404 and err.value.error.code == "PlatformImageNotFound"


def test_accelerated_networking_must_be_allowed_on_the_size(door):
    nic_id = network_for_vm(door, accelerated=True)
    with pytest.raises(HttpResponseError) as err:
        door.compute_client().virtual_machines.begin_create_or_update(
            "rg", "vm1", linux_vm(nic_id, "Standard_NC6")).result()
    # NC6 is retired: the SKU check fires before accelerated networking.
    assert err.value.error.code == "SkuNotAvailable"


def test_retired_a_series_size_is_refused_and_its_successor_accepted(door):
    nic_id = network_for_vm(door)
    compute = door.compute_client()
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machines.begin_create_or_update(
            "rg", "vm1", linux_vm(nic_id, "Standard_A0", image=UBUNTU_2004_GEN1)).result()
    assert err.value.status_code == 409 and err.value.error.code == "SkuNotAvailable"
    vm = compute.virtual_machines.begin_create_or_update(
        "rg", "vm1", linux_vm(nic_id, "Standard_A1_v2", image=UBUNTU_2004_GEN1)).result()
    assert vm.hardware_profile.vm_size == "Standard_A1_v2"


def test_windows_computer_name_longer_than_15_characters_is_refused(door):
    nic_id = network_for_vm(door)
    with pytest.raises(HttpResponseError) as err:
        door.compute_client().virtual_machines.begin_create_or_update(
            "rg", "winvm", windows_vm(nic_id, "a-very-long-windows-name")).result()
    assert err.value.status_code == 400 and err.value.error.target == "computerName"


def test_windows_vm_needs_an_admin_password_that_is_never_returned(door):
    nic_id = network_for_vm(door)
    compute = door.compute_client()
    vm = compute.virtual_machines.begin_create_or_update("rg", "winvm", windows_vm(nic_id, "dsvm-win")).result()
    assert vm.os_profile.admin_password is None
    assert vm.storage_profile.os_disk.os_type == "Windows"


def test_linux_vm_without_any_authentication_is_refused(door):
    nic_id = network_for_vm(door)
    body = linux_vm(nic_id)
    body["properties"]["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"] = []
    with pytest.raises(HttpResponseError) as err:
        door.compute_client().virtual_machines.begin_create_or_update("rg", "vm1", body).result()
    assert err.value.status_code == 400 and err.value.error.code == "InvalidParameter"


def test_nic_naming_a_missing_subnet_is_an_error(door):
    door.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    missing = door.rg_path("rg", "/providers/Microsoft.Network/virtualNetworks/nope/subnets/default")
    response = door.request("PUT", door.rg_path("rg", "/providers/Microsoft.Network/networkInterfaces/nic1"), {
        "location": "eastus", "properties": {"ipConfigurations": [{"name": "c", "properties": {
            "subnet": {"id": missing}}}]}})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidResourceReference"


def test_basic_public_ip_is_refused_as_retired(door):
    door.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    response = door.request("PUT", door.rg_path("rg", "/providers/Microsoft.Network/publicIPAddresses/ip"),
                            {"location": "eastus", "sku": {"name": "Basic"}})
    assert response.status_code == 400 and response.json()["error"]["code"] == "BasicSkuPublicIpIsRetired"


def test_standard_static_public_ip_gets_an_address_at_once(door):
    door.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    response = door.request("PUT", door.rg_path("rg", "/providers/Microsoft.Network/publicIPAddresses/ip"),
                            {"location": "eastus", "sku": {"name": "Standard"},
                             "properties": {"publicIPAllocationMethod": "Static"}})
    assert response.status_code == 201
    assert response.json()["properties"]["ipAddress"]
    assert response.headers["Azure-AsyncOperation"].startswith(door.base_url)
    assert response.json()["etag"].startswith('W/"')


def test_os_disk_delete_option_is_honoured(door):
    nic_id = network_for_vm(door)
    compute = door.compute_client()
    body = linux_vm(nic_id)
    body["properties"]["storageProfile"]["osDisk"]["deleteOption"] = "Delete"
    vm = compute.virtual_machines.begin_create_or_update("rg", "vm1", body).result()
    disk_id = vm.storage_profile.os_disk.managed_disk.id
    compute.virtual_machines.begin_delete("rg", "vm1").result()
    assert door.emulator.get(disk_id) is None


def test_os_disk_is_kept_and_detached_by_default(door):
    nic_id = network_for_vm(door)
    compute = door.compute_client()
    vm = compute.virtual_machines.begin_create_or_update("rg", "vm1", linux_vm(nic_id)).result()
    disk_name = vm.storage_profile.os_disk.name
    with pytest.raises(HttpResponseError) as attached:
        compute.disks.begin_delete("rg", disk_name).result()
    assert attached.value.status_code == 409
    compute.virtual_machines.begin_delete("rg", "vm1").result()
    disk = compute.disks.get("rg", disk_name)
    assert disk.disk_state == "Unattached" and disk.managed_by is None


def test_power_actions_move_through_the_instance_view(running_vm):
    compute = running_vm.compute_client()

    def power():
        return next(s.code for s in compute.virtual_machines.instance_view("rg", "vm1").statuses
                    if s.code.startswith("PowerState/"))

    compute.virtual_machines.begin_power_off("rg", "vm1").result()
    assert power() == "PowerState/stopped"
    compute.virtual_machines.begin_start("rg", "vm1").result()
    compute.virtual_machines.begin_restart("rg", "vm1").result()
    assert power() == "PowerState/running"
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    assert power() == "PowerState/deallocated"
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machines.begin_restart("rg", "vm1").result()
    assert err.value.status_code == 409


def test_run_command_without_a_guest_says_it_did_not_run(running_vm):
    result = running_vm.compute_client().virtual_machines.begin_run_command(
        "rg", "vm1", {"commandId": "RunShellScript", "script": ["echo hi"]}).result()
    assert "the script was not run" in result.value[0].message


def test_run_commands_status_url_carries_its_output_as_azures_does(running_vm):
    response = running_vm.request("POST", running_vm.rg_path("rg", "/providers/Microsoft.Compute/virtualMachines/vm1/"
                                                             "runCommand"),
                                  {"commandId": "RunShellScript", "script": ["echo hi"]}, api_version="2023-09-01")
    assert response.status_code == 202
    running_vm.emulator.complete_due_operations()
    status = running_vm.request("GET", response.headers["Azure-AsyncOperation"][len(running_vm.base_url):],
                                api_version=None).json()
    result = running_vm.request("GET", response.headers["Location"][len(running_vm.base_url):], api_version=None)
    assert status["status"] == "Succeeded"
    assert status["properties"]["output"] == result.json() and result.json()["value"][0]["code"]


def test_auto_shutdown_schedule_targets_an_existing_vm(running_vm):
    vm_id = running_vm.compute_client().virtual_machines.get("rg", "vm1").id
    path = running_vm.rg_path("rg", "/providers/Microsoft.DevTestLab/schedules/shutdown-computevm-vm1")
    body = {"location": "eastus", "properties": {"status": "Enabled", "taskType": "ComputeVmShutdownTask",
            "dailyRecurrence": {"time": "1900"}, "timeZoneId": "UTC", "targetResourceId": vm_id}}
    created = running_vm.request("PUT", path, body, api_version="2018-09-15")
    assert created.status_code == 201 and created.json()["properties"]["provisioningState"] == "Succeeded"
    bad = running_vm.request("PUT", path, {**body, "properties": {**body["properties"], "dailyRecurrence": {
        "time": "25:00"}}}, api_version="2018-09-15")
    assert bad.status_code == 400
    orphan = running_vm.request("PUT", path, {**body, "properties": {**body["properties"],
                                "targetResourceId": vm_id + "-gone"}}, api_version="2018-09-15")
    assert orphan.status_code == 400 and orphan.json()["error"]["code"] == "InvalidResourceReference"


def test_deleting_a_group_removes_everything_in_it(running_vm):
    running_vm.resource_client().resource_groups.begin_delete("rg").result()
    assert [k for k in running_vm.emulator.resources if "/resourcegroups/rg" in k] == []


def test_reimage_resets_any_os_disk_since_2021_03_01_and_only_an_ephemeral_one_before(running_vm):
    path = running_vm.rg_path("rg", "/providers/Microsoft.Compute/virtualMachines/vm1/reimage")
    old = running_vm.request("POST", path, api_version="2020-12-01")
    assert (old.status_code, old.json()["error"]["code"]) == (409, "OperationNotAllowed")
    assert running_vm.request("POST", path, api_version="2021-03-01").status_code == 202
