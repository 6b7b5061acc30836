"""A scale set's model and instances as the Compute RP reports them (azure-mgmt-compute clients)."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError


UBUNTU = {"publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts-gen2",
          "version": "latest"}


def scale_set(capacity: int = 2, image: dict | None = None, **props) -> dict:
    return {"location": "eastus", "sku": {"name": "Standard_D4ds_v5", "capacity": capacity}, "properties": {
        "upgradePolicy": {"mode": "manual"}, **props, "virtualMachineProfile": {
            "storageProfile": {"imageReference": image or UBUNTU},
            "osProfile": {"computerNamePrefix": "ss", "adminUsername": "azureuser", "adminPassword": "N0t-real-Pw!"},
            "networkProfile": {"networkInterfaceConfigurations": [{"name": "nic", "properties": {
                "primary": True, "ipConfigurations": [{"name": "ip", "properties": {}}]}}]}}}}


def test_a_uniform_set_reports_azures_defaults_and_keeps_its_image_across_updates(group):
    compute = group.compute_client()
    vmss = compute.virtual_machine_scale_sets.begin_create_or_update("rg", "ss", scale_set()).result()
    policy = vmss.upgrade_policy
    assert policy.mode == "Manual"  # canonical casing of what was sent
    assert (policy.rolling_upgrade_policy.max_batch_instance_percent,
            policy.rolling_upgrade_policy.pause_time_between_batches) == (20, "PT0S")
    profile = vmss.virtual_machine_profile
    assert profile.time_created and profile.storage_profile.os_disk.disk_size_gb == 30
    assert profile.os_profile.linux_configuration.provision_vm_agent is True
    nic = profile.network_profile.network_interface_configurations[0]
    assert nic.enable_ip_forwarding is False and nic.ip_configurations[0].private_ip_address_version == "IPv4"

    update = scale_set(capacity=3)
    del update["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]
    updated = compute.virtual_machine_scale_sets.begin_create_or_update("rg", "ss", update).result()
    assert updated.virtual_machine_profile.storage_profile.image_reference.sku == "22_04-lts-gen2"
    assert updated.virtual_machine_profile.time_created == profile.time_created

    instance = compute.virtual_machine_scale_set_vms.get("rg", "ss", "0")
    storage = instance.storage_profile
    assert storage.image_reference.exact_version and storage.os_disk.name.startswith("ss_ss_0_OsDisk_1_")
    assert storage.os_disk.managed_disk.id.endswith(f"/disks/{storage.os_disk.name}") and storage.data_disks == []
    assert compute.virtual_machine_scale_set_vms.get_instance_view("rg", "ss", "0").hyper_v_generation == "V2"


def test_every_instance_of_a_set_is_deallocated_through_the_star_instance_id(group):
    compute = group.compute_client()
    compute.virtual_machine_scale_sets.begin_create_or_update("rg", "ss", scale_set()).result()
    compute.virtual_machine_scale_set_vms.begin_deallocate("rg", "ss", "*").result()
    for instance in ("0", "1"):
        view = compute.virtual_machine_scale_set_vms.get_instance_view("rg", "ss", instance)
        assert view.statuses[-1].code == "PowerState/deallocated"


def test_a_flexible_set_reports_its_own_defaults_and_no_rolling_policy(group):
    compute = group.compute_client()
    vmss = compute.virtual_machine_scale_sets.begin_create_or_update("rg", "flex", flexible_set(group)[0]).result()
    assert vmss.upgrade_policy.rolling_upgrade_policy is None
    assert vmss.single_placement_group is False and vmss.constrained_maximum_capacity is False
    nic = vmss.virtual_machine_profile.network_profile.network_interface_configurations[0]
    assert (nic.auxiliary_mode, nic.delete_option) == ("None", "Delete")


def test_a_set_from_an_image_the_marketplace_lacks_is_refused(group):
    with pytest.raises(HttpResponseError) as refused:
        group.compute_client().virtual_machine_scale_sets.begin_create_or_update(
            "rg", "ss", scale_set(image={**UBUNTU, "sku": "22_04-lts-gen9"})).result()
    assert refused.value.error.code == "PlatformImageNotFound"


def test_trusted_launch_on_a_generation_1_image_is_refused_for_sets_and_vms(group):
    gen1 = {**UBUNTU, "sku": "22_04-lts"}
    trusted = {"securityType": "TrustedLaunch", "uefiSettings": {"secureBootEnabled": False, "vTpmEnabled": True}}
    compute = group.compute_client()
    refused = scale_set(image=gen1)
    refused["properties"]["virtualMachineProfile"]["securityProfile"] = trusted
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machine_scale_sets.begin_create_or_update("rg", "ss", refused).result()
    assert (err.value.status_code, err.value.error.code) == (400, "BadRequest")
    assert "Generation 1 Image" in err.value.error.message
    gen2 = scale_set()
    gen2["properties"]["virtualMachineProfile"]["securityProfile"] = trusted
    assert compute.virtual_machine_scale_sets.begin_create_or_update("rg", "ss", gen2).result().provisioning_state \
        == "Succeeded"

    from .builders import linux_vm, network_for_vm

    vm = linux_vm(network_for_vm(group), size="Standard_D2s_v3", image=gen1)
    vm["properties"]["securityProfile"] = {"securityType": "trustedLaunch"}  # enum case as ARM tolerates
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machines.begin_create_or_update("rg", "vm1", vm).result()
    assert err.value.error.code == "BadRequest" and "Generation 1 Image" in err.value.error.message


def flexible_set(group, capacity: int = 2) -> tuple[dict, str]:
    from .builders import vnet

    net = group.network_client().virtual_networks.begin_create_or_update("rg", "vnet", vnet()).result()
    body = scale_set(capacity=capacity, orchestrationMode="Flexible", platformFaultDomainCount=1)
    profile = body["properties"]["virtualMachineProfile"]
    profile["networkProfile"]["networkApiVersion"] = "2020-11-01"
    profile["networkProfile"]["networkInterfaceConfigurations"][0]["properties"]["ipConfigurations"][0][
        "properties"] = {"subnet": {"id": net.subnets[0].id}}
    return body, net.subnets[0].id


def test_a_flexible_sets_instances_are_vms_of_their_own_that_follow_its_capacity_and_go_with_it(group):
    compute, network = group.compute_client(), group.network_client()
    body, subnet_id = flexible_set(group)
    vmss = compute.virtual_machine_scale_sets.begin_create_or_update("rg", "flex", body).result()
    listed = list(compute.virtual_machines.list("rg", filter=f"'virtualMachineScaleSet/id' eq '{vmss.id}'"))
    assert len(listed) == 2 and {vm.name for vm in compute.virtual_machines.list("rg")} == {vm.name for vm in listed}
    for vm in listed:
        assert vm.name.startswith("flex_") and len(vm.name) == len("flex_") + 8
        assert vm.virtual_machine_scale_set.id == vmss.id and vm.hardware_profile.vm_size == "Standard_D4ds_v5"
        got = compute.virtual_machines.get("rg", vm.name)
        os_disk = got.storage_profile.os_disk
        assert os_disk.delete_option == "Delete" and compute.disks.get("rg", os_disk.name).managed_by == got.id
        assert got.storage_profile.image_reference.exact_version and got.os_profile.computer_name.startswith("ss")
        [ref] = got.network_profile.network_interfaces
        nic = network.network_interfaces.get("rg", ref.id.rsplit("/", 1)[1])
        assert nic.virtual_machine.id == got.id and nic.ip_configurations[0].subnet.id == subnet_id
        assert compute.virtual_machines.instance_view("rg", vm.name).statuses[-1].code == "PowerState/running"

    # Scaling in removes VMs (and their disks and NICs); scaling out makes new ones.
    compute.virtual_machine_scale_sets.begin_update("rg", "flex", {"sku": {"capacity": 1}}).result()
    assert len(list(compute.virtual_machines.list("rg"))) == 1
    assert len(list(network.network_interfaces.list("rg"))) == 1 and len(list(compute.disks.list_by_resource_group(
        "rg"))) == 1
    compute.virtual_machine_scale_sets.begin_update("rg", "flex", {"sku": {"capacity": 3}}).result()
    assert len(list(compute.virtual_machines.list("rg", filter=f"'virtualMachineScaleSet/id' eq '{vmss.id}'"))) == 3

    compute.virtual_machine_scale_sets.begin_delete("rg", "flex").result()
    assert list(compute.virtual_machines.list("rg")) == []
    assert list(network.network_interfaces.list("rg")) == [] and list(compute.disks.list_by_resource_group("rg")) == []


def test_a_standalone_vm_is_not_listed_under_a_scale_set_filter(group):
    from .builders import linux_vm, network_for_vm

    compute = group.compute_client()
    body, _ = flexible_set(group, capacity=1)
    vmss = compute.virtual_machine_scale_sets.begin_create_or_update("rg", "flex", body).result()
    compute.virtual_machines.begin_create_or_update("rg", "solo", linux_vm(network_for_vm(group))).result()
    assert [vm.name.startswith("flex_") for vm in compute.virtual_machines.list(
        "rg", filter=f"'virtualMachineScaleSet/id' eq '{vmss.id}'")] == [True]
    assert len(list(compute.virtual_machines.list("rg"))) == 2


def test_a_flexible_set_whose_nics_name_a_missing_subnet_is_refused_and_makes_no_vm(group):
    compute = group.compute_client()
    body, subnet_id = flexible_set(group)
    body["properties"]["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"][0]["properties"][
        "ipConfigurations"][0]["properties"]["subnet"]["id"] = subnet_id.replace("/default", "/missing")
    with pytest.raises(HttpResponseError) as refused:
        compute.virtual_machine_scale_sets.begin_create_or_update("rg", "flex", body).result()
    assert refused.value.error.code == "InvalidResourceReference"
    assert list(compute.virtual_machines.list("rg")) == []


def test_a_flexible_sets_power_actions_reach_its_vms_and_deleting_one_lowers_the_capacity(group):
    compute = group.compute_client()
    body, _ = flexible_set(group, capacity=3)
    compute.virtual_machine_scale_sets.begin_create_or_update("rg", "flex", body).result()
    compute.virtual_machine_scale_sets.begin_deallocate("rg", "flex").result()
    names = [vm.name for vm in compute.virtual_machines.list("rg")]
    assert {compute.virtual_machines.instance_view("rg", n).statuses[-1].code for n in names} == {
        "PowerState/deallocated"}
    compute.virtual_machine_scale_sets.begin_start("rg", "flex", {"instanceIds": [names[0]]}).result()
    assert [compute.virtual_machines.instance_view("rg", n).statuses[-1].code for n in names] == [
        "PowerState/running", "PowerState/deallocated", "PowerState/deallocated"]
    summary = compute.virtual_machine_scale_sets.get_instance_view("rg", "flex").virtual_machine.statuses_summary
    assert {(s.code, s.count) for s in summary} == {("ProvisioningState/succeeded", 3), ("PowerState/running", 1),
                                                     ("PowerState/deallocated", 2)}
    compute.virtual_machines.begin_delete("rg", names[0]).result()
    assert compute.virtual_machine_scale_sets.get("rg", "flex").sku.capacity == 2
    compute.virtual_machine_scale_sets.begin_delete_instances("rg", "flex", {"instanceIds": [names[1]]}).result()
    assert compute.virtual_machine_scale_sets.get("rg", "flex").sku.capacity == 1
    assert [vm.name for vm in compute.virtual_machines.list("rg")] == [names[2]]
