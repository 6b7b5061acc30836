"""Decides how (and whether) a VM can move to another size: pure, before any side effect.

From what the caller fetched (the VM, the target's resourceSkus entry, the VM's available sizes
and the family quota) it returns one of: nothing to do | resize in place (one PATCH; a running
VM restarts) | deallocate -> resize -> start | impossible, with every blocking reason and its
fix. `--dry-run` shows the plan; `cloud.resize` carries it out step by step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..catalog import sizes as size_catalog
from .power import PowerState
from .preflight import (
    Problem,
    QuotaInfo,
    SkuInfo,
    alternatives,
    catalog_skus,
    generation_problem,
    quota_problem,
    temp_disk_problem,
)

PlanKind = Literal["noop", "in_place", "deallocate_resize_start", "impossible"]

STEP_TEXT = {
    "deallocate": "deallocate (release the hardware; OS and data disks are kept)",
    "resize": "resize (PATCH hardwareProfile.vmSize to {to})",
    "start": "start",
}


@dataclass(frozen=True)
class VmFacts:
    """What the planner needs to know about the VM, as the caller read it from Azure."""

    name: str
    size: SkuInfo
    power_state: PowerState  # the instance view's PowerState/... (a string is parsed)
    hyperv_generation: str  # the OS disk's: "V1" | "V2"
    accelerated_networking: bool  # on the NIC
    public_ip_allocation: Literal["Static", "Dynamic"] | None = None  # None: no public IP
    os_disk_id: str | None = None  # checked before and after by the resize itself
    location: str | None = None
    os: str = "linux"  # "linux" | "windows": where the temp disk lives, which images to suggest

    def __post_init__(self) -> None:
        object.__setattr__(self, "power_state", PowerState.parse(self.power_state))


@dataclass
class ResizePlan:
    kind: PlanKind
    vm_name: str
    from_size: str
    to_size: str
    steps: list[str] = field(default_factory=list)  # "deallocate" | "resize" | "start", in order
    blockers: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    will_restart: bool = False  # the VM is running now and the plan interrupts it
    ends_running: bool = False

    end_state: str = ""  # a PowerState once planned: running | stopped | deallocated, after the steps

    @property
    def possible(self) -> bool:
        return self.kind != "impossible"

    def to_dict(self) -> dict[str, Any]:
        return {
            "vm": self.vm_name, "kind": self.kind, "from_size": self.from_size, "to_size": self.to_size,
            "steps": list(self.steps), "will_restart": self.will_restart, "ends_running": self.ends_running,
            "end_state": self.end_state,
            "blockers": [b.to_dict() for b in self.blockers], "warnings": list(self.warnings),
        }

    def describe(self) -> str:
        head = f"{self.vm_name}: {self.from_size} -> {self.to_size}"
        if self.kind == "noop":
            lines = [f"{head}: nothing to do, the VM already has that size"]
        elif self.kind == "impossible":
            lines = [f"{head}: cannot resize"]
            for blocker in self.blockers:
                lines += [f"  - {blocker.message}", f"    fix: {blocker.fix}"]
        else:
            lines = [f"{head}:"]
            lines += [f"  {n}. {STEP_TEXT[step].format(to=self.to_size)}" for n, step in enumerate(self.steps, 1)]
            lines.append(f"  the VM ends {self.end_state}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def plan_resize(vm: VmFacts, target: SkuInfo | None, target_name: str, *, available_sizes: list[str],
                quota: QuotaInfo | None, restart_after: bool | None = None) -> ResizePlan:
    """The plan to move `vm` to `target_name`.

    target: the target's resourceSkus entry in the VM's region (None: the region has no such size).
    available_sizes: GET .../virtualMachines/{vm}/vmSizes, the sizes of the VM's hardware cluster.
    quota: usages for the target's family in the VM's region (None: not checked).
    restart_after: end running (True) or not (False); None keeps a running VM running and
        leaves a stopped or deallocated one off.
    """
    current = vm.size
    to_name = target.name if target is not None else target_name
    plan = ResizePlan(kind="impossible", vm_name=vm.name, from_size=current.name, to_size=to_name)

    if target is None:
        plan.blockers.append(_unknown_target(current, target_name, vm.location))
        return plan
    if target.name.lower() == current.name.lower():
        plan.kind, plan.ends_running, plan.end_state = "noop", vm.power_state is PowerState.RUNNING, vm.power_state
        return plan

    plan.blockers += _blockers(vm, target)
    state = vm.power_state
    ends_running = restart_after if restart_after is not None else state is PowerState.RUNNING
    in_cluster = target.name.lower() in {s.lower() for s in available_sizes}

    if state is PowerState.DEALLOCATED:
        # A deallocated VM can take any size the region offers; no deallocate step.
        kind: PlanKind = "in_place"
        steps = ["resize"]
    elif state.holds_hardware and in_cluster and (ends_running or state is PowerState.STOPPED):
        kind, steps = "in_place", ["resize"]  # one PATCH; Azure restarts a running VM itself
    else:
        # Outside the cluster the VM must leave its hardware; and a running VM that should end
        # off is cheaper deallocated first than resized, rebooted, then deallocated.
        kind, steps = "deallocate_resize_start", ["deallocate", "resize"]
    if ends_running and not (kind == "in_place" and state is PowerState.RUNNING):
        steps.append("start")

    if quota is not None and (ends_running or state.holds_hardware and steps[0] != "deallocate"):
        # Quota is counted when the VM is allocated on the target. This VM's own vCPUs are in the
        # family's usage only while it holds hardware.
        same_family = quota.family.lower() == current.family.lower()
        freed = current.vcpus if same_family and state.holds_hardware else 0
        problem = quota_problem(target, target.vcpus, quota, vm.location, field="size", freed=freed)
        if problem is not None:
            plan.blockers.append(problem)

    if plan.blockers:
        return plan
    plan.kind, plan.steps, plan.ends_running = kind, steps, ends_running
    plan.will_restart = state is PowerState.RUNNING
    plan.end_state = PowerState.RUNNING if ends_running else PowerState.STOPPED \
        if state is PowerState.STOPPED and steps[0] != "deallocate" else PowerState.DEALLOCATED
    plan.warnings = _warnings(vm, steps, state)
    return plan


def _blockers(vm: VmFacts, target: SkuInfo) -> list[Problem]:
    blockers: list[Problem] = []
    state = vm.power_state
    retired = target.retired or _catalog_retired(target.name)
    if retired:
        partners = ", ".join(alternatives(target, catalog_skus())) or "a current size"
        blockers.append(Problem("retired-size", f"{target.name} was retired on {retired}; Azure no longer offers it",
                                f"resize to {partners} instead", "size"))
    if target.restricted_reason:
        where = f" in {vm.location}" if vm.location else ""
        blockers.append(Problem(
            "size-restricted", f"{target.name} is not available to this subscription{where} ({target.restricted_reason})",
            "pick another size, or ask Azure support to enable it for the subscription", "size"))
    obstacles = size_catalog.resize_obstacles(vm.size, target, generation=vm.hyperv_generation)  # the one rule
    if "temp-disk-pairing" in obstacles:
        blockers.append(temp_disk_problem(vm.size, target, resize=True))
    if "hyperv-generation" in obstacles:
        os_name = "windows" if vm.os == "windows" else "linux"
        problem = generation_problem(target, vm.hyperv_generation, f"{vm.name}'s OS disk", os_name,
                                     field="size", resize=True)
        if problem is not None:
            blockers.append(problem)
    if vm.accelerated_networking and not target.accelerated_networking:
        blockers.append(Problem(
            "accelerated-networking",
            f"{vm.name}'s network interface has accelerated networking, which {target.name} does not allow",
            "deallocate the VM, turn accelerated networking off on its NIC, then resize; or pick a size "
            "that supports it", "size"))
    if state.transitional:
        blockers.append(Problem("vm-busy", f"{vm.name} is {state}",
                                "wait until it is running, stopped or deallocated, then plan again", None))
    elif not state.settled:
        blockers.append(Problem("vm-state-unknown", f"{vm.name}'s power state is {state.value!r}",
                                "check the VM in the portal (or `az vm get-instance-view`), then plan again", None))
    return blockers


def _warnings(vm: VmFacts, steps: list[str], state: PowerState) -> list[str]:
    warnings = []
    temp = "/mnt" if vm.os != "windows" else "D:"
    if state.holds_hardware:
        # A resize moves the VM to other hardware, even in place: the local temp disk starts empty.
        warnings.append(f"the temp disk ({temp}) is wiped: copy anything you need from it to the OS disk first")
    if state is PowerState.RUNNING:
        warnings.append("the VM restarts: running jobs and SSH sessions end")
    if "deallocate" in steps and vm.public_ip_allocation == "Dynamic":
        warnings.append("the public IP address is dynamic, so deallocating releases it and the VM comes back "
                        "with a new one; use a static Standard public IP to keep it")
    return warnings


def _unknown_target(current: SkuInfo, target_name: str, location: str | None) -> Problem:
    known = size_catalog.lookup(target_name)
    where = f"in {location}" if location else "in this region"
    if known is not None and known.retired:
        message = f"{known.name} was retired on {known.retired}; Azure no longer offers it"
        code = "retired-size"
    else:
        message = f"{target_name} is not a VM size offered {where}"
        code = "unknown-size"
    partners = [s.name for s in size_catalog.resize_partners(current)]
    return Problem(code, message, f"sizes {current.name} can be resized to: {', '.join(partners)}", "size")


def _catalog_retired(name: str) -> str | None:
    known = size_catalog.lookup(name)
    return known.retired if known else None
