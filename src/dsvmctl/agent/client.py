"""Find, start and talk to the agent of a state directory. Stdlib only: the CLI imports it.

The socket lives in the state directory (0700) and is itself 0600; before using it the client
checks that it belongs to this user and nobody else can open it, and the agent checks the
peer's uid (SO_PEERCRED) on every connection. A socket file nobody answers on (an agent
killed with SIGKILL) is stale: it is removed and a new agent started.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from . import protocol

SOCKET_NAME = "agent.sock"
LOG_NAME = "agent.log"
LOCK_NAME = "agent.lock"  # held by the running agent for its whole life
START_LOCK_NAME = "agent.start.lock"  # serialises starts by several commands at once
START_TIMEOUT_S = 20.0
# Unix socket paths are limited to 108 bytes; longer ones are reached through the directory's fd.
MAX_SOCKET_PATH = 100
# stdin relayed to the agent: frames of STDIN_CHUNK, at most STDIN_WINDOW bytes not yet taken by it.
STDIN_CHUNK = 256 * 2**10
STDIN_WINDOW = 4 * 2**20


class AgentUnavailable(Exception):
    """No agent answers and none could be started; callers fall back to direct connections."""


def agent_enabled() -> bool:
    """DSVMCTL_AGENT=off (or 0/no/false) turns the agent off for this process and its children."""
    return os.environ.get("DSVMCTL_AGENT", "auto").strip().lower() not in ("off", "0", "no", "false")


def idle_seconds() -> float:
    try:
        return float(os.environ.get("DSVMCTL_AGENT_IDLE_S", "600"))
    except ValueError:
        return 600.0


@contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """An address for bind/connect: the path itself, or /proc/self/fd/N/NAME when too long."""
    if len(os.fsencode(str(path))) <= MAX_SOCKET_PATH:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def check_socket_file(path: Path) -> None:
    """Refuse a socket that is not ours or that others could use (we might talk to an impostor)."""
    info = os.lstat(path)
    if not stat.S_ISSOCK(info.st_mode):
        raise AgentUnavailable(f"{path} is not a socket")
    if info.st_uid != os.getuid():
        raise AgentUnavailable(f"{path} belongs to uid {info.st_uid}, not to this user ({os.getuid()}): not used")
    if info.st_mode & 0o077:
        raise AgentUnavailable(f"{path} is open to other users (mode {stat.S_IMODE(info.st_mode):o}): not used")


def raise_error(document: dict[str, Any]) -> None:
    """Re-raise an error the agent reported, as the same kind of error the direct path raises."""
    kind, name = document.get("kind"), document.get("type", "")
    message = document.get("message", "the agent failed")
    if kind == "remote":
        from ..remote import errors

        cls = _remote_error_class(name)
        err = cls.__new__(cls)
        errors.RemoteError.__init__(err, message)
        for field, value in (document.get("fields") or {}).items():
            setattr(err, field, value)
        raise err
    from .. import errors as dsvmctl_errors

    cls = getattr(dsvmctl_errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, dsvmctl_errors.DsvmctlError)):
        cls = dsvmctl_errors.DsvmctlError
    err = cls.__new__(cls)
    dsvmctl_errors.DsvmctlError.__init__(err, message, fix=document.get("fix"))
    raise err


def _remote_error_class(name: str) -> type:
    """The RemoteError subclass named `name`: remote/errors.py's, or untar's UnsafeArchive."""
    from ..remote import errors

    cls = getattr(errors, name, None)
    if cls is None and name == "UnsafeArchive":
        from ..remote.untar import UnsafeArchive as cls  # noqa: N813 - imports tarfile: only when needed
    return cls if isinstance(cls, type) and issubclass(cls, errors.RemoteError) else errors.RemoteError


class AgentClient:
    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.socket_path = self.home / SOCKET_NAME

    # -- connections -----------------------------------------------------------------------------

    def connect(self, timeout: float | None = 30.0) -> socket.socket:
        """A new connection to the agent (raises OSError when nobody answers)."""
        check_socket_file(self.socket_path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            with socket_address(self.socket_path) as address:
                sock.connect(address)
        except BaseException:
            sock.close()
            raise
        return sock

    def request(self, op: str, timeout: float | None = 60.0, **fields: Any) -> dict[str, Any]:
        """One request, one JSON reply (errors re-raised)."""
        with self.connect(timeout) as sock:
            protocol.send_json(sock, {"op": op, **fields})
            return self._reply(sock)

    def _reply(self, sock: socket.socket) -> dict[str, Any]:
        while True:
            frame = protocol.recv(sock)
            if frame is None:
                raise AgentUnavailable("the agent closed the connection without answering (did it die?)")
            kind, payload = frame
            if kind != b"J":
                continue
            document = protocol.decode_json(payload)
            if "error" in document:
                raise_error(document["error"])
            return document

    def ping(self) -> dict[str, Any]:
        return self.request("status", timeout=5.0)

    # -- operations ------------------------------------------------------------------------------

    def exec(self, target: dict[str, Any], command: str, *, stdout: Callable[[bytes], Any],
             stderr: Callable[[bytes], Any], stdin: Any = None, timeout: float | None = None) -> int:
        """Run `command` on the target over the agent's connection; streams; returns the exit code.
        `stdin` (bytes, str or a binary file; None: closed at once) is relayed as I frames, then W.
        Ctrl-C stops the remote process group (the agent does it, as the direct path does)."""
        sock = self.connect(timeout=None)
        with sock:
            send_lock = threading.Lock()  # the stdin thread and a Ctrl-C both send frames
            protocol.send_json(sock, {"op": "exec", "target": target, "command": command, "timeout": timeout,
                                      "stdin": stdin is not None})
            relay = StdinSender(sock, send_lock, stdin) if stdin is not None else None
            try:
                return self._stream(sock, stdout, stderr, relay)
            except KeyboardInterrupt:
                if relay is not None:
                    relay.stop()
                with send_lock:
                    protocol.send_json(sock, {"cancel": True})
                try:
                    sock.settimeout(10)
                    self._stream(sock, stdout, stderr, None)
                except (OSError, protocol.ProtocolError, AgentUnavailable):
                    pass
                raise
            finally:
                if relay is not None:
                    relay.stop()

    def _stream(self, sock: socket.socket, stdout: Callable[[bytes], Any], stderr: Callable[[bytes], Any],
                relay: "StdinSender | None") -> int:
        while True:
            frame = protocol.recv(sock)
            if frame is None:
                from ..remote.errors import SessionClosed

                raise SessionClosed("the command (the dsvmctl agent went away)",
                                    "its connection closed; the next command starts a new agent")
            kind, payload = frame
            if kind == b"O":
                stdout(payload)
            elif kind == b"E":
                stderr(payload)
            elif kind == b"J":
                document = protocol.decode_json(payload)
                if "error" in document:
                    raise_error(document["error"])
                if "exit" in document:
                    return int(document["exit"])
                if "stdin_taken" in document and relay is not None:
                    relay.credit(int(document["stdin_taken"]))

    def push(self, target: dict[str, Any], src: str, dest: str | None, ignore_file: str | None,
             cache_dir: str | None = None) -> dict[str, Any]:
        """remote.sync.push of `src` to `dest` (None: dsvmctl/workloads), run by the agent."""
        try:
            return self.request("push", timeout=None, target=target, src=src, dest=dest, ignore_file=ignore_file,
                                cache_dir=cache_dir)["summary"]
        except (AgentUnavailable, protocol.ProtocolError, OSError) as exc:
            from ..remote.errors import TransferError

            raise TransferError(f"the push to {dest} stopped: the dsvmctl agent went away ({exc}). The VM holds "
                                "the previous tree or the new one, never a mix; push again.") from None


    def fetch(self, target: dict[str, Any], remote_paths: list[str], local_dir: str,
              limits: dict[str, int]) -> dict[str, Any]:
        """remote.sync.fetch into `local_dir` (absolute), run by the agent over its connection."""
        try:
            return self.request("fetch", timeout=None, target=target, remote_paths=remote_paths, local_dir=local_dir,
                                limits=limits)["summary"]
        except (AgentUnavailable, protocol.ProtocolError, OSError) as exc:
            from ..remote.errors import TransferError

            raise TransferError(f"the fetch into {local_dir} stopped: the dsvmctl agent went away ({exc}); "
                                "fetch again.") from None


class StdinSender:
    """Sends a command's stdin to the agent from a thread, at most STDIN_WINDOW bytes ahead of
    what the agent has taken (it acknowledges each chunk): the agent keeps reading its socket
    whatever the command does with its stdin, so a cancel frame never waits behind stdin data."""

    def __init__(self, sock: socket.socket, send_lock: threading.Lock, source: Any) -> None:
        self.sock, self.send_lock = sock, send_lock
        self.source = source.encode() if isinstance(source, str) else source
        self.in_flight = 0
        self.stopped = False
        self.window = threading.Condition()
        self.thread = threading.Thread(target=self._send_all, name="dsvmctl-agent-stdin", daemon=True)
        self.thread.start()

    def credit(self, taken: int) -> None:
        with self.window:
            self.in_flight -= taken
            self.window.notify()

    def stop(self) -> None:
        with self.window:
            self.stopped = True
            self.window.notify()

    def _chunks(self) -> Iterator[bytes | memoryview]:
        if isinstance(self.source, (bytes, bytearray, memoryview)):
            view = memoryview(self.source)
            for start in range(0, len(view), STDIN_CHUNK):
                yield view[start:start + STDIN_CHUNK]
            return
        while chunk := self.source.read(STDIN_CHUNK):
            yield chunk

    def _send_all(self) -> None:
        try:
            for chunk in self._chunks():
                with self.window:
                    while self.in_flight >= STDIN_WINDOW and not self.stopped:
                        self.window.wait()
                    if self.stopped:
                        return
                    self.in_flight += len(chunk)
                with self.send_lock:
                    protocol.send(self.sock, b"I", bytes(chunk))
            with self.send_lock:
                protocol.send(self.sock, b"W")
        except (OSError, ValueError):
            pass  # the command ended (or the agent went away): exec reports what happened


# -- finding and starting ------------------------------------------------------------------------


def find(home: Path) -> AgentClient | None:
    """The running agent of `home`, or None (never starts one)."""
    client = AgentClient(home)
    if not client.socket_path.exists():
        return None
    try:
        client.ping()
    except (OSError, AgentUnavailable, protocol.ProtocolError):
        return None
    return client


def ensure(home: Path) -> AgentClient:
    """The agent of `home`, started (detached) when none answers. Raises AgentUnavailable."""
    if not agent_enabled():
        raise AgentUnavailable("the agent is turned off (DSVMCTL_AGENT=off)")
    client = find(home)
    if client is not None:
        return client
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(home / START_LOCK_NAME, "a+") as start_lock:
        fcntl.flock(start_lock, fcntl.LOCK_EX)  # another command may be starting it right now
        client = find(home)
        if client is not None:
            return client
        _remove_stale_socket(home)
        process = _spawn(home)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            client = find(home)
            if client is not None:
                return client
            if process.poll() is not None:
                break
            time.sleep(0.02)
    raise AgentUnavailable(f"the agent did not start; its log: {home / LOG_NAME}: {_log_tail(home)}")


def _remove_stale_socket(home: Path) -> None:
    """Called under the start lock with no agent answering: a leftover socket is stale, unless
    a live agent still holds its lock (then it is busy, not dead: leave it)."""
    path = home / SOCKET_NAME
    if not os.path.lexists(path):
        return
    with open(home / LOCK_NAME, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise AgentUnavailable(f"an agent holds {home / LOCK_NAME} but does not answer on {path}") from None
            raise
        os.unlink(path)
        fcntl.flock(lock, fcntl.LOCK_UN)


def agent_python() -> str:
    """The Python the agent runs in: this one (a seam for tests that make the agent unable to start)."""
    return sys.executable


def _spawn(home: Path):
    import subprocess

    log = open(home / LOG_NAME, "ab")
    os.chmod(home / LOG_NAME, 0o600)
    env = {**os.environ, "DSVMCTL_HOME": str(home)}
    try:
        python = agent_python()
        return subprocess.Popen([python, "-m", "dsvmctl.agent.server", str(home)], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True, close_fds=True, env=env, cwd="/")
    except OSError as exc:
        raise AgentUnavailable(f"cannot start the agent ({python}: {exc.strerror or exc})") from None
    finally:
        log.close()


def _log_tail(home: Path, lines: int = 5) -> str:
    try:
        text = (home / LOG_NAME).read_text(errors="replace")
    except OSError:
        return "no log"
    return " | ".join(text.strip().splitlines()[-lines:]) or "empty log"
