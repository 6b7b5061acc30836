"""What runs on a VM, behind one small interface per OS, bound to an open Session.

    target = target_for(session, "linux")                 # or "windows"
    python, tried = target.find_python()                  # the VM's Python that imports torch
    argv = target.argv(python, "cnn", "cpu", run_id, ["--steps", "3"])
    code = target.run(argv, run_id, stdout=..., timeout=...)   # or: pid, code, said = target.detach(argv, run_id)
    target.logs(run_id, pid, follow=True, stdout=...); target.exit_code(run_id)
    target.push(local_dir, dest, ignore_file); target.fetch_run(run_id, local_dir)

Layout on the VM, relative to the login user's home (the same on every image):

    dsvmctl/workloads/        the pushed workloads (train.py and its modules)
    dsvmctl/runs/<run_id>/    metrics.json; run.log and exit_code for detached runs

The scripts are built by `posix.py` (sh) and `windows.py` (PowerShell, sent -EncodedCommand),
from quoted values only. Linux commands go through the Session's process-group wrapper; a
Windows host's OpenSSH runs a line with cmd.exe, so those go on a raw channel driven by the
same `channel.pump`, and a run is stopped with taskkill /T (Windows has no process groups).
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from dsvmctl.remote import posix, windows
from dsvmctl.remote.channel import pump, sink
from dsvmctl.remote.untar import DEFAULT_LIMITS, FetchLimits

if TYPE_CHECKING:
    from dsvmctl.remote.session import Session
    from dsvmctl.remote.sync import FetchSummary, PushSummary

WORKLOADS_DIR = "dsvmctl/workloads"
RUNS_DIR = "dsvmctl/runs"
PYTHON_MARK = "dsvmctl-python:"
PID_MARK = "dsvmctl-run-pid:"  # a detached run's pid, printed by the start command
KILL_MARK = "dsvmctl-pid:"  # first stdout line of a Windows foreground run: the tree to end on Ctrl-C
NO_LOG = 4  # exit status of a logs command when the run has no log on the VM

Sink = Any  # None, a callback f(bytes), a binary or text stream


def train_argv(python: str, workload: str, device: str, run_id: str, args: Sequence[str], *,
               sep: str = "/") -> list[str]:
    """The run's command: train.py (cwd: the workloads dir) writes ../runs/<id>/metrics.json."""
    out = sep.join(["..", "runs", run_id, "metrics.json"])
    return [python, "train.py", "--model", workload, "--device", device, "--out", out, *args]


class PosixTarget:
    """A Linux VM (sh, GNU tools), over the Session's process-group wrapper."""

    os = "linux"
    sep = "/"

    def __init__(self, session: "Session"):
        self.session = session

    def path(self, *parts: str) -> str:
        """A home-relative path on the VM, with its separator."""
        return posixpath.join(*parts)

    # -- executing ------------------------------------------------------------------------------

    def exec(self, command: str, *, stdout: Sink = None, stderr: Sink = None, timeout: float | None = None) -> int:
        return self.session.exec(command, stdout=stdout, stderr=stderr, timeout=timeout)

    def capture(self, command: str, timeout: float | None = None) -> tuple[int, str, str]:
        out, err = bytearray(), bytearray()
        code = self.exec(command, stdout=out.extend, stderr=err.extend, timeout=timeout)
        return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    # -- scripts (pure) ----------------------------------------------------------------------------

    def find_python_script(self) -> str:
        return posix.find_python_script(PYTHON_MARK)

    def run_command(self, argv: list[str], run_id: str) -> str:
        return posix.run_command(argv, WORKLOADS_DIR, self.path(RUNS_DIR, run_id))

    def detach_command(self, argv: list[str], run_id: str) -> str:
        return posix.detach_command(argv, WORKLOADS_DIR, self.path(RUNS_DIR, run_id), PID_MARK)

    def logs_command(self, run_id: str, pid: int | None, follow: bool) -> str:
        return posix.logs_command(self.path(RUNS_DIR, run_id), run_id, pid, follow)

    def exit_code_command(self, run_id: str) -> str:
        return posix.exit_code_command(self.path(RUNS_DIR, run_id))

    # -- operations -------------------------------------------------------------------------------

    def find_python(self) -> tuple[str | None, list[str]]:
        """The VM's Python that imports torch, or None and what was tried."""
        code, out, err = self.capture(self.find_python_script(), timeout=300)
        for line in out.splitlines():
            if line.startswith(PYTHON_MARK):
                return line[len(PYTHON_MARK):].strip(), []
        return None, [line.removeprefix("tried: ") for line in err.splitlines() if line.startswith("tried:")]

    def argv(self, python: str, workload: str, device: str, run_id: str, args: Sequence[str]) -> list[str]:
        return train_argv(python, workload, device, run_id, args, sep=self.sep)

    def run(self, argv: list[str], run_id: str, *, stdout: Sink = None, stderr: Sink = None,
            timeout: float | None = None) -> int:
        """Run in the foreground with live output; Ctrl-C or `timeout` stops the remote run."""
        return self.exec(self.run_command(argv, run_id), stdout=stdout, stderr=stderr, timeout=timeout)

    def detach(self, argv: list[str], run_id: str) -> tuple[int | None, int, str]:
        """Start the run in its own session on the VM: (pid or None, exit status, output)."""
        code, out, err = self.capture(self.detach_command(argv, run_id), timeout=60)
        pid = next((int(line[len(PID_MARK):]) for line in out.splitlines()
                    if line.startswith(PID_MARK) and line[len(PID_MARK):].strip().isdigit()), None)
        return pid, code, (err.strip() or out.strip())

    def logs(self, run_id: str, pid: int | None, follow: bool, *, stdout: Sink = None, stderr: Sink = None) -> int:
        """Print the run's log from the VM; NO_LOG when it has none."""
        return self.exec(self.logs_command(run_id, pid, follow), stdout=stdout, stderr=stderr)

    def exit_code(self, run_id: str) -> int | None:
        """The run's recorded exit status, None while it runs (or when it left none)."""
        status, text, _ = self.capture(self.exit_code_command(run_id))
        text = text.strip()
        return int(text) if status == 0 and text.lstrip("-").isdigit() else None

    def push(self, root: Path, dest: str, ignore_file: str | None, *,
             progress: Callable[[int], None] | None = None, absolute: bool = False,
             cache_dir: "Path | bool" = True) -> "PushSummary":
        """cache_dir: where the local hash cache lives (the cloud's state paths), True for the user cache."""
        from dsvmctl.remote.sync import push

        return push(self.session, root, dest, ignore_file, progress=progress, confined=not absolute,
                    cache_dir=cache_dir)

    def fetch_run(self, run_id: str, local_dir: Path, limits: FetchLimits = DEFAULT_LIMITS) -> "FetchSummary":
        """The run directory's contents into `local_dir` (the VM is not trusted: see untar.py)."""
        from dsvmctl.remote.sync import fetch

        # "<dir>/." puts the directory's contents straight into local_dir.
        return fetch(self.session, posixpath.join(RUNS_DIR, run_id, "."), local_dir, limits=limits)


class WindowsTarget(PosixTarget):
    """A Windows DSVM (OpenSSH runs exec lines with cmd.exe; PowerShell sent encoded)."""

    os = "windows"
    sep = "\\"

    def path(self, *parts: str) -> str:
        return windows.win_join(*(p.replace("/", "\\") for p in parts))

    def exec(self, command: str, *, stdout: Sink = None, stderr: Sink = None, timeout: float | None = None) -> int:
        """A cmd.exe line on a raw channel. If its first stdout line is `dsvmctl-pid:<pid>` (the
        foreground run prints it), a timeout or Ctrl-C ends that process tree with taskkill /T."""
        channel = self.session.open_exec(command)
        channel.shutdown_write()
        return pump(channel, self.session.transport, stdout=sink(stdout), stderr=sink(stderr),
                    label=command[:60], timeout=timeout, mark=KILL_MARK.encode(), stop=self._taskkill)

    def _taskkill(self, pid: int | None) -> bool:
        if pid is None or not self.session.transport.is_active():
            return False
        try:
            channel = self.session.open_exec(windows.stop_process_tree(pid))
            channel.settimeout(15)
            channel.recv_exit_status()
            channel.close()
            return True
        except Exception:  # noqa: BLE001 - best effort: the error being raised says what happened
            return False

    def find_python_script(self) -> str:
        return windows.find_python_script(PYTHON_MARK)

    def run_command(self, argv: list[str], run_id: str) -> str:
        return windows.run_command(argv, self.path(WORKLOADS_DIR), self.path(RUNS_DIR, run_id), KILL_MARK)

    def detach_command(self, argv: list[str], run_id: str) -> str:
        return windows.detach_command(argv, self.path(WORKLOADS_DIR), self.path(RUNS_DIR, run_id),
                                      self.path("..", "runs", run_id), PID_MARK)

    def logs_command(self, run_id: str, pid: int | None, follow: bool) -> str:
        return windows.logs_command(self.path(RUNS_DIR, run_id), run_id, pid, follow)

    def exit_code_command(self, run_id: str) -> str:
        return windows.exit_code_command(self.path(RUNS_DIR, run_id))

    def push(self, root: Path, dest: str, ignore_file: str | None, *,
             progress: Callable[[int], None] | None = None, absolute: bool = False,
             cache_dir: "Path | bool" = True) -> "PushSummary":
        from dsvmctl.remote.sync import push_windows  # reads the stored manifest: no local cache

        return push_windows(self.session, root, dest.replace("/", "\\"), ignore_file, progress=progress)

    def fetch_run(self, run_id: str, local_dir: Path, limits: FetchLimits = DEFAULT_LIMITS) -> "FetchSummary":
        from dsvmctl.remote.sync import fetch_windows

        return fetch_windows(self.session, self.path(RUNS_DIR, run_id), local_dir, limits=limits)


def target_for(session: "Session", os_name: str | None) -> PosixTarget:
    """The target for a machine's OS ("windows", else Linux)."""
    return WindowsTarget(session) if (os_name or "").lower() == "windows" else PosixTarget(session)
