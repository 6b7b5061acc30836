"""Remote execution on a Machine, as orchestration: push the workloads, run one, stream it,
reattach, collect. What runs on the VM is `dsvmctl.remote.target` (one target per OS, bound to
a session); the run registry is `runs.py`; this module ties them to a Machine.

    from dsvmctl import Cloud
    from dsvmctl.cloud import workload

    machine = Cloud.local().machine("lab")
    workload.push(machine)                                   # bundled workloads -> ~/dsvmctl/workloads
    run = workload.run(machine, "cnn", args=["--steps", "3"])      # streams; run.exit_code
    collected = workload.collect(machine, run.run_id)        # ~/dsvmctl/runs/<id>/ -> <state>/runs/<id>/
    collected.device, collected.metrics                      # what torch ran on; the metrics.json path

The results are typed (cloud/results.py): PushResult, RunRecord (also what runs.json keeps),
CollectResult; each one's `to_json()` is its `-o json` document.

The Python that runs the workload is found on the VM (`find_python`): `DSVMCTL_REMOTE_PYTHON`
(set on the machine running dsvmctl) wins; else the DSVM's conda environments are probed, then
`python3` and `python`, and the first one that can `import torch` is used.

Windows machines (record.os == "windows") get PowerShell scripts (`dsvmctl.remote.windows`);
those builders are tested against a model of PowerShell's quoting, not run on a Windows host.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Sequence

from ..errors import DsvmctlError, UsageError
from ..remote import errors as remote_errors
from ..remote.channel import sink
from ..remote.target import KILL_MARK, NO_LOG, PID_MARK, PYTHON_MARK, RUNS_DIR, WORKLOADS_DIR, target_for
from ..remote.target import train_argv as target_argv
from ..remote.untar import DEFAULT_LIMITS, FetchLimits, UnsafeArchive
from .pushsource import bundled_workloads, push_source
from .results import CollectResult, PushResult, RunRecord
from .runs import (RunNotFound, check_run_id, find_run, load_runs, local_run_dir, new_run_id, now, save_run,
                   state_home_of)

__all__ = ["WORKLOADS", "DEVICES", "PYTHON_ENV", "WORKLOADS_DIR", "RUNS_DIR", "PYTHON_MARK", "PID_MARK", "KILL_MARK",
           "RunNotFound", "check_run_id", "find_run", "load_runs", "local_run_dir", "new_run_id", "state_home_of",
           "bundled_workloads", "is_windows", "remote_path", "target", "find_python", "push", "run", "logs",
           "collect", "fetch_windows", "attach", "train_argv", "posix_logs_command", "PushResult", "RunRecord",
           "CollectResult"]

WORKLOADS = ("transformer", "cnn")
DEVICES = ("auto", "cpu", "cuda")
PYTHON_ENV = "DSVMCTL_REMOTE_PYTHON"
TORCH_FIX = ("pip install torch on the VM, or choose a DSVM image (it ships conda environments with torch), "
             f"or point {PYTHON_ENV} at the VM's Python")

MAX_METRICS_BYTES = 64 * 2**20
Sink = Any  # None, a callback f(bytes), a binary or text stream
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def is_windows(machine) -> bool:
    return (machine.record.os or "").lower() == "windows"


def remote_path(machine, *parts: str) -> str:
    """A home-relative path on the VM, with the VM's separator."""
    return target_for(None, machine.record.os).path(*parts)  # type: ignore[arg-type]


def target(machine, session):
    """The machine's OS target bound to an open session (see dsvmctl.remote.target)."""
    return target_for(session, machine.record.os)


@contextmanager
def _session(machine, session=None) -> Iterator[Any]:
    if session is not None:
        yield session
        return
    with machine.session() as opened:
        yield opened


class _Tee:
    """Feed bytes to the caller's sink and to the local log file."""

    def __init__(self, target: Sink, log: IO[bytes]):
        self.feed, self.log = sink(target), log

    def __call__(self, data: bytes) -> None:
        self.log.write(data)
        self.log.flush()
        self.feed(data)


def _default(stream: Sink, fallback: IO[Any]) -> Sink:
    return stream if stream is not None else getattr(fallback, "buffer", fallback)


# -- builders under their earlier names (callers that compose their own scripts, e.g. fleet runs) ---

_now = now


def train_argv(workload: str, device: str, run_id: str, args: Sequence[str], *, windows: bool = False) -> list[str]:
    """train.py's arguments (no interpreter); the metrics go to ../runs/<id>/metrics.json."""
    return target_argv("", workload, device, run_id, args, sep="\\" if windows else "/")[1:]


def posix_logs_command(run_id: str, pid: int | None, follow: bool) -> str:
    """The Linux logs script for a run (see dsvmctl.remote.posix.logs_command)."""
    return target_for(None, "linux").logs_command(check_run_id(run_id), pid, follow)  # type: ignore[arg-type]


# -- push -----------------------------------------------------------------------------------------


def push(machine, src: str | Path | None = None, dest: str | None = None, *, session=None,
         progress: Callable[[int], None] | None = None, dest_absolute: bool = False) -> PushResult:
    """Mirror `src` (default: the bundled workloads) to `dest` on the VM (default
    dsvmctl/workloads). `dest` is relative to the VM user's home (`~/x` too) and must stay
    inside it unless `dest_absolute`; an existing directory dsvmctl did not push there is never
    replaced. Incremental and atomic; returns what was sent (the PushSummary, `src`, `machine`)."""
    root, ignore = push_source(src, machine.paths.cache)
    dest = dest or WORKLOADS_DIR
    from ..remote.posix import check_dest

    check_dest(dest, confined=not dest_absolute, windows=is_windows(machine))  # before connecting
    with _session(machine, session) as ssh:
        if hasattr(ssh, "push_tree") and progress is None and not dest_absolute and not is_windows(machine):
            summary = ssh.push_tree(root, dest, ignore, cache_dir=str(machine.paths.cache))  # over the agent's warm connection
        else:
            summary = target(machine, ssh).push(root, dest, ignore, progress=progress, absolute=dest_absolute,
                                                cache_dir=machine.paths.cache)
    return PushResult.of(summary.to_json(), str(root), machine.name)


# -- python ---------------------------------------------------------------------------------------


def find_python(session, machine=None) -> str:
    """The VM's Python that can import torch (see the module docstring for the order)."""
    override = os.environ.get(PYTHON_ENV)
    if override:
        return override
    python, tried = target_for(session, machine.record.os if machine is not None else None).find_python()
    if python:
        return python
    where = f"on {machine.name} " if machine is not None else ""
    raise DsvmctlError(f"no Python with torch found {where}(tried: {'; '.join(tried) or 'no python at all'}); "
                       "the workloads need PyTorch", fix=TORCH_FIX)


# -- run ------------------------------------------------------------------------------------------


def run(machine, workload: str = "transformer", device: str = "auto", args: Sequence[str] = (), *,
        timeout: float | None = None, detach: bool = False, src: str | Path | None = None, push_first: bool = True,
        stdout: Sink = None, stderr: Sink = None, progress: Progress = _quiet) -> RunRecord:
    """Run a workload on the VM: push (incremental; a no-op when nothing changed), find the
    Python with torch, run `train.py` with live output (teed into `<state>/runs/<id>/run.log`).

    Returns the run's RunRecord: its exit_code is the remote one. Ctrl-C or `timeout`
    stops the remote process group (CommandTimeout is raised for a timeout). With `detach`, the
    run is started in its own session on the VM (it survives a lost connection), recorded with
    its pid in the machine's runs.json, and this returns at once (exit_code None).
    """
    if workload not in WORKLOADS:
        raise UsageError(f"unknown workload {workload!r}", fix=f"choose one of {', '.join(WORKLOADS)}")
    if device not in DEVICES:
        raise UsageError(f"unknown device {device!r}", fix=f"choose one of {', '.join(DEVICES)}")
    run_id = new_run_id()
    entry = RunRecord(run_id=run_id, machine=machine.name, cloud=machine.record.cloud, workload=workload,
                      device_requested=device, args=list(args), size=_size_of(machine), started_at=now(),
                      detached=detach)
    with machine.session() as session:
        vm = target(machine, session)
        if push_first:
            progress(f"pushing workloads to {machine.name}")
            pushed = push(machine, src, session=session)
            entry = replace(entry, push={"files_sent": pushed.files_sent, "bytes_sent": pushed.bytes_sent,
                                         "method": pushed.method})
        progress("finding the VM's Python with torch")
        python = find_python(session, machine)
        entry = replace(entry, python=python)
        argv = vm.argv(python, workload, device, run_id, args)
        if detach:
            pid, code, said = vm.detach(argv, run_id)
            if code != 0 or pid is None:
                raise DsvmctlError(f"could not start run {run_id} on {machine.name} (exit {code}): {said or 'no output'}",
                                   fix="check the VM with `dsvmctl exec NAME -- ls dsvmctl/workloads`")
            entry = replace(entry, pid=pid)
            save_run(machine, entry)
            progress(f"run {run_id} started (pid {pid}); follow it with `dsvmctl logs {machine.name} {run_id} "
                     "--follow`")
            return entry
        local_dir = local_run_dir(machine, run_id)
        local_dir.mkdir(parents=True, exist_ok=True)
        log_path = local_dir / "run.log"
        entry = replace(entry, log=str(log_path))
        save_run(machine, entry)
        progress(f"run {run_id}: {workload} on {device} (log {log_path})")
        with open(log_path, "ab") as log:
            out_tee = _Tee(_default(stdout, sys.stdout), log)
            err_tee = _Tee(_default(stderr, sys.stderr), log)
            try:
                code = vm.run(argv, run_id, stdout=out_tee, stderr=err_tee, timeout=timeout)
            except remote_errors.CommandTimeout:
                save_run(machine, replace(entry, exit_code=None, finished_at=now(), stopped="timeout"))
                raise
            except KeyboardInterrupt:
                save_run(machine, replace(entry, exit_code=130, finished_at=now(), stopped="interrupted"))
                raise
    entry = replace(entry, exit_code=code, finished_at=now())
    save_run(machine, entry)
    return entry


def _size_of(machine) -> str | None:
    """The VM size now (None for an attached machine: dsvmctl does not manage its size)."""
    if machine.record.attached:
        return machine.record.size or None
    try:
        return machine.status().size
    except DsvmctlError:
        return None


# -- logs -----------------------------------------------------------------------------------------


def logs(machine, run_id: str | None = None, follow: bool = False, *, stdout: Sink = None,
         stderr: Sink = None) -> RunRecord:
    """Print a run's log. A detached run's log is read on the VM (`follow`: until its process
    ends); a foreground run's log is the local copy teed while it ran. Returns the run's
    RunRecord, with its exit code when known."""
    entry = find_run(machine, run_id)
    rid = entry.run_id
    local_log = local_run_dir(machine, rid) / "run.log"
    out = sink(_default(stdout, sys.stdout))
    if not entry.detached and local_log.is_file() and not entry.unknown_locally:
        out(local_log.read_bytes())
        return entry
    with machine.session() as session:
        vm = target(machine, session)
        code = vm.logs(rid, entry.pid, follow, stdout=out, stderr=_default(stderr, sys.stderr))
        if code == NO_LOG:
            raise RunNotFound(f"no log for run {rid} on {machine.name}",
                              fix=f"list the runs with `dsvmctl exec {machine.name} -- ls {RUNS_DIR}`")
        if code != 0:
            raise DsvmctlError(f"reading the log of run {rid} failed (exit {code})")
        exit_code = vm.exit_code(rid)
    if exit_code is not None:
        entry = replace(entry, exit_code=exit_code)
        if not entry.unknown_locally:
            save_run(machine, entry)
    return entry


# -- collect --------------------------------------------------------------------------------------


def collect(machine, run_id: str | None = None, dest: str | Path | None = None, *,
            limits: FetchLimits = DEFAULT_LIMITS) -> CollectResult:
    """Fetch `dsvmctl/runs/<id>/` (metrics JSON, logs) into `<state>/runs/<id>/` (or `dest`) and
    write run.json there: run id, machine, cloud, size, when, and the device the metrics say ran.
    The VM is not trusted: only regular files and directories within `limits` are written, each
    below the destination (an UnsafeArchive error names the first entry refused)."""
    entry = find_run(machine, run_id)
    rid = entry.run_id
    target_dir = Path(dest).expanduser() if dest else local_run_dir(machine, rid)
    target_dir.mkdir(parents=True, exist_ok=True)
    with machine.session() as session:
        vm = target(machine, session)
        try:
            if hasattr(session, "fetch_tree") and not is_windows(machine):  # over the agent's warm connection
                fetched = session.fetch_tree(vm.path(RUNS_DIR, rid, "."), target_dir, limits)
            else:
                fetched = vm.fetch_run(rid, target_dir, limits)
        except remote_errors.RemotePathNotFound:
            raise RunNotFound(f"run {rid} left nothing on {machine.name} (no {RUNS_DIR}/{rid}/)",
                              fix=f"check the run's log: dsvmctl logs {machine.name} {rid}") from None
        exit_code = vm.exit_code(rid)
    if exit_code is not None:
        entry = replace(entry, exit_code=exit_code)
    local_log = local_run_dir(machine, rid) / "run.log"
    if dest and local_log.is_file() and not (target_dir / "run.log").exists():
        (target_dir / "run.log").write_bytes(local_log.read_bytes())
    metrics_path = target_dir / "metrics.json"
    metrics = _read_metrics(metrics_path)
    size_now = _size_of(machine)
    result = CollectResult(
        run_id=rid, machine=machine.name, cloud=machine.record.cloud, size=entry.size or size_now, size_now=size_now,
        workload=entry.workload, device_requested=entry.device_requested,
        # What torch reported: never the requested device, never the size's GPU.
        device=metrics.get("device") if metrics else None, device_name=metrics.get("device_name") if metrics else None,
        exit_code=entry.exit_code, started_at=entry.started_at, finished_at=entry.finished_at, collected_at=now(),
        args=entry.args, python=entry.python, dir=str(target_dir),
        metrics=str(metrics_path) if metrics is not None else None, run_json=str(target_dir / "run.json"),
        files=[], fetch=fetched)
    run_json = target_dir / "run.json"
    if run_json.is_symlink() or (run_json.exists() and not run_json.is_file()):
        raise UnsafeArchive("run.json", "not a regular file where dsvmctl writes its run.json")
    run_json.write_text(json.dumps(result.run_info(), indent=2) + "\n")
    if not entry.unknown_locally:
        save_run(machine, replace(entry, collected_to=str(target_dir)))
    return replace(result, files=sorted(str(p) for p in target_dir.rglob("*") if p.is_file()))


def _read_metrics(path: Path) -> dict[str, Any] | None:
    """The run's metrics as train.py writes them; None when absent, too big or not that shape
    (they come from the VM: what torch reported there, or what a broken VM sent)."""
    if not path.is_file() or path.stat().st_size > MAX_METRICS_BYTES:
        return None
    try:
        metrics = json.loads(path.read_bytes())
    except ValueError:
        return None
    return metrics if isinstance(metrics, dict) else None


def fetch_windows(session, remote_dir: str, target_dir: Path) -> dict[str, Any]:
    """A run directory from a Windows host (its contents into target_dir), checked as on Linux."""
    from ..remote.sync import fetch_windows as fetch_dir

    return fetch_dir(session, remote_dir, target_dir).to_json()


# -- attach ---------------------------------------------------------------------------------------


def attach(store, name: str, host: str, port: int = 22, user: str = "azureuser", identity: str | Path = "",
           host_key_fingerprint: str = "", os_type: str = "auto"):
    """Register an existing machine (a DSVM made in the portal, any SSH host) under `name`.

    Connects once, pinning `host_key_fingerprint` ("SHA256:...", as `ssh-keygen -lf` prints it);
    then stores the full host key it verified, so later connections pin the key itself, as for
    machines dsvmctl created. The record is `attached`: `down` forgets it, never deletes it.
    """
    from ..remote import connect
    from ..remote.hostkeys import normalize_fingerprint
    from .machines import MachineRecord

    if store.load(name) is not None:
        raise UsageError(f"a machine named {name!r} is already on record for the {store.cloud} cloud",
                         fix=f"pick another name, or `dsvmctl down {name}` first (an attached one is only forgotten)")
    try:
        fingerprint = normalize_fingerprint(host_key_fingerprint)
    except ValueError as err:
        raise UsageError(str(err), fix="pass the host key fingerprint as `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_"
                                       "key.pub` prints it on the VM (SHA256:...)") from None
    key_path = Path(identity).expanduser().resolve()
    if not key_path.is_file():
        raise UsageError(f"SSH private key not found: {key_path}", fix="pass --identity with your private key file")
    if os_type not in ("auto", "linux", "windows"):
        raise UsageError(f"unknown os {os_type!r}", fix="use auto, linux or windows")
    from ..remote.sync import run_script

    with connect(host, port, user, str(key_path), host_key_fingerprint=fingerprint, retries=2) as session:
        server_key = session.transport.get_remote_server_key()
        host_public_key = f"{server_key.get_name()} {server_key.get_base64()}"
        if os_type == "auto":
            code, out, _ = run_script(session, "uname -s")
            os_type = "linux" if code == 0 and out.strip() else "windows"
    record = MachineRecord(name=name, cloud=store.cloud, resource_group="", location="", os=os_type,
                           admin_user=user, size="", gpu_size=None, image="", host_public_key=host_public_key,
                           key_path=str(key_path), created_at=now(), attached=True, ssh_host=host, ssh_port=port,
                           extra={"host_key_fingerprint": fingerprint})
    store.save(record)
    return record
