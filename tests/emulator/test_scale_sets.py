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
    vmss = compute.virtual_machine_scale_sets.begin_create_or_update(
        "rg", "flex", scale_set(orchestrationMode="Flexible", platformFaultDomainCount=1)).result()
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
