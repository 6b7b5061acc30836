"""Fields the Compute RP fills in on VMs and snapshots, as recorded traffic shows them."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from .builders import linux_vm, network_for_vm


def test_a_spot_vm_reports_the_default_max_price(door):
    nic_id = network_for_vm(door)
    body = linux_vm(nic_id)
    body["properties"].update(priority="Spot", evictionPolicy="Deallocate")
    vm = door.compute_client().virtual_machines.begin_create_or_update("rg", "vm1", body).result()
    assert vm.billing_profile.max_price == -1


def test_a_detached_data_disk_is_listed_to_be_detached_until_the_update_ends(door):
    nic_id = network_for_vm(door)
    compute = door.compute_client()
    body = linux_vm(nic_id)
    body["properties"]["storageProfile"]["dataDisks"] = [{"lun": 0, "name": "d1", "createOption": "Empty",
                                                          "diskSizeGB": 4}]
    compute.virtual_machines.begin_create_or_update("rg", "vm1", body).result()
    path = door.rg_path("rg", "/providers/Microsoft.Compute/virtualMachines/vm1")
    answer = door.request("PATCH", path, {"properties": {"storageProfile": {"dataDisks": []}}},
                          api_version="2023-09-01").json()
    assert [(d["name"], d["toBeDetached"]) for d in answer["properties"]["storageProfile"]["dataDisks"]] == [
        ("d1", True)]
    assert compute.virtual_machines.get("rg", "vm1").storage_profile.data_disks == []
    assert compute.disks.get("rg", "d1").disk_state == "Unattached"


def test_incremental_snapshots_of_one_disk_share_a_family_id(door):
    door.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    compute = door.compute_client()
    disk = compute.disks.begin_create_or_update("rg", "d1", {
        "location": "eastus", "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 8}}).result()

    def snapshot(name: str, incremental: bool):
        return compute.snapshots.begin_create_or_update("rg", name, {"location": "eastus", "properties": {
            "creationData": {"createOption": "Copy", "sourceResourceId": disk.id},
            "incremental": incremental}}).result()

    first, second = snapshot("s1", True), snapshot("s2", True)
    assert first.incremental_snapshot_family_id and first.incremental_snapshot_family_id == \
        second.incremental_snapshot_family_id
    assert snapshot("full", False).incremental_snapshot_family_id is None


def test_a_spot_vm_evicted_with_the_delete_policy_is_gone_as_compute_reports_it(door):
    nic_id = network_for_vm(door)
    body = linux_vm(nic_id)
    body["properties"].update(priority="Spot", evictionPolicy="Delete")
    compute = door.compute_client()
    compute.virtual_machines.begin_create_or_update("rg", "vm1", body).result()
    compute.virtual_machines.simulate_eviction("rg", "vm1")
    door.emulator.complete_due_operations()
    with pytest.raises(ResourceNotFoundError) as gone:
        compute.virtual_machines.get("rg", "vm1")
    assert (gone.value.error.code, gone.value.error.message) == (
        "NotFound", "The entity was not found in this Azure location.")


def test_copies_name_their_source_by_unique_id_whichever_way_the_source_was_given(door):
    door.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    compute = door.compute_client()
    disk = compute.disks.begin_create_or_update("rg", "d1", {
        "location": "eastus", "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 8}}).result()
    # Older SDKs name the source disk by its id in sourceUri.
    snap = compute.snapshots.begin_create_or_update("rg", "s1", {"location": "eastus", "properties": {
        "creationData": {"createOption": "Copy", "sourceUri": disk.id}}}).result()
    assert snap.creation_data.source_resource_id == disk.id
    assert snap.creation_data.source_unique_id == disk.unique_id and snap.disk_size_gb == 8
    copy = compute.snapshots.begin_create_or_update("rg", "s2", {"location": "eastus", "properties": {
        "creationData": {"createOption": "CopyStart", "sourceResourceId": snap.id}, "incremental": True}}).result()
    assert copy.completion_percent == 100 and copy.creation_data.source_unique_id == snap.unique_id
    restored = compute.disks.begin_create_or_update("rg", "d2", {"location": "eastus", "properties": {
        "creationData": {"createOption": "Copy", "sourceResourceId": snap.id}}}).result()
    assert restored.creation_data.source_unique_id == snap.unique_id and restored.disk_size_gb == 8


def _image_of(compute, vm):
    """Deallocate and generalize vm1, then make the image "img" of it."""
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    compute.virtual_machines.generalize("rg", "vm1")
    return compute.images.begin_create_or_update(
        "rg", "img", {"location": "eastus", "properties": {"sourceVirtualMachine": {"id": vm.id}}}).result()


def test_a_vm_with_a_vhd_os_disk_keeps_it_unmanaged_and_its_image_points_at_the_blob(door):
    nic_id = network_for_vm(door)
    compute = door.compute_client()
    body = linux_vm(nic_id)
    uri = "https://acct1.blob.core.windows.net/vhds/osdisk1.vhd"
    body["properties"]["storageProfile"]["osDisk"] = {"name": "osdisk1", "createOption": "FromImage",
                                                      "vhd": {"uri": uri}}
    vm = compute.virtual_machines.begin_create_or_update("rg", "vm1", body).result()
    os_disk = compute.virtual_machines.get("rg", "vm1").storage_profile.os_disk
    assert (os_disk.name, os_disk.vhd.uri, os_disk.managed_disk) == ("osdisk1", uri, None)
    assert os_disk.delete_option == "Detach" and os_disk.disk_size_gb
    assert list(compute.disks.list_by_resource_group("rg")) == []  # a blob, not a Disk resource
    image = _image_of(compute, vm)
    assert image.storage_profile.os_disk.blob_uri == uri and image.storage_profile.os_disk.managed_disk is None
    compute.virtual_machines.begin_delete("rg", "vm1").result()
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get("rg", "vm1")


def test_vhd_data_disks_stay_unmanaged_blobs_and_an_image_of_the_vm_points_at_them(door):
    nic_id = network_for_vm(door)
    compute = door.compute_client()
    body = linux_vm(nic_id)
    blob = "https://acct1.blob.core.windows.net/vhds/"
    body["properties"]["storageProfile"]["osDisk"] = {"name": "osdisk1", "createOption": "FromImage",
                                                      "vhd": {"uri": blob + "os.vhd"}}
    body["properties"]["storageProfile"]["dataDisks"] = [
        {"lun": 0, "name": "disk-1", "createOption": "Empty", "diskSizeGB": 30, "caching": "ReadWrite",
         "vhd": {"uri": blob + "d0.vhd"}},
        {"lun": 1, "name": "disk-2", "createOption": "Empty", "diskSizeGB": 60, "caching": "ReadOnly",
         "vhd": {"uri": blob + "d1.vhd"}}]
    vm = compute.virtual_machines.begin_create_or_update("rg", "vm1", body).result()
    disks = compute.virtual_machines.get("rg", "vm1").storage_profile.data_disks
    assert [(d.lun, d.name, d.vhd.uri, d.managed_disk, d.disk_size_gb, d.caching) for d in disks] == [
        (0, "disk-1", blob + "d0.vhd", None, 30, "ReadWrite"), (1, "disk-2", blob + "d1.vhd", None, 60, "ReadOnly")]
    assert list(compute.disks.list_by_resource_group("rg")) == []  # blobs, not Disk resources
    image = _image_of(compute, vm)
    assert [(d.lun, d.blob_uri, d.caching, d.disk_size_gb, d.storage_account_type, d.managed_disk)
            for d in image.storage_profile.data_disks] == [
        (0, blob + "d0.vhd", "ReadWrite", 30, "Standard_LRS", None),
        (1, blob + "d1.vhd", "ReadOnly", 60, "Standard_LRS", None)]
    # An update that drops one VHD data disk keeps the other; deleting the VM leaves no disk behind.
    compute.virtual_machines.begin_update("rg", "vm1", {"properties": {"storageProfile": {"dataDisks": [
        {"lun": 1, "name": "disk-2", "createOption": "Attach", "vhd": {"uri": blob + "d1.vhd"}}]}}}).result()
    assert [d.vhd.uri for d in compute.virtual_machines.get("rg", "vm1").storage_profile.data_disks] == [
        blob + "d1.vhd"]
    compute.virtual_machines.begin_delete("rg", "vm1").result()
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get("rg", "vm1")


def test_an_image_of_a_managed_vm_lists_its_managed_data_disks(door):
    nic_id = network_for_vm(door)
    compute = door.compute_client()
    body = linux_vm(nic_id)
    body["properties"]["storageProfile"]["dataDisks"] = [{"lun": 0, "name": "d1", "createOption": "Empty",
                                                          "diskSizeGB": 4}]
    vm = compute.virtual_machines.begin_create_or_update("rg", "vm1", body).result()
    image = _image_of(compute, vm)
    [data] = image.storage_profile.data_disks
    assert (data.lun, data.managed_disk.id, data.blob_uri) == (0, compute.disks.get("rg", "d1").id, None)


def test_a_vm_keeps_the_license_type_it_was_given(door):
    nic_id = network_for_vm(door)
    body = linux_vm(nic_id)
    body["properties"]["licenseType"] = "RHEL_BYOS"
    vm = door.compute_client().virtual_machines.begin_create_or_update("rg", "vm1", body).result()
    assert vm.license_type == "RHEL_BYOS"


def test_capture_copies_a_generalized_vhd_vm_into_a_template_and_refuses_managed_disks(door):
    nic_id = network_for_vm(door)
    compute = door.compute_client()
    body = linux_vm(nic_id)
    vhd = {"uri": "https://acct1.blob.core.windows.net/vhds/os.vhd"}
    body["properties"]["storageProfile"]["osDisk"] = {"name": "osdisk1", "createOption": "FromImage", "vhd": vhd}
    compute.virtual_machines.begin_create_or_update("rg", "vm1", body).result()
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    request = {"vhdPrefix": "pre", "destinationContainerName": "dest", "overwriteVhds": True}
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machines.begin_capture("rg", "vm1", request).result()
    assert err.value.status_code == 409 and "not generalized" in err.value.error.message
    compute.virtual_machines.generalize("rg", "vm1")
    captured = compute.virtual_machines.begin_capture("rg", "vm1", request).result()
    os_disk = captured.resources[0]["properties"]["storageProfile"]["osDisk"]
    images = "https://acct1.blob.core.windows.net/system/Microsoft.Compute/Images/dest/"
    assert os_disk["image"]["uri"].startswith(images + "pre-")
    managed_nic = network_for_vm(door, group="rg2")
    compute.virtual_machines.begin_create_or_update("rg2", "vm2", linux_vm(managed_nic)).result()
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machines.begin_capture("rg2", "vm2", request).result()
    assert err.value.status_code == 409 and "managed disks" in err.value.error.message
