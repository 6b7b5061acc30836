"""Local VM host: the SSH server behind one emulated VM.

An asyncssh server on 127.0.0.1 runs in a background thread with its own event loop, so the
(synchronous) emulator can start and stop it like powering a VM on and off. The VM's OS disk is
the directory `disk_dir`; it survives stop/start and only its owner deletes it.

What a client sees:
- exec and shell sessions run the local shell inside the VM's sandbox (see `sandbox.py`: the
  disk is `/`, the host's system directories and dsvmctl's Python are read-only, one PID
  namespace per VM), in a new session (so the shell's pid is its process-group id, as under
  OpenSSH's sshd), with cwd and HOME at `/home/<admin_user>`. stdout/stderr stream back, stdin
  streams in, the exit status (or signal) is reported. A signal request is delivered to the
  whole process group; when the channel closes before the command ends, the group is
  terminated (then killed). Processes that left the group (nohup setsid ...) live on in the
  sandbox until the VM powers off.
- SFTP is confined to `disk_dir` (asyncssh's chroot), so `/home/<user>/x` is
  `<disk_dir>/home/<user>/x`; relative paths are relative to that home, as on a real VM.
  Exec sessions see the same paths.
- `sandbox=False` runs commands unconfined on the host (`--unsafe-unsandboxed`), with cwd and
  HOME at `<disk_dir>/home/<admin_user>`.
- Only the given authorized keys, for `admin_user`, are accepted; no passwords. The server
  presents exactly the given host key.
- Local port forwarding (direct-tcpip, as `ssh -L` and `dsvmctl tunnel` use) to the VM's
  loopback only (127.0.0.1, ::1, localhost): on a local VM that is this machine's loopback.
  Other destinations are refused, as a VM's sshd would refuse what its firewall blocks.
- Not emulated: a real pseudo-terminal (pty requests are accepted, but programs see pipes),
  remote port forwarding, agent forwarding.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import posixpath
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

import asyncssh

from ..errors import DsvmctlError
from .sandbox import VMSandbox

READ_CHUNK = 2**16
# After a channel closes under a running command: TERM, then KILL whatever is left this late.
KILL_GRACE_S = 1.0
LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")


class LocalVMHost:
    """SSH server for one emulated VM; `start()` powers it on, `stop()` powers it off."""

    def __init__(
        self,
        disk_dir: Path,
        host_key_pem: str,
        authorized_keys: list[str],
        admin_user: str,
        port: int = 0,
        path: str | None = None,
        sandbox: VMSandbox | bool = True,
        strict_port: bool = False,
    ):
        self.disk_dir = Path(disk_dir)
        self.admin_user = admin_user
        self.port = port
        self.strict_port = strict_port  # the port is the VM's address: taken means an error, not another port
        self.path = path  # PATH commands see: the "image's" programs (default: this machine's PATH)
        # True: a sandbox of its own, killed at stop(); a VMSandbox: someone else's (the local
        # cloud's, which outlives this server); False: none.
        self._owns_sandbox = sandbox is True
        self.sandbox: VMSandbox | None = VMSandbox(self.disk_dir) if sandbox is True else (sandbox or None)
        self._host_key = asyncssh.import_private_key(host_key_pem)
        self._authorized = {asyncssh.import_public_key(line).public_data for line in authorized_keys if line.strip()}
        self._shell = shutil.which("bash") or "/bin/sh"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._acceptor: Any = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._commands: set[asyncio.Task] = set()

    # -- public surface ----------------------------------------------------------------------

    @property
    def home(self) -> Path:
        """The admin user's home directory inside the disk (on this machine)."""
        return self.disk_dir / "home" / self.admin_user

    @property
    def vm_home(self) -> str:
        """The same directory as the VM's commands see it."""
        return f"/home/{self.admin_user}" if self.sandbox is not None else str(self.home)

    @property
    def running(self) -> bool:
        return self._acceptor is not None

    def start(self) -> int:
        """Start serving (fast: well under 200 ms once asyncssh is imported); returns the port."""
        if self.running:
            return self.port
        self.home.mkdir(parents=True, exist_ok=True)
        if self.sandbox is not None:
            from .sandbox import backend

            backend()  # refuse to power on where no sandbox can be made (the sandbox itself comes lazily)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name=f"vmhost-{self.admin_user}", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self._acceptor = asyncio.run_coroutine_threadsafe(self._listen(), loop).result(timeout=30)
        except BaseException:
            self._stop_loop()
            raise
        self.port = self._acceptor.sockets[0].getsockname()[1]
        return self.port

    def stop(self) -> None:
        """Power off: drop every connection, kill every running command, stop listening."""
        if self._loop is None:
            return
        try:
            if self._acceptor is not None:
                asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=30)
        finally:
            self._acceptor = None
            self._stop_loop()
            if self._owns_sandbox and self.sandbox is not None:
                self.sandbox.stop()

    def __enter__(self) -> "LocalVMHost":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- event-loop side -----------------------------------------------------------------------

    async def _listen(self) -> Any:
        options = dict(
            server_host_keys=[self._host_key],
            process_factory=self._run_command,
            sftp_factory=functools.partial(_HomeSFTPServer, root=self.disk_dir, home=f"/home/{self.admin_user}"),
            encoding=None,
            line_editor=False,
            agent_forwarding=False,
            x11_forwarding=False,
        )
        # Keep the same port across stop/start, like a VM keeps its address; take another one
        # only if something grabbed it meanwhile.
        try:
            return await asyncssh.create_server(lambda: _Server(self), "127.0.0.1", self.port, **options)
        except OSError as exc:
            if self.port == 0 or exc.errno != errno.EADDRINUSE or self.strict_port:
                raise
            return await asyncssh.create_server(lambda: _Server(self), "127.0.0.1", 0, **options)

    async def _shutdown(self) -> None:
        self._acceptor.close()
        for conn in list(self._connections):
            conn.abort()
        if self._commands:
            await asyncio.wait(list(self._commands), timeout=KILL_GRACE_S + 5)
        await self._acceptor.wait_closed()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=10)
        loop.close()

    def _environment(self, client_env: dict[str, str]) -> dict[str, str]:
        env = {
            "PATH": self.path or os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": self.vm_home,
            "USER": self.admin_user,
            "LOGNAME": self.admin_user,
            "SHELL": self._shell,
            "LANG": os.environ.get("LANG", "C.UTF-8"),
        }
        env.update(client_env)
        return env

    async def _run_command(self, process: asyncssh.SSHServerProcess) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._commands.add(task)
            task.add_done_callback(self._commands.discard)
        argv = [self._shell, "-c", process.command] if process.command is not None else [self._shell]
        try:
            child, leader = await self._spawn(argv, self._environment(dict(process.env)))
        except (OSError, DsvmctlError) as exc:
            process.stderr.write(f"vmhost: cannot start shell: {exc}\n".encode())
            process.exit(127)
            return
        outputs = asyncio.gather(_pump_out(child.stdout, process.stdout), _pump_out(child.stderr, process.stderr))
        feeding = asyncio.ensure_future(_pump_in(process, child, leader))
        finished = asyncio.ensure_future(asyncio.gather(child.wait(), outputs))
        channel_closed = asyncio.ensure_future(process.channel.wait_closed())
        try:
            await asyncio.wait({finished, channel_closed}, return_when=asyncio.FIRST_COMPLETED)
            if not finished.done():
                # Client went away (or the host is stopping): the command dies with its session.
                await _terminate_group(child, leader)
                outputs.cancel()
                return
            status = child.returncode
            if status is not None and status < 0:
                name = signal.Signals(-status).name.removeprefix("SIG")
                process.exit_with_signal(name)
            else:
                process.exit(status or 0)
        finally:
            feeding.cancel()
            channel_closed.cancel()
            if child.returncode is None:
                await _terminate_group(child, leader)

    async def _spawn(self, argv: list[str], env: dict[str, str]) -> tuple[asyncio.subprocess.Process, int]:
        """Start the command; return it and the pid leading its process group (on this host).
        In a sandbox the process started here is nsenter, outside; the group is that of its
        child (setsid inside), so signals go there and nsenter reports the command's status."""
        pipes = dict(stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        if self.sandbox is None:
            child = await asyncio.create_subprocess_exec(*argv, **pipes, cwd=self.home, env=env,
                                                         start_new_session=True)  # pid == pgid, as sshd's setsid()
            return child, child.pid
        await asyncio.get_running_loop().run_in_executor(None, self.sandbox.ensure)  # may make one: not on the loop
        with self.sandbox.entering(self.vm_home) as (prefix, fds):
            child = await asyncio.create_subprocess_exec(*prefix, *argv, **pipes, cwd="/", env=env, pass_fds=fds,
                                                         start_new_session=True)
        return child, await _inner_leader(child)


async def _inner_leader(child: asyncio.subprocess.Process) -> int:
    """The pid (here) of nsenter's one child, the command inside; nsenter's own if it is gone."""
    children = Path(f"/proc/{child.pid}/task/{child.pid}/children")
    for _ in range(5000):
        try:
            found = children.read_text().split()
        except OSError:
            break
        if found:
            return int(found[0])
        if child.returncode is not None:
            break
        await asyncio.sleep(0.001)
    return child.pid


async def _pump_out(reader: asyncio.StreamReader | None, writer: Any) -> None:
    if reader is None:
        return
    while data := await reader.read(READ_CHUNK):
        try:
            writer.write(data)
            await writer.drain()
        except (BrokenPipeError, ConnectionError, asyncssh.Error):
            # Channel gone: keep draining so the child never blocks on a full pipe.
            continue


async def _pump_in(process: asyncssh.SSHServerProcess, child: asyncio.subprocess.Process, leader: int) -> None:
    stdin = child.stdin
    try:
        while True:
            try:
                data = await process.stdin.read(READ_CHUNK)
            except asyncssh.SignalReceived as exc:
                _signal_group(child, leader, exc.signal)
                continue
            except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged):
                continue
            if not data:
                break
            assert stdin is not None
            stdin.write(data)
            await stdin.drain()
    except (BrokenPipeError, ConnectionError, asyncssh.Error):
        pass  # the command closed its stdin or the channel dropped
    finally:
        if stdin is not None and not stdin.is_closing():
            stdin.close()


def _signal_group(child: asyncio.subprocess.Process, leader: int, name: str) -> None:
    signum = getattr(signal, "SIG" + name.upper().removeprefix("SIG"), None)
    if signum is None or child.returncode is not None:
        return
    _killpg(leader, signum)


def _killpg(leader: int, signum: int) -> None:
    try:
        os.killpg(leader, signum)
    except ProcessLookupError:
        try:  # not a group leader yet (setsid still to come inside the sandbox)
            os.kill(leader, signum)
        except ProcessLookupError:
            pass


async def _terminate_group(child: asyncio.subprocess.Process, leader: int) -> None:
    for signum in (signal.SIGTERM, signal.SIGKILL):
        _killpg(leader, signum)
        try:
            await asyncio.wait_for(child.wait(), KILL_GRACE_S)
            break
        except asyncio.TimeoutError:
            continue
    # The leader may be gone while others in its group linger (e.g. a background job).
    for group in {leader, child.pid}:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class _Server(asyncssh.SSHServer):
    """Key-only authentication for the admin user; tracks connections so stop() can drop them."""

    def __init__(self, host: LocalVMHost):
        self._host = host
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._host._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._host._connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == self._host.admin_user and key.public_data in self._host._authorized

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> bool:
        """direct-tcpip: True lets asyncssh connect to the destination itself; loopback only."""
        if dest_host.strip("[]").lower() in LOOPBACK_NAMES:
            return True
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
                                        f"this VM forwards only to its own loopback, not to {dest_host}")


class _HomeSFTPServer(asyncssh.SFTPServer):
    """SFTP confined to the disk; relative paths start at the user's home."""

    def __init__(self, chan: Any, *, root: Path, home: str):
        super().__init__(chan, chroot=os.fsencode(root))
        self._home = home.encode()

    def map_path(self, path: bytes) -> bytes:
        if not path.startswith(b"/"):
            path = posixpath.join(self._home, path)
        return super().map_path(path)
