"""The bodies the Compute RP answers with: VM sizes, resource SKUs, a VM's instance view, usages,
marketplace image stubs, and its errors for images."""

from __future__ import annotations

import re
from typing import Any

from ....catalog.sizes import Size
from ...core import utc_now
from ...routing import Call
from ...wire import ArmError

POWER_DISPLAY = {"running": "VM running", "starting": "VM starting", "stopping": "VM stopping",
                 "stopped": "VM stopped", "deallocating": "VM deallocating", "deallocated": "VM deallocated"}


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
    extensions = _extension_handlers(em, vm)
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
        "extensions": [{"name": ext["name"], "type": handler, "typeHandlerVersion": version, "statuses": [
            {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
             "message": "Enable succeeded."}]} for ext, handler, version in extensions],
        "isVMInStandbyPool": False,
    }
    if power == "running":
        # The agent reports one handler per extension type it runs.
        handlers = {(handler, version): {"type": handler, "typeHandlerVersion": version, "status": {
            "code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Ready",
            "message": "Plugin enabled"}} for _, handler, version in extensions}
        view["vmAgent"] = {"vmAgentVersion": "2.13.1.1", "extensionHandlers": list(handlers.values()), "statuses": [
            {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Ready",
             "message": "GuestAgent is running and processing the extensions.", "time": now}]}
    return view


def _extension_handlers(em, vm: dict[str, Any]) -> list[tuple[dict[str, Any], str, str]]:
    """Each extension of the VM with its handler as the agent names it (Publisher.Type) and version."""
    out = []
    for key, ext in em.resources.items():
        if key.startswith(vm["id"].lower() + "/extensions/"):
            props = ext["properties"]
            handler = ".".join(p for p in (props.get("publisher"), props.get("type")) if p)
            out.append((ext, handler, str(props.get("typeHandlerVersion") or "")))
    return out


def usage_item(name: str, display: str, current: int, limit: int) -> dict[str, Any]:
    return {"unit": "Count", "currentValue": current, "limit": limit, "name": {"value": name, "localizedValue": display}}


def location_filter(text: str) -> str | None:
    match = re.search(r"location\s+eq\s+'([^']+)'", text, re.IGNORECASE)
    return match.group(1).replace(" ", "").lower() if match else None


def image_stub(call: Call, name: str) -> dict[str, Any]:
    return {"name": name, "location": call.params["loc"].lower(),
            "id": call.request.path.split("?")[0] + ("" if call.request.path.endswith(name) else f"/{name}")}


def artifact_not_found() -> ArmError:
    return ArmError(404, "NotFound", "Artifact: VMImage was not found.")


def image_not_found(urn: str) -> ArmError:
    return ArmError(404, "PlatformImageNotFound", f"The platform image '{urn}' is not available. Verify that all "
                    "fields in the storage profile are correct. For more details about storage profile information, "
                    "please refer to https://aka.ms/storageprofile", target="imageReference")


def os_type_of(props: dict[str, Any], ref: dict[str, Any]) -> str:
    profile = props.get("osProfile") or {}
    if profile.get("windowsConfiguration") or "windows" in str(ref.get("offer", "")).lower() \
            or "windows" in str(ref.get("publisher", "")).lower():
        return "Windows"
    return "Linux"
