"""Sandboxes for local VMs: a local VM's processes live in their own mount and PID namespaces.

What a process of a local VM sees (the same with either backend):

    /            the VM's OS disk (its directory), read-write: /home/<user>, /tmp, /var, /opt...
                 the same tree SFTP shows, which is confined to that directory
    /usr /bin /sbin /lib*, a few files of /etc: the host's, read-only
    dsvmctl's Python environment (sys.prefix, sys.base_prefix, the dsvmctl and torch packages),
                 read-only at the same paths, because a local VM's PATH starts with it
    /proc        the VM's own PID namespace; /dev: null, zero, full, random, urandom, tty, shm
                 (and the host's /dev/nvidia* where there are any)
    and nothing else of the host: not the user's home, not the state directory, not other disks.

Not isolated: the network (a fleet's nodes rendezvous over 127.0.0.1 and the SSH server lives
outside), the user id (the same as dsvmctl's, with every capability dropped), CPU and memory.

One sandbox per running VM, not per command: a detached run started by one SSH command must be
visible to the next (`kill -0`, `tail --pid`) and outlive it, as on a real VM. So the sandbox is
a small init process, pid 1 of the VM's PID namespace (it reaps orphans), started detached from
whatever process hosts the SSH server. Its pid, start time and namespaces are recorded in the
state directory (never on the disk, which the VM can write), so a later dsvmctl process finds it
again; a dead or recycled pid never matches the record. Each command enters it with nsenter
through namespace file descriptors checked against the record, drops every capability (setpriv)
and starts its own session (setsid, as sshd does). Killing the init kills every process of the
VM: that is power-off.

Backends: bubblewrap (`bwrap`) builds the namespaces; where it is absent, util-linux `unshare`
with a small mount script does (`DSVMCTL_SANDBOX=bwrap|unshare` picks one). Where neither
works, `SandboxUnavailable` says why.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import glob
import importlib.util
import json
import os
import select
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import CloudError

BACKENDS = ("bwrap", "unshare")
# The programs used, by name or path (tests point one at a missing file to simulate its absence).
TOOLS = {"bwrap": "bwrap", "unshare": "unshare", "nsenter": "nsenter", "setpriv": "setpriv",
         "setsid": "setsid"}
BACKEND_ENV = "DSVMCTL_SANDBOX"
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
# Every command of a VM, and its init, runs without capabilities: it cannot remount the read-only
# views, mount, make device nodes or open files by handle (the ways out of a mount namespace).
DROP_CAPS = ("--bounding-set", "-all", "--inh-caps", "-all", "--ambient-caps", "-all", "--no-new-privs")
# The launcher's own environment: nothing of dsvmctl's (a secret in it would be readable as the
# init's /proc/1/environ inside the VM).
LAUNCH_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What of /etc a shell, Python and torch need (users, the loader, time zone, alternatives for
# awk & co, local name resolution, certificates); never shadow, ssh host keys or the rest.
ETC_ENTRIES = ("passwd", "group", "nsswitch.conf", "hosts", "host.conf", "gai.conf", "resolv.conf",
               "protocols", "services", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime",
               "timezone", "alternatives", "bash.bashrc", "profile", "inputrc", "os-release",
               "debian_version", "ssl", "ca-certificates", "ca-certificates.conf")
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
# Created on the disk if missing, as on any Linux image (/tmp sticky and world-writable).
DISK_DIRS = {"home": 0o755, "tmp": 0o1777, "var": 0o755, "opt": 0o755}

# pid 1 of a VM: says it is up through the fd given, then reaps every orphan until killed.
# SIGCHLD stays blocked so one arriving between the reaping and the wait is not lost.
HOLDER = """import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
fd = int(sys.argv[1]); os.write(fd, b"ready"); os.close(fd)
while True:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass
    signal.sigwait({signal.SIGCHLD})
"""

_LAUNCHERS: list[subprocess.Popen] = []  # reaped when they end (they outlive nothing but the init)


class SandboxUnavailable(CloudError):
    """Neither bubblewrap nor unshare can isolate a local VM on this machine."""


# -- which backend works here --------------------------------------------------------------------


def backend() -> str:
    """The backend to use: the first of DSVMCTL_SANDBOX (or bwrap, then unshare) that works."""
    choice = os.environ.get(BACKEND_ENV, "auto").strip().lower() or "auto"
    if choice not in ("auto", *BACKENDS):
        raise SandboxUnavailable(f"{BACKEND_ENV}={choice!r} is not a sandbox backend",
                                 fix=f"set {BACKEND_ENV} to auto, bwrap or unshare (or unset it)")
    kinds = BACKENDS if choice == "auto" else (choice,)
    return _first_working(kinds, tuple(sorted(TOOLS.items())), os.geteuid())


@functools.lru_cache(maxsize=16)
def _first_working(kinds: tuple[str, ...], tools: tuple[tuple[str, str], ...], euid: int) -> str:
    reasons = []
    for kind in kinds:
        reason = _probe(kind)
        if reason is None:
            return kind
        reasons.append(f"{kind}: {reason}")
    raise SandboxUnavailable(
        "no sandbox can be made for local VMs on this machine, so their commands would run on it "
        "unconfined (" + "; ".join(reasons) + ")",
        fix="install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap), or accept running a local "
            "VM's commands on your own machine as you with --unsafe-unsandboxed "
            "(DSVMCTL_UNSAFE_UNSANDBOXED=1)")


def _probe(kind: str) -> str | None:
    """None when `kind` can make a PID + mount namespace here, else why not (the probe's error)."""
    for tool in (kind, "nsenter", "setpriv", "setsid"):
        if _tool(tool) is None:
            package = "bubblewrap" if tool == "bwrap" else "util-linux"
            return f"{TOOLS[tool]} not found (Debian package {package})"
    true = shutil.which("true") or "/bin/true"
    if kind == "bwrap":
        argv = [_tool("bwrap"), "--unshare-pid", *_bwrap_binds([(d, d) for d in _system_dirs()], "--ro-bind"),
                "--proc", "/proc", "--dev", "/dev", "--cap-drop", "ALL", "--", true]
    else:
        argv = [_tool("unshare"), *_unshare_user_flags(), "--mount", "--pid", "--fork", "--propagation", "private",
                "--", "sh", "-c", "mount -t tmpfs tmpfs /mnt 2>/dev/null || mount -t tmpfs tmpfs /tmp"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL,
                              env=LAUNCH_ENV, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return None


def _tool(name: str) -> str | None:
    return shutil.which(TOOLS[name])


def _unshare_user_flags() -> list[str]:
    # Without root, mount and PID namespaces need a user namespace (root inside, mapped to us).
    return [] if os.geteuid() == 0 else ["--user", "--map-root-user"]


# -- what a VM sees --------------------------------------------------------------------------------


def _system_dirs() -> list[str]:
    return [d for d in SYSTEM_DIRS if os.path.isdir(d)]


def python_paths() -> list[str]:
    """The host paths dsvmctl's Python needs, to show read-only at the same place: the venv and
    the Python it was made from, and the dsvmctl and torch packages (an editable install's lie
    outside the venv)."""
    candidates = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
                  os.path.dirname(os.path.realpath(sys.executable))]
    candidates.append(str(Path(__file__).resolve().parents[1]))  # the dsvmctl package
    try:
        spec = importlib.util.find_spec("torch")  # finds it without importing it
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        candidates.extend(spec.submodule_search_locations)
    paths = []
    for path in candidates:
        paths.append(os.path.abspath(path))
        paths.append(os.path.realpath(path))
    return paths


def _covering(paths: Sequence[str], exclude: Sequence[str]) -> list[str]:
    """Paths to bind: existing, not "/" or inside a system dir, no ancestor of (or path inside)
    an excluded one (binding a parent of the disk would show the other VMs' disks), and none
    inside another of them."""
    chosen: list[str] = []
    for path in sorted(set(paths), key=len):
        if path == "/" or not os.path.exists(path):
            continue
        if any(_within(path, d) for d in [*SYSTEM_DIRS, *chosen]):
            continue
        if any(_within(e, path) or _within(path, e) for e in exclude):
            continue
        chosen.append(path)
    return chosen


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class Layout:
    """The bind mounts of one VM's sandbox: (host source, path inside) pairs."""

    def __init__(self, disk_dir: Path, exclude: Sequence[Path] = ()):
        self.disk_dir = Path(disk_dir).resolve()
        excluded = [str(self.disk_dir), *(str(Path(p).resolve()) for p in exclude)]
        self.system = [(d, d) for d in _system_dirs()]
        self.etc = [(f"/etc/{n}", f"/etc/{n}") for n in ETC_ENTRIES if os.path.exists(f"/etc/{n}")]
        self.python = [(p, p) for p in _covering(python_paths(), excluded)]
        self.devices = [(d, d) for d in sorted(glob.glob("/dev/nvidia*"))]

    @property
    def read_only(self) -> list[tuple[str, str]]:
        return [*self.system, *self.etc, *self.python]

    def prepare_disk(self) -> None:
        """Create the disk's top directories and every mount point, from the host side and
        without following links: a link the VM left on its disk (say /usr -> /root) must not
        steer a mount, or a directory created for one, outside the disk."""
        self.disk_dir.mkdir(parents=True, exist_ok=True)
        for name, mode in DISK_DIRS.items():
            _make_mount_point(self.disk_dir, "/" + name, directory=True, mode=mode)
        for source, inside in self.read_only:
            _make_mount_point(self.disk_dir, inside, directory=os.path.isdir(source))
        for inside in ("/proc", "/dev"):
            _make_mount_point(self.disk_dir, inside, directory=True)


def _make_mount_point(root: Path, inside: str, *, directory: bool, mode: int = 0o755) -> None:
    parts = [p for p in inside.split("/") if p]
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if last and not directory:
                _replace_non(part, fd, want_dir=False)
                os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644, dir_fd=fd))
                return
            _replace_non(part, fd, want_dir=True)
            try:
                os.mkdir(part, mode, dir_fd=fd)
                if last:
                    os.chmod(part, mode, dir_fd=fd, follow_symlinks=False)  # mkdir's mode is umasked
            except FileExistsError:
                pass
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


def _replace_non(name: str, dir_fd: int, *, want_dir: bool) -> None:
    """Remove `name` when it is not what the image puts there (a link, or a file for a directory)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode) == want_dir and not stat.S_ISLNK(st.st_mode):
        return
    if stat.S_ISDIR(st.st_mode):
        try:
            os.rmdir(name, dir_fd=dir_fd)
        except OSError:
            raise CloudError(f"the VM's disk has a directory /{name} where the image's file goes",
                             fix="remove it over SFTP or with `dsvmctl exec`, then start the VM again") from None
        return
    os.unlink(name, dir_fd=dir_fd)


def _bwrap_binds(pairs: Sequence[tuple[str, str]], flag: str) -> list[str]:
    return [arg for source, inside in pairs for arg in (flag, source, inside)]


def bwrap_argv(layout: Layout, holder: Sequence[str]) -> list[str]:
    return [_tool("bwrap") or "bwrap", "--unshare-pid", "--bind", str(layout.disk_dir), "/",
            *_bwrap_binds(layout.read_only, "--ro-bind"), "--proc", "/proc", "--dev", "/dev",
            *_bwrap_binds(layout.devices, "--dev-bind"),
            "--cap-drop", "ALL", "--as-pid-1", "--chdir", "/", "--", *holder]


def unshare_argv(layout: Layout, holder: Sequence[str]) -> list[str]:
    """The same view with util-linux alone: a mount script in the new namespaces, then
    pivot_root into the disk (the host's root is detached, not just hidden by a chroot)."""
    q = shlex.quote
    root = str(layout.disk_dir)
    lines = ["set -e", f"R={q(root)}", 'mount --rbind "$R" "$R"']  # with what is mounted on the disk
    for source, inside in layout.read_only:
        lines.append(f'mount -o rbind,ro,nosuid,nodev {q(source)} "$R"{q(inside)}')
    lines += ['mount -t proc -o nosuid,nodev,noexec proc "$R/proc"',
              'mount -t tmpfs -o nosuid,mode=0755 tmpfs "$R/dev"']
    for node in DEV_NODES:
        lines.append(f': > "$R/dev/{node}"; mount --bind /dev/{node} "$R/dev/{node}"')
    for source, inside in layout.devices:
        kind = "mkdir -p" if os.path.isdir(source) else ": >"
        lines.append(f'{kind} "$R"{q(inside)}; mount --bind {q(source)} "$R"{q(inside)}')
    lines += ['mkdir "$R/dev/shm"; mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$R/dev/shm"',
              'ln -s /proc/self/fd "$R/dev/fd"; ln -s fd/0 "$R/dev/stdin"',
              'ln -s fd/1 "$R/dev/stdout"; ln -s fd/2 "$R/dev/stderr"',
              'cd "$R"; mkdir -p .oldroot; pivot_root . .oldroot; cd /',
              "umount -l /.oldroot; rmdir /.oldroot; unset OLDPWD  # it names the disk's host path",
              f"exec {q(_tool('setpriv') or 'setpriv')} {' '.join(DROP_CAPS)} -- {shlex.join(holder)}"]
    return [_tool("unshare") or "unshare", *_unshare_user_flags(), "--mount", "--pid", "--fork",
            "--propagation", "private", "--", "/bin/sh", "-c", "\n".join(lines)]



# -- one VM's sandbox ------------------------------------------------------------------------------


class VMSandbox:
    """The sandbox of one VM (its disk). `ensure()` finds or makes it, `entering()` gives the
    command prefix that runs a program inside, `stop()` kills everything in it.

    `record`: where its pid is kept (a file in the state directory, so other processes find it);
    None keeps it in this object only. `exclude`: host paths never to show even read-only (the
    state directory: a Python environment inside it must not expose the other disks)."""

    def __init__(self, disk_dir: Path, record: Path | None = None, exclude: Sequence[Path] = ()):
        self.disk_dir = Path(disk_dir)
        self.record = Path(record) if record is not None else None
        self.exclude = list(exclude)
        self._memory: dict | None = None
        self._thread_lock = threading.Lock()

    # -- lifetime --------------------------------------------------------------------------------

    def ensure(self) -> dict:
        """The live sandbox's record, making one if there is none (or it died)."""
        with self._locked():
            live = self._live_record()
            if live is not None:
                return live
            return self._create()

    @property
    def running(self) -> bool:
        with self._locked():
            return self._live_record() is not None

    @property
    def pid(self) -> int | None:
        """The host pid of the VM's init, while it runs."""
        with self._locked():
            live = self._live_record()
        return live["pid"] if live else None

    def stop(self) -> bool:
        """Power off: kill the VM's init, and with it every process in its PID namespace.
        True when there was one running."""
        with self._locked():
            live = self._load()
            live = live if live is not None and _matches(live) else None
            self._save(None)
            if live is None:
                return False
            try:
                os.kill(live["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while _matches(live) and time.monotonic() < deadline:
                _reap_launchers()
                time.sleep(0.005)
            _reap_launchers()
            return True

    @classmethod
    def stop_recorded(cls, record: Path) -> bool:
        """stop() the sandbox recorded in `record`, whatever its disk (for a VM already gone)."""
        if not record.exists():
            return False
        return cls(Path("/"), record).stop()

    # -- entering ----------------------------------------------------------------------------------

    @contextmanager
    def entering(self, cwd: str = "/") -> Iterator[tuple[list[str], tuple[int, ...]]]:
        """(argv prefix, fds to pass) that start a program inside, in `cwd`, without capabilities,
        in a session of its own. The namespaces are opened here and checked against the record,
        so a recycled pid cannot lead a command into the host's namespaces. Close after spawning."""
        live = self.ensure()
        pid = live["pid"]
        fds: list[int] = []
        try:
            names = ["mnt", "pid"] + (["user"] if live.get("userns") else [])
            opened = {}
            for name in names:
                fd = os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
                fds.append(fd)
                opened[name] = fd
            root = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            fds.append(root)
            if (os.fstat(opened["mnt"]).st_ino != live["mntns"] or os.fstat(opened["pid"]).st_ino != live["pidns"]
                    or not _matches(live)):
                raise OSError(errno.ESRCH, "the sandbox's init changed while entering it")
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            raise CloudError(f"cannot enter the sandbox of the VM on {self.disk_dir}: {exc}",
                             fix="run the command again (a new sandbox is made if it died)") from None
        argv = [_tool("nsenter") or "nsenter"]
        if "user" in opened:
            argv += [f"--user=/proc/self/fd/{opened['user']}", "--preserve-credentials"]
        argv += [f"--mount=/proc/self/fd/{opened['mnt']}", f"--pid=/proc/self/fd/{opened['pid']}",
                 f"--root=/proc/self/fd/{root}", f"--wdns={cwd}", "--",
                 _tool("setpriv") or "setpriv", *DROP_CAPS, "--", _tool("setsid") or "setsid", "--"]
        try:
            yield argv, tuple(fds)
        finally:
            for fd in fds:
                os.close(fd)

    # -- inside ------------------------------------------------------------------------------------

    def _create(self) -> dict:
        kind = backend()
        layout = Layout(self.disk_dir, self.exclude)
        layout.prepare_disk()
        if kind == "unshare":
            _make_mount_point(layout.disk_dir, "/.oldroot", directory=True)  # pivot_root's put_old
        read, write = os.pipe()
        holder = [sys.executable, "-I", "-S", "-c", HOLDER, str(write)]
        argv = bwrap_argv(layout, holder) if kind == "bwrap" else unshare_argv(layout, holder)
        started = time.monotonic()
        with tempfile.TemporaryFile() as log:
            try:
                launcher = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                                            pass_fds=(write,), start_new_session=True, cwd="/",
                                            env=LAUNCH_ENV)
            except OSError as exc:
                os.close(read)
                os.close(write)
                raise SandboxUnavailable(f"cannot start {kind} for the VM's sandbox: {exc}",
                                         fix="install bubblewrap, or use --unsafe-unsandboxed") from None
            os.close(write)
            try:
                ready = _read_ready(read, READY_TIMEOUT_S)
            finally:
                os.close(read)
            init = _only_child(launcher.pid) if ready else None
            if init is None:
                launcher.kill()
                launcher.wait()
                log.seek(0)
                why = log.read().decode("utf-8", "replace").strip() or f"exit status {launcher.returncode}"
                raise CloudError(f"could not make the sandbox of the VM on {self.disk_dir} with {kind}: {why}",
                                 fix="check that the disk directory is intact; or use --unsafe-unsandboxed")
        _LAUNCHERS.append(launcher)
        record = {"pid": init, "start": _start_time(init), "kind": kind, "disk": str(self.disk_dir),
                  "pidns": os.stat(f"/proc/{init}/ns/pid").st_ino, "mntns": os.stat(f"/proc/{init}/ns/mnt").st_ino,
                  "userns": os.geteuid() != 0, "created_in_s": round(time.monotonic() - started, 4)}
        if record["pidns"] == os.stat("/proc/self/ns/pid").st_ino or record["mntns"] == os.stat(
                "/proc/self/ns/mnt").st_ino:
            os.kill(init, signal.SIGKILL)
            raise CloudError(f"{kind} started the VM's init without new namespaces", fix="use --unsafe-unsandboxed")
        self._save(record)
        return record

    def _live_record(self) -> dict | None:
        record = self._load()
        if record is None or record.get("disk") != str(self.disk_dir) or not _matches(record):
            return None
        return record

    def _load(self) -> dict | None:
        if self.record is None:
            return self._memory
        try:
            return json.loads(self.record.read_text())
        except (OSError, ValueError):
            return None

    def _save(self, record: dict | None) -> None:
        if self.record is None:
            self._memory = record
            return
        if record is None:
            self.record.unlink(missing_ok=True)
            return
        self.record.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.record.with_name(self.record.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(record, handle)
        tmp.replace(self.record)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One sandbox per VM even when two dsvmctl processes reach for it at once."""
        with self._thread_lock:
            if self.record is None:
                yield
                return
            self.record.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.record.with_name(self.record.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)


def _read_ready(fd: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    data = b""
    while time.monotonic() < deadline:
        readable, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not readable:
            break
        chunk = os.read(fd, 16)
        if not chunk:
            break  # every writer gone: the launcher failed before the init said it was up
        data += chunk
        if data.startswith(b"ready"):
            return True
    return False


def _only_child(pid: int) -> int | None:
    """The launcher's one child: the VM's init (bwrap --as-pid-1 and unshare --fork exec it there)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = [p.parent.name for p in Path("/proc").glob("[0-9]*/stat") if _ppid(p) == pid]
    return int(children[0]) if len(children) == 1 else None


def _ppid(stat_file: Path) -> int | None:
    try:
        return int(stat_file.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot): with the pid it names one process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):  # exited, not yet reaped
        return None
    return int(fields[19])


def _matches(record: dict) -> bool:
    """The recorded init still runs: same pid, same start time, same PID namespace."""
    pid = record.get("pid")
    if not isinstance(pid, int) or pid <= 1:
        return False
    if _start_time(pid) != record.get("start"):
        return False
    try:
        return os.stat(f"/proc/{pid}/ns/pid").st_ino == record.get("pidns")
    except OSError:
        return False


def _reap_launchers() -> None:
    for launcher in list(_LAUNCHERS):
        if launcher.poll() is not None:
            _LAUNCHERS.remove(launcher)
