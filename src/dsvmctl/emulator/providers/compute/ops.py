"""Microsoft.Compute operations beyond a VM's life cycle, as the recorded traffic shows them:
VM maintenance actions (reapply, redeploy, generalize, reimage, performMaintenance,
simulateEviction, convertToManagedDisks, capture), snapshots, images from a generalized VM, disk and
snapshot SAS access, availability sets, proximity placement groups, and PATCH of extensions
and run commands.

Status codes and LRO headers follow the Compute RP: writes of disks and snapshots answer 202
with Azure-AsyncOperation and Location (the Location answers the final body), images 201/200
with Azure-AsyncOperation, availability sets and placement groups synchronously.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any
from urllib.parse import urlsplit

from ...core import utc_now
from ...routing import Call
from ...wire import ArmError, Response, missing_property
from ..common import begin_put, get_or_404, getter, list_response, lister, require_reference

NS = "Microsoft.Compute"
VM_TYPE = f"{NS}/virtualMachines"
SNAPSHOT_TYPE = f"{NS}/snapshots"
DISK_TYPE = f"{NS}/disks"
IMAGE_TYPE = f"{NS}/images"
AVSET_TYPE = f"{NS}/availabilitySets"
PPG_TYPE = f"{NS}/proximityPlacementGroups"

# Performance a managed disk reports for its SKU (the baseline of its smallest tier).
DISK_PERFORMANCE = {"premium_lrs": (120, 25), "premiumv2_lrs": (3000, 125), "standardssd_lrs": (500, 60),
                    "standard_lrs": (500, 60), "ultrassd_lrs": (3000, 125), "premium_zrs": (120, 25),
                    "standardssd_zrs": (500, 60)}


def disk_defaults(disk: dict[str, Any]) -> dict[str, Any]:
    """Fields Azure always returns on a managed disk, filled in where the request left them out."""
    props = disk["properties"]
    iops, mbps = DISK_PERFORMANCE.get(disk["sku"]["name"].lower(), (500, 60))
    props.setdefault("diskIOPSReadWrite", iops)
    props.setdefault("diskMBpsReadWrite", mbps)
    props.setdefault("encryption", {"type": "EncryptionAtRestWithPlatformKey"})
    props.setdefault("networkAccessPolicy", "AllowAll")
    props.setdefault("publicNetworkAccess", "Enabled")
    props.setdefault("tier", _disk_tier(disk["sku"]["name"], props.get("diskSizeGB", 30)))
    props.setdefault("isArmResource", True)  # in every managed-disk body the recordings show
    return disk


def _disk_tier(sku: str, size_gb: int) -> str:
    letter = "P" if sku.lower().startswith("premium") else "E"
    for tier, cap in ((1, 4), (2, 8), (3, 16), (4, 32), (6, 64), (10, 128), (15, 256), (20, 512), (30, 1024),
                      (40, 2048), (50, 4096), (60, 8192), (70, 16384), (80, 32767)):
        if size_gb <= cap:
            return f"{letter}{tier}"
    return f"{letter}80"


def add_routes(provider) -> None:
    r = provider.route
    for action in ("reapply", "redeploy", "reimage", "performMaintenance"):
        r("POST", "rg", f"virtualMachines/{{vm}}/{action}", _vm_action(provider, action))
    r("POST", "rg", "virtualMachines/{vm}/generalize", lambda call: generalize(provider, call))
    r("POST", "rg", "virtualMachines/{vm}/capture", lambda call: capture(provider, call))
    r("POST", "rg", "virtualMachines/{vm}/simulateEviction", lambda call: simulate_eviction(provider, call))
    r("POST", "rg", "virtualMachines/{vm}/convertToManagedDisks", lambda call: convert_to_managed_disks(provider, call))
    for child in ("extensions", "runCommands"):
        r("PATCH", "rg", f"virtualMachines/{{vm}}/{child}/{{name}}", _child_patcher(provider, child))
    for kind in ("disks", "snapshots"):
        r("POST", "rg", f"{kind}/{{name}}/beginGetAccess", _begin_access(provider, kind))
        r("POST", "rg", f"{kind}/{{name}}/endGetAccess", _end_access(provider, kind))
    for kind, rtype, put, delete in (("snapshots", SNAPSHOT_TYPE, lambda call: put_snapshot(provider, call), "lro"),
                                     ("images", IMAGE_TYPE, lambda call: put_image(provider, call), "lro"),
                                     ("availabilitySets", AVSET_TYPE, put_availability_set, "sync"),
                                     ("proximityPlacementGroups", PPG_TYPE, put_placement_group, "sync")):
        provider.route_kind(kind, "name", lister(rtype), PUT=put, GET=getter(kind, rtype),
                            DELETE=_deleter(provider, kind, delete))
    r("PATCH", "rg", "snapshots/{name}", _patcher(SNAPSHOT_TYPE))
    r("PATCH", "rg", "availabilitySets/{name}", _patcher(AVSET_TYPE))
    r("PATCH", "rg", "proximityPlacementGroups/{name}", _patcher(PPG_TYPE))
    r("GET", "rg", "availabilitySets/{name}/vmSizes", lambda call: availability_set_sizes(provider, call))


# -- generic verbs -----------------------------------------------------------------------------------

def _patcher(rtype: str):
    def handler(call: Call) -> Response:
        kind = rtype.split("/")[-1]
        body = get_or_404(call, call.resource_id(kind, call.params["name"]), rtype, call.params["name"])
        patch = call.body_object()
        if "tags" in patch:
            body["tags"] = patch["tags"]
        body["properties"].update({k: v for k, v in (patch.get("properties") or {}).items()
                                   if k not in ("provisioningState",)})
        if patch.get("sku"):
            body["sku"] = {**body.get("sku", {}), **patch["sku"]}
        return Response(200, call.em.public(body))
    return handler


def _deleter(provider, kind: str, mode: str):
    def handler(call: Call) -> Response:
        resource_id = call.resource_id(kind, call.params["name"])
        body = call.em.get(resource_id)
        if body is None:
            return Response(204)
        if kind == "availabilitySets" and body["properties"].get("virtualMachines"):
            raise ArmError(409, "OperationNotAllowed", f"Availability set {body['name']} cannot be deleted. Before "
                           "deleting an availability set please ensure that it does not contain any VM.")
        if mode == "sync":
            call.em.delete(resource_id)
            return Response(200)
        op = call.em.start_operation("microsoft.compute", body["location"], "compute.resource_deleted",
                                     resource_id=resource_id)
        return Response(202, None, provider._async_headers(call, op, location=True))
    return handler


def _accepted(provider, call: Call, body: dict[str, Any], status: int, location: bool = True) -> Response:
    """Store `body` as `Updating`; the operation's end makes it `Succeeded` and its Location answers it."""
    body["properties"]["provisioningState"] = "Updating" if status == 202 else "Creating"
    call.em.put(body)
    op = call.em.start_operation("microsoft.compute", body["location"], "compute.resource_written",
                                 resource_id=body["id"], output=body["type"] in (DISK_TYPE, SNAPSHOT_TYPE))
    return Response(status, call.em.public(body), provider._async_headers(call, op, location=location))


# -- VM actions ------------------------------------------------------------------------------------------

def _vm(provider, call: Call) -> dict[str, Any]:
    return provider._vm(call)


def _vm_action(provider, action: str):
    def handler(call: Call) -> Response:
        vm = _vm(provider, call)
        meta = call.em.meta_of(vm["id"])
        if action == "performMaintenance":
            raise ArmError(409, "OperationNotAllowed", f"Operation 'performMaintenance' is not allowed on VM "
                           f"'{vm['name']}' since the Subscription of this VM is not eligible.")
        if action == "redeploy" and meta.get("power") == "deallocated":
            raise ArmError(409, "OperationNotAllowed", f"Operation 'redeploy' is not allowed on VM '{vm['name']}' "
                           "since the VM is deallocated.")
        if action == "reimage":
            _check_reimage_allowed(call, vm)
            meta.pop("generalized", None)
        op = call.em.start_operation("microsoft.compute", vm["location"], "compute.vm_action", vm_id=vm["id"],
                                     action=action)
        return Response(202, None, provider._async_headers(call, op, location=True))
    return handler


# Before this api-version a VM's reimage reset an ephemeral OS disk only ("Reimages the virtual
# machine which has an ephemeral OS disk back to its initial state"); from it on, any OS disk.
REIMAGE_ANY_OS_DISK_SINCE = "2021-03-01"


def _check_reimage_allowed(call: Call, vm: dict[str, Any]) -> None:
    os_disk = (vm["properties"].get("storageProfile") or {}).get("osDisk") or {}
    ephemeral = bool((os_disk.get("diffDiskSettings") or {}).get("option"))
    if not ephemeral and call.api_version[:10] < REIMAGE_ANY_OS_DISK_SINCE:
        raise ArmError(409, "OperationNotAllowed", "The Reimage and OSUpgrade Virtual Machine actions require that "
                       "the virtual machine has Automatic OS Upgrades enabled.")


def generalize(provider, call: Call) -> Response:
    vm = _vm(provider, call)
    meta = call.em.meta_of(vm["id"])
    if meta.get("power") not in ("stopped", "deallocated"):
        raise ArmError(409, "OperationNotAllowed", f"Operation 'generalize' is not allowed on VM '{vm['name']}' "
                       "since the VM is running. Please power off explicitly in case you shut down the VM from "
                       "inside the guest operating system.")
    meta["generalized"] = True
    return Response(200)


def simulate_eviction(provider, call: Call) -> Response:
    vm = _vm(provider, call)
    if str(vm["properties"].get("priority", "Regular")).lower() != "spot":
        raise ArmError(409, "OperationNotAllowed", "Operation 'simulateEviction' is allowed only for Spot Virtual "
                       "Machines")
    # Azure evicts a little later; the eviction policy decides between deallocate and delete.
    policy = str(vm["properties"].get("evictionPolicy", "Deallocate")).lower()
    call.em.start_operation("microsoft.compute", vm["location"], "compute.vm_action", vm_id=vm["id"],
                            action="evict_delete" if policy == "delete" else "evict")
    return Response(204)


def capture(provider, call: Call) -> Response:
    """Capture of a generalized VM with unmanaged disks: its VHD copied under the storage account's
    system container, and a template that creates a VM from it (the LRO's output)."""
    vm = _vm(provider, call)
    request = call.body_object()
    for field in ("vhdPrefix", "destinationContainerName", "overwriteVhds"):
        if request.get(field) is None:
            raise missing_property(f"parameters.{field}")
    os_disk = vm["properties"]["storageProfile"]["osDisk"]
    if "vhd" not in os_disk:
        raise ArmError(409, "OperationNotAllowed", f"Capture operation cannot be completed because the VM "
                       f"'{vm['name']}' has managed disks. Create an image from the VM instead.")
    if not call.em.meta_of(vm["id"]).get("generalized"):
        raise ArmError(409, "OperationNotAllowed", "Capture operation cannot be completed because the VM is not "
                       "generalized.")
    account = urlsplit(os_disk["vhd"]["uri"]).netloc
    vhd_name = f"{request['vhdPrefix']}-osDisk.{vm['properties']['vmId']}.vhd"
    copy = str(uuid.uuid4())
    template = {
        "$schema": "http://schema.management.azure.com/schemas/2014-04-01-preview/VM_IP.json",
        "contentVersion": "1.0.0.0",
        "parameters": {"vmName": {"type": "string"},
                       "vmSize": {"type": "string", "defaultValue": vm["properties"]["hardwareProfile"]["vmSize"]},
                       "adminUserName": {"type": "string"}, "adminPassword": {"type": "securestring"},
                       "networkInterfaceId": {"type": "string"}},
        "resources": [{"name": "[parameters('vmName')]", "type": VM_TYPE, "location": vm["location"],
                       "apiVersion": call.api_version, "properties": {
                           "hardwareProfile": {"vmSize": "[parameters('vmSize')]"},
                           "storageProfile": {"osDisk": {
                               "osType": os_disk.get("osType", "Linux"), "name": vhd_name, "createOption": "FromImage",
                               "image": {"uri": f"https://{account}/system/Microsoft.Compute/Images/"
                                                f"{request['destinationContainerName']}/{vhd_name}"},
                               "vhd": {"uri": f"https://{account}/vmcontainer{copy}/osDisk.{copy}.vhd"},
                               "caching": os_disk.get("caching", "ReadWrite")}},
                           "osProfile": {"computerName": "[parameters('vmName')]",
                                         "adminUsername": "[parameters('adminUsername')]",
                                         "adminPassword": "[parameters('adminPassword')]"},
                           "networkProfile": {"networkInterfaces": [{"id": "[parameters('networkInterfaceId')]"}]},
                           "provisioningState": 0}}],  # sic: Azure's template carries the enum's number
    }
    op = call.em.start_operation("microsoft.compute", vm["location"], output=True)
    op.result = template
    return Response(202, None, provider._async_headers(call, op, location=True))


def convert_to_managed_disks(provider, call: Call) -> Response:
    vm = _vm(provider, call)
    os_disk = vm["properties"]["storageProfile"]["osDisk"]
    if "managedDisk" in os_disk:
        raise ArmError(409, "OperationNotAllowed", f"VM '{vm['name']}' is already using managed disks.")
    # Converting an unmanaged (VHD) VM is not modelled: refused as Azure refuses a VM left running.
    raise ArmError(409, "OperationNotAllowed", f"Operation 'convertToManagedDisks' is not allowed on VM "
                   f"'{vm['name']}': the emulator keeps unmanaged disks as they are.")


def _child_patcher(provider, child: str):
    def handler(call: Call) -> Response:
        vm = _vm(provider, call)
        child_id = f"{vm['id']}/{child}/{call.params['name']}"
        body = get_or_404(call, child_id, f"{VM_TYPE}/{child}", call.params["name"])
        patch = call.body_object()
        body["properties"].update({k: v for k, v in (patch.get("properties") or {}).items()
                                   if k not in ("protectedSettings", "provisioningState")})
        if "tags" in patch:
            body["tags"] = patch["tags"]
        body["properties"]["provisioningState"] = "Updating"
        op = call.em.start_operation("microsoft.compute", vm["location"], "compute.vm_child", child_id=child_id,
                                     vm_id=vm["id"], kind=child)
        return Response(200, call.em.public(body), provider._async_headers(call, op))
    return handler


# -- disk and snapshot access ---------------------------------------------------------------------------

def _begin_access(provider, kind: str):
    def handler(call: Call) -> Response:
        rtype = f"{NS}/{kind}"
        body = get_or_404(call, call.resource_id(kind, call.params["name"]), rtype, call.params["name"])
        request = call.body_object()
        if not request.get("access"):
            raise missing_property("grantAccessData.access")
        if not request.get("durationInSeconds"):
            raise missing_property("grantAccessData.durationInSeconds")
        if kind == "disks" and body.get("managedBy") and str(request["access"]).lower() == "write":
            raise ArmError(409, "OperationNotAllowed", f"Disk {body['name']} is attached to VM {body['managedBy']}.")
        body["properties"]["diskState"] = "ActiveSAS"
        # SAS-shaped, never a working URL: the emulator has no blob endpoint and signs nothing.
        sas = (f"https://md-{uuid.uuid4().hex[:12]}.blob.storage.azure.net/{uuid.uuid4().hex[:12]}/abcd?"
               f"sv=2018-03-28&sr=b&si={uuid.uuid4()}&sig={secrets.token_urlsafe(32)}")
        op = call.em.start_operation("microsoft.compute", body["location"])
        op.result = {"accessSAS": sas}
        return Response(202, None, provider._async_headers(call, op, location=True))
    return handler


def _end_access(provider, kind: str):
    def handler(call: Call) -> Response:
        body = get_or_404(call, call.resource_id(kind, call.params["name"]), f"{NS}/{kind}", call.params["name"])
        if body["properties"].get("diskState") == "ActiveSAS":
            body["properties"]["diskState"] = "Attached" if body.get("managedBy") else "Unattached"
        op = call.em.start_operation("microsoft.compute", body["location"])
        return Response(202, None, provider._async_headers(call, op, location=True))
    return handler


# -- snapshots and images ----------------------------------------------------------------------------------

def put_snapshot(provider, call: Call) -> Response:
    name = call.params["name"]
    resource_id = call.resource_id("snapshots", name)
    existing, body, props = begin_put(call, SNAPSHOT_TYPE, resource_id, name)
    if existing:
        body["properties"] = {**existing["properties"], **props}
        body["sku"] = existing["sku"]
        return _accepted(provider, call, body, 202)
    creation = props.get("creationData") or {}
    if not creation.get("createOption"):
        raise missing_property("creationData.createOption")
    source = None
    option = str(creation["createOption"]).lower()
    if option in ("copy", "copystart"):  # CopyStart: a background (cross-region) copy of a snapshot
        # Older clients name the source disk by its id in sourceUri; Azure answers it as sourceResourceId.
        source_uri = str(creation.get("sourceUri") or "")
        if not creation.get("sourceResourceId") and source_uri.lower().startswith("/subscriptions/"):
            creation = {**creation, "sourceResourceId": source_uri}
        if not creation.get("sourceResourceId"):
            raise missing_property("creationData.sourceResourceId")
        source = require_reference(call, {"id": creation["sourceResourceId"]}, resource_id,
                                   "creationData.sourceResourceId")
    size_gb = int(props.get("diskSizeGB") or (source or {}).get("properties", {}).get("diskSizeGB") or 30)
    sku = (call.body_object().get("sku") or {}).get("name", "Standard_LRS")
    body["sku"] = {"name": sku, "tier": "Premium" if sku.lower().startswith("premium") else "Standard"}
    body["properties"] = {
        **props, "creationData": creation, "diskSizeGB": size_gb, "diskSizeBytes": size_gb * 1024**3,
        "incremental": bool(props.get("incremental", False)), "uniqueId": str(uuid.uuid4()),
        "timeCreated": utc_now(), "diskState": "Unattached", "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
        "networkAccessPolicy": "AllowAll", "publicNetworkAccess": "Enabled", "isArmResource": True,
    }
    if option == "copystart":
        body["properties"]["completionPercent"] = 100.0  # the copy is done when the operation ends
    if body["properties"]["incremental"]:
        # Incremental snapshots of one disk form a family Azure names with one id.
        family_of = call.em.meta_of(source["id"] if source is not None else resource_id)
        body["properties"]["incrementalSnapshotFamilyId"] = family_of.setdefault("snapshot_family", str(uuid.uuid4()))
    if source is not None:
        for key in ("osType", "hyperVGeneration"):
            if source["properties"].get(key):
                body["properties"].setdefault(key, source["properties"][key])
        creation.setdefault("sourceUniqueId", source["properties"].get("uniqueId", ""))
    return _accepted(provider, call, body, 202)


def put_image(provider, call: Call) -> Response:
    name = call.params["name"]
    resource_id = call.resource_id("images", name)
    existing, body, props = begin_put(call, IMAGE_TYPE, resource_id, name)
    source_ref = props.get("sourceVirtualMachine")
    storage = dict(props.get("storageProfile") or {})
    generation = props.get("hyperVGeneration")
    if source_ref:
        vm = require_reference(call, source_ref, resource_id, "properties.sourceVirtualMachine")
        meta = call.em.meta_of(vm["id"])
        if not meta.get("generalized"):
            raise ArmError(409, "OperationNotAllowed", f"The operation 'Create Image' is not allowed on VM "
                           f"'{vm['name']}' since the VM is not generalized.")
        os_disk = vm["properties"]["storageProfile"]["osDisk"]
        image_os = {"osType": os_disk.get("osType", "Linux"), "osState": "Generalized",
                    "caching": os_disk.get("caching", "ReadWrite"), "diskSizeGB": os_disk.get("diskSizeGB")}
        if "managedDisk" in os_disk:
            image_os.update(managedDisk={"id": os_disk["managedDisk"]["id"]},
                            storageAccountType=os_disk["managedDisk"].get("storageAccountType", "Premium_LRS"))
        else:  # an unmanaged VM's image points at its VHD blob
            image_os.update(blobUri=os_disk["vhd"]["uri"], storageAccountType="Standard_LRS")
        storage = {"osDisk": image_os, "dataDisks": [_image_data_disk(d) for d in
                                                   vm["properties"]["storageProfile"].get("dataDisks") or []],
                   "zoneResilient": bool(storage.get("zoneResilient", False))}
        generation = generation or meta.get("generation", "V1")
        props["sourceVirtualMachine"] = {"id": vm["id"]}
    elif not storage.get("osDisk"):
        raise missing_property("storageProfile.osDisk")
    storage.setdefault("dataDisks", [])
    body["properties"] = {**props, "storageProfile": storage, "hyperVGeneration": generation or "V1"}
    return _accepted(provider, call, body, 200 if existing else 201, location=False)


def _image_data_disk(disk: dict[str, Any]) -> dict[str, Any]:
    """An image's copy of a VM's data disk: its managed disk, or for an unmanaged one its VHD blob."""
    out = {"lun": disk["lun"], "diskSizeGB": disk.get("diskSizeGB"), "caching": disk.get("caching", "None")}
    if "managedDisk" in disk:
        out.update(managedDisk={"id": disk["managedDisk"]["id"]},
                   storageAccountType=disk["managedDisk"].get("storageAccountType", "Premium_LRS"))
    else:
        out.update(blobUri=disk["vhd"]["uri"], storageAccountType="Standard_LRS")
    return out


# -- availability sets and proximity placement groups ---------------------------------------------------------

def put_availability_set(call: Call) -> Response:
    name = call.params["name"]
    existing, body, props = begin_put(call, AVSET_TYPE, call.resource_id("availabilitySets", name), name)
    faults = int(props.get("platformFaultDomainCount", 2))
    updates = int(props.get("platformUpdateDomainCount", 5))
    if not 1 <= faults <= 3:
        raise ArmError(400, "InvalidParameter", f"The specified fault domain count {faults} must fall in the range 1 "
                       "to 3.", target="platformFaultDomainCount")
    if not 1 <= updates <= 20:
        raise ArmError(400, "InvalidParameter", f"The specified update domain count {updates} must fall in the range "
                       "1 to 20.", target="platformUpdateDomainCount")
    sku = (call.body_object().get("sku") or {}).get("name") or (existing or {}).get("sku", {}).get("name", "Classic")
    body["sku"] = {"name": sku}
    body["properties"] = {**props, "platformFaultDomainCount": faults, "platformUpdateDomainCount": updates,
                          "virtualMachines": ((existing or {}).get("properties") or {}).get("virtualMachines", [])}
    call.em.put(body)
    return Response(200, call.em.public(body))


def availability_set_sizes(provider, call: Call) -> Response:
    from .views import size_entry

    avset = get_or_404(call, call.resource_id("availabilitySets", call.params["name"]), AVSET_TYPE,
                       call.params["name"])
    return list_response([size_entry(s) for s in provider.offered(avset["location"])])


def put_placement_group(call: Call) -> Response:
    name = call.params["name"]
    existing, body, props = begin_put(call, PPG_TYPE, call.resource_id("proximityPlacementGroups", name), name)
    old = (existing or {}).get("properties") or {}
    body["properties"] = {"proximityPlacementGroupType": props.get("proximityPlacementGroupType", "Standard"), **props,
                          "virtualMachines": old.get("virtualMachines", []),
                          "virtualMachineScaleSets": old.get("virtualMachineScaleSets", []),
                          "availabilitySets": old.get("availabilitySets", [])}
    if "zones" in call.body_object():
        body["zones"] = call.body_object()["zones"]
    call.em.put(body)
    return Response(200 if existing else 201, call.em.public(body))


# -- finalizers -------------------------------------------------------------------------------------------------

def finish_written(em, op) -> None:
    body = em.get(op.args["resource_id"])
    if body is None:
        return
    body["properties"]["provisioningState"] = "Succeeded"
    op.result = em.public(body)


def finish_deleted(em, op) -> None:
    em.delete(op.args["resource_id"])


def finish_vm_action(em, op) -> None:
    vm = em.get(op.args["vm_id"])
    if vm is None:
        return
    action = op.args["action"]
    meta = em.meta_of(vm["id"])
    if action == "evict":
        meta["power"] = "deallocated"
        em.notify("vm_stopped", vm=vm, deallocated=True)
    elif action == "evict_delete":
        meta["power"] = "deallocated"
        em.notify("vm_deleted", vm=vm)
        em.delete(vm["id"])
        em.meta_of(vm["id"])["evicted"] = True  # the platform deleted it: ARM still routes its name to Compute
    elif action in ("redeploy", "reimage") and meta.get("power") == "running":
        em.notify("vm_restarted", vm=vm)


def register_finalizers(em) -> None:
    em.finalizers.update({"compute.resource_written": finish_written, "compute.resource_deleted": finish_deleted,
                          "compute.vm_action": finish_vm_action})



# -- data disks on a VM -------------------------------------------------------------------------------------

def disk_key(disk: dict[str, Any]) -> str:
    """What identifies a VM's data disk: its managed disk, or an unmanaged one's VHD blob."""
    return (disk["managedDisk"]["id"] if "managedDisk" in disk else disk["vhd"]["uri"]).lower()


def data_disks(call: Call, vm: dict[str, Any], wanted: Any, current: list[dict[str, Any]] | None = None) -> list:
    """A VM's `storageProfile.dataDisks`: Empty ones are created as managed disks, Attach ones must
    exist and be free; disks left out of an update are detached (their managedBy cleared)."""
    if wanted is None:
        return list(current or [])
    if not isinstance(wanted, list):
        raise ArmError(400, "InvalidParameter", "storageProfile.dataDisks must be a list.", target="dataDisks")
    out, luns = [], set()
    for index, raw in enumerate(wanted):
        path = f"storageProfile.dataDisks[{index}]"
        if not isinstance(raw, dict) or raw.get("lun") is None:
            raise missing_property(f"{path}.lun")
        lun = int(raw["lun"])
        if lun in luns:
            raise ArmError(400, "InvalidParameter", f"A disk at LUN {lun} already exists.", target=f"{path}.lun")
        luns.add(lun)
        option = str(raw.get("createOption", "Empty")).lower()
        managed = raw.get("managedDisk") or {}
        vhd_uri = (raw.get("vhd") or {}).get("uri")
        if vhd_uri and option in ("empty", "attach"):
            # An unmanaged data disk: a page blob in the client's storage account, no Disk resource.
            if option == "empty" and not raw.get("diskSizeGB"):
                raise missing_property(f"{path}.diskSizeGB")
            out.append({"lun": lun, "name": raw.get("name") or f"{vm['name']}-datadisk-{lun}",
                        "createOption": "Attach" if option == "attach" else "Empty", "vhd": {"uri": vhd_uri},
                        "caching": raw.get("caching") or "None", "diskSizeGB": int(raw.get("diskSizeGB") or 0),
                        "toBeDetached": False})
            continue
        if option == "attach":
            disk = require_reference(call, managed, vm["id"], f"{path}.managedDisk")
            owner = disk.get("managedBy")
            if owner and owner.lower() != vm["id"].lower():
                raise ArmError(409, "OperationNotAllowed", f"Disk {disk['name']} is attached to VM {owner}.")
        elif option == "empty":
            if not raw.get("diskSizeGB"):
                raise missing_property(f"{path}.diskSizeGB")
            name = raw.get("name") or f"{vm['name']}_disk{lun + 2}_{uuid.uuid4().hex}"
            disk_id = call.resource_id("disks", name)
            disk = call.em.get(disk_id)
            if disk is None:
                account = managed.get("storageAccountType", "Premium_LRS")
                size_gb = int(raw["diskSizeGB"])
                disk = call.em.put(disk_defaults({
                    "name": name, "id": disk_id, "type": DISK_TYPE, "location": vm["location"],
                    "sku": {"name": account, "tier": account.split("_")[0]},
                    "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": size_gb,
                                   "diskSizeBytes": size_gb * 1024**3, "uniqueId": str(uuid.uuid4()),
                                   "provisioningState": "Succeeded", "timeCreated": utc_now()}}))
        else:
            raise ArmError(400, "InvalidParameter", f"The value '{raw.get('createOption')}' of {path}.createOption "
                           "is not supported by the emulator for data disks (Empty, Attach).",
                           target=f"{path}.createOption")
        disk["managedBy"] = vm["id"]
        disk["properties"]["diskState"] = "Attached"
        out.append({"lun": lun, "name": disk["name"], "createOption": "Attach" if option == "attach" else "Empty",
                    "caching": raw.get("caching", "None"), "writeAcceleratorEnabled": False,
                    "managedDisk": {"storageAccountType": disk["sku"]["name"], "id": disk["id"]},
                    "deleteOption": raw.get("deleteOption", "Detach"), "diskSizeGB": disk["properties"]["diskSizeGB"],
                    "toBeDetached": False})
    kept = {disk_key(d) for d in out}
    for old in current or []:
        if "managedDisk" in old and disk_key(old) not in kept:
            disk = call.em.get(old["managedDisk"]["id"])
            if disk is not None:
                disk.pop("managedBy", None)
                disk["properties"]["diskState"] = "Unattached"
    return out
