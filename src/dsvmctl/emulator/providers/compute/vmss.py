"""Microsoft.Compute virtual machine scale sets (Uniform orchestration), as far as the recorded
traffic uses them: create/update (201/200 + Azure-AsyncOperation), get, list, PATCH, delete
(202), instance view, instances (list, get, instance view, PUT), the power and upgrade actions
on the set or its instances (202 + both headers), available SKUs, and the NICs of the instances.

Instances are bookkeeping only: no guest runs behind them, and no NIC resources are created
(the NIC listing is derived from the network profile, as Azure derives it from the model).
"""

from __future__ import annotations

import uuid
from typing import Any

from ...core import utc_now
from ...routing import Call
from ...wire import ArmError, Response, missing_property, not_found
from ..common import begin_put, get_or_404, list_response, properties_of
from . import flexible
from .rules import POWER_AFTER, check_security_profile

NS = "Microsoft.Compute"
VMSS_TYPE = f"{NS}/virtualMachineScaleSets"
ACTIONS = ("start", "powerOff", "restart", "deallocate", "delete", "reimage", "reimageall", "redeploy",
           "manualUpgrade", "performMaintenance")


def add_routes(provider) -> None:
    r = provider.route
    base = "virtualMachineScaleSets/{name}"
    provider.route_kind("virtualMachineScaleSets", "name", _list, PUT=lambda call: put_vmss(provider, call),
                        PATCH=lambda call: patch_vmss(provider, call), GET=get_vmss,
                        DELETE=lambda call: delete_vmss(provider, call))
    r("GET", "rg", f"{base}/instanceView", instance_view)
    r("GET", "rg", f"{base}/skus", lambda call: skus(provider, call))
    r("GET", "rg", f"{base}/osUpgradeHistory", lambda call: (_vmss(call), list_response([]))[1])
    r("GET", "rg", f"{base}/networkInterfaces", network_interfaces)
    r("GET", "rg", f"{base}/virtualMachines", list_instances)
    provider.route_methods("rg", f"{base}/virtualMachines/{{instance}}", GET=get_instance,
                           PUT=lambda call: put_instance(provider, call),
                           DELETE=lambda call: _action(provider, call, "delete"))
    r("GET", "rg", f"{base}/virtualMachines/{{instance}}/instanceView", instance_instance_view)
    for action in ACTIONS:
        r("POST", "rg", f"{base}/{action}", lambda call, a=action: _action(provider, call, a))
        r("POST", "rg", f"{base}/virtualMachines/{{instance}}/{action}", lambda call, a=action: _action(provider, call, a))


def _vmss(call: Call) -> dict[str, Any]:
    return get_or_404(call, call.resource_id("virtualMachineScaleSets", call.params["name"]), VMSS_TYPE,
                      call.params["name"])


def _instances(call: Call, vmss: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return call.em.meta_of(vmss["id"]).setdefault("instances", {})


def _public(call: Call, vmss: dict[str, Any]) -> dict[str, Any]:
    out = call.em.public(vmss)
    profile = out["properties"].get("virtualMachineProfile") or {}
    (profile.get("osProfile") or {}).pop("adminPassword", None)  # write-only, as in Azure
    (profile.get("osProfile") or {}).pop("customData", None)
    return out


def put_vmss(provider, call: Call) -> Response:
    name = call.params["name"]
    resource_id = call.resource_id("virtualMachineScaleSets", name)
    existing, body, props = begin_put(call, VMSS_TYPE, resource_id, name, max_length=64)
    request = call.body_object()
    props = {k: v for k, v in props.items() if v is not None}  # az sends nulls for defaults
    sku = {**((existing or {}).get("sku") or {}), **(request.get("sku") or {})}
    if not sku.get("name"):
        raise missing_property("sku.name")
    size = provider.resolve_size(body["location"], sku["name"], target="sku.name")
    old = (existing or {}).get("properties") or {}
    profile = props.get("virtualMachineProfile") or old.get("virtualMachineProfile")
    if not isinstance(profile, dict):
        raise missing_property("virtualMachineProfile")
    profile = _model(profile, old.get("virtualMachineProfile"))
    ref = profile["storageProfile"].get("imageReference")
    if not ref:
        raise missing_property("virtualMachineProfile.storageProfile.imageReference")
    image, generation, os_type = provider._image_for(call, body["location"], ref, profile)
    check_security_profile(profile, generation)
    mode = props.get("orchestrationMode") or old.get("orchestrationMode") or "Uniform"
    _fill_profile(profile, os_type, flexible=mode.lower() == "flexible")
    body["sku"] = {"name": size.name, "tier": sku.get("tier", "Standard"), "capacity": int(sku.get("capacity", 2))}
    defaults = UNIFORM_DEFAULTS if mode.lower() == "uniform" else FLEXIBLE_DEFAULTS
    body["properties"] = {
        **defaults, **props, "orchestrationMode": mode, "virtualMachineProfile": profile,
        "upgradePolicy": _upgrade_policy(props.get("upgradePolicy") or old.get("upgradePolicy"), mode),
        "uniqueId": old.get("uniqueId") or str(uuid.uuid4()), "timeCreated": old.get("timeCreated") or utc_now(),
        "provisioningState": "Creating" if existing is None else "Updating",
    }
    for key in ("zones", "identity", "plan"):
        if key in request:
            body[key] = request[key]
    if flexible.is_flexible(body):
        flexible.check_network_profile(call, body)
    call.em.put(body)
    # What each instance reports of the image it was built from: the exact version, generation, OS.
    call.em.meta_of(body["id"]).update(image={**ref, **{k: image[k] for k in ("exactVersion",) if k in image}},
                                       generation=generation, os_type=os_type)
    _resize(provider, call, body)
    op = call.em.start_operation("microsoft.compute", body["location"], "compute.vmss_written", vmss_id=body["id"])
    return Response(201 if existing is None else 200, _public(call, body), provider._async_headers(call, op))


# What the Compute RP adds to a scale set it stores, per orchestration mode (as the recordings show).
UNIFORM_DEFAULTS = {"singlePlacementGroup": True, "overprovision": True,
                    "doNotRunExtensionsOnOverprovisionedVMs": False, "platformFaultDomainCount": 5}
FLEXIBLE_DEFAULTS = {"singlePlacementGroup": False, "platformFaultDomainCount": 1, "constrainedMaximumCapacity": False}
ROLLING_UPGRADE_DEFAULTS = {"maxBatchInstancePercent": 20, "maxUnhealthyInstancePercent": 20,
                            "maxUnhealthyUpgradedInstancePercent": 20, "pauseTimeBetweenBatches": "PT0S",
                            "maxSurge": False, "rollbackFailedInstancesOnPolicyBreach": False}
UPGRADE_MODES = {m.lower(): m for m in ("Manual", "Automatic", "Rolling")}
NIC_CONFIG_DEFAULTS = {"disableTcpStateTracking": False, "dnsSettings": {"dnsServers": []}, "enableIPForwarding": False}
FLEXIBLE_NIC_DEFAULTS = {"auxiliaryMode": "None", "auxiliarySku": "None", "deleteOption": "Delete"}


def _upgrade_policy(policy: Any, mode: str) -> dict[str, Any]:
    """A Uniform set always reports a rolling-upgrade policy (Azure's defaults), whatever its mode."""
    out = dict(policy) if isinstance(policy, dict) else {}
    out["mode"] = UPGRADE_MODES.get(str(out.get("mode") or "manual").lower(), out.get("mode"))
    if mode.lower() == "uniform":
        out["rollingUpgradePolicy"] = {**ROLLING_UPGRADE_DEFAULTS, **(out.get("rollingUpgradePolicy") or {})}
    return out


def _model(profile: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    """The new VM model; an update that leaves the image out keeps the set's image, as Azure does."""
    out = {**profile, "storageProfile": dict(profile.get("storageProfile") or {})}
    old_storage = (old or {}).get("storageProfile") or {}
    if not out["storageProfile"].get("imageReference") and old_storage.get("imageReference"):
        out["storageProfile"]["imageReference"] = old_storage["imageReference"]
    out["timeCreated"] = (old or {}).get("timeCreated") or utc_now()
    return out


def _fill_profile(profile: dict[str, Any], os_type: str, flexible: bool) -> None:
    """Fields the Compute RP fills in on a scale set's VM model."""
    storage = profile["storageProfile"]
    os_disk = storage["osDisk"] = dict(storage.get("osDisk") or {})
    os_disk.setdefault("osType", os_type)
    os_disk.setdefault("createOption", "FromImage")
    os_disk.setdefault("caching", "ReadWrite")
    os_disk["managedDisk"] = {"storageAccountType": "Premium_LRS", **(os_disk.get("managedDisk") or {})}
    os_disk.setdefault("diskSizeGB", 127 if os_type == "Windows" else 30)
    if flexible:  # a Flexible set's VMs are VMs of their own, whose OS disks go with them
        os_disk.setdefault("deleteOption", "Delete")
    os_profile = profile.get("osProfile")
    if isinstance(os_profile, dict):
        os_profile.setdefault("secrets", [])
        os_profile.setdefault("allowExtensionOperations", True)
        os_profile.setdefault("requireGuestProvisionSignal", True)
        if os_type == "Windows":
            os_profile["windowsConfiguration"] = {"provisionVMAgent": True, "enableAutomaticUpdates": True,
                                                  "enableVMAgentPlatformUpdates": False,
                                                  **(os_profile.get("windowsConfiguration") or {})}
        else:
            os_profile["linuxConfiguration"] = {
                "disablePasswordAuthentication": False, "provisionVMAgent": True,
                "patchSettings": {"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"},
                "enableVMAgentPlatformUpdates": False, **(os_profile.get("linuxConfiguration") or {})}
    for config in (profile.get("networkProfile") or {}).get("networkInterfaceConfigurations") or []:
        props = config.setdefault("properties", {})
        for key, value in {**NIC_CONFIG_DEFAULTS, **(FLEXIBLE_NIC_DEFAULTS if flexible else {})}.items():
            props.setdefault(key, value)
        for ip_config in props.get("ipConfigurations") or []:
            ip_props = ip_config.setdefault("properties", {})
            ip_props.setdefault("privateIPAddressVersion", "IPv4")
            if flexible:
                ip_props.setdefault("applicationSecurityGroups", [])
                ip_props.setdefault("applicationGatewayBackendAddressPools", [])


def _resize(provider, call: Call, vmss: dict[str, Any]) -> None:
    """Instances follow sku.capacity: new ones get the next instance ids, extra ones go. A Flexible
    set's instances are VMs of their own (flexible.py)."""
    if flexible.is_flexible(vmss):
        flexible.resize(provider, call, vmss)
        return
    instances = _instances(call, vmss)
    wanted = vmss["sku"]["capacity"]
    while len(instances) > wanted:
        instances.pop(max(instances, key=int))
    next_id = max((int(i) for i in instances), default=-1) + 1
    while len(instances) < wanted:
        instances[str(next_id)] = {"vmId": str(uuid.uuid4()), "power": "running", "timeCreated": utc_now(),
                                   "latestModelApplied": True}
        next_id += 1


def patch_vmss(provider, call: Call) -> Response:
    vmss = _vmss(call)
    patch = call.body_object()
    if "tags" in patch:
        vmss["tags"] = patch["tags"]
    if patch.get("sku"):
        vmss["sku"].update({k: v for k, v in patch["sku"].items() if k in ("capacity", "tier")})
        vmss["sku"]["capacity"] = int(vmss["sku"]["capacity"])
    for key, value in (patch.get("properties") or {}).items():
        if key == "virtualMachineProfile" and isinstance(value, dict):
            vmss["properties"]["virtualMachineProfile"] = {**vmss["properties"]["virtualMachineProfile"], **value}
        elif key != "provisioningState":
            vmss["properties"][key] = value
    vmss["properties"]["provisioningState"] = "Updating"
    _resize(provider, call, vmss)
    op = call.em.start_operation("microsoft.compute", vmss["location"], "compute.vmss_written", vmss_id=vmss["id"])
    return Response(200, _public(call, vmss), provider._async_headers(call, op))


def get_vmss(call: Call) -> Response:
    return Response(200, _public(call, _vmss(call)))


def _list(call: Call) -> Response:  # a group's scale sets, or at sub scope (no group) the subscription's
    return list_response([_public(call, b) for b in call.em.find(VMSS_TYPE, resource_group=call.resource_group)])


def delete_vmss(provider, call: Call) -> Response:
    vmss = call.em.get(call.resource_id("virtualMachineScaleSets", call.params["name"]))
    if vmss is None:
        return Response(204)
    return provider._deletion_accepted(call, vmss, "compute.vmss_deleted", vmss_id=vmss["id"])


def _action(provider, call: Call, action: str) -> Response:
    vmss = _vmss(call)
    # A Flexible set's instances are its VMs, named by their VM names.
    instances = ({vm["name"]: vm for vm in flexible.members(call.em, vmss["id"])} if flexible.is_flexible(vmss)
                 else _instances(call, vmss))
    if call.params.get("instance") in ("*", "%2A", "%2a"):  # az's `--instance-ids *`: every instance
        chosen = list(instances)
    elif "instance" in call.params:
        if call.params["instance"] not in instances:
            raise not_found(f"{VMSS_TYPE}/virtualMachines", f"{vmss['name']}/{call.params['instance']}",
                            call.resource_group or "")
        chosen = [call.params["instance"]]
    else:
        wanted = (call.body_object() or {}).get("instanceIds") if call.request.body else None
        chosen = [str(i) for i in wanted] if wanted else list(instances)
        unknown = [i for i in chosen if i not in instances and i != "*"]
        if unknown:
            raise ArmError(400, "InvalidParameter", f"The provided instanceId {unknown[0]} is not an active Virtual "
                           "Machine Scale Set VM instanceId.", target="instanceIds")
        chosen = list(instances) if "*" in chosen else chosen
    op = call.em.start_operation("microsoft.compute", vmss["location"], "compute.vmss_action", vmss_id=vmss["id"],
                                 action=action, instances=chosen)
    return Response(202, None, provider._async_headers(call, op, location=True))


def skus(provider, call: Call) -> Response:
    vmss = _vmss(call)
    return list_response([{"resourceType": VMSS_TYPE, "sku": {"name": s.name, "tier": "Standard"},
                           "capacity": {"minimum": 0, "maximum": 1000, "defaultCapacity": 1, "scaleType": "Automatic"}}
                          for s in provider.offered(vmss["location"])])


def _statuses(state: str, power: str) -> list[dict[str, Any]]:
    now = utc_now()
    return [{"code": f"ProvisioningState/{state.lower()}", "level": "Info",
             "displayStatus": f"Provisioning {state.lower()}", "time": now},
            {"code": f"PowerState/{power}", "level": "Info", "displayStatus": f"VM {power}"}]


def instance_view(call: Call) -> Response:
    vmss = _vmss(call)
    if flexible.is_flexible(vmss):
        states = [call.em.meta_of(vm["id"]).get("power", "running") for vm in flexible.members(call.em, vmss["id"])]
    else:
        states = [inst["power"] for inst in _instances(call, vmss).values()]
    powers: dict[str, int] = {}
    for power in states:
        powers[power] = powers.get(power, 0) + 1
    state = vmss["properties"]["provisioningState"]
    summary = [{"code": "ProvisioningState/succeeded", "count": len(states)}] if powers else []
    summary += [{"code": f"PowerState/{p}", "count": n} for p, n in sorted(powers.items())]
    return Response(200, {"virtualMachine": {"statusesSummary": summary},
                          "statuses": _statuses(state, "running")[:1]})


def _instance_body(call: Call, vmss: dict[str, Any], instance_id: str) -> dict[str, Any]:
    inst = _instances(call, vmss)[instance_id]
    profile = _public(call, vmss)["properties"]["virtualMachineProfile"]
    name = f"{vmss['name']}_{instance_id}"
    return {
        "name": name, "id": f"{vmss['id']}/virtualMachines/{instance_id}", "type": f"{VMSS_TYPE}/virtualMachines",
        "location": vmss["location"], "instanceId": instance_id,
        "sku": {"name": vmss["sku"]["name"], "tier": vmss["sku"]["tier"]},
        "properties": {
            "latestModelApplied": inst["latestModelApplied"], "modelDefinitionApplied": "VirtualMachineScaleSet",
            "vmId": inst["vmId"], "hardwareProfile": {"vmSize": vmss["sku"]["name"]},
            "storageProfile": _instance_storage(call, vmss, instance_id, profile),
            "osProfile": {**(profile.get("osProfile") or {}),
                          "computerName": f"{(profile.get('osProfile') or {}).get('computerNamePrefix', vmss['name'])}"
                                          f"{int(instance_id):06x}"},
            "networkProfile": {"networkInterfaces": [
                {"id": f"{vmss['id']}/virtualMachines/{instance_id}/networkInterfaces/{n.get('name')}"}
                for n in (profile.get("networkProfile") or {}).get("networkInterfaceConfigurations", [])]},
            "networkProfileConfiguration": {"networkInterfaceConfigurations":
                                            (profile.get("networkProfile") or {}).get("networkInterfaceConfigurations",
                                                                                      [])},
            "licenseType": profile.get("licenseType", "None"), "timeCreated": inst["timeCreated"],
            "provisioningState": "Succeeded", **({"protectionPolicy": inst["protectionPolicy"]}
                                                 if inst.get("protectionPolicy") else {}),
        },
    }


def _instance_storage(call: Call, vmss: dict[str, Any], instance_id: str, profile: dict[str, Any]) -> dict:
    """An instance's disks: its own OS disk (named as Azure names it) built from the set's image."""
    inst = _instances(call, vmss)[instance_id]
    meta = call.em.meta_of(vmss["id"])
    model = profile.get("storageProfile") or {}
    disk_name = inst.setdefault("os_disk", f"{vmss['name']}_{vmss['name']}_{instance_id}_OsDisk_1_{uuid.uuid4().hex}")
    os_disk = {**(model.get("osDisk") or {}), "name": disk_name}
    os_disk["managedDisk"] = {**(os_disk.get("managedDisk") or {}), "id": call.resource_id("disks", disk_name)}
    out = {"osDisk": os_disk, "dataDisks": list(model.get("dataDisks") or [])}
    if meta.get("image"):
        out["imageReference"] = dict(meta["image"])
    return out


def list_instances(call: Call) -> Response:
    vmss = _vmss(call)
    return list_response([_instance_body(call, vmss, i) for i in sorted(_instances(call, vmss), key=int)])


def get_instance(call: Call) -> Response:
    vmss = _vmss(call)
    if call.params["instance"] not in _instances(call, vmss):
        raise not_found(f"{VMSS_TYPE}/virtualMachines", f"{vmss['name']}/{call.params['instance']}",
                        call.resource_group or "")
    return Response(200, _instance_body(call, vmss, call.params["instance"]))


def put_instance(provider, call: Call) -> Response:
    vmss = _vmss(call)
    instances = _instances(call, vmss)
    inst = instances.get(call.params["instance"])
    if inst is None:
        raise not_found(f"{VMSS_TYPE}/virtualMachines", f"{vmss['name']}/{call.params['instance']}",
                        call.resource_group or "")
    policy = (properties_of(call) or {}).get("protectionPolicy")
    if policy is not None:
        inst["protectionPolicy"] = policy
    op = call.em.start_operation("microsoft.compute", vmss["location"])
    return Response(200, _instance_body(call, vmss, call.params["instance"]), provider._async_headers(call, op))


def instance_instance_view(call: Call) -> Response:
    vmss = _vmss(call)
    inst = _instances(call, vmss).get(call.params["instance"])
    if inst is None:
        raise not_found(f"{VMSS_TYPE}/virtualMachines", f"{vmss['name']}/{call.params['instance']}",
                        call.resource_group or "")
    body = _instance_body(call, vmss, call.params["instance"])
    meta = call.em.meta_of(vmss["id"])
    view = {"platformUpdateDomain": int(call.params["instance"]) % 5,
            "platformFaultDomain": int(call.params["instance"]) % 5,
            "computerName": body["properties"]["osProfile"]["computerName"],
            **({"osName": "Windows Server", "osVersion": "10.0"} if meta.get("os_type") == "Windows"
               else {"osName": "ubuntu", "osVersion": "22.04"}),
            "hyperVGeneration": meta.get("generation", "V1"), "placementGroupId": vmss["properties"]["uniqueId"],
            "disks": [{"name": f"{vmss['name']}_{call.params['instance']}_OsDisk",
                       "statuses": _statuses("succeeded", inst["power"])[:1]}],
            "statuses": _statuses("succeeded", inst["power"])}
    if inst["power"] == "running":
        view["vmAgent"] = {"vmAgentVersion": "2.13.1.1", "extensionHandlers": [],
                           "statuses": [{"code": "ProvisioningState/succeeded", "level": "Info",
                                         "displayStatus": "Ready", "message": "Guest Agent is running",
                                         "time": utc_now()}]}
    return Response(200, view)


def network_interfaces(call: Call) -> Response:
    vmss = _vmss(call)
    configs = (vmss["properties"]["virtualMachineProfile"].get("networkProfile") or {}).get(
        "networkInterfaceConfigurations", [])
    items = []
    for instance_id in sorted(_instances(call, vmss), key=int):
        for config in configs:
            nic_id = f"{vmss['id']}/virtualMachines/{instance_id}/networkInterfaces/{config.get('name')}"
            items.append({"name": config.get("name"), "id": nic_id, "etag": f'W/"{uuid.uuid4()}"',
                          "properties": {**(config.get("properties") or {}), "provisioningState": "Succeeded",
                                         "virtualMachine": {"id": f"{vmss['id']}/virtualMachines/{instance_id}"}}})
    return list_response(items)


def finish_written(em, op) -> None:
    vmss = em.get(op.args["vmss_id"])
    if vmss is not None:
        vmss["properties"]["provisioningState"] = "Succeeded"


def finish_action(em, op) -> None:
    vmss = em.get(op.args["vmss_id"])
    if vmss is None:
        return
    if flexible.is_flexible(vmss):
        flexible.finish_action(em, vmss, op.args["action"], op.args["instances"])
        return
    instances = em.meta_of(vmss["id"]).setdefault("instances", {})
    action = op.args["action"]
    for instance_id in op.args["instances"]:
        if instance_id not in instances:
            continue
        if action == "delete":
            instances.pop(instance_id)
        elif action in POWER_AFTER:
            instances[instance_id]["power"] = POWER_AFTER[action]
        elif action == "manualUpgrade":
            instances[instance_id]["latestModelApplied"] = True
    if action == "delete":
        vmss["sku"]["capacity"] = len(instances)


def finish_deleted(em, op) -> None:
    """A scale set goes with its instances; a Flexible set's VMs are deleted with their disks and NICs."""
    flexible.delete_members(em, op.args["vmss_id"])
    em.delete(op.args["vmss_id"])


def register_finalizers(em) -> None:
    em.finalizers.update({"compute.vmss_written": finish_written, "compute.vmss_action": finish_action,
                          "compute.vmss_deleted": finish_deleted})
