"""A Flexible-orchestration scale set's instances: VMs of their own (Microsoft.Compute/virtualMachines
in the set's group, named `{set}_{8 hex}`, `properties.virtualMachineScaleSet.id` naming the set),
each with the OS disk and NICs the Compute RP makes for it from the set's VM profile. They follow
the set's capacity and go when the set goes.

Like a Uniform set's instances they are bookkeeping only: no guest runs behind them.
"""

from __future__ import annotations

import random
import re
import string
import uuid
from datetime import datetime
from typing import Any

from ...core import utc_now
from ...routing import Call
from .finalizers import delete_vm_now
from .rules import POWER_AFTER

VM_TYPE = "Microsoft.Compute/virtualMachines"
NIC_TYPE = "Microsoft.Network/networkInterfaces"
SCALE_SET_FILTER = re.compile(r"'?virtualMachineScaleSet/id'?\s+eq\s+'([^']+)'", re.IGNORECASE)


def is_flexible(vmss: dict[str, Any]) -> bool:
    return str(vmss["properties"].get("orchestrationMode", "")).lower() == "flexible"


def members(em, vmss_id: str, resource_group: str | None = None) -> list[dict[str, Any]]:
    """The VMs of a scale set, oldest first."""
    found = [vm for vm in em.find(VM_TYPE, resource_group=resource_group)
             if str(((vm["properties"].get("virtualMachineScaleSet") or {}).get("id")) or "").lower()
             == vmss_id.lower()]
    return sorted(found, key=lambda vm: vm["properties"].get("timeCreated", ""))


def scale_set_filter(text: str) -> str | None:
    """The scale set id of a VM list's `$filter='virtualMachineScaleSet/id' eq '{id}'` (az vm list --vmss)."""
    match = SCALE_SET_FILTER.search(text or "")
    return match.group(1) if match else None


def check_network_profile(call: Call, vmss: dict[str, Any]) -> None:
    """The subnets the VMs' NICs will join must exist (the Network RP's check, before any VM is made)."""
    from ..common import require_reference

    configs = (vmss["properties"]["virtualMachineProfile"].get("networkProfile") or {}).get(
        "networkInterfaceConfigurations") or []
    for i, config in enumerate(configs):
        for j, ip_config in enumerate((config.get("properties") or {}).get("ipConfigurations") or []):
            require_reference(call, (ip_config.get("properties") or {}).get("subnet"), vmss["id"],
                              f"virtualMachineProfile.networkProfile.networkInterfaceConfigurations[{i}]"
                              f".properties.ipConfigurations[{j}].properties.subnet")


def resize(provider, call: Call, vmss: dict[str, Any]) -> None:
    """Member VMs follow sku.capacity: new ones are made from the VM profile, the newest extra ones go."""
    if not vmss["properties"].get("virtualMachineProfile"):
        return  # a set without a profile holds only the VMs added to it
    current = members(call.em, vmss["id"])
    wanted = vmss["sku"]["capacity"]
    for vm in current[wanted:][::-1]:
        delete_vm_now(call.em, vm)
    for _ in range(wanted - len(current)):
        _create_member(provider, call, vmss)


def finish_action(em, vmss: dict[str, Any], action: str, names: list[str]) -> None:
    """A set's power action or delete, done on the VMs it names; a delete lowers the capacity."""
    group_scope = vmss["id"].rsplit("/providers/", 1)[0]
    for name in names:
        vm = em.get(f"{group_scope}/providers/{VM_TYPE}/{name}")
        if vm is None:
            continue
        if action == "delete":
            delete_vm_now(em, vm)
        elif action in POWER_AFTER:
            em.meta_of(vm["id"])["power"] = POWER_AFTER[action]
    if action == "delete":
        vmss["sku"]["capacity"] = len(members(em, vmss["id"]))


def delete_members(em, vmss_id: str) -> None:
    for vm in members(em, vmss_id):
        delete_vm_now(em, vm)


def _create_member(provider, call: Call, vmss: dict[str, Any]) -> dict[str, Any]:
    em = call.em
    meta = em.meta_of(vmss["id"])
    profile = vmss["properties"]["virtualMachineProfile"]
    name = f"{vmss['name']}_{uuid.uuid4().hex[:8]}"
    size = provider.resolve_size(vmss["location"], vmss["sku"]["name"], target="sku.name")
    body: dict[str, Any] = {"name": name, "id": call.resource_id("virtualMachines", name), "type": VM_TYPE,
                            "location": vmss["location"],
                            "tags": {"VirtualMachineProfileTimeCreated": _dotnet_time(profile.get("timeCreated"))}}
    if vmss.get("zones"):
        body["zones"] = list(vmss["zones"])
    model_os = profile["storageProfile"]["osDisk"]
    os_type, generation, image = meta["os_type"], meta["generation"], dict(meta.get("image") or {})
    disk = provider._os_disk(call, body, {"managedDisk": model_os.get("managedDisk"),
                                          "diskSizeGB": model_os.get("diskSizeGB")}, os_type, generation, image, size)
    disk["managedBy"] = body["id"]
    from .ops import data_disks

    body["properties"] = {
        "hardwareProfile": {"vmSize": size.name}, "provisioningState": "Succeeded", "vmId": str(uuid.uuid4()),
        "virtualMachineScaleSet": {"id": vmss["id"]},
        "storageProfile": {
            "imageReference": image,
            "osDisk": {"osType": os_type, "name": disk["name"], "createOption": "FromImage",
                       "caching": model_os.get("caching", "ReadWrite"),
                       "managedDisk": {"storageAccountType": disk["sku"]["name"], "id": disk["id"]},
                       "deleteOption": model_os.get("deleteOption", "Delete"),
                       "diskSizeGB": disk["properties"]["diskSizeGB"]},
            "dataDisks": data_disks(call, body, profile["storageProfile"].get("dataDisks") or [])},
        "networkProfile": {"networkInterfaces": [
            _create_nic(em, call, body, config)
            for config in (profile.get("networkProfile") or {}).get("networkInterfaceConfigurations") or []]},
        "timeCreated": utc_now(),
    }
    os_profile = profile.get("osProfile")
    if isinstance(os_profile, dict):
        # Each VM's computer name is the set's prefix and six random characters.
        prefix = os_profile.get("computerNamePrefix") or vmss["name"][:9]
        suffix = "".join(random.choices(string.ascii_uppercase + string.digits, k=6))
        body["properties"]["osProfile"] = {
            "computerName": prefix + suffix,
            **{k: v for k, v in os_profile.items() if k not in ("computerNamePrefix", "adminPassword", "customData")}}
    em.put(body)
    em.meta_of(body["id"]).update(power="running", generation=generation, cluster=size.cluster, os_type=os_type)
    return body


def _create_nic(em, call: Call, vm: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The NIC the Compute RP makes for a VM from one of the profile's NIC configurations."""
    from ..network import NS as NETWORK_NS
    from ..network_fields import complete
    from ..network_shapes import link_backends

    config_props = config.get("properties") or {}
    name = f"{config.get('name', 'nic')}-{uuid.uuid4().hex[:8]}"
    nic_id = (f"/subscriptions/{call.sub}/resourceGroups/{call.resource_group}/providers/"
              f"{NETWORK_NS}/networkInterfaces/{name}")
    ip_configs = []
    for raw in config_props.get("ipConfigurations") or []:
        props = {k: v for k, v in (raw.get("properties") or {}).items()
                 if k in ("subnet", "loadBalancerBackendAddressPools", "applicationGatewayBackendAddressPools",
                          "applicationSecurityGroups", "privateIPAddressVersion")}
        ip_configs.append({"name": raw.get("name"), "properties": props})
    props = {"ipConfigurations": ip_configs,
             **{k: config_props[k] for k in ("networkSecurityGroup", "enableAcceleratedNetworking",
                                             "enableIPForwarding") if config_props.get(k)}}
    nic = {"name": name, "id": nic_id, "type": NIC_TYPE, "location": vm["location"], "etag": f'W/"{uuid.uuid4()}"'}
    em.providers["microsoft.network"].put_nic(call, nic, props, None)
    primary = str(config_props.get("primary", False)).lower() == "true"
    nic["properties"].update(virtualMachine={"id": vm["id"]}, primary=primary)
    complete(nic)
    link_backends(em, nic)
    nic["properties"]["provisioningState"] = "Succeeded"
    em.put(nic)
    return {"id": nic_id, "properties": {"primary": primary,
                                         "deleteOption": config_props.get("deleteOption", "Delete")}}


def _dotnet_time(iso: str | None) -> str:
    """A time as the Compute RP writes it in the VirtualMachineProfileTimeCreated tag (12/20/2023 1:36:01 AM +00:00)."""
    moment = datetime.fromisoformat(str(iso or utc_now()).replace("Z", "+00:00"))
    hour = moment.hour % 12 or 12
    return (f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment.minute:02d}:{moment.second:02d} "
            f"{'AM' if moment.hour < 12 else 'PM'} +00:00")
