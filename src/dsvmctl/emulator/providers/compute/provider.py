"""The Compute resource provider: virtual machines and their children (extensions, run
commands), managed disks, and the catalog it serves (sizes, resource SKUs, usages, marketplace
images). The rules it applies live in rules.py, the bodies it answers with in views.py, what
happens when an operation ends in finalizers.py.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from ....catalog import images as image_catalog
from ....catalog.sizes import REGIONS, Size, family_display_name, lookup, offered_in
from ...core import utc_now
from ...routing import Call, Provider
from ...wire import ArmError, Response, missing_property, not_found
from ..common import (begin_put, check_name, get_or_404, getter, list_response, lister, properties_of,
                      require_reference, tracked_body)
from .rules import (DEFAULT_RESTRICTIONS, check_accelerated_networking, check_generation, check_quota, check_resize,
                    check_security_profile, vcpu_usage)
from .views import (artifact_not_found, build_instance_view, image_not_found, image_stub, location_filter, os_type_of,
                    size_entry, sku_entry, usage_item)

NS = "Microsoft.Compute"
VM_TYPE = f"{NS}/virtualMachines"
DISK_TYPE = f"{NS}/disks"

VM_NAME = re.compile(r"^[^_\W][\w\-.]{0,63}(?<![-.])$")
WINDOWS_COMPUTER_NAME = re.compile(r"^(?!\d+$)[^\\/\"\[\]:|<>+=;,?*@&~!#$%^(){}'._ ][^\\/\"\[\]:|<>+=;,?*@&~!#$%^(){}' ]{0,14}$")


class ComputeProvider(Provider):
    namespace = NS

    def __init__(self, em) -> None:
        super().__init__(em)
        self.restrictions = dict(DEFAULT_RESTRICTIONS)
        self.route_kind("virtualMachines", "vm", self.list_vms,
                        PUT=self.put_vm, PATCH=self.patch_vm, GET=self.get_vm, DELETE=self.delete_vm)
        self.route("GET", "rg", "virtualMachines/{vm}/instanceView", self.instance_view)
        self.route("GET", "rg", "virtualMachines/{vm}/vmSizes", self.available_sizes)
        for action in ("start", "powerOff", "restart", "deallocate", "runCommand"):
            self.route("POST", "rg", f"virtualMachines/{{vm}}/{action}", self._power_action(action))
        for child in ("runCommands", "extensions"):
            self.route_methods("rg", f"virtualMachines/{{vm}}/{child}/{{name}}", PUT=self._child_writer(child),
                               GET=self._child_getter(child), DELETE=self._child_deleter(child))
            self.route("GET", "rg", f"virtualMachines/{{vm}}/{child}", self._child_lister(child))
        self.route_kind("disks", "disk", lister(DISK_TYPE), PUT=self.put_disk, PATCH=self.patch_disk,
                        GET=getter("disks", DISK_TYPE, "disk"), DELETE=self.delete_disk)
        offers = "locations/{loc}/publishers/{pub}/artifacttypes/vmimage/offers"
        for path, handler in (  # the catalog, at the subscription's scope
                ("skus", self.resource_skus), ("locations/{loc}/vmSizes", self.location_sizes),
                ("locations/{loc}/usages", self.usages), ("locations/{loc}/operations/{op}", self.operation_status),
                ("locations/{loc}/publishers", self.list_publishers), (offers, self.list_offers),
                (f"{offers}/{{offer}}/skus", self.list_image_skus),
                (f"{offers}/{{offer}}/skus/{{sku}}/versions", self.list_image_versions),
                (f"{offers}/{{offer}}/skus/{{sku}}/versions/{{version}}", self.get_image_version)):
            self.route("GET", "sub", path, handler)
        from . import hosts, ops, vmss

        ops.add_routes(self)  # maintenance actions, snapshots, images, availability sets, ...
        vmss.add_routes(self)  # virtual machine scale sets
        hosts.add_routes(self)  # dedicated host groups and hosts

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
        check_security_profile(props, generation)
        os_profile = {} if attach else self._check_os_profile(name, props.get("osProfile"), os_type)
        nics = self._check_nics(call, body["id"], props.get("networkProfile"), size, name)
        check_quota(call.em, location, size, exclude_vm=None)

        vm_props: dict[str, Any] = {
            "vmId": str(uuid.uuid4()),
            "hardwareProfile": {"vmSize": size.name},
            "provisioningState": "Creating",
            "timeCreated": utc_now(),
        }
        vhd_uri = None if attach else (os_disk_in.get("vhd") or {}).get("uri")
        if vhd_uri:
            # An unmanaged disk: a page blob in the client's storage account, no Disk resource.
            os_disk_out = {"osType": os_type, "name": os_disk_in.get("name") or name, "createOption": "FromImage",
                           "vhd": {"uri": vhd_uri}, "caching": os_disk_in.get("caching") or "ReadWrite",
                           "deleteOption": os_disk_in.get("deleteOption") or "Detach",
                           "diskSizeGB": int(os_disk_in.get("diskSizeGB") or (127 if os_type == "Windows" else 30))}
        else:
            disk = self._os_disk(call, body, os_disk_in, os_type, generation, image, size) if not attach else disk
            disk["properties"]["diskState"] = "Attached"
            disk["managedBy"] = body["id"]
            os_disk_out = {
                "osType": os_type, "name": disk["name"],
                "createOption": "Attach" if attach else "FromImage",
                "caching": os_disk_in.get("caching") or "ReadWrite",
                "managedDisk": {"storageAccountType": disk["sku"]["name"], "id": disk["id"]},
                "deleteOption": os_disk_in.get("deleteOption") or "Detach",
                "diskSizeGB": disk["properties"]["diskSizeGB"],
            }
        storage_out: dict[str, Any] = {"osDisk": os_disk_out, "dataDisks": []}
        from .ops import data_disks

        storage_out["dataDisks"] = data_disks(call, body, storage.get("dataDisks") or [])
        if image is not None:
            storage_out["imageReference"] = image
        vm_props["storageProfile"] = storage_out
        if os_profile:
            vm_props["osProfile"] = os_profile
        vm_props["networkProfile"] = {"networkInterfaces": nics}
        for key in ("securityProfile", "diagnosticsProfile", "priority", "evictionPolicy", "billingProfile",
                    "additionalCapabilities", "licenseType", "userData"):
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
            return dict(ref), "V2" if "gen2" in ref["id"].lower() else "V1", os_type_of(props, ref)
        for key in ("publisher", "offer", "sku"):
            if not ref.get(key):
                raise missing_property(f"storageProfile.imageReference.{key}")
        known = image_catalog.find_image(ref["publisher"], ref["offer"], ref["sku"])
        version = str(ref.get("version") or "latest")
        urn = f"{ref['publisher']}:{ref['offer']}:{ref['sku']}:{version}"
        if known is not None and (known.retired or not known.versions):
            raise image_not_found(urn)
        listed = image_catalog.sku_facts(ref["publisher"], ref["offer"], ref["sku"])
        if listed is None and image_catalog.offers(ref["publisher"]) is not None:
            raise image_not_found(urn)  # a publisher whose listing we have: the offer or SKU is not in it
        if listed is not None:
            publisher, offer, sku, facts = listed
            versions = facts.get("versions") or []
            if not versions or (version.lower() != "latest" and version not in versions):
                raise image_not_found(urn)
            exact = max(versions, key=image_catalog.version_key) if version.lower() == "latest" else version
            return ({"publisher": publisher, "offer": offer, "sku": sku, "version": version, "exactVersion": exact},
                    facts.get("generation") or "V1", image_catalog.os_of(publisher, offer))
        # Publishers the catalog lists no offers for: accepted, with the generation read the way
        # their SKU names encode it.
        sku = ref["sku"].lower()
        generation = "V2" if ("gen2" in sku or sku.endswith("-g2") or "-gen2" in ref["offer"].lower()) else "V1"
        return ({**{k: ref[k] for k in ("publisher", "offer", "sku")}, "version": version,
                 "exactVersion": "1.0.0"}, generation, os_type_of(props, ref))

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
        from .ops import disk_defaults

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
            from .ops import data_disks, disk_key

            profile = vm["properties"]["storageProfile"]
            old_disks = profile.get("dataDisks") or []
            profile["dataDisks"] = data_disks(call, vm, wanted_disks, old_disks)
            kept = {disk_key(d) for d in profile["dataDisks"]}
            detaching = [{**d, "toBeDetached": True} for d in old_disks if disk_key(d) not in kept]
        vm["properties"]["provisioningState"] = "Updating"
        op = call.em.start_operation("microsoft.compute", vm["location"], "compute.vm_updated", vm_id=vm["id"],
                                     restart=restart)
        view = self._vm_view(call, vm)
        # While the update runs, Azure still lists the disks being detached, marked toBeDetached.
        view["properties"]["storageProfile"]["dataDisks"] = sorted(
            view["properties"]["storageProfile"]["dataDisks"] + detaching, key=lambda d: d["lun"])
        return Response(200, view, self._async_headers(call, op))

    def list_vms(self, call: Call) -> Response:
        """A group's (or the subscription's) VMs; `$filter='virtualMachineScaleSet/id' eq '{id}'` keeps a
        Flexible scale set's."""
        from .flexible import members, scale_set_filter

        vmss_id = scale_set_filter(call.request.query.get("$filter", ""))
        found = (members(call.em, vmss_id, resource_group=call.resource_group) if vmss_id
                 else call.em.find(VM_TYPE, resource_group=call.resource_group))
        return list_response([call.em.public(vm) for vm in found])

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
        return self._deletion_accepted(call, vm, "compute.vm_deleted", vm_id=vm["id"])

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
                args["output"] = True  # its status document carries the output too, as Azure's does
            op = call.em.start_operation("microsoft.compute", vm["location"], "compute.power", **args)
            if action == "start" and power != "running":
                self._maybe_allocation_failure(call, op)
            return Response(202, None, self._async_headers(call, op, location=True))
        return handler

    # -- VM children: managed run commands and extensions --------------------------------------------

    def _child_writer(self, child: str):
        def handler(call: Call) -> Response:
            vm = self._vm(call)
            child_id = f"{vm['id']}/{child}/{call.params['name']}"
            existing, body, props = begin_put(call, f"{VM_TYPE}/{child}", child_id, call.params["name"])
            if child == "runCommands":
                props.setdefault("timeoutInSeconds", 0)  # 0: the agent's own limit, as Azure reports it
            else:
                props.setdefault("autoUpgradeMinorVersion", False)  # Azure reports its default
                props.pop("protectedSettings", None)  # secrets go to the agent, never back to a client
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
            return self._deletion_accepted(call, body, "compute.vm_child_deleted", vm["location"],
                                           child_id=body["id"])
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

    def _deletion_accepted(self, call: Call, body: dict, finalizer: str, location: str | None = None,
                           **args: str) -> Response:
        """A delete as the Compute RP answers it: the resource reads Deleting, 202 with both LRO
        headers, and `finalizer` removes it when the operation ends."""
        body["properties"]["provisioningState"] = "Deleting"
        op = call.em.start_operation("microsoft.compute", location or body["location"], finalizer, **args)
        return Response(202, None, self._async_headers(call, op, location=True))

    def _async_headers(self, call: Call, op, location: bool = False) -> dict[str, str]:
        url = call.em.operation_url(call.request.base_url, op, call.api_version)
        headers = {"Azure-AsyncOperation": url, **call.em.retry_after_headers()}
        if location:
            headers["Location"] = call.em.operation_url(call.request.base_url, op, call.api_version, monitor=True)
        return headers

    def operation_status(self, call: Call) -> Response:
        op = call.em.poll_operation(call.params["op"])
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
            doc["properties"] = {"output": op.result}  # DiskOperations: the final disk; runCommand: its output
        return Response(200, doc, pending)

    # -- disks -----------------------------------------------------------------------------------

    def _disk_id(self, call: Call) -> str:
        return call.resource_id("disks", call.params["disk"])

    def put_disk(self, call: Call) -> Response:
        existing, body, props = begin_put(call, DISK_TYPE, self._disk_id(call), call.params["disk"], keep_id=True)
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
            from .ops import _accepted, disk_defaults

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
        from .ops import _accepted, disk_defaults

        # As the Compute RP: 202, the disk `Updating`, its final body on the Location URL.
        return _accepted(self, call, disk_defaults(body), 202)

    def patch_disk(self, call: Call) -> Response:
        disk = get_or_404(call, self._disk_id(call), DISK_TYPE, call.params["disk"])
        if "tags" in call.body_object():
            disk["tags"] = call.body_object()["tags"]
        return Response(200, call.em.public(disk))

    def delete_disk(self, call: Call) -> Response:
        disk = call.em.get(self._disk_id(call))
        if disk is None:
            return Response(204)
        if disk.get("managedBy"):
            raise ArmError(409, "OperationNotAllowed", f"Disk {disk['name']} is attached to VM {disk['managedBy']}.")
        op = call.em.start_operation("microsoft.compute", disk["location"], "compute.disk_deleted", disk_id=disk["id"])
        return Response(202, None, self._async_headers(call, op, location=True))

    # -- sizes, SKUs, usages, images ---------------------------------------------------------------

    def resource_skus(self, call: Call) -> Response:
        wanted = location_filter(call.request.query.get("$filter", ""))
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
        items = [usage_item("cores", "Total Regional vCPUs", usage.get("cores", 0),
                             call.em.quota_limit(location, "cores"))]
        items += [usage_item(f, family_display_name(f), usage.get(f.lower(), 0), call.em.quota_limit(location, f))
                  for f in families]
        return list_response(items)

    def list_publishers(self, call: Call) -> Response:
        self._image_region(call)
        return Response(200, [image_stub(call, p) for p in image_catalog.publishers()])

    def list_offers(self, call: Call) -> Response:
        self._image_region(call)
        offers = image_catalog.offers(call.params["pub"])
        if offers is None and image_catalog.canonical_publisher(call.params["pub"]) is None:
            raise artifact_not_found()
        return Response(200, [image_stub(call, o) for o in sorted(offers or {}, key=str.lower)])

    def list_image_skus(self, call: Call) -> Response:
        self._image_region(call)
        skus = image_catalog.skus(call.params["pub"], call.params["offer"])
        if skus is None:
            raise artifact_not_found()
        return Response(200, [{**image_stub(call, s), "properties": {
            "automaticOSUpgradeProperties": {"automaticOSUpgradeSupported": False}}} for s in sorted(skus)])

    def _image(self, call: Call) -> tuple[str, str, str, dict]:
        self._image_region(call)
        listed = image_catalog.sku_facts(call.params["pub"], call.params["offer"], call.params["sku"])
        if listed is None:
            raise artifact_not_found()
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
        return Response(200, [image_stub(call, v) for v in versions])

    def get_image_version(self, call: Call) -> Response:
        publisher, offer, sku, facts = self._image(call)
        versions = facts.get("versions") or []
        version = call.params["version"]
        if version.lower() == "latest" and versions:
            version = max(versions, key=image_catalog.version_key)
        if version not in versions:
            raise artifact_not_found()
        generation = facts.get("generation") or "V1"
        os_type = image_catalog.os_of(publisher, offer)
        disk_gb = 127 if os_type == "Windows" else 30
        return Response(200, {
            "name": version, "location": call.params["loc"].lower(), "id": image_stub(call, version)["id"],
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

