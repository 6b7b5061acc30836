"""Microsoft.Compute: virtual machines, managed disks, sizes, SKUs, images, usages.

The rules a GPU<->CPU resize must respect live here, with Azure's codes and messages
(see AZURE-FACTS): the temp-disk rule, Hyper-V generation, the hardware cluster of a running
VM, accelerated networking, SKU restrictions and vCPU quota per family.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from ...catalog import images as image_catalog
from ...catalog.sizes import REGIONS, Size, family_display_name, lookup, offered_in
from ..core import utc_now
from ..routing import Call, Provider
from ..wire import ArmError, Response, missing_property, not_found
from .common import check_name, get_or_404, list_response, properties_of, require_reference, tracked_body

NS = "Microsoft.Compute"
VM_TYPE = f"{NS}/virtualMachines"
DISK_TYPE = f"{NS}/disks"

# Default vCPU quota per family (lower-case keys), as a new pay-as-you-go subscription might have:
# generous for CPU sizes, some T4 cores, no A100/H100 cores until a quota request.
DEFAULT_QUOTA = {
    "cores": 100,
    "standardncasv3_t4family": 24,
    "standardncadsa100v4family": 0,
    "standardncadsh100v5family": 0,
    "*": 64,
}
# Sizes restricted for this subscription, per location: the emulator's "SKU not available".
DEFAULT_RESTRICTIONS = {("eastus", "standard_nc40ads_h100_v5"): "NotAvailableForSubscription"}

VM_NAME = re.compile(r"^[^_\W][\w\-.]{0,63}(?<![-.])$")
WINDOWS_COMPUTER_NAME = re.compile(r"^(?!\d+$)[^\\/\"\[\]:|<>+=;,?*@&~!#$%^(){}'._ ][^\\/\"\[\]:|<>+=;,?*@&~!#$%^(){}' ]{0,14}$")
POWER_DISPLAY = {"running": "VM running", "starting": "VM starting", "stopping": "VM stopping",
                 "stopped": "VM stopped", "deallocating": "VM deallocating", "deallocated": "VM deallocated"}


class ComputeProvider(Provider):
    namespace = NS

    def __init__(self, em) -> None:
        super().__init__(em)
        self.restrictions = dict(DEFAULT_RESTRICTIONS)
        r = self.route
        r("PUT", "rg", "virtualMachines/{vm}", self.put_vm)
        r("PATCH", "rg", "virtualMachines/{vm}", self.patch_vm)
        r("GET", "rg", "virtualMachines/{vm}", self.get_vm)
        r("DELETE", "rg", "virtualMachines/{vm}", self.delete_vm)
        r("GET", "rg", "virtualMachines", self.list_vms)
        r("GET", "sub", "virtualMachines", self.list_all_vms)
        r("GET", "rg", "virtualMachines/{vm}/instanceView", self.instance_view)
        r("GET", "rg", "virtualMachines/{vm}/vmSizes", self.available_sizes)
        for action in ("start", "powerOff", "restart", "deallocate", "runCommand"):
            r("POST", "rg", f"virtualMachines/{{vm}}/{action}", self._power_action(action))
        for child in ("runCommands", "extensions"):
            r("PUT", "rg", f"virtualMachines/{{vm}}/{child}/{{name}}", self._child_writer(child))
            r("GET", "rg", f"virtualMachines/{{vm}}/{child}/{{name}}", self._child_getter(child))
            r("DELETE", "rg", f"virtualMachines/{{vm}}/{child}/{{name}}", self._child_deleter(child))
            r("GET", "rg", f"virtualMachines/{{vm}}/{child}", self._child_lister(child))
        r("PUT", "rg", "disks/{disk}", self.put_disk)
        r("PATCH", "rg", "disks/{disk}", self.patch_disk)
        r("GET", "rg", "disks/{disk}", self.get_disk)
        r("DELETE", "rg", "disks/{disk}", self.delete_disk)
        r("GET", "rg", "disks", self.list_disks)
        r("GET", "sub", "disks", self.list_all_disks)
        r("GET", "sub", "skus", self.resource_skus)
        r("GET", "sub", "locations/{loc}/vmSizes", self.location_sizes)
        r("GET", "sub", "locations/{loc}/usages", self.usages)
        r("GET", "sub", "locations/{loc}/operations/{op}", self.operation_status)
        r("GET", "sub", "locations/{loc}/publishers", self.list_publishers)
        base = "locations/{loc}/publishers/{pub}/artifacttypes/vmimage/offers"
        r("GET", "sub", base, self.list_offers)
        r("GET", "sub", f"{base}/{{offer}}/skus", self.list_image_skus)
        r("GET", "sub", f"{base}/{{offer}}/skus/{{sku}}/versions", self.list_image_versions)
        r("GET", "sub", f"{base}/{{offer}}/skus/{{sku}}/versions/{{version}}", self.get_image_version)
        from . import compute_ops  # maintenance actions, snapshots, images, availability sets, ...

        compute_ops.add_routes(self)
        from . import compute_vmss  # virtual machine scale sets

        compute_vmss.add_routes(self)
        from . import compute_hosts  # dedicated host groups and hosts

        compute_hosts.add_routes(self)

    # -- catalog: what each region offers ---------------------------------------------------------

    def offered(self, location: str) -> list[Size]:
        return list(offered_in(location))

    def restriction(self, location: str, size: Size) -> str | None:
        return self.restrictions.get((location.lower(), size.name.lower()))

    def resolve_size(self, location: str, name: Any, target: str = "hardwareProfile.vmSize") -> Size:
        if not name:
            raise missing_property(target)
        if not isinstance(name, str):
            raise ArmError(400, "InvalidParameter", f"The value of parameter {target} is invalid.", target=target)
        size = lookup(name)
        if size is None:
            raise ArmError(400, "InvalidParameter", f"The value {name} provided for the VM size is not valid. "
                           "Find the sizes offered with the list available sizes API.", target=target)
        if size.retired or size not in self.offered(location) or self.restriction(location, size):
            raise ArmError(409, "SkuNotAvailable",
                           f"The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: "
                           f"{size.name}' is currently not available in location '{location}'. Please try another "
                           "size or deploy to a different location or different zone. See "
                           "https://aka.ms/azureskunotavailable for details.", target=target)
        return size

    # -- virtual machines --------------------------------------------------------------------------

    def _vm_id(self, call: Call) -> str:
        return call.resource_id("virtualMachines", call.params["vm"])

    def _vm(self, call: Call) -> dict[str, Any]:
        vm = call.em.get(self._vm_id(call))
        if vm is None:
            if call.em.meta.get(self._vm_id(call).lower(), {}).get("evicted"):
                # A VM the platform deleted (a Spot eviction) is unknown to Compute, not to ARM.
                raise ArmError(404, "NotFound", "The entity was not found in this Azure location.")
            raise not_found(VM_TYPE, call.params["vm"], call.resource_group or "")
        return vm

    def put_vm(self, call: Call) -> Response:
        name = call.params["vm"]
        if not VM_NAME.match(name):
            raise ArmError(400, "InvalidParameter", f"The entity name '{name}' is invalid according to its "
                           "validation rule: ^[^_\\W][\\w-._]{0,63}(?<![-.])$.", target="name")
        existing = call.em.get(self._vm_id(call))
        if existing is not None:
            return self._update_vm(call, existing, call.body_object())
        body = tracked_body(call, VM_TYPE, name, self._vm_id(call), None)
        props = properties_of(call)
        location = body["location"]
        size = self.resolve_size(location, (props.get("hardwareProfile") or {}).get("vmSize"))
        storage = props.get("storageProfile") or {}
        os_disk_in = storage.get("osDisk") or {}
        attach = str(os_disk_in.get("createOption", "FromImage")).lower() == "attach"
        if attach:
            disk = require_reference(call, os_disk_in.get("managedDisk"), body["id"], "storageProfile.osDisk.managedDisk")
            if disk["properties"].get("diskState") == "Attached":
                raise ArmError(409, "OperationNotAllowed", f"Disk {disk['name']} is attached to VM "
                               f"{disk.get('managedBy')}.", target="storageProfile.osDisk")
            generation = disk["properties"].get("hyperVGeneration", "V1")
            os_type = disk["properties"].get("osType", "Linux")
            image = None
        else:
            image, generation, os_type = self._image_for(call, location, storage.get("imageReference"), props)
        check_generation(size, generation)
        os_profile = {} if attach else self._check_os_profile(name, props.get("osProfile"), os_type)
        nics = self._check_nics(call, body["id"], props.get("networkProfile"), size, name)
        check_quota(call.em, location, size, exclude_vm=None)

        vm_props: dict[str, Any] = {
            "vmId": str(uuid.uuid4()),
            "hardwareProfile": {"vmSize": size.name},
            "provisioningState": "Creating",
            "timeCreated": utc_now(),
        }
        disk = self._os_disk(call, body, os_disk_in, os_type, generation, image, size) if not attach else disk
        disk["properties"]["diskState"] = "Attached"
        disk["managedBy"] = body["id"]
        storage_out: dict[str, Any] = {
            "osDisk": {
                "osType": os_type, "name": disk["name"],
                "createOption": "Attach" if attach else "FromImage",
                "caching": os_disk_in.get("caching") or "ReadWrite",
                "managedDisk": {"storageAccountType": disk["sku"]["name"], "id": disk["id"]},
                "deleteOption": os_disk_in.get("deleteOption") or "Detach",
                "diskSizeGB": disk["properties"]["diskSizeGB"],
            },
            "dataDisks": [],
        }
        from .compute_ops import data_disks

        storage_out["dataDisks"] = data_disks(call, body, storage.get("dataDisks") or [])
        if image is not None:
            storage_out["imageReference"] = image
        vm_props["storageProfile"] = storage_out
        if os_profile:
            vm_props["osProfile"] = os_profile
        vm_props["networkProfile"] = {"networkInterfaces": nics}
        for key in ("securityProfile", "diagnosticsProfile", "priority", "evictionPolicy", "billingProfile",
                    "additionalCapabilities", "userData"):
            if key in props:
                vm_props[key] = props[key]
        if str(props.get("priority", "")).lower() in ("spot", "low"):
            vm_props.setdefault("billingProfile", {"maxPrice": -1.0})  # -1: pay up to the pay-as-you-go price
        if "proximityPlacementGroup" in props:  # a fleet's nodes share one (see placement.py); null: none
            ppg = props["proximityPlacementGroup"]
            if ppg:
                require_reference(call, ppg, body["id"], "properties.proximityPlacementGroup")
            vm_props["proximityPlacementGroup"] = {"id": ppg["id"]} if ppg else None
        vm_props.pop("userData", None)  # write-only, as in Azure
        body["properties"] = vm_props
        for key in ("plan", "identity", "zones"):
            if key in call.body_object():
                body[key] = call.body_object()[key]
        for nic_ref in nics:
            nic_props = call.em.get(nic_ref["id"])["properties"]
            nic_props["virtualMachine"] = {"id": body["id"]}
            nic_props["primary"] = nic_ref["properties"]["primary"]  # as the Network RP shows an attached NIC
        call.em.put(body)
        meta = call.em.meta_of(body["id"])
        meta.update(power="starting", generation=generation, cluster=size.cluster, os_type=os_type,
                    custom_data=(props.get("osProfile") or {}).get("customData"))
        op = call.em.start_operation("microsoft.compute", location, "compute.vm_created", vm_id=body["id"])
        self._maybe_allocation_failure(call, op)
        return Response(201, call.em.public(body), self._async_headers(call, op))

    def _image_for(self, call: Call, location: str, ref: Any, props: dict[str, Any]) -> tuple[dict, str, str]:
        if not isinstance(ref, dict) or not ref:
            raise missing_property("storageProfile.imageReference")
        if ref.get("id") and not ref.get("publisher"):
            # A custom image or gallery image: the emulator knows none, but keeps the reference.
            return dict(ref), "V2" if "gen2" in ref["id"].lower() else "V1", _os_type(props, ref)
        for key in ("publisher", "offer", "sku"):
            if not ref.get(key):
                raise missing_property(f"storageProfile.imageReference.{key}")
        known = image_catalog.find_image(ref["publisher"], ref["offer"], ref["sku"])
        version = str(ref.get("version") or "latest")
        urn = f"{ref['publisher']}:{ref['offer']}:{ref['sku']}:{version}"
        if known is not None and (known.retired or not known.versions):
            raise _image_not_found(urn)
        listed = image_catalog.sku_facts(ref["publisher"], ref["offer"], ref["sku"])
        if listed is None and image_catalog.offers(ref["publisher"]) is not None:
            raise _image_not_found(urn)  # a publisher whose listing we have: the offer or SKU is not in it
        if listed is not None:
            publisher, offer, sku, facts = listed
            versions = facts.get("versions") or []
            if not versions or (version.lower() != "latest" and version not in versions):
                raise _image_not_found(urn)
            exact = max(versions, key=image_catalog.version_key) if version.lower() == "latest" else version
            return ({"publisher": publisher, "offer": offer, "sku": sku, "version": version, "exactVersion": exact},
                    facts.get("generation") or "V1", image_catalog.os_of(publisher, offer))
        # Publishers the catalog lists no offers for: accepted, with the generation read the way
        # their SKU names encode it.
        sku = ref["sku"].lower()
        generation = "V2" if ("gen2" in sku or sku.endswith("-g2") or "-gen2" in ref["offer"].lower()) else "V1"
        return ({**{k: ref[k] for k in ("publisher", "offer", "sku")}, "version": version,
                 "exactVersion": "1.0.0"}, generation, _os_type(props, ref))

    def _check_os_profile(self, vm_name: str, profile: Any, os_type: str) -> dict[str, Any]:
        if not isinstance(profile, dict):
            raise missing_property("osProfile")
        if not profile.get("adminUsername"):
            raise missing_property("osProfile.adminUsername")
        computer_name = profile.get("computerName") or vm_name
        out = {k: v for k, v in profile.items() if k not in ("adminPassword", "customData")}
        out["computerName"] = computer_name
        if os_type == "Windows":
            if not WINDOWS_COMPUTER_NAME.match(computer_name):
                raise ArmError(400, "InvalidParameter", "Windows computer name cannot be more than 15 characters long, "
                               "be entirely numeric, or contain the following characters: ` ~ ! @ # $ % ^ & * ( ) = + "
                               "_ [ ] { } \\ | ; : . ' \" , < > / ?.", target="computerName")
            if not profile.get("adminPassword"):
                raise missing_property("osProfile.adminPassword")
            out.setdefault("windowsConfiguration", {"provisionVMAgent": True, "enableAutomaticUpdates": True})
            out["windowsConfiguration"].setdefault("provisionVMAgent", True)
            out["windowsConfiguration"].setdefault("enableVMAgentPlatformUpdates", False)
            out["windowsConfiguration"].setdefault("patchSettings", {"patchMode": "AutomaticByOS",
                                                                      "assessmentMode": "ImageDefault"})
        else:
            linux = profile.get("linuxConfiguration") or {}
            keys = ((linux.get("ssh") or {}).get("publicKeys")) or []
            if linux.get("disablePasswordAuthentication") and not keys:
                raise ArmError(400, "InvalidParameter", "Authentication using either SSH or by user name and password "
                               "must be enabled in Linux profile.", target="linuxConfiguration")
            if not linux.get("disablePasswordAuthentication") and not profile.get("adminPassword") and not keys:
                raise missing_property("osProfile.adminPassword")
            out["linuxConfiguration"] = {"disablePasswordAuthentication": False, "provisionVMAgent": True,
                                         "enableVMAgentPlatformUpdates": False,
                                         "patchSettings": {"patchMode": "ImageDefault",
                                                           "assessmentMode": "ImageDefault"}, **linux}
        out.setdefault("secrets", [])
        out.setdefault("allowExtensionOperations", True)
        out["requireGuestProvisionSignal"] = True
        return out

    def _check_nics(self, call: Call, vm_id: str, network_profile: Any, size: Size, vm_name: str) -> list[dict]:
        refs = (network_profile or {}).get("networkInterfaces") if isinstance(network_profile, dict) else None
        if not refs:
            raise missing_property("networkProfile.networkInterfaces")
        out = []
        for index, ref in enumerate(refs):
            nic = require_reference(call, ref, vm_id, f"networkProfile.networkInterfaces[{index}]")
            owner = (nic["properties"].get("virtualMachine") or {}).get("id")
            if owner and owner.lower() != vm_id.lower():
                raise ArmError(400, "NicInUse", f"Network Interface {nic['id']} is used by existing resource "
                               f"{owner}. In order to delete the network interface, it must be dissociated from the "
                               "resource.")
            check_accelerated_networking(nic, size, vm_name, index)
            item = {"id": nic["id"], "properties": {"primary": index == 0}}
            delete_option = ((ref.get("properties") or {}).get("deleteOption"))
            if delete_option:
                item["properties"]["deleteOption"] = delete_option
            out.append(item)
        return out

    def _os_disk(self, call: Call, vm: dict, os_disk_in: dict, os_type: str, generation: str,
                 image: dict | None, size: Size) -> dict[str, Any]:
        name = os_disk_in.get("name") or f"{vm['name']}_OsDisk_1_{uuid.uuid4().hex}"
        check_name(name)
        disk_id = call.resource_id("disks", name)
        if call.em.get(disk_id) is not None:
            raise ArmError(409, "ConflictingUserInput", f"Disk {name} already exists in resource group "
                           f"{call.resource_group.upper()}. Only CreateOption.Attach is supported.",
                           target="/disks/" + name)
        # az sends explicit nulls for what it leaves to Azure's defaults.
        account = (os_disk_in.get("managedDisk") or {}).get("storageAccountType") or "Premium_LRS"
        size_gb = int(os_disk_in.get("diskSizeGB") or (127 if os_type == "Windows" else 150))
        creation: dict[str, Any] = {"createOption": "FromImage"}
        if image is not None:
            creation["imageReference"] = {"id": f"/Subscriptions/{call.sub}/Providers/Microsoft.Compute/Locations/"
                                          f"{vm['location']}/Publishers/{image.get('publisher')}/ArtifactTypes/VMImage/"
                                          f"Offers/{image.get('offer')}/Skus/{image.get('sku')}/Versions/"
                                          f"{image.get('exactVersion')}"}
        disk = {
            "name": name, "id": disk_id, "type": DISK_TYPE, "location": vm["location"],
            "sku": {"name": account, "tier": account.split("_")[0]},
            "properties": {"osType": os_type, "hyperVGeneration": generation, "creationData": creation,
                           "diskSizeGB": size_gb, "diskSizeBytes": size_gb * 1024**3,
                           "uniqueId": str(uuid.uuid4()), "provisioningState": "Succeeded",
                           "diskState": "Attached", "timeCreated": utc_now()},
        }
        if vm.get("tags"):
            disk["tags"] = dict(vm["tags"])
        from .compute_ops import disk_defaults

        return call.em.put(disk_defaults(disk))

    def _update_vm(self, call: Call, vm: dict[str, Any], body: dict[str, Any]) -> Response:
        props = body.get("properties") or {}
        if not isinstance(props, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be "
                           "deserialized: 'properties' must be an object.")
        new_size = (props.get("hardwareProfile") or {}).get("vmSize")
        restart = False
        if new_size and new_size.lower() != vm["properties"]["hardwareProfile"]["vmSize"].lower():
            target = check_resize(call, self, vm, new_size)
            vm["properties"]["hardwareProfile"]["vmSize"] = target.name
            meta = call.em.meta_of(vm["id"])
            restart = meta.get("power") == "running"
            if meta.get("power") not in ("deallocated",):
                meta["cluster"] = target.cluster
        if "tags" in body:
            vm["tags"] = body["tags"]
        wanted_disks = (props.get("storageProfile") or {}).get("dataDisks")
        detaching: list[dict[str, Any]] = []
        if wanted_disks is not None:
            from .compute_ops import data_disks

            profile = vm["properties"]["storageProfile"]
            old_disks = profile.get("dataDisks") or []
            profile["dataDisks"] = data_disks(call, vm, wanted_disks, old_disks)
            kept = {d["managedDisk"]["id"].lower() for d in profile["dataDisks"]}
            detaching = [{**d, "toBeDetached": True} for d in old_disks if d["managedDisk"]["id"].lower() not in kept]
        vm["properties"]["provisioningState"] = "Updating"
        op = call.em.start_operation("microsoft.compute", vm["location"], "compute.vm_updated", vm_id=vm["id"],
                                     restart=restart)
        view = self._vm_view(call, vm)
        # While the update runs, Azure still lists the disks being detached, marked toBeDetached.
        view["properties"]["storageProfile"]["dataDisks"] = sorted(
            view["properties"]["storageProfile"]["dataDisks"] + detaching, key=lambda d: d["lun"])
        return Response(200, view, self._async_headers(call, op))

    def patch_vm(self, call: Call) -> Response:
        return self._update_vm(call, self._vm(call), call.body_object())

    def get_vm(self, call: Call) -> Response:
        vm = self._vm(call)
        expand = call.request.query.get("$expand", "")
        return Response(200, self._vm_view(call, vm, with_instance_view=expand.lower() == "instanceview"))

    def _vm_view(self, call: Call, vm: dict[str, Any], with_instance_view: bool = False) -> dict[str, Any]:
        out = call.em.public(vm)
        extensions = [call.em.public(b) for k, b in call.em.resources.items()
                      if k.startswith(vm["id"].lower() + "/extensions/")]
        if extensions:  # a VM GET lists the VM's extensions as child resources
            out["resources"] = extensions
        if with_instance_view:
            out["properties"]["instanceView"] = build_instance_view(call.em, vm)
        return out

    def list_vms(self, call: Call) -> Response:
        return list_response([call.em.public(v) for v in call.em.find(VM_TYPE, resource_group=call.resource_group)])

    def list_all_vms(self, call: Call) -> Response:
        return list_response([call.em.public(v) for v in call.em.find(VM_TYPE)])

    def instance_view(self, call: Call) -> Response:
        return Response(200, build_instance_view(call.em, self._vm(call)))

    def available_sizes(self, call: Call) -> Response:
        vm = self._vm(call)
        meta = call.em.meta_of(vm["id"])
        sizes = self.offered(vm["location"])
        if meta.get("power") != "deallocated":
            # An allocated VM can only move within its current hardware cluster.
            sizes = [s for s in sizes if s.cluster == meta.get("cluster")]
        sizes = [s for s in sizes if not self.restriction(vm["location"], s)]
        return list_response([size_entry(s) for s in sizes])

    def delete_vm(self, call: Call) -> Response:
        vm = call.em.get(self._vm_id(call))
        if vm is None:
            return Response(204)
        vm["properties"]["provisioningState"] = "Deleting"
        op = call.em.start_operation("microsoft.compute", vm["location"], "compute.vm_deleted", vm_id=vm["id"])
        return Response(202, None, self._async_headers(call, op, location=True))

    def _power_action(self, action: str):
        def handler(call: Call) -> Response:
            vm = self._vm(call)
            meta = call.em.meta_of(vm["id"])
            power = meta.get("power", "running")
            if action in ("restart", "runCommand") and power != "running":
                raise ArmError(409, "OperationNotAllowed", f"Operation '{action}' is not allowed on VM '{vm['name']}' "
                               f"since the VM is {power}.")
            if action == "start" and power == "deallocated":
                check_quota(call.em, vm["location"], lookup(vm["properties"]["hardwareProfile"]["vmSize"]),
                            exclude_vm=vm["id"])
            transitional = {"start": "starting", "deallocate": "deallocating", "powerOff": "stopping"}
            if action in transitional and not (action == "start" and power == "running"):
                meta["power"] = transitional[action]
            args: dict[str, Any] = {"vm_id": vm["id"], "action": action, "from_power": power}
            if action == "runCommand":
                args["command"] = call.body_object()
            op = call.em.start_operation("microsoft.compute", vm["location"], "compute.power", **args)
            if action == "start" and power != "running":
                self._maybe_allocation_failure(call, op)
            return Response(202, None, self._async_headers(call, op, location=True))
        return handler

    # -- VM children: managed run commands and extensions --------------------------------------------

    def _child_writer(self, child: str):
        def handler(call: Call) -> Response:
            vm = self._vm(call)
            check_name(call.params["name"])
            child_id = f"{vm['id']}/{child}/{call.params['name']}"
            existing = call.em.get(child_id)
            body = tracked_body(call, f"{VM_TYPE}/{child}", call.params["name"], child_id, existing)
            props = dict(properties_of(call))
            if child == "runCommands":
                props.setdefault("timeoutInSeconds", 0)  # 0: the agent's own limit, as Azure reports it
            props["provisioningState"] = "Creating"
            body["properties"] = props
            call.em.put(body)
            op = call.em.start_operation("microsoft.compute", vm["location"], "compute.vm_child", child_id=child_id,
                                         vm_id=vm["id"], kind=child)
            return Response(201 if existing is None else 200, call.em.public(body), self._async_headers(call, op))
        return handler

    def _child_id(self, call: Call, child: str) -> str:
        return f"{self._vm_id(call)}/{child}/{call.params['name']}"

    def _child_getter(self, child: str):
        def handler(call: Call) -> Response:
            self._vm(call)
            return Response(200, call.em.public(get_or_404(call, self._child_id(call, child), f"{VM_TYPE}/{child}",
                                                           call.params["name"])))
        return handler

    def _child_deleter(self, child: str):
        def handler(call: Call) -> Response:
            vm = self._vm(call)
            body = call.em.get(self._child_id(call, child))
            if body is None:
                return Response(204)
            # As the Compute RP: 202 with both LRO headers; the child goes when the operation ends.
            body["properties"]["provisioningState"] = "Deleting"
            op = call.em.start_operation("microsoft.compute", vm["location"], "compute.vm_child_deleted",
                                         child_id=body["id"])
            return Response(202, None, self._async_headers(call, op, location=True))
        return handler

    def _child_lister(self, child: str):
        def handler(call: Call) -> Response:
            prefix = f"{self._vm(call)['id']}/{child}/".lower()
            return list_response([call.em.public(b) for k, b in call.em.resources.items() if k.startswith(prefix)])
        return handler

    def _maybe_allocation_failure(self, call: Call, op) -> None:
        rule = call.em.faults.take(call.request, ("allocation_failed",))
        if rule is not None:
            call.em.fail_operation(op, rule.code, rule.message)

    def _async_headers(self, call: Call, op, location: bool = False) -> dict[str, str]:
        url = call.em.operation_url(call.request.base_url, op, call.api_version)
        headers = {"Azure-AsyncOperation": url, **call.em.retry_after_headers()}
        if location:
            headers["Location"] = call.em.operation_url(call.request.base_url, op, call.api_version, monitor=True)
        return headers

    def operation_status(self, call: Call) -> Response:
        op = call.em.operations.get(call.params["op"])
        if op is None or op.namespace != "microsoft.compute":
            raise ArmError(404, "NotFound", f"The operation '{call.params['op']}' was not found.")
        pending = call.em.retry_after_headers() if op.status == "InProgress" else {}
        if call.request.query.get("monitor", "").lower() == "true":
            if op.status == "InProgress":
                return Response(202, None, {"Location": call.request.url, **pending})
            if op.status == "Failed":
                return Response(200, {"error": op.error})
            return Response(200, op.result)
        doc = op.status_document()
        if op.args.get("output") and op.status == "Succeeded":
            doc["properties"] = {"output": op.result}  # DiskOperations carry the final disk
        return Response(200, doc, pending)

    # -- disks -----------------------------------------------------------------------------------

    def _disk_id(self, call: Call) -> str:
        return call.resource_id("disks", call.params["disk"])

    def put_disk(self, call: Call) -> Response:
        name = call.params["disk"]
        check_name(name)
        existing = call.em.get(self._disk_id(call))
        body = tracked_body(call, DISK_TYPE, name, existing["id"] if existing else self._disk_id(call), existing)
        props = properties_of(call)
        if existing:
            merged = {**existing, **{k: v for k, v in body.items() if k != "properties"}}
            new_size = props.get("diskSizeGB")
            if new_size and int(new_size) < existing["properties"]["diskSizeGB"]:
                raise ArmError(400, "BadRequest", "Disk size can only be increased.", target="diskSizeGB")
            if new_size:
                merged["properties"]["diskSizeGB"] = int(new_size)
                merged["properties"]["diskSizeBytes"] = int(new_size) * 1024**3
            sku_name = (call.body_object().get("sku") or {}).get("name")
            if sku_name:
                merged["sku"] = {"name": sku_name, "tier": sku_name.split("_")[0]}
            from .compute_ops import _accepted, disk_defaults

            return _accepted(self, call, disk_defaults(merged), 202)
        creation = props.get("creationData") or {}
        if not creation.get("createOption"):
            raise missing_property("creationData.createOption")
        if str(creation["createOption"]).lower() == "empty" and not props.get("diskSizeGB"):
            raise missing_property("diskSizeGB")
        source = call.em.get(str(creation.get("sourceResourceId") or ""))
        if source is not None and "uniqueId" in source.get("properties", {}):
            # A disk copied from a disk or snapshot records which one, by its unique id.
            props = {**props, "creationData": {**creation, "sourceUniqueId": source["properties"]["uniqueId"]}}
        sku = call.body_object().get("sku") or {"name": "Standard_LRS"}
        size_gb = int(props.get("diskSizeGB") or (source or {}).get("properties", {}).get("diskSizeGB") or 30)
        body.update(sku={"name": sku.get("name", "Standard_LRS"), "tier": sku.get("name", "Standard_LRS").split("_")[0]},
                    properties={**props, "diskSizeGB": size_gb, "diskSizeBytes": size_gb * 1024**3,
                                "uniqueId": str(uuid.uuid4()), "provisioningState": "Succeeded",
                                "diskState": "Unattached", "timeCreated": utc_now()})
        from .compute_ops import _accepted, disk_defaults

        # As the Compute RP: 202, the disk `Updating`, its final body on the Location URL.
        return _accepted(self, call, disk_defaults(body), 202)

    def patch_disk(self, call: Call) -> Response:
        disk = get_or_404(call, self._disk_id(call), DISK_TYPE, call.params["disk"])
        if "tags" in call.body_object():
            disk["tags"] = call.body_object()["tags"]
        return Response(200, call.em.public(disk))

    def get_disk(self, call: Call) -> Response:
        return Response(200, call.em.public(get_or_404(call, self._disk_id(call), DISK_TYPE, call.params["disk"])))

    def delete_disk(self, call: Call) -> Response:
        disk = call.em.get(self._disk_id(call))
        if disk is None:
            return Response(204)
        if disk.get("managedBy"):
            raise ArmError(409, "OperationNotAllowed", f"Disk {disk['name']} is attached to VM {disk['managedBy']}.")
        op = call.em.start_operation("microsoft.compute", disk["location"], "compute.disk_deleted", disk_id=disk["id"])
        return Response(202, None, self._async_headers(call, op, location=True))

    def list_disks(self, call: Call) -> Response:
        return list_response([call.em.public(d) for d in call.em.find(DISK_TYPE, resource_group=call.resource_group)])

    def list_all_disks(self, call: Call) -> Response:
        return list_response([call.em.public(d) for d in call.em.find(DISK_TYPE)])

    # -- sizes, SKUs, usages, images ---------------------------------------------------------------

    def resource_skus(self, call: Call) -> Response:
        wanted = _location_filter(call.request.query.get("$filter", ""))
        items = []
        for location in REGIONS:
            if wanted and location != wanted:
                continue
            for size in self.offered(location):
                items.append(sku_entry(size, location, self.restriction(location, size)))
        return Response(200, {"value": items, "nextLink": None})

    def location_sizes(self, call: Call) -> Response:
        return list_response([size_entry(s) for s in self.offered(call.params["loc"])])

    def usages(self, call: Call) -> Response:
        location = call.params["loc"].lower()
        families = sorted({s.family for s in self.offered(location)})
        usage = vcpu_usage(call.em, location)
        items = [_usage_item("cores", "Total Regional vCPUs", usage.get("cores", 0),
                             call.em.quota_limit(location, "cores"))]
        items += [_usage_item(f, family_display_name(f), usage.get(f.lower(), 0), call.em.quota_limit(location, f))
                  for f in families]
        return list_response(items)

    def list_publishers(self, call: Call) -> Response:
        self._image_region(call)
        return Response(200, [_image_stub(call, p) for p in image_catalog.publishers()])

    def list_offers(self, call: Call) -> Response:
        self._image_region(call)
        offers = image_catalog.offers(call.params["pub"])
        if offers is None and image_catalog.canonical_publisher(call.params["pub"]) is None:
            raise _artifact_not_found()
        return Response(200, [_image_stub(call, o) for o in sorted(offers or {}, key=str.lower)])

    def list_image_skus(self, call: Call) -> Response:
        self._image_region(call)
        skus = image_catalog.skus(call.params["pub"], call.params["offer"])
        if skus is None:
            raise _artifact_not_found()
        return Response(200, [{**_image_stub(call, s), "properties": {
            "automaticOSUpgradeProperties": {"automaticOSUpgradeSupported": False}}} for s in sorted(skus)])

    def _image(self, call: Call) -> tuple[str, str, str, dict]:
        self._image_region(call)
        listed = image_catalog.sku_facts(call.params["pub"], call.params["offer"], call.params["sku"])
        if listed is None:
            raise _artifact_not_found()
        return listed

    def _image_region(self, call: Call) -> None:
        if call.params["loc"].replace(" ", "").lower() not in REGIONS:
            raise ArmError(400, "LocationNotAvailableForResourceType",
                           f"The provided location '{call.params['loc']}' is not available for resource type "
                           "'Microsoft.Compute/locations/publishers'.")

    def list_image_versions(self, call: Call) -> Response:
        *_, facts = self._image(call)
        versions = sorted(facts.get("versions") or [], key=image_catalog.version_key)
        order = call.request.query.get("$orderby", "").lower()
        if "desc" in order:
            versions.reverse()
        top = call.request.query.get("$top")
        if top and top.isdigit():
            versions = versions[:int(top)]
        return Response(200, [_image_stub(call, v) for v in versions])

    def get_image_version(self, call: Call) -> Response:
        publisher, offer, sku, facts = self._image(call)
        versions = facts.get("versions") or []
        version = call.params["version"]
        if version.lower() == "latest" and versions:
            version = max(versions, key=image_catalog.version_key)
        if version not in versions:
            raise _artifact_not_found()
        generation = facts.get("generation") or "V1"
        os_type = image_catalog.os_of(publisher, offer)
        disk_gb = 127 if os_type == "Windows" else 30
        return Response(200, {
            "name": version, "location": call.params["loc"].lower(), "id": _image_stub(call, version)["id"],
            "properties": {
                "hyperVGeneration": generation,
                # As the 2023-09-01 API: the OS disk's size in bytes (older images also keep sizeInGb)
                # and the image's deprecation state.
                "osDiskImage": {"operatingSystem": os_type, "sizeInGb": disk_gb, "sizeInBytes": disk_gb * 1024**3},
                "dataDiskImages": [],
                "automaticOSUpgradeProperties": {"automaticOSUpgradeSupported": False},
                "imageDeprecationStatus": {"imageState": "Active"},
                "architecture": facts.get("architecture", "x64"),
                "replicaType": "Unmanaged", "disallowed": {"vmDiskType": "None"},
                "features": [{"name": "SecurityType", "value": "TrustedLaunchSupported"},
                             {"name": "IsAcceleratedNetworkSupported", "value": "True"}]
                if generation == "V2" else [{"name": "IsAcceleratedNetworkSupported", "value": "True"}],
            },
        })


# -- rules shared by create, update and start --------------------------------------------------------

def check_generation(size: Size, generation: str) -> None:
    if generation not in size.generations:
        raise ArmError(400, "BadRequest",
                       f"The selected VM size '{size.name}' cannot boot Hypervisor Generation '{generation[-1]}'. If "
                       "this was a Create operation please check that the Hypervisor Generation of the Image matches "
                       "the Hypervisor Generation of the selected VM Size. If this was an Update operation please "
                       f"select a Hypervisor Generation '{generation[-1]}' VM Size. For more information, see "
                       "https://aka.ms/azuregen2vm")


def check_accelerated_networking(nic: dict[str, Any], size: Size, vm_name: str, index: int) -> None:
    if nic["properties"].get("enableAcceleratedNetworking") and not size.accelerated_networking:
        raise ArmError(400, "VMSizeIsNotPermittedToEnableAcceleratedNetworking",
                       f"Virtual Machine size {size.name} is not in the allowed list of VM sizes for accelerated "
                       f"networking to be enabled on the VM at index {index} for VM {vm_name}. Allowed sizes: "
                       f"{', '.join(s.name for s in offered_in(nic['location']) if s.accelerated_networking)}.")


def check_resize(call: Call, compute: ComputeProvider, vm: dict[str, Any], target_name: str) -> Size:
    """Every rule Azure applies to a size change, in the order Azure reports them."""
    em = call.em
    name = vm["name"]
    current = lookup(vm["properties"]["hardwareProfile"]["vmSize"])
    target = compute.resolve_size(vm["location"], target_name)
    meta = em.meta_of(vm["id"])
    if current is not None and current.has_temp_disk != target.has_temp_disk:
        raise ArmError(409, "OperationNotAllowed",
                       f"Unable to resize the VM '{name}' since changing from resource disk to non-resource disk VM "
                       "size and vice-versa is not allowed. Please refer to https://aka.ms/AAah4sr for more details.",
                       target="vmSize")
    check_generation(target, meta.get("generation", "V1"))
    for index, ref in enumerate(vm["properties"]["networkProfile"]["networkInterfaces"]):
        nic = em.get(ref["id"])
        if nic:
            check_accelerated_networking(nic, target, name, index)
    if meta.get("power") != "deallocated":
        if target.cluster != meta.get("cluster"):
            available = [s.name for s in compute.offered(vm["location"])
                         if s.cluster == meta.get("cluster") and not compute.restriction(vm["location"], s)]
            raise ArmError(409, "OperationNotAllowed",
                           f"Unable to resize the VM '{name}' because the requested size {target.name} is not "
                           "available in the current hardware cluster. The available sizes are: "
                           f"{','.join(available)}. Read more on VM resizing strategy at "
                           "https://aka.ms/azure-resizevm.", target="vmSize")
        check_quota(em, vm["location"], target, exclude_vm=vm["id"])
    return target


def vcpu_usage(em, location: str, exclude_vm: str | None = None) -> dict[str, int]:
    """vCPUs in use per family (lower-case) and in total ('cores'); deallocated VMs use none."""
    usage: dict[str, int] = {}
    for vm in em.find(VM_TYPE):
        if vm["location"] != location.lower() or (exclude_vm and vm["id"].lower() == exclude_vm.lower()):
            continue
        if em.meta_of(vm["id"]).get("power") in ("deallocated", "deallocating"):
            continue
        size = lookup(vm["properties"]["hardwareProfile"]["vmSize"])
        if size is None:
            continue
        usage[size.family.lower()] = usage.get(size.family.lower(), 0) + size.vcpus
        usage["cores"] = usage.get("cores", 0) + size.vcpus
    return usage


def check_quota(em, location: str, size: Size | None, exclude_vm: str | None) -> None:
    if size is None:
        return
    usage = vcpu_usage(em, location, exclude_vm)
    for family, label in ((size.family, size.family), ("cores", "Total Regional")):
        limit = em.quota_limit(location, family)
        current = usage.get(family.lower(), 0)
        if current + size.vcpus > limit:
            raise ArmError(
                409, "OperationNotAllowed",
                f"Operation could not be completed as it results in exceeding approved {label} Cores quota. "
                f"Additional details - Deployment Model: Resource Manager, Location: {location.lower()}, "
                f"Current Limit: {limit}, Current Usage: {current}, Additional Required: {size.vcpus}, "
                f"(Minimum) New Limit Required: {current + size.vcpus}. Submit a request for Quota increase at "
                "https://aka.ms/ProdportalCRP/#blade/Microsoft_Azure_Capacity/UsageAndQuota.ReactView/Parameters/"
                f"%7B%22subscriptionId%22:%22{em.active_subscription}%22,%22command%22:%22openQuotaApprovalBlade%22,"
                f"%22quotas%22:[%7B%22location%22:%22{location.lower()}%22,%22providerId%22:%22Microsoft.Compute%22,"
                f"%22resourceName%22:%22{family}%22,%22quotaRequest%22:%7B%22properties%22:%7B%22limit%22:"
                f"{current + size.vcpus},%22unit%22:%22Count%22,%22name%22:%7B%22value%22:%22{family}%22%7D%7D%7D%7D]"
                "%7D by specifying parameters listed in the 'Details' section for deployment to succeed. Please "
                "read more about quota limits at https://docs.microsoft.com/en-us/azure/azure-supportability/"
                "per-vm-quota-requests",
            )


# -- wire shapes -----------------------------------------------------------------------------------------

def size_entry(size: Size) -> dict[str, Any]:
    return {"name": size.name, "numberOfCores": size.vcpus, "osDiskSizeInMB": 1047552,
            "resourceDiskSizeInMB": size.temp_disk_gb * 1024, "memoryInMB": int(size.memory_gb * 1024),
            "maxDataDiskCount": min(64, max(4, size.vcpus * 2))}


def sku_entry(size: Size, location: str, restriction: str | None) -> dict[str, Any]:
    tier, _, short = size.name.partition("_")
    entry = {
        "resourceType": "virtualMachines", "name": size.name, "tier": tier, "size": short,
        "family": size.family, "locations": [location],
        "locationInfo": [{"location": location, "zones": ["1", "2", "3"], "zoneDetails": []}],
        "capabilities": size.capabilities(), "restrictions": [],
    }
    if restriction:
        entry["restrictions"] = [{"type": "Location", "values": [location],
                                  "restrictionInfo": {"locations": [location]}, "reasonCode": restriction}]
    return entry


def build_instance_view(em, vm: dict[str, Any]) -> dict[str, Any]:
    meta = em.meta_of(vm["id"])
    power = meta.get("power", "running")
    state = vm["properties"]["provisioningState"]
    now = utc_now()
    view: dict[str, Any] = {
        "platformUpdateDomain": 0,  # one VM, no availability set: domain 0 of 1
        "platformFaultDomain": 0,
        "computerName": (vm["properties"].get("osProfile") or {}).get("computerName", vm["name"]),
        "osName": "Windows Server 2022 Datacenter" if meta.get("os_type") == "Windows" else "ubuntu",
        "osVersion": "10.0.20348" if meta.get("os_type") == "Windows" else "22.04",
        "hyperVGeneration": meta.get("generation", "V1"),
        "disks": [{"name": vm["properties"]["storageProfile"]["osDisk"]["name"], "statuses": [
            {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
             "time": now}]}],
        "statuses": [
            {"code": f"ProvisioningState/{state.lower()}", "level": "Info" if state != "Failed" else "Error",
             "displayStatus": f"Provisioning {state.lower()}", "time": now},
            {"code": f"PowerState/{power}", "level": "Info", "displayStatus": POWER_DISPLAY.get(power, power)},
        ],
        "extensions": [{"name": ext["name"], "type": (ext["properties"].get("type") or ""), "statuses": [
            {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded"}]}
            for key, ext in em.resources.items() if key.startswith(vm["id"].lower() + "/extensions/")],
        "isVMInStandbyPool": False,
    }
    if power == "running":
        view["vmAgent"] = {"vmAgentVersion": "2.13.1.1", "extensionHandlers": [], "statuses": [
            {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Ready",
             "message": "GuestAgent is running and processing the extensions.", "time": now}]}
    return view


def _usage_item(name: str, display: str, current: int, limit: int) -> dict[str, Any]:
    return {"unit": "Count", "currentValue": current, "limit": limit, "name": {"value": name, "localizedValue": display}}


def _location_filter(text: str) -> str | None:
    match = re.search(r"location\s+eq\s+'([^']+)'", text, re.IGNORECASE)
    return match.group(1).replace(" ", "").lower() if match else None


def _image_stub(call: Call, name: str) -> dict[str, Any]:
    return {"name": name, "location": call.params["loc"].lower(),
            "id": call.request.path.split("?")[0] + ("" if call.request.path.endswith(name) else f"/{name}")}


def _artifact_not_found() -> ArmError:
    return ArmError(404, "NotFound", "Artifact: VMImage was not found.")


def _image_not_found(urn: str) -> ArmError:
    return ArmError(404, "PlatformImageNotFound", f"The platform image '{urn}' is not available. Verify that all "
                    "fields in the storage profile are correct. For more details about storage profile information, "
                    "please refer to https://aka.ms/storageprofile", target="imageReference")


def _os_type(props: dict[str, Any], ref: dict[str, Any]) -> str:
    profile = props.get("osProfile") or {}
    if profile.get("windowsConfiguration") or "windows" in str(ref.get("offer", "")).lower() \
            or "windows" in str(ref.get("publisher", "")).lower():
        return "Windows"
    return "Linux"


# -- finalizers: what happens when an operation completes -----------------------------------------------

def _finish_created(em, op) -> None:
    vm = em.get(op.args["vm_id"])
    if vm is None:
        return
    meta = em.meta_of(vm["id"])
    if op.error:
        vm["properties"]["provisioningState"] = "Failed"
        meta["power"] = "deallocated"
        return
    vm["properties"]["provisioningState"] = "Succeeded"
    meta["power"] = "running"
    em.notify("vm_started", vm=vm)


def _finish_updated(em, op) -> None:
    vm = em.get(op.args["vm_id"])
    if vm is None:
        return
    vm["properties"]["provisioningState"] = "Succeeded"
    if op.args.get("restart"):
        em.notify("vm_restarted", vm=vm)


def _finish_power(em, op) -> None:
    vm = em.get(op.args["vm_id"])
    if vm is None:
        return
    meta = em.meta_of(vm["id"])
    action = op.args["action"]
    if op.error:  # e.g. AllocationFailed on start: the VM stays where it was
        meta["power"] = op.args.get("from_power", "deallocated")
        vm["properties"]["provisioningState"] = "Failed"
        return
    vm["properties"]["provisioningState"] = "Succeeded"
    if action == "start":
        if op.args.get("from_power") != "running":
            size = lookup(vm["properties"]["hardwareProfile"]["vmSize"])
            meta["cluster"] = size.cluster if size else meta.get("cluster")
            meta["power"] = "running"
            em.notify("vm_started", vm=vm)
    elif action == "deallocate":
        meta["power"] = "deallocated"
        em.notify("vm_stopped", vm=vm, deallocated=True)
    elif action == "powerOff":
        meta["power"] = "stopped"
        em.notify("vm_stopped", vm=vm, deallocated=False)
    elif action == "restart":
        em.notify("vm_restarted", vm=vm)
    elif action == "runCommand":
        op.result = _run_command(em, vm, op.args.get("command") or {})


def _run_command(em, vm: dict[str, Any], command: dict[str, Any]) -> dict[str, Any]:
    script = "\n".join(command.get("script") or [])
    # No guest behind the VM (the in-process emulator): the output says so rather than invent one.
    stdout, stderr = _guest_output(em, vm, script, command.get("commandId", ""))
    if str(command.get("commandId", "")).lower().startswith("runpowershell"):
        return {"value": [
            {"code": "ComponentStatus/StdOut/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
             "message": stdout},
            {"code": "ComponentStatus/StdErr/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
             "message": stderr}]}
    return {"value": [{"code": "ProvisioningState/succeeded", "level": "Info",
                       "displayStatus": "Provisioning succeeded",
                       "message": f"Enable succeeded: \n[stdout]\n{stdout}\n[stderr]\n{stderr}\n"}]}


def _finish_vm_child(em, op) -> None:
    child = em.get(op.args["child_id"])
    if child is None:
        return
    child["properties"]["provisioningState"] = "Succeeded"
    if op.args["kind"] == "runCommands":
        vm = em.get(op.args["vm_id"])
        source = child["properties"].get("source") or {}
        script = source.get("script") or ""
        if not (script or source.get("scriptUri") or source.get("commandId")):
            # The agent takes the command and fails it: the resource itself still succeeds.
            child["properties"]["instanceView"] = {
                "exitCode": -202, "executionState": "Failed", "executionMessage": "Execution failed: failed to get "
                "configuration: invalid configuration: Either 'source.script' or 'source.scriptUri' has to be "
                "specified", "output": "", "error": "", "startTime": op.start_time, "endTime": utc_now()}
            return
        stdout, stderr = _guest_output(em, vm, script, "RunShellScript" if vm and em.meta_of(vm["id"]).get(
            "os_type") != "Windows" else "RunPowerShellScript")
        child["properties"]["instanceView"] = {"executionState": "Succeeded", "exitCode": 0, "output": stdout,
                                               "error": stderr, "startTime": op.start_time, "endTime": utc_now()}


def _guest_output(em, vm, script: str, command_id: str) -> tuple[str, str]:
    for hook in em.hooks:
        runner = getattr(hook, "run_command", None)
        result = runner(em, vm=vm, script=script, command_id=command_id) if runner and vm else None
        if result is not None:
            return result
    return "", "dsvmctl emulator: this VM has no guest attached; the script was not run."


def _finish_vm_deleted(em, op) -> None:
    vm = em.get(op.args["vm_id"])
    if vm is None:
        return
    os_disk = vm["properties"]["storageProfile"]["osDisk"]
    disk = em.get(os_disk["managedDisk"]["id"])
    if disk is not None:
        if str(os_disk.get("deleteOption", "Detach")).lower() == "delete":
            em.notify("disk_deleted", disk=disk)
            em.delete(disk["id"])
        else:
            disk.pop("managedBy", None)
            disk["properties"]["diskState"] = "Unattached"
    for data_disk in vm["properties"]["storageProfile"].get("dataDisks", []):
        attached = em.get(data_disk["managedDisk"]["id"])
        if attached is None:
            continue
        if str(data_disk.get("deleteOption", "Detach")).lower() == "delete":
            em.delete(attached["id"])
        else:
            attached.pop("managedBy", None)
            attached["properties"]["diskState"] = "Unattached"
    for ref in vm["properties"]["networkProfile"]["networkInterfaces"]:
        nic = em.get(ref["id"])
        if nic is None:
            continue
        nic["properties"].pop("virtualMachine", None)
        nic["properties"].pop("primary", None)
        if str((ref.get("properties") or {}).get("deleteOption", "Detach")).lower() == "delete":
            from .network import release_nic

            release_nic(em, nic)
            em.delete(nic["id"])
    em.notify("vm_deleted", vm=vm)
    for key in [k for k in em.resources if k.startswith(vm["id"].lower() + "/")]:
        em.delete(key)  # run commands and extensions go with their VM
    em.delete(vm["id"])


def _finish_vm_child_deleted(em, op) -> None:
    em.delete(op.args["child_id"])


def _finish_disk_deleted(em, op) -> None:
    disk = em.get(op.args["disk_id"])
    if disk is not None:
        em.notify("disk_deleted", disk=disk)
        em.delete(disk["id"])


def register(em) -> ComputeProvider:
    em.finalizers.update({
        "compute.vm_created": _finish_created,
        "compute.vm_updated": _finish_updated,
        "compute.power": _finish_power,
        "compute.vm_deleted": _finish_vm_deleted,
        "compute.vm_child": _finish_vm_child,
        "compute.vm_child_deleted": _finish_vm_child_deleted,
        "compute.disk_deleted": _finish_disk_deleted,
    })
    from . import compute_ops

    compute_ops.register_finalizers(em)
    from . import compute_vmss

    compute_vmss.register_finalizers(em)
    from . import compute_hosts

    compute_hosts.register_finalizers(em)
    return ComputeProvider(em)


PROVIDER = register
