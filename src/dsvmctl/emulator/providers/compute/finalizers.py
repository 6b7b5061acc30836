"""What happens when a Compute operation completes: a VM created, updated, powered, deleted; a
child (extension, run command) written or deleted; a disk deleted. Registered by name on the
emulator, so an operation's end survives a restart of the emulator's process."""

from __future__ import annotations

from typing import Any

from ....catalog.sizes import lookup
from ...core import utc_now

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
    delete_vm_now(em, vm)
    vmss = em.get((vm["properties"].get("virtualMachineScaleSet") or {}).get("id") or "")
    if vmss is not None:  # a Flexible set's VM deleted by itself: the set counts one fewer
        from .flexible import members

        vmss["sku"]["capacity"] = len(members(em, vmss["id"]))


def delete_vm_now(em, vm: dict[str, Any]) -> None:
    """A VM goes: its disks and NICs go with it or are released, as each one's deleteOption says."""
    os_disk = vm["properties"]["storageProfile"]["osDisk"]
    disk = em.get(os_disk["managedDisk"]["id"]) if "managedDisk" in os_disk else None  # a VHD stays in its blob
    if disk is not None:
        if str(os_disk.get("deleteOption", "Detach")).lower() == "delete":
            em.notify("disk_deleted", disk=disk)
            em.delete(disk["id"])
        else:
            disk.pop("managedBy", None)
            disk["properties"]["diskState"] = "Unattached"
    for data_disk in vm["properties"]["storageProfile"].get("dataDisks", []):
        attached = em.get(data_disk["managedDisk"]["id"]) if "managedDisk" in data_disk else None  # VHD: a blob
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
            from ..network import release_nic

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


def register_finalizers(em) -> None:
    em.finalizers.update({
        "compute.vm_created": _finish_created,
        "compute.vm_updated": _finish_updated,
        "compute.power": _finish_power,
        "compute.vm_deleted": _finish_vm_deleted,
        "compute.vm_child": _finish_vm_child,
        "compute.vm_child_deleted": _finish_vm_child_deleted,
        "compute.disk_deleted": _finish_disk_deleted,
    })
