"""Remote execution on a Machine: push the workloads, run one, stream it, reattach, collect.

    from dsvmctl import Cloud
    from dsvmctl.cloud import workload

    machine = Cloud.local().machine("lab")
    workload.push(machine)                                   # bundled workloads -> ~/dsvmctl/workloads
    result = workload.run(machine, "cnn", args=["--steps", "3"])   # streams; result["exit_code"]
    workload.collect(machine)                                # ~/dsvmctl/runs/<id>/ -> <state>/runs/<id>/

Layout on the VM (relative to the admin user's home, so it is the same on every image):

    dsvmctl/workloads/        the pushed tree (atomic, incremental: see dsvmctl.remote.sync)
    dsvmctl/runs/<run_id>/    metrics.json; run.log and exit_code for detached runs

Locally, under the state directory: `runs/<run_id>/` (run.log teed from the live stream, then
what `collect` fetched, and run.json), and `machines/<cloud>/<name>/runs.json`, the runs started
on that machine (id, pid for detached runs, exit code once known).

The Python that runs the workload is found on the VM (`find_python`): `DSVMCTL_REMOTE_PYTHON`
(set on the machine running dsvmctl) wins; else the DSVM's conda environments are probed, then
`python3` and `python`, and the first one that can `import torch` is used.

Windows machines (record.os == "windows") get PowerShell command lines built with
`dsvmctl.remote.windows`; the builders are unit-tested, not run against a Windows host.
"""

from __future__ import annotations

import json
import os
import posixpath
import secrets
import select
import shlex
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Sequence

from ..errors import DsvmctlError, UsageError
from ..remote import errors as remote_errors
from ..remote import windows as win

WORKLOADS = ("transformer", "cnn")
DEVICES = ("auto", "cpu", "cuda")
REMOTE_ROOT = "dsvmctl"
WORKLOADS_DIR = "dsvmctl/workloads"
RUNS_DIR = "dsvmctl/runs"
PYTHON_ENV = "DSVMCTL_REMOTE_PYTHON"
# The bundled tree is pushed without byte-code caches (a test or an editable install leaves them).
BUNDLED_IGNORE = "__pycache__/\n*.pyc\n*.pyo\n"
PYTHON_MARK = "dsvmctl-python:"
PID_MARK = "dsvmctl-run-pid:"  # a detached run's pid, printed by the start command
KILL_MARK = "dsvmctl-pid:"  # first stdout line of a Windows foreground run: the tree to end on Ctrl-C
TORCH_FIX = ("pip install torch on the VM, or choose a DSVM image (it ships conda environments with torch), "
             f"or point {PYTHON_ENV} at the VM's Python")

Sink = Any  # None, a callback f(bytes), a binary or text stream
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


class RunNotFound(UsageError):
    """No run with that id on record (or no run at all) for the machine."""


# -- where things live ---------------------------------------------------------------------------


def state_home_of(machine) -> Path:
    """The state root the machine's store lives in (`<state>/machines/<cloud>` -> `<state>`)."""
    return Path(machine.store.root).parents[1]


def local_run_dir(machine, run_id: str) -> Path:
    return state_home_of(machine) / "runs" / run_id


def is_windows(machine) -> bool:
    return (machine.record.os or "").lower() == "windows"


def remote_path(machine, *parts: str) -> str:
    """A home-relative path on the VM, with the VM's separator."""
    path = posixpath.join(*parts)
    return path.replace("/", "\\") if is_windows(machine) else path


def bundled_workloads() -> Path:
    """The shipped workloads directory (package data `dsvmctl.workloads`), as a real path."""
    from importlib.resources import files

    root = files("dsvmctl.workloads")
    path = Path(str(root))
    if not (path / "train.py").is_file():  # pragma: no cover - zipped installs are not supported
        raise DsvmctlError(f"the bundled workloads are not a directory on disk ({root})",
                           fix="install dsvmctl from a wheel or a source checkout (not a zip)")
    return path


def new_run_id() -> str:
    """UTC timestamp + short random suffix: sorts by time, unique across workstations."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# -- the runs a machine has seen -------------------------------------------------------------------


def _runs_file(machine) -> Path:
    return machine.store.dir(machine.name) / "runs.json"


def load_runs(machine) -> list[dict[str, Any]]:
    path = _runs_file(machine)
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text()).get("runs", []))
    except (ValueError, AttributeError):
        return []


def _save_run(machine, entry: dict[str, Any]) -> None:
    runs = [r for r in load_runs(machine) if r.get("run_id") != entry["run_id"]] + [entry]
    path = _runs_file(machine)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"runs": runs}, indent=2))
    tmp.replace(path)


def find_run(machine, run_id: str | None) -> dict[str, Any]:
    """The run on record with that id (a unique prefix will do), or the latest one."""
    runs = load_runs(machine)
    if run_id is None:
        if not runs:
            raise RunNotFound(f"no run on record for {machine.name}",
                              fix=f"start one with `dsvmctl run {machine.name}`, or name a run id")
        return runs[-1]
    matches = [r for r in runs if r.get("run_id", "").startswith(run_id)]
    exact = [r for r in matches if r["run_id"] == run_id]
    if exact or len(matches) == 1:
        return (exact or matches)[0]
    if len(matches) > 1:
        raise RunNotFound(f"run id {run_id!r} is ambiguous on {machine.name}: "
                          + ", ".join(r["run_id"] for r in matches), fix="give more of the id")
    # Not started from here (another workstation?): still reachable on the VM by its id.
    return {"run_id": run_id, "machine": machine.name, "unknown_locally": True}


# -- streams --------------------------------------------------------------------------------------


def _feed(target: Sink) -> Callable[[bytes], None]:
    from ..remote.session import _sink

    return _sink(target)


class _Tee:
    """Feed bytes to the caller's sink and to the local log file."""

    def __init__(self, target: Sink, log: IO[bytes]):
        self.feed, self.log = _feed(target), log

    def __call__(self, data: bytes) -> None:
        self.log.write(data)
        self.log.flush()
        self.feed(data)


def _default(stream: Sink, fallback: IO[Any]) -> Sink:
    return stream if stream is not None else getattr(fallback, "buffer", fallback)


@contextmanager
def _session(machine, session=None) -> Iterator[Any]:
    if session is not None:
        yield session
        return
    with machine.session() as opened:
        yield opened


# -- command builders (pure: unit-tested for both systems) -------------------------------------------


def posix_find_python_script() -> str:
    """Probe order: every conda environment, the DSVM's /anaconda envs and base, python3, python.
    Prints `dsvmctl-python:<path>` for the first that imports torch; `tried: ...` on stderr."""
    return r"""for conda in conda /anaconda/bin/conda /opt/conda/bin/conda "$HOME/miniconda3/bin/conda"; do
  command -v "$conda" >/dev/null 2>&1 || continue
  envs=$("$conda" env list 2>/dev/null | awk '!/^#/ && NF { print $NF "/bin/python" }')
  break
done
for py in $envs /anaconda/envs/*/bin/python /anaconda/bin/python /opt/conda/bin/python python3 python; do
  case "$py" in *'*'*) continue ;; esac
  command -v "$py" >/dev/null 2>&1 || continue
  if "$py" -c 'import torch' >/dev/null 2>&1; then
    printf '%s%s\n' '""" + PYTHON_MARK + r"""' "$(command -v "$py")"
    exit 0
  fi
  echo "tried: $py (no torch)" >&2
done
exit 3
"""


def windows_find_python_script() -> str:
    """The same probe on a Windows DSVM (conda envs, C:\\anaconda, python3, python)."""
    script = r"""$ErrorActionPreference = 'Continue'
$cands = @()
foreach ($conda in @('conda', 'C:\anaconda\Scripts\conda.exe')) {
  if (Get-Command $conda -ErrorAction SilentlyContinue) {
    $cands += & $conda env list 2>$null | Where-Object { $_ -notmatch '^#' -and $_.Trim() } |
      ForEach-Object { Join-Path (($_.Trim() -split '\s+')[-1]) 'python.exe' }
    break
  }
}
$cands += @(Get-ChildItem 'C:\anaconda\envs\*\python.exe' -ErrorAction SilentlyContinue | ForEach-Object { $_.FullName })
$cands += @('C:\anaconda\python.exe', 'python3', 'python')
foreach ($py in $cands) {
  if (-not (Get-Command $py -ErrorAction SilentlyContinue)) { continue }
  & $py -c 'import torch' *> $null
  if ($LASTEXITCODE -eq 0) { '""" + PYTHON_MARK + r"""' + (Get-Command $py).Source; exit 0 }
  [Console]::Error.WriteLine("tried: $py (no torch)")
}
exit 3"""
    return win.encode_powershell(script)


def train_argv(workload: str, device: str, run_id: str, args: Sequence[str], *, windows: bool = False) -> list[str]:
    """train.py's arguments; the metrics go to ../runs/<id>/metrics.json (cwd: the workloads dir)."""
    sep = "\\" if windows else "/"
    out = sep.join(["..", "runs", run_id, "metrics.json"])
    return ["train.py", "--model", workload, "--device", device, "--out", out, *args]


def posix_run_command(python: str, workload: str, device: str, run_id: str, args: Sequence[str]) -> str:
    """Foreground run: `exec` keeps the shell's pid, so the Session's process-group stop reaches it."""
    argv = shlex.join([python, *train_argv(workload, device, run_id, args)])
    run_dir = posixpath.join(RUNS_DIR, run_id)
    return f"mkdir -p -- {shlex.quote(run_dir)} && cd -- {shlex.quote(WORKLOADS_DIR)} && exec {argv}"


def posix_detach_command(python: str, workload: str, device: str, run_id: str, args: Sequence[str]) -> str:
    """Detached run: its own session (setsid), immune to hang-ups (nohup), output to run.log, exit
    status to exit_code when it ends. Prints `dsvmctl-run-pid:<pid>` (the new session's id)."""
    argv = shlex.join([python, *train_argv(workload, device, run_id, args)])
    rel = posixpath.join("..", "runs", run_id)
    inner = f"{argv}; echo $? > {shlex.quote(rel + '/exit_code')}"
    run_dir = posixpath.join(RUNS_DIR, run_id)
    return (f"mkdir -p -- {shlex.quote(run_dir)} && cd -- {shlex.quote(WORKLOADS_DIR)} || exit 1\n"
            f"nohup setsid sh -c {shlex.quote(inner)} > {shlex.quote(rel + '/run.log')} 2>&1 < /dev/null &\n"
            f"printf '{PID_MARK}%s\\n' \"$!\"")


def posix_logs_command(run_id: str, pid: int | None, follow: bool) -> str:
    log = shlex.quote(posixpath.join(RUNS_DIR, run_id, "run.log"))
    missing = f"[ -f {log} ] || {{ echo \"no log for run {run_id} on this VM\" >&2; exit 4; }}\n"
    if follow and pid:
        return missing + f"exec tail -n +1 -f --pid={int(pid)} {log}"
    return missing + f"exec cat -- {log}"


def posix_exit_code_command(run_id: str) -> str:
    """Prints the run's exit status, `running` while its pid lives, or nothing."""
    code = shlex.quote(posixpath.join(RUNS_DIR, run_id, "exit_code"))
    return f"cat -- {code} 2>/dev/null || true"


def _ps_args(values: Sequence[str]) -> str:
    return " ".join(win.ps_quote(v) for v in values)


def windows_run_command(python: str, workload: str, device: str, run_id: str, args: Sequence[str]) -> str:
    """Foreground run in PowerShell; the first stdout line carries its pid so a timeout or Ctrl-C
    can end the process tree (`taskkill /T`: Windows has no process groups)."""
    argv = train_argv(workload, device, run_id, args, windows=True)
    run_dir = win.win_join(*RUNS_DIR.split("/"), run_id)
    script = (f"'{KILL_MARK}' + $PID\n"
              f"New-Item -ItemType Directory -Force -Path {win.ps_quote(run_dir)} | Out-Null\n"
              f"Set-Location -LiteralPath {win.ps_quote(win.win_join(*WORKLOADS_DIR.split('/')))}\n"
              f"& {win.ps_quote(python)} {_ps_args(argv)}\n"
              "exit $LASTEXITCODE")
    return win.encode_powershell(script)


def windows_detach_command(python: str, workload: str, device: str, run_id: str, args: Sequence[str]) -> str:
    """Detached run: a hidden PowerShell started with Start-Process outlives the SSH session; it
    runs train.py with output to run.log / run.err.log and writes exit_code when done."""
    argv = train_argv(workload, device, run_id, args, windows=True)
    inner = (f"Set-Location -LiteralPath {win.ps_quote(win.win_join(*WORKLOADS_DIR.split('/')))}\n"
             f"& {win.ps_quote(python)} {_ps_args(argv)}\n"
             f"Set-Content -LiteralPath {win.ps_quote(win.win_join('..', 'runs', run_id, 'exit_code'))} "
             "-Value $LASTEXITCODE\n"
             "exit $LASTEXITCODE")
    inner_line = win.encode_powershell(inner)
    encoded = inner_line.rsplit(" ", 1)[-1]
    run_dir = win.win_join(*RUNS_DIR.split("/"), run_id)
    script = (f"$run = Join-Path (Get-Location).Path {win.ps_quote(run_dir)}\n"
              "New-Item -ItemType Directory -Force -Path $run | Out-Null\n"
              "$p = Start-Process -FilePath 'powershell.exe' -WindowStyle Hidden -PassThru "
              "-WorkingDirectory (Get-Location).Path "
              f"-ArgumentList @('-NoLogo', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', "
              f"'-EncodedCommand', '{encoded}') "
              "-RedirectStandardOutput (Join-Path $run 'run.log') "
              "-RedirectStandardError (Join-Path $run 'run.err.log')\n"
              f"'{PID_MARK}' + $p.Id")
    return win.encode_powershell(script)


def windows_logs_command(run_id: str, pid: int | None, follow: bool) -> str:
    log = win.win_join(*RUNS_DIR.split("/"), run_id, "run.log")
    err = win.win_join(*RUNS_DIR.split("/"), run_id, "run.err.log")
    head = (f"$log = {win.ps_quote(log)}\n$err = {win.ps_quote(err)}\n"
            f"if (-not (Test-Path -LiteralPath $log)) {{ [Console]::Error.WriteLine('no log for run {run_id} on "
            "this VM'); exit 4 }\n")
    if not (follow and pid):
        return win.encode_powershell(head + "Get-Content -Raw -LiteralPath $log\n"
                                     "if (Test-Path -LiteralPath $err) { Get-Content -Raw -LiteralPath $err }\nexit 0")
    script = head + f"""$stream = [System.IO.File]::Open($log, 'Open', 'Read', 'ReadWrite')
$reader = New-Object System.IO.StreamReader($stream)
do {{
  $alive = Get-Process -Id {int(pid)} -ErrorAction SilentlyContinue
  $text = $reader.ReadToEnd()
  if ($text) {{ [Console]::Out.Write($text) }}
  if ($alive) {{ Start-Sleep -Milliseconds 500 }}
}} while ($alive)
[Console]::Out.Write($reader.ReadToEnd())
$reader.Close()
if (Test-Path -LiteralPath $err) {{ Get-Content -Raw -LiteralPath $err }}
exit 0"""
    return win.encode_powershell(script)


def windows_exit_code_command(run_id: str) -> str:
    path = win.win_join(*RUNS_DIR.split("/"), run_id, "exit_code")
    return win.encode_powershell(f"if (Test-Path -LiteralPath {win.ps_quote(path)}) "
                                 f"{{ (Get-Content -Raw -LiteralPath {win.ps_quote(path)}).Trim() }}\nexit 0")


def commands_for(machine) -> dict[str, Callable[..., str]]:
    """The builders for the machine's system."""
    if is_windows(machine):
        return {"find_python": windows_find_python_script, "run": windows_run_command,
                "detach": windows_detach_command, "logs": windows_logs_command,
                "exit_code": windows_exit_code_command}
    return {"find_python": posix_find_python_script, "run": posix_run_command, "detach": posix_detach_command,
            "logs": posix_logs_command, "exit_code": posix_exit_code_command}


# -- executing (Linux: the Session's wrapper; Windows: a raw channel, cmd.exe runs the line) -----------


def _exec(machine, session, command: str, *, stdout: Sink = None, stderr: Sink = None,
          timeout: float | None = None) -> int:
    if not is_windows(machine):
        return session.exec(command, stdout=stdout, stderr=stderr, timeout=timeout)
    return exec_windows(session, command, stdout=stdout, stderr=stderr, timeout=timeout)


def _run(machine, session, command: str, timeout: float | None = None) -> tuple[int, str, str]:
    out, err = bytearray(), bytearray()
    code = _exec(machine, session, command, stdout=out.extend, stderr=err.extend, timeout=timeout)
    return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def exec_windows(session, command: str, *, stdout: Sink = None, stderr: Sink = None,
                 timeout: float | None = None) -> int:
    """Run a cmd.exe line on a Windows host, streaming output. If its first stdout line is
    `dsvmctl-pid:<pid>` (the foreground run script prints it), a timeout or Ctrl-C ends that process
    tree with taskkill /T before the error is raised; other commands just lose their channel."""
    feed_out, feed_err = _feed(stdout), _feed(stderr)
    channel = session.open_exec(command)
    channel.shutdown_write()
    deadline = None if timeout is None else time.monotonic() + timeout
    pid: int | None = None
    head: bytes | None = b""
    try:
        while True:
            progressed = False
            if channel.recv_ready():
                data = channel.recv(2**18)
                progressed = True
                if head is not None:
                    head += data
                    if b"\n" in head or len(head) > 64:
                        pid, rest = _split_pid(head)
                        head = None
                        if rest:
                            feed_out(rest)
                else:
                    feed_out(data)
            if channel.recv_stderr_ready():
                feed_err(channel.recv_stderr(2**18))
                progressed = True
            if progressed:
                continue
            if channel.exit_status_ready() and (channel.eof_received or channel.closed):
                break
            if channel.closed or not session.transport.is_active():
                if channel.exit_status_ready():
                    break
                raise remote_errors.SessionClosed(f"the remote command {command[:60]!r}")
            wait = 0.2
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    killed = _taskkill(session, pid)
                    raise remote_errors.CommandTimeout(command[:60], timeout or 0, killed)
                wait = min(wait, remaining)
            select.select([channel], [], [], wait)
    except KeyboardInterrupt:
        _taskkill(session, pid)
        raise
    finally:
        channel.close()
    if head:
        feed_out(_split_pid(head)[1])
    return channel.recv_exit_status()


def _split_pid(head: bytes) -> tuple[int | None, bytes]:
    line, sep, rest = head.partition(b"\n")
    text = line.strip().decode("ascii", "replace")
    if sep and text.startswith(KILL_MARK) and text[len(KILL_MARK):].isdigit():
        return int(text[len(KILL_MARK):]), rest
    return None, head


def _taskkill(session, pid: int | None) -> bool:
    if pid is None or not session.transport.is_active():
        return False
    try:
        channel = session.open_exec(win.stop_process_tree(pid))
        channel.settimeout(15)
        channel.recv_exit_status()
        channel.close()
        return True
    except Exception:  # noqa: BLE001 - best effort: the error being raised says what happened
        return False


# -- push -----------------------------------------------------------------------------------------


def push(machine, src: str | Path | None = None, dest: str | None = None, *, session=None,
         progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Mirror `src` (default: the bundled workloads) to `dest` on the VM (default
    dsvmctl/workloads under the remote home). Incremental and atomic; returns the PushSummary
    as a dict, plus `src`."""
    bundled = src is None
    root = bundled_workloads() if bundled else Path(src).expanduser()
    if not root.is_dir():
        raise UsageError(f"nothing to push: {root} is not a directory", fix="give a directory to push")
    dest = dest or WORKLOADS_DIR
    ignore: str | None = ".dsvmignore"
    if bundled:
        # An absolute ignore file path wins over the tree's own (pathlib joins it as given).
        rules = state_home_of(machine) / "cache" / "bundled.dsvmignore"
        if not rules.is_file() or rules.read_text() != BUNDLED_IGNORE:
            rules.parent.mkdir(parents=True, exist_ok=True)
            rules.write_text(BUNDLED_IGNORE)
        ignore = str(rules)
    with _session(machine, session) as ssh:
        if is_windows(machine):
            summary = push_windows(ssh, root, dest.replace("/", "\\"), ignore, progress=progress)
        elif hasattr(ssh, "push_tree") and progress is None:
            summary = ssh.push_tree(root, dest, ignore)  # the agent pushes over its warm connection
        else:
            from ..remote.sync import push as sync_push

            summary = sync_push(ssh, root, dest, ignore, progress=progress)
    return {**summary.to_json(), "src": str(root), "machine": machine.name}


def push_windows(session, root: Path, dest: str, ignore_file: str | None, *,
                 progress: Callable[[int], None] | None = None):
    """A push to a Windows host: read the stored manifest, stage (robocopy copy + deletions),
    send the changed files as one tar to tar.exe, swap (see `dsvmctl.remote.windows`)."""
    from ..remote import sync
    from ..remote.ignore import IgnoreRules
    from ..remote.manifest import HashCache, Manifest, plan, scan

    started = time.monotonic()
    rules = IgnoreRules.from_file(root / ignore_file) if ignore_file else IgnoreRules()
    local = scan(root, rules, HashCache(None))
    code, out, err = sync._run_bytes(session, win.read_manifest(dest))
    if code != 0:
        raise remote_errors.TransferError(f"cannot inspect {dest} on the VM (exit {code}): {sync._tail(err)}")
    tar_line, _, manifest = out.partition(b"\n")
    if tar_line.strip() != b"tar=1":
        raise remote_errors.TransferError("the Windows VM has no tar.exe (Windows 10 1803 / Server 2019 or later "
                                          "ship it); install it or push with scp")
    remote = Manifest.from_bytes(manifest) if manifest.strip() else Manifest()
    work = plan(local, remote, root)
    files = sum(1 for p in work.send if local.entries[p].kind == "file")
    if not work.send and not work.delete:
        return sync.PushSummary(dest, 0, 0, 0, work.unchanged, time.monotonic() - started, "none")
    push_id = uuid.uuid4().hex[:12]
    deletions = b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in work.delete)
    code, _, err = sync._run_bytes(session, win.prepare_push(dest, push_id), stdin=deletions)
    if code != 0:
        sync._raise_transfer(dest, code, err)
    channel = session.open_exec(win.extract_tar(dest, push_id))
    counter, stderr = sync._Counter(), bytearray()
    try:
        sent = 0
        for chunk in sync._tar_stream(root, local, work.send, HashCache(None), counter):
            channel.sendall(memoryview(chunk))
            sent += len(chunk)
            if progress:
                progress(sent)
        channel.shutdown_write()
        code = sync._finish(channel, stderr, session, f"the push to {dest}")
    finally:
        channel.close()
    if code != 0:
        sync._raise_transfer(dest, code, bytes(stderr))
    return sync.PushSummary(dest, files, counter.file_bytes, len(work.delete), work.unchanged,
                            time.monotonic() - started, "tar")


# -- python ---------------------------------------------------------------------------------------


def find_python(session, machine=None) -> str:
    """The VM's Python that can import torch (see the module docstring for the order)."""
    override = os.environ.get(PYTHON_ENV)
    if override:
        return override
    windows = machine is not None and is_windows(machine)
    script = windows_find_python_script() if windows else posix_find_python_script()
    if windows:
        code, out, err = _run(machine, session, script, timeout=300)
    else:
        code, out, err = session.run(script, timeout=300)
    for line in out.splitlines():
        if line.startswith(PYTHON_MARK):
            return line[len(PYTHON_MARK):].strip()
    tried = "; ".join(line.removeprefix("tried: ") for line in err.splitlines() if line.startswith("tried:"))
    where = f"on {machine.name} " if machine is not None else ""
    raise DsvmctlError(f"no Python with torch found {where}(tried: {tried or 'no python at all'}); the workloads "
                       "need PyTorch", fix=TORCH_FIX)


# -- run ------------------------------------------------------------------------------------------


def run(machine, workload: str = "transformer", device: str = "auto", args: Sequence[str] = (), *,
        timeout: float | None = None, detach: bool = False, src: str | Path | None = None, push_first: bool = True,
        stdout: Sink = None, stderr: Sink = None, progress: Progress = _quiet) -> dict[str, Any]:
    """Run a workload on the VM: push (incremental; a no-op when nothing changed), find the
    Python with torch, run `train.py` with live output (teed into `<state>/runs/<id>/run.log`).

    Returns {run_id, exit_code, ...}: the remote exit code is the run's. Ctrl-C or `timeout`
    stops the remote process group (CommandTimeout is raised for a timeout). With `detach`, the
    run is started in its own session on the VM (it survives a lost connection), recorded with
    its pid in the machine's runs.json, and this returns at once (exit_code None).
    """
    if workload not in WORKLOADS:
        raise UsageError(f"unknown workload {workload!r}", fix=f"choose one of {', '.join(WORKLOADS)}")
    if device not in DEVICES:
        raise UsageError(f"unknown device {device!r}", fix=f"choose one of {', '.join(DEVICES)}")
    run_id = new_run_id()
    builders = commands_for(machine)
    entry: dict[str, Any] = {"run_id": run_id, "machine": machine.name, "cloud": machine.record.cloud,
                             "workload": workload, "device_requested": device, "args": list(args),
                             "size": _size_of(machine), "started_at": _now(), "detached": detach,
                             "pid": None, "exit_code": None}
    with machine.session() as session:
        if push_first:
            progress(f"pushing workloads to {machine.name}")
            pushed = push(machine, src, session=session)
            entry["push"] = {k: pushed[k] for k in ("files_sent", "bytes_sent", "method")}
        progress("finding the VM's Python with torch")
        python = find_python(session, machine)
        entry["python"] = python
        if detach:
            code, out, err = _run(machine, session, builders["detach"](python, workload, device, run_id, args),
                                  timeout=60)
            pid = next((int(line[len(PID_MARK):]) for line in out.splitlines()
                        if line.startswith(PID_MARK) and line[len(PID_MARK):].strip().isdigit()), None)
            if code != 0 or pid is None:
                raise DsvmctlError(f"could not start run {run_id} on {machine.name} (exit {code}): "
                                   f"{err.strip() or out.strip() or 'no output'}",
                                   fix="check the VM with `dsvmctl exec NAME -- ls dsvmctl/workloads`")
            entry["pid"] = pid
            _save_run(machine, entry)
            progress(f"run {run_id} started (pid {pid}); follow it with `dsvmctl logs {machine.name} {run_id} "
                     "--follow`")
            return entry
        local_dir = local_run_dir(machine, run_id)
        local_dir.mkdir(parents=True, exist_ok=True)
        log_path = local_dir / "run.log"
        entry["log"] = str(log_path)
        _save_run(machine, entry)
        progress(f"run {run_id}: {workload} on {device} (log {log_path})")
        with open(log_path, "ab") as log:
            out_tee = _Tee(_default(stdout, sys.stdout), log)
            err_tee = _Tee(_default(stderr, sys.stderr), log)
            command = builders["run"](python, workload, device, run_id, args)
            try:
                code = _exec(machine, session, command, stdout=out_tee, stderr=err_tee, timeout=timeout)
            except remote_errors.CommandTimeout:
                entry.update(exit_code=None, finished_at=_now(), stopped="timeout")
                _save_run(machine, entry)
                raise
            except KeyboardInterrupt:
                entry.update(exit_code=130, finished_at=_now(), stopped="interrupted")
                _save_run(machine, entry)
                raise
    entry.update(exit_code=code, finished_at=_now())
    _save_run(machine, entry)
    return entry


def _size_of(machine) -> str | None:
    """The VM size now (None for an attached machine: dsvmctl does not manage its size)."""
    if machine.record.attached:
        return machine.record.size or None
    try:
        return machine.status().get("size")
    except DsvmctlError:
        return None


# -- logs -----------------------------------------------------------------------------------------


def logs(machine, run_id: str | None = None, follow: bool = False, *, stdout: Sink = None,
         stderr: Sink = None) -> dict[str, Any]:
    """Print a run's log. A detached run's log is read on the VM (`follow`: until its process
    ends); a foreground run's log is the local copy teed while it ran. Returns the run's entry
    with its exit code when known."""
    entry = find_run(machine, run_id)
    rid = entry["run_id"]
    local_log = local_run_dir(machine, rid) / "run.log"
    out = _feed(_default(stdout, sys.stdout))
    if not entry.get("detached") and local_log.is_file() and not entry.get("unknown_locally"):
        out(local_log.read_bytes())
        return entry
    builders = commands_for(machine)
    with machine.session() as session:
        code = _exec(machine, session, builders["logs"](rid, entry.get("pid"), follow),
                     stdout=out, stderr=_default(stderr, sys.stderr))
        if code == 4:
            raise RunNotFound(f"no log for run {rid} on {machine.name}",
                              fix=f"list the runs with `dsvmctl exec {machine.name} -- ls {RUNS_DIR}`")
        if code != 0:
            raise DsvmctlError(f"reading the log of run {rid} failed (exit {code})")
        status, text, _ = _run(machine, session, builders["exit_code"](rid))
    text = text.strip()
    if status == 0 and text.lstrip("-").isdigit():
        entry["exit_code"] = int(text)
        if not entry.get("unknown_locally"):
            _save_run(machine, {**entry})
    return entry


# -- collect --------------------------------------------------------------------------------------


def collect(machine, run_id: str | None = None, dest: str | Path | None = None) -> dict[str, Any]:
    """Fetch `dsvmctl/runs/<id>/` (metrics JSON, logs) into `<state>/runs/<id>/` (or `dest`) and
    write run.json there: run id, machine, cloud, size, when, and the device the metrics say ran."""
    entry = find_run(machine, run_id)
    rid = entry["run_id"]
    target = Path(dest).expanduser() if dest else local_run_dir(machine, rid)
    target.mkdir(parents=True, exist_ok=True)
    with machine.session() as session:
        if is_windows(machine):
            fetched = fetch_windows(session, remote_path(machine, RUNS_DIR, rid), target)
        else:
            from ..remote.sync import fetch

            try:
                # "<dir>/." puts the directory's contents straight into target.
                fetched = fetch(session, posixpath.join(RUNS_DIR, rid, "."), target).to_json()
            except remote_errors.RemotePathNotFound:
                raise RunNotFound(f"run {rid} left nothing on {machine.name} (no {RUNS_DIR}/{rid}/)",
                                  fix=f"check the run's log: dsvmctl logs {machine.name} {rid}") from None
        status, text, _ = _run(machine, session, commands_for(machine)["exit_code"](rid))
    if status == 0 and text.strip().lstrip("-").isdigit():
        entry["exit_code"] = int(text.strip())
    local_log = local_run_dir(machine, rid) / "run.log"
    if dest and local_log.is_file() and not (target / "run.log").exists():
        (target / "run.log").write_bytes(local_log.read_bytes())
    metrics_path = target / "metrics.json"
    metrics = None
    if metrics_path.is_file():
        try:
            metrics = json.loads(metrics_path.read_text())
        except ValueError:
            metrics = None
    info = {
        "run_id": rid,
        "machine": machine.name,
        "cloud": machine.record.cloud,
        "size": entry.get("size") or _size_of(machine),
        "size_now": _size_of(machine),
        "workload": entry.get("workload"),
        "device_requested": entry.get("device_requested"),
        # What torch reported: never the requested device, never the size's GPU.
        "device": metrics.get("device") if metrics else None,
        "device_name": metrics.get("device_name") if metrics else None,
        "exit_code": entry.get("exit_code"),
        "started_at": entry.get("started_at"),
        "finished_at": entry.get("finished_at"),
        "collected_at": _now(),
        "args": entry.get("args"),
        "python": entry.get("python"),
    }
    (target / "run.json").write_text(json.dumps(info, indent=2) + "\n")
    if not entry.get("unknown_locally"):
        _save_run(machine, {**entry, "collected_to": str(target)})
    files = sorted(str(p) for p in target.rglob("*") if p.is_file())
    return {**info, "dir": str(target), "metrics": str(metrics_path) if metrics is not None else None,
            "run_json": str(target / "run.json"), "files": files, "fetch": fetched}


def fetch_windows(session, remote_dir: str, target: Path) -> dict[str, Any]:
    """A run directory from a Windows host: tar.exe on the VM, extracted here (contents into target)."""
    import tarfile

    from ..remote import sync

    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".dsvmctl-fetch-") as tmp:
        channel = session.open_exec(win.fetch_tar([remote_dir]))
        channel.shutdown_write()
        reader = sync._ChannelReader(channel)
        files = 0
        try:
            with tarfile.open(fileobj=reader, mode="r|", bufsize=sync.CHUNK) as archive:
                for member in archive:
                    archive.extract(member, tmp, **sync._safe_extract())
                    files += member.isfile()
            code = sync._finish(channel, reader.stderr, session, "the fetch")
        finally:
            channel.close()
        if code != 0:
            raise remote_errors.RemotePathNotFound([remote_dir])
        base = Path(tmp) / remote_dir.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        for item in base.iterdir():
            os.replace(item, target / item.name)
    return {"local_dir": str(target), "files": files, "bytes_received": reader.received,
            "seconds": time.monotonic() - started}


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
    from ..remote import sync

    with connect(host, port, user, str(key_path), host_key_fingerprint=fingerprint, retries=2) as session:
        server_key = session.transport.get_remote_server_key()
        host_public_key = f"{server_key.get_name()} {server_key.get_base64()}"
        if os_type == "auto":
            code, out, _ = sync._run_bytes(session, "uname -s")
            os_type = "linux" if code == 0 and out.strip() else "windows"
    record = MachineRecord(name=name, cloud=store.cloud, resource_group="", location="", os=os_type,
                           admin_user=user, size="", gpu_size=None, image="", host_public_key=host_public_key,
                           key_path=str(key_path), created_at=_now(), attached=True, ssh_host=host, ssh_port=port,
                           extra={"host_key_fingerprint": fingerprint})
    store.save(record)
    return record
