"""Resize a VM to another size (CPU <-> GPU) keeping its OS disk: plan, journal, run, verify.

    result = machine.resize("Standard_NC4as_T4_v3")   # the library; `dsvmctl resize` wraps it
    result = resume(machine)                          # finish a resize that was interrupted

1. Read the facts from Azure (size, power state, the OS disk's Hyper-V generation, the NIC's
   accelerated networking, the public IP's allocation, the VM's available sizes, the target's
   resourceSkus entry, the family's quota) and plan with `resize_plan.plan_resize`. An
   impossible plan is refused before any write; `dry_run` returns the plan and writes nothing.
2. Open a journal, `<state>/machines/<cloud>/<name>/resize-journal.json`. It records each step
   before it is taken and marks it done after (atomic writes), and remembers the original power
   state and the marker token.
3. When SSH answers, write a marker file with a random token on the OS disk.
4. Run the plan's steps: deallocate -> PATCH hardwareProfile.vmSize -> start. Each step checks
   Azure's actual state first (already deallocated, already the size, already running: skip),
   so a resize interrupted anywhere (Ctrl-C, kill -9, lost network) is finished by running the
   same command again or `dsvmctl resume NAME`, never repeated from scratch.
5. If Azure cannot start the VM on the new size (no capacity, quota, restriction), resize it
   back to its old size and restore its power state (`rolled_back: true`).
6. Verify: same OS disk id, the marker read back with the same token (when the VM ends
   running), the size Azure reports, the power state.

Test hook: DSVMCTL_RESIZE_CRASH_AFTER=deallocate|resize|start ends the process at once
(os._exit(137), as kill -9 would) right after that step is recorded done, so tests can check
that a second run finishes the resize.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..errors import CloudError, UsageError
from ..paths import write_atomic
from .azure_errors import azure_call, describe
from .power import PowerState
from .preflight import Problem, QuotaInfo, SkuInfo, alternatives, generation_problem, quota_problem, temp_disk_problem
from .resize_plan import ResizePlan, VmFacts, plan_resize

if TYPE_CHECKING:
    from .machine import Machine

Progress = Callable[[str], None]

JOURNAL_FILE = "resize-journal.json"
LOCK_FILE = "resize.lock"
MARKER_PATH = ".dsvmctl/resize-marker"  # under the admin user's home, on the OS disk
CRASH_HOOK = "DSVMCTL_RESIZE_CRASH_AFTER"
OPEN_STATES = ("in_progress", "rolling_back")
# Azure refusals after which the VM goes back to its old size (the new size cannot run now).
# Others (throttling, server errors after the SDK's retries) leave the journal open for a resume.
ROLLBACK_CODES = ("AllocationFailed", "ZonalAllocationFailed", "OperationNotAllowed", "SkuNotAvailable",
                  "QuotaExceeded", "BadRequest", "InvalidParameter",
                  "VMSizeIsNotPermittedToEnableAcceleratedNetworking")
SETTLE_TIMEOUT = 20 * 60  # seconds to wait for a VM another run left starting/deallocating
SSH_RETRIES = 30


def _quiet(_: str) -> None:
    return None


# --- the result ------------------------------------------------------------------------------------------


@dataclass
class ResizeResult:
    """What a resize came to: planned (dry run), refused, nothing to do, done (verified or not,
    rolled back), or stopped midway. `to_json()` is the `-o json` document; a field that is None
    is left out of it (not read, or not part of this outcome)."""

    name: str
    from_size: str
    to_size: str
    plan: dict[str, Any]  # ResizePlan.to_dict(): kind, steps, blockers, warnings, end_state
    journal: str
    os_disk_id_before: str | None
    verified: bool = False
    rolled_back: bool = False
    seconds: float = 0.0
    message: str | None = None
    power_state_before: PowerState | None = None
    # Azure's report at the end
    size: str | None = None
    power_state: PowerState | None = None
    os_disk_id_after: str | None = None
    deallocated: bool | None = None  # None: not known (stopped midway)
    # the verification
    checks: dict[str, bool] | None = None  # os_disk_kept, size, power_state, marker
    marker: str | None = None  # "verified", "skipped: why", "failed: why"
    resumed: bool | None = None  # finished from an earlier run's journal
    steps: list[dict[str, Any]] | None = None  # the journal's steps: requests, skipped, runs
    warnings: list[str] | None = None
    error: dict[str, Any] | None = None  # rolled back: the problem, with Azure's code and message
    rollback_steps: list[dict[str, Any]] | None = None
    dry_run: bool = False
    unfinished_resize: dict[str, str] | None = None  # dry run: an open journal to another size
    incomplete: bool = False  # stopped midway; the journal stays open

    @property
    def kind(self) -> str:
        """The plan's kind: noop, in_place, deallocate_resize_start or impossible."""
        return self.plan["kind"]

    @property
    def succeeded(self) -> bool:
        """The VM is on the new size and every check passed (not rolled back)."""
        return self.verified and not self.rolled_back

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"name": self.name, "from": self.from_size, "to": self.to_size}
        for key in ("size", "power_state", "power_state_before"):
            if getattr(self, key) is not None:
                document[key] = getattr(self, key)
        document.update(plan=self.plan, os_disk_id_before=self.os_disk_id_before)
        for key in ("os_disk_id_after", "deallocated"):
            if getattr(self, key) is not None:
                document[key] = getattr(self, key)
        document["verified"] = self.verified
        for key in ("checks", "marker"):
            if getattr(self, key) is not None:
                document[key] = getattr(self, key)
        document.update(seconds=self.seconds, rolled_back=self.rolled_back)
        for key in ("resumed", "steps", "warnings", "error", "rollback_steps", "unfinished_resize", "message"):
            if getattr(self, key) is not None:
                document[key] = getattr(self, key)
        if self.dry_run:
            document["dry_run"] = True
        if self.incomplete:
            document["incomplete"] = True
        document["journal"] = self.journal
        return document


# --- errors ------------------------------------------------------------------------------------------


class ResizeRefused(UsageError):
    """The plan is impossible: nothing was written. `result` holds the plan with its blockers."""

    def __init__(self, plan: ResizePlan, result: ResizeResult) -> None:
        body = "\n".join(f"  - {b.message}\n    fix: {b.fix}" for b in plan.blockers)
        super().__init__(f"cannot resize {plan.vm_name} from {plan.from_size} to {plan.to_size}; nothing was "
                         f"changed:\n{body}")
        self.plan = plan
        self.result = result


class ResizeIncomplete(CloudError):
    """The resize stopped midway (interrupted, network lost, Azure failed); the journal stays open."""

    def __init__(self, message: str, *, fix: str, result: ResizeResult, interrupted: bool = False) -> None:
        super().__init__(message, fix=fix)
        self.result = result
        if interrupted:
            self.exit_code = 130


class _AzureRefused(Exception):
    """An Azure error response during a step, with its code (kept apart from network failures)."""

    def __init__(self, what: str, code: str, message: str) -> None:
        super().__init__(f"{what} failed: {code}: {message}")
        self.what, self.code, self.message = what, code, message


@contextmanager
def _azure(what: str) -> Iterator[None]:
    """Azure's refusals become _AzureRefused (their code decides on a rollback); other SDK errors
    (network, timeouts) become CloudError, after which the resize is resumed, not rolled back."""
    from azure.core.exceptions import HttpResponseError

    with azure_call(what):
        try:
            yield
        except HttpResponseError as err:
            code, message, _details = describe(err)
            raise _AzureRefused(what, code, message) from None


# --- the journal -------------------------------------------------------------------------------------


def journal_path(machine: Machine) -> Path:
    return machine.store.dir(machine.name) / JOURNAL_FILE


class Journal:
    """The resize's record on disk: written whole, atomically, before and after each step."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    @classmethod
    def load(cls, path: Path) -> Journal | None:
        try:
            return cls(path, json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except ValueError:
            raise UsageError(f"the resize journal {path} is not valid JSON",
                             fix="check the VM with `dsvmctl status`, then delete the file and plan again") from None

    @property
    def is_open(self) -> bool:
        return self.data.get("status") in OPEN_STATES

    def save(self) -> None:
        self.data["updated_at"] = _now()
        write_atomic(self.path, json.dumps(self.data, indent=2))  # fsynced: survives a power loss too

    def steps(self, phase: str) -> list[dict[str, Any]]:
        return self.data["steps"] if phase == "forward" else self.data["rollback"]["steps"]


def _new_step(name: str, size: str | None) -> dict[str, Any]:
    # requests: how many times the step's request was sent to Azure (across every run)
    return {"name": name, "size": size, "state": "pending", "requests": 0, "skipped": None,
            "started_at": None, "done_at": None, "runs": []}


# --- entry points --------------------------------------------------------------------------------------


def resize(machine: Machine, size: str, *, dry_run: bool = False, start: bool | None = None,
           abandon: bool = False, progress: Progress = _quiet) -> ResizeResult:
    """Move `machine` to `size`, keeping its OS disk; see the module docstring.

    start: end running (True) or not (False); None keeps a running VM running and leaves a
        deallocated one off.
    abandon: forget an unfinished resize to another size (its journal) and plan afresh.
    Returns the ResizeResult; raises ResizeRefused (nothing written) or ResizeIncomplete
    (stopped midway: run it again, or `dsvmctl resume NAME`).
    """
    began = time.monotonic()
    path = journal_path(machine)
    journal = Journal.load(path)
    if journal is not None and journal.is_open and not dry_run:
        if journal.data["to"].lower() == size.lower():
            progress(f"finishing the resize of {machine.name} to {journal.data['to']} recorded in {path}")
            with _exclusive(machine):
                return _execute(machine, Journal.load(path) or journal, progress, began, resumed=True)
        if not abandon:
            raise UsageError(
                f"a resize of {machine.name} from {journal.data['from']} to {journal.data['to']} is unfinished "
                f"(journal {path}), so it cannot be resized to {size} now",
                fix=f"finish it first with `{_command(machine, 'resume')}`, then resize again; or add --abandon to "
                    f"forget it and plan from the VM's actual state")
        progress(f"abandoning the unfinished resize to {journal.data['to']}")

    facts, target, available, quota = gather_facts(machine, size)
    plan = plan_resize(facts, target, size, available_sizes=available, quota=quota, restart_after=start)
    result = _plan_result(machine, plan, facts, path)
    if dry_run:
        result.dry_run = True
        if journal is not None and journal.is_open:
            result.unfinished_resize = {"from": journal.data["from"], "to": journal.data["to"], "journal": str(path)}
        return result
    if not plan.possible:
        raise ResizeRefused(plan, result)
    if plan.kind == "noop":
        result.verified, result.seconds = True, _since(began)
        result.message = f"{machine.name} already has size {plan.to_size}"
        return result

    with _exclusive(machine):
        journal = _open_journal(machine, path, plan, facts, start)
        return _execute(machine, journal, progress, began, resumed=False)


def resume(machine: Machine, *, progress: Progress = _quiet) -> ResizeResult:
    """Finish the resize recorded in the machine's journal (after Ctrl-C, kill -9, lost network)."""
    began = time.monotonic()
    path = journal_path(machine)
    journal = Journal.load(path)
    if journal is None or not journal.is_open:
        last = f" (the last one, to {journal.data['to']}, is {journal.data['status']})" if journal else ""
        raise UsageError(f"no unfinished resize of {machine.name} to resume{last}",
                         fix=f"see its state with `{_command(machine, 'status')}`; resize with "
                             f"`{_command(machine, 'resize')} --size SIZE`")
    with _exclusive(machine):
        return _execute(machine, Journal.load(path) or journal, progress, began, resumed=True)


# --- reading the facts -----------------------------------------------------------------------------------


def gather_facts(machine: Machine, size: str) -> tuple[VmFacts, SkuInfo | None, list[str], QuotaInfo | None]:
    """What plan_resize needs, read from Azure with GETs only."""
    from .provision import region_facts

    vm = machine.vm(instance_view=True)
    if vm is None:
        raise CloudError(f"VM {machine.name} does not exist any more", fix=f"create it with dsvmctl up {machine.name}")
    with azure_call(f"reading the network of {machine.name}"):
        nic, ip, _nsg = machine._network(vm)
    with azure_call(f"reading the sizes {machine.name} can take"):
        sized = list(machine.backend.compute.virtual_machines.list_available_sizes(
            machine.record.resource_group, machine.name))
    offered, quotas = region_facts(machine.backend, vm.location)
    by_name = {name.lower(): sku for name, sku in offered.items()}
    current_name = vm.hardware_profile.vm_size
    current = by_name.get(current_name.lower()) or _sku_elsewhere(current_name, sized)
    target = by_name.get(size.lower())
    quota = None
    if target is not None:
        quota = next((q for family, q in quotas.items() if family.lower() == target.family.lower()), None)
    allocation = getattr(ip, "public_ip_allocation_method", None) if ip is not None else None
    facts = VmFacts(
        name=machine.name, size=current, power_state=machine.power_state(vm),
        hyperv_generation=_generation(machine, vm), accelerated_networking=bool(nic.enable_accelerated_networking),
        public_ip_allocation=str(getattr(allocation, "value", allocation)).capitalize() if allocation else None,
        os_disk_id=vm.storage_profile.os_disk.managed_disk.id, location=vm.location, os=machine.record.os)
    return facts, target, [s.name for s in sized], quota


def _generation(machine: Machine, vm) -> str:
    """The OS disk's Hyper-V generation ("V1"/"V2"): the disk's own property, else the instance view."""
    disk_id = vm.storage_profile.os_disk.managed_disk.id
    group = disk_id.split("/")[4] if disk_id.count("/") >= 8 else machine.record.resource_group
    with azure_call(f"reading the OS disk of {machine.name}"):
        disk = machine.backend.compute.disks.get(group, disk_id.rsplit("/", 1)[-1])
    generation = disk.hyper_v_generation or (vm.instance_view.hyper_v_generation if vm.instance_view else None)
    return str(getattr(generation, "value", generation) or "V1").upper()


def _sku_elsewhere(name: str, sized: list[Any]) -> SkuInfo:
    """The current size when the region no longer lists it: the catalog, else the vmSizes entry."""
    from ..catalog import sizes as size_catalog

    known = size_catalog.lookup(name)
    if known is not None:
        return SkuInfo.from_catalog(known)
    entry = next((s for s in sized if s.name.lower() == name.lower()), None)
    return SkuInfo(name=name, vcpus=entry.number_of_cores if entry else 0, family="",
                   temp_disk_gb=(entry.resource_disk_size_in_mb or 0) // 1024 if entry else 0,
                   generations=("V1", "V2"))


def _plan_result(machine: Machine, plan: ResizePlan, facts: VmFacts, path: Path) -> ResizeResult:
    """The result before any change: a dry run's, a refusal's, or (nothing to do) the end."""
    return ResizeResult(name=machine.name, from_size=plan.from_size, to_size=plan.to_size, plan=plan.to_dict(),
                        journal=str(path), os_disk_id_before=facts.os_disk_id, power_state_before=facts.power_state,
                        deallocated=False, os_disk_id_after=facts.os_disk_id, marker="skipped: nothing changed")


# --- running the journal -----------------------------------------------------------------------------------


def _open_journal(machine: Machine, path: Path, plan: ResizePlan, facts: VmFacts, start: bool | None) -> Journal:
    journal = Journal(path, {
        "version": 1, "machine": machine.name, "status": "in_progress",
        "from": plan.from_size, "to": plan.to_size, "location": facts.location,
        "original_power_state": facts.power_state, "end_state": plan.end_state, "start": start,
        "os_disk_id_before": facts.os_disk_id, "plan": plan.to_dict(),
        "marker": {"path": MARKER_PATH, "token": None, "state": "pending", "note": None},
        "steps": [_new_step(step, plan.to_size if step == "resize" else None) for step in plan.steps],
        "rollback": None, "error": None, "created_at": _now(), "runs": [],
    })
    journal.save()
    return journal


def _execute(machine: Machine, journal: Journal, progress: Progress, began: float, *, resumed: bool) -> ResizeResult:
    data = journal.data
    data["runs"].append({"pid": os.getpid(), "started_at": _now(), "resumed": resumed})
    journal.save()
    phase = "forward" if data["status"] == "in_progress" else "rollback"
    try:
        if data["marker"]["state"] == "pending":
            # Written before the first step; a run stopped before that writes it only if no step ran.
            if any(step["state"] != "pending" for step in data["steps"]):
                _set_marker(journal, "skipped", "skipped: the resize was interrupted before the marker was written")
            else:
                _write_marker(machine, journal, machine.power_state(), progress)
        if phase == "forward":
            try:
                _run_steps(machine, journal, "forward", progress)
            except _AzureRefused as refused:
                if refused.code not in ROLLBACK_CODES:
                    raise
                _begin_rollback(machine, journal, refused, progress)
                phase = "rollback"
        if phase == "rollback":
            _run_steps(machine, journal, "rollback", progress)
        return _finish(machine, journal, progress, began, resumed)
    except KeyboardInterrupt:
        raise _incomplete(machine, journal, "interrupted (Ctrl-C)", began, interrupted=True) from None
    except _AzureRefused as refused:
        raise _incomplete(machine, journal, _explain(refused, journal).message, began) from None
    except CloudError as err:
        raise _incomplete(machine, journal, err.message, began) from None
    except Exception as err:  # SSH and the unexpected: the journal stays open, say how to go on
        from ..remote.errors import RemoteError

        if not isinstance(err, (RemoteError, OSError)):
            raise
        raise _incomplete(machine, journal, str(err), began) from None


def _run_steps(machine: Machine, journal: Journal, phase: str, progress: Progress) -> None:
    for step in journal.steps(phase):
        if step["state"] == "done":
            continue
        step["state"] = "started"
        step["started_at"] = step["started_at"] or _now()
        step["runs"].append(os.getpid())
        journal.save()
        step["skipped"] = _take_step(machine, journal, step, progress)
        step["state"], step["done_at"] = "done", _now()
        journal.save()
        if phase == "forward" and os.environ.get(CRASH_HOOK) == step["name"]:
            os._exit(137)  # test hook (module docstring): die as kill -9 would, right after the record


def _take_step(machine: Machine, journal: Journal, step: dict[str, Any], progress: Progress) -> str | None:
    """Take one step unless Azure's actual state shows it taken; return why it was skipped."""
    vms = machine.backend.compute.virtual_machines
    group, name = machine.record.resource_group, machine.name
    if step["name"] == "deallocate":
        power = _settled_power(machine, progress)
        if power is PowerState.DEALLOCATED:
            return "already deallocated"
        progress(f"deallocating {name} (the OS disk is kept)")
        _count_request(journal, step)
        with _azure(f"deallocating {name}"):
            vms.begin_deallocate(group, name).result()
        return None
    if step["name"] == "resize":
        vm = machine.vm()
        if vm.hardware_profile.vm_size.lower() == step["size"].lower():
            return f"already {vm.hardware_profile.vm_size}"
        _settled_power(machine, progress)
        progress(f"resizing {name} to {step['size']}")
        _count_request(journal, step)
        with _azure(f"resizing {name} to {step['size']}"):
            vms.begin_update(group, name, {"properties": {"hardwareProfile": {"vmSize": step["size"]}}}).result()
        return None
    if step["name"] == "start":
        power = _settled_power(machine, progress)
        if power is PowerState.RUNNING:
            return "already running"
        progress(f"starting {name} on {machine.vm().hardware_profile.vm_size}")
        _count_request(journal, step)
        with _azure(f"starting {name}"):
            vms.begin_start(group, name).result()
        return None
    raise ValueError(f"unknown resize step {step['name']!r}")


def _count_request(journal: Journal, step: dict[str, Any]) -> None:
    step["requests"] += 1
    journal.save()  # before the request goes out: a crash cannot hide a sent request


def _settled_power(machine: Machine, progress: Progress) -> PowerState:
    """The power state once any transition (another run's deallocate or start) has ended."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        power = machine.power_state()
        if not power.transitional:
            return power
        if time.monotonic() > deadline:
            raise CloudError(f"{machine.name} has been {power} for {SETTLE_TIMEOUT // 60} minutes",
                             fix="check the VM in the portal, then resume")
        progress(f"waiting: {machine.name} is {power}")
        time.sleep(2 if machine.backend.kind != "local" else 0.05)


def _begin_rollback(machine: Machine, journal: Journal, refused: _AzureRefused, progress: Progress) -> None:
    data = journal.data
    problem = _explain(refused, journal)
    data["error"] = {**problem.to_dict(), "azure_code": refused.code, "azure_message": refused.message}
    steps = [_new_step("resize", data["from"])]
    if PowerState.parse(data["original_power_state"]) is PowerState.RUNNING:
        steps.append(_new_step("start", None))
    data["rollback"] = {"reason": problem.message, "steps": steps, "started_at": _now()}
    data["status"] = "rolling_back"
    journal.save()
    progress(f"{problem.message}; rolling back to {data['from']}")


# --- the marker file -----------------------------------------------------------------------------------


def _write_marker(machine: Machine, journal: Journal, power: PowerState, progress: Progress) -> None:
    """A file with a random token on the OS disk; reading it back later proves the disk is the same."""
    if machine.record.os == "windows":
        return _set_marker(journal, "skipped", "skipped: Windows VM (no SSH)")
    if power is not PowerState.RUNNING:
        return _set_marker(journal, "skipped", "skipped: VM was not running before the resize")
    token = secrets.token_hex(16)
    journal.data["marker"]["token"] = token
    journal.save()  # the token first: a crash after the write still leaves it checkable
    progress(f"writing a marker file on the OS disk (~/{MARKER_PATH})")
    try:
        with machine.session(retries=2) as session:
            directory = MARKER_PATH.rsplit("/", 1)[0]
            code, _out, stderr = session.run(f"mkdir -p ~/{directory} && printf %s {token} > ~/{MARKER_PATH}.tmp "
                                             f"&& mv ~/{MARKER_PATH}.tmp ~/{MARKER_PATH}")
    except Exception as err:  # SSH down is no reason not to resize; the check is skipped, and says so
        return _set_marker(journal, "skipped", f"skipped: SSH did not answer before the resize ({_first_line(err)})")
    if code != 0:
        return _set_marker(journal, "skipped", f"skipped: writing the marker failed ({stderr.strip()})")
    _set_marker(journal, "written", None)


def _set_marker(journal: Journal, state: str, note: str | None) -> None:
    journal.data["marker"].update(state=state, note=note)
    journal.save()


def _check_marker(machine: Machine, journal: Journal, power: PowerState, progress: Progress) -> str:
    marker = journal.data["marker"]
    if marker["state"] != "written":
        return marker["note"] or "skipped"
    if power is not PowerState.RUNNING:
        return "skipped: VM not running"
    progress("waiting for SSH (host key pinned), then reading the marker back")
    try:
        with machine.session(retries=SSH_RETRIES) as session:
            code, out, _err = session.run(f"cat ~/{MARKER_PATH} && rm -f ~/{MARKER_PATH}")
    except Exception as err:
        return f"failed: SSH did not answer after the resize ({_first_line(err)})"
    if code != 0:
        return f"failed: ~/{MARKER_PATH} is gone: the OS disk is not the one the VM had"
    if out.strip() != marker["token"]:
        return f"failed: ~/{MARKER_PATH} holds another token: the OS disk is not the one the VM had"
    return "verified"


# --- the end --------------------------------------------------------------------------------------------


def _finish(machine: Machine, journal: Journal, progress: Progress, began: float, resumed: bool) -> ResizeResult:
    data = journal.data
    rolled_back = data["status"] == "rolling_back"
    vm = machine.vm(instance_view=True)
    power = machine.power_state(vm)
    size_now = vm.hardware_profile.vm_size
    disk_after = vm.storage_profile.os_disk.managed_disk.id
    marker = _check_marker(machine, journal, power, progress)
    expected_size = data["from"] if rolled_back else data["to"]
    expected_power = _rollback_end_state(data) if rolled_back else data["end_state"]
    checks = {
        "os_disk_kept": (disk_after or "").lower() == (data["os_disk_id_before"] or "").lower(),
        "size": size_now.lower() == expected_size.lower(),
        "power_state": power is PowerState.parse(expected_power),
        "marker": marker == "verified" or marker.startswith("skipped"),
    }
    verified = all(checks.values())
    data["status"] = "rolled_back" if rolled_back else "done" if verified else "unverified"
    data["finished_at"] = _now()
    data["verification"] = {"checks": checks, "marker": marker, "size": size_now, "power_state": power}
    journal.save()

    if rolled_back:
        restored = f"and {power}" if power is PowerState.RUNNING else f"and left {power}"
        message = (f"{data['error']['message']}; {machine.name} was resized back to {size_now} {restored}, "
                   f"its OS disk unchanged. fix: {data['error']['fix']}")
    elif not verified:
        failed = ", ".join(name for name, ok in checks.items() if not ok)
        message = f"{machine.name} is {power} on {size_now}, but the check failed: {failed}"
    else:
        message = f"{machine.name} is {power} on {size_now}; its OS disk was kept"
    if power is PowerState.DEALLOCATED:
        message += f". The VM is deallocated: start it with `{_command(machine, 'start')}`"
    return ResizeResult(
        name=machine.name, from_size=data["from"], to_size=data["to"], plan=data["plan"], journal=str(journal.path),
        os_disk_id_before=data["os_disk_id_before"], verified=verified, rolled_back=rolled_back,
        seconds=_since(began), message=message, power_state_before=PowerState.parse(data["original_power_state"]),
        size=size_now, power_state=power, os_disk_id_after=disk_after,
        deallocated=any(s["name"] == "deallocate" and s["state"] == "done" and not s["skipped"] for s in data["steps"]),
        checks=checks, marker=marker, resumed=resumed, steps=data["steps"], warnings=data["plan"].get("warnings", []),
        error=data["error"] if rolled_back else None, rollback_steps=data["rollback"]["steps"] if rolled_back else None)


def _rollback_end_state(data: dict[str, Any]) -> PowerState:
    was_running = PowerState.parse(data["original_power_state"]) is PowerState.RUNNING
    return PowerState.RUNNING if was_running else PowerState.DEALLOCATED


def _incomplete(machine: Machine, journal: Journal, reason: str, began: float, *,
                interrupted: bool = False) -> ResizeIncomplete:
    """The error for a resize that stopped midway: where the VM is now, and how to finish."""
    data = journal.data
    rolling_back = data["status"] == "rolling_back"
    steps = data["rollback"]["steps"] if rolling_back else data["steps"]
    done = [s["name"] for s in steps if s["state"] == "done"]
    current = next((s["name"] for s in steps if s["state"] == "started"), None)
    where = f"during {current}" if current else f"after {done[-1]}" if done else "before its first step"
    if rolling_back:
        where = f"while rolling back to {data['from']} ({data['rollback']['reason']}), {where}"
    try:
        vm = machine.vm(instance_view=True)
        power, size = machine.power_state(vm), vm.hardware_profile.vm_size
    except BaseException:  # the network may be what failed; say what is known
        power, size = PowerState.UNKNOWN, "unknown"
    resume_command = _command(machine, "resume")
    if power is PowerState.DEALLOCATED:
        state = f"VM is deallocated (size {size}): resume with `{resume_command}`"
    elif power is PowerState.UNKNOWN:
        state = f"its state could not be read: check with `{_command(machine, 'status')}`, then resume with " \
                f"`{resume_command}`"
    else:
        state = f"VM is {power} (size {size}): resume with `{resume_command}`"
    message = f"the resize of {machine.name} from {data['from']} to {data['to']} stopped {where}: {reason}. {state}"
    result = ResizeResult(name=machine.name, from_size=data["from"], to_size=data["to"], plan=data["plan"],
                          journal=str(journal.path), os_disk_id_before=data["os_disk_id_before"], seconds=_since(began),
                          message=message, size=size, power_state=power, steps=data["steps"], incomplete=True)
    return ResizeIncomplete(message, fix=f"run `{resume_command}` (or the same resize command again); it "
                                         "continues from the journal and repeats no step", result=result,
                            interrupted=interrupted)


# --- Azure's refusals, in the planner's words ----------------------------------------------------------------

_QUOTA = re.compile(r"approved (?P<family>.+?) Cores quota.*?Current Limit: (?P<limit>\d+), Current Usage: "
                    r"(?P<usage>\d+), Additional Required: (?P<needed>\d+)", re.S)


def _explain(refused: _AzureRefused, journal: Journal) -> Problem:
    """An Azure error as the plan would have said it (preflight's message builders), with a fix."""
    from ..catalog import sizes as size_catalog

    data = journal.data
    location = data.get("location")
    target_name = data["from"] if data["status"] == "rolling_back" else data["to"]  # the size being started
    known = size_catalog.lookup(target_name)
    target = SkuInfo.from_catalog(known) if known else SkuInfo(target_name, 0, "", 0, ("V1", "V2"))
    text = refused.message
    quota = _QUOTA.search(text)
    if quota:
        family = quota["family"]
        info = QuotaInfo(family=family if family != "Total Regional" else "cores", limit=int(quota["limit"]),
                         current=int(quota["usage"]))
        label = "Total Regional vCPUs" if family == "Total Regional" else None
        problem = quota_problem(target, int(quota["needed"]), info, location, field="size", label=label)
        if problem is not None:
            return problem
    if refused.code in ("AllocationFailed", "ZonalAllocationFailed"):
        where = f" in {location}" if location else ""
        instead = ", ".join(alternatives(target, _offered_catalog()))
        return Problem("no-capacity", f"Azure has no capacity for {target_name}{where} right now ({refused.code})",
                       "try again later" + (f", or another size ({instead})" if instead else "")
                       + ", or another region", "size")
    if refused.code == "SkuNotAvailable":
        where = f" in {location}" if location else ""
        return Problem("size-restricted", f"{target_name} is not available to this subscription{where} "
                       "(SkuNotAvailable)", "pick another size, or ask Azure support to enable it for the subscription",
                       "size")
    if "resource disk to non-resource disk" in text:
        current = size_catalog.lookup(data["from"])
        if current is not None and known is not None:
            return temp_disk_problem(SkuInfo.from_catalog(current), target, resize=True)
    generation = re.search(r"cannot boot Hypervisor Generation '(\d)'", text)
    if generation and known is not None:
        problem = generation_problem(target, f"V{generation[1]}", f"{data['machine']}'s OS disk", "linux",
                                     field="size", resize=True)
        if problem is not None:
            return problem
    if refused.code == "VMSizeIsNotPermittedToEnableAcceleratedNetworking":
        return Problem("accelerated-networking", f"{target_name} does not allow the accelerated networking on "
                       f"{data['machine']}'s network interface", "turn accelerated networking off on the NIC while the "
                       "VM is deallocated, or pick a size that supports it", "size")
    from .azure_errors import FIXES

    return Problem(refused.code, f"{refused.what} failed: {refused.code}: {refused.message}",
                   FIXES.get(refused.code, "see Azure's message"), None)


def _offered_catalog() -> dict[str, SkuInfo]:
    from .preflight import catalog_skus

    return catalog_skus()


# --- small helpers ---------------------------------------------------------------------------------------------


@contextmanager
def _exclusive(machine: Machine) -> Iterator[None]:
    """One resize of a machine at a time; the OS drops the lock if the process dies."""
    import fcntl

    directory = machine.store.dir(machine.name)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another dsvmctl process is resizing {machine.name} right now",
                             fix="wait for it to finish (or stop it), then run the command again") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _command(machine: Machine, verb: str) -> str:
    cloud = "" if machine.backend.kind == "local" else f"--cloud {machine.backend.kind} "
    return f"dsvmctl {cloud}{verb} {machine.name}"


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _since(began: float) -> float:
    return round(time.monotonic() - began, 2)
