"""The agent process: `python -m dsvmctl.agent.server HOME` (started by client.ensure, detached).

One thread per client connection. It holds:
- the SSH servers of the local cloud's running VMs (LocalVMHost), brought back from the
  emulator's state when it starts, each on the port the VM was given (stable across restarts);
- one pinned, authenticated paramiko connection per machine (keepalives; reopened when broken),
  over which it runs the CLI's exec (stdin relayed), push and fetch, so those skip the SSH handshake;
- port tunnels (tunnels.py).
It exits after DSVMCTL_AGENT_IDLE_S seconds (default 600) with no local VM running, no tunnel
and no client, or when its state directory disappears. Its log is HOME/agent.log.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import queue
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

from . import client as agent_client
from . import protocol
from .tunnels import Tunnel

log = logging.getLogger("dsvmctl.agent")


def error_document(exc: BaseException) -> dict[str, Any]:
    from ..errors import DsvmctlError
    from ..remote.errors import RemoteError

    if isinstance(exc, RemoteError):
        # The error's own fields (UnsafeArchive's entry and reason, RemotePathNotFound's paths...),
        # so the client raises one the direct path's callers cannot tell apart.
        fields = {k: v for k, v in vars(exc).items() if k != "message" and _is_json(v)}
        return {"kind": "remote", "type": type(exc).__name__, "message": exc.message, "fields": fields}
    if isinstance(exc, DsvmctlError):
        return {"kind": "dsvmctl", "type": type(exc).__name__, "message": exc.message, "fix": exc.fix}
    return {"kind": "dsvmctl", "type": "DsvmctlError", "message": f"the agent failed: {type(exc).__name__}: {exc}"}


def _is_json(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool)) or (
        isinstance(value, list) and all(isinstance(v, (str, int, float, bool)) for v in value))


def rss_kib() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Agent:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.started = time.time()
        self.idle_limit = agent_client.idle_seconds()
        self.last_activity = time.monotonic()
        self.active_requests = 0
        self.stopping = threading.Event()
        self.restored = threading.Event()
        self._lock = threading.RLock()
        self.hosts: dict[str, tuple[Any, dict[str, Any]]] = {}  # vm id -> (LocalVMHost, spec)
        self.pool: dict[tuple, Any] = {}  # (host, port, user, key, host key) -> Session
        self._connecting: dict[tuple, threading.Lock] = {}
        self.tunnels: dict[str, Tunnel] = {}
        self._listener: socket.socket | None = None

    # -- life --------------------------------------------------------------------------------------

    def serve(self) -> None:
        path = self.home / agent_client.SOCKET_NAME
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket is born 0600: no window where others could connect
        try:
            if os.path.lexists(path):
                os.unlink(path)  # we hold the agent lock, so whatever is there is stale
            with agent_client.socket_address(path) as address:
                listener.bind(address)
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        listener.listen(64)
        self._listener = listener
        log.info("agent %s listening on %s (idle limit %.0f s)", os.getpid(), path, self.idle_limit)
        threading.Thread(target=self._restore, name="restore", daemon=True).start()
        threading.Thread(target=self._watch_idle, name="idle", daemon=True).start()
        while not self.stopping.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                break
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()
        self.shutdown()

    def shutdown(self, reason: str = "the agent stopped") -> None:
        self.stopping.set()
        if self._listener is not None:
            try:
                self._listener.close()
            except OSError:
                pass
        with self._lock:
            for tunnel in list(self.tunnels.values()):
                tunnel.close(reason)
            for host, _spec in list(self.hosts.values()):
                host.stop()
            for session in list(self.pool.values()):
                session.close()
            self.hosts.clear()
            self.pool.clear()
            self.tunnels.clear()

    def _busy(self) -> bool:
        with self._lock:
            running = any(host.running for host, _ in self.hosts.values())
            return running or bool(self.tunnels) or self.active_requests > 0

    def _watch_idle(self) -> None:
        interval = max(0.2, min(5.0, self.idle_limit / 4))
        while not self.stopping.wait(interval):
            if not self.home.is_dir():
                log.info("state directory %s is gone: exiting", self.home)
                break
            if self._busy():
                self.last_activity = time.monotonic()
            elif time.monotonic() - self.last_activity >= self.idle_limit:
                log.info("idle for %.0f s with no local VM running: exiting", self.idle_limit)
                break
        self.stopping.set()
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()

    def _restore(self) -> None:
        """Host every running local VM again (after a restart), from the emulator's state."""
        try:
            state_dir = self.home / "local-cloud"
            if not (state_dir / "state.json").is_file():
                return
            from ..cloud.localhosts import LocalHosts, host_spec
            from ..cloud.power import PowerState
            from ..emulator.core import Emulator

            em = Emulator(state_dir=state_dir)
            disks = LocalHosts.disks_root_of(self.home)
            for vm in em.find("Microsoft.Compute/virtualMachines"):
                meta = em.meta_of(vm["id"])
                if PowerState.parse(meta.get("power")) is not PowerState.RUNNING or meta.get("os_type") == "Windows":
                    continue
                try:
                    port = self.host(host_spec(em, vm, disks))
                    log.info("restored VM %s on port %s", vm["name"], port)
                except Exception as exc:  # noqa: BLE001 - one VM that cannot come back must not stop the rest
                    log.warning("could not restore VM %s: %s", vm["name"], exc)
        except Exception:  # noqa: BLE001
            log.exception("restoring the local VMs failed")
        finally:
            self.restored.set()

    # -- VM hosts ----------------------------------------------------------------------------------

    def host(self, spec: dict[str, Any]) -> int:
        from ..cloud.localhosts import port_taken_error, sandbox_from_spec
        from ..emulator.vmhost import LocalVMHost

        vm_id = spec["vm_id"].lower()
        with self._lock:
            current = self.hosts.get(vm_id)
            if current is not None and current[0].running:
                return current[0].port
            port = int(spec.get("port") or 0)
            host = LocalVMHost(Path(spec["disk_dir"]), spec["host_key"], spec["authorized_keys"], spec["admin_user"],
                               port=port, path=spec.get("path"), strict_port=bool(port),
                               sandbox=sandbox_from_spec(spec.get("sandbox")))  # the VM's own, made by the command
            try:
                host.start()
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise port_taken_error(spec["name"], port) from None
                raise
            self.hosts[vm_id] = (host, spec)
            log.info("hosting VM %s on 127.0.0.1:%s", spec["name"], host.port)
            return host.port

    def unhost(self, vm_id: str, reason: str) -> bool:
        with self._lock:
            entry = self.hosts.pop(vm_id.lower(), None)
            if entry is None:
                return False
            host, spec = entry
            for tunnel_id, tunnel in list(self.tunnels.items()):
                if tunnel.vm_id == vm_id.lower():
                    tunnel.close(reason)
                    self.tunnels.pop(tunnel_id, None)
            for key, session in list(self.pool.items()):
                if key[0] == "127.0.0.1" and key[1] == host.port:
                    session.close()
                    self.pool.pop(key, None)
        host.stop()
        log.info("stopped hosting VM %s (%s)", spec["name"], reason)
        return True

    # -- pooled connections -------------------------------------------------------------------------

    def session(self, target: dict[str, Any], fresh: bool = False):
        from ..remote.session import connect

        key = (target["host"], int(target["port"]), target["user"], target["key_path"], target["host_key"])
        with self._lock:
            gate = self._connecting.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                current = self.pool.get(key)
            if current is not None and current.active and not fresh:
                return current
            if current is not None:
                current.close()
            session = connect(key[0], key[1], key[2], key[3], host_key=key[4], retries=int(target.get("retries", 2)),
                              keepalive=15)
            with self._lock:
                self.pool[key] = session
            log.info("connected to %s (%s:%s)", target.get("name", "?"), key[0], key[1])
            return session

    # -- requests ----------------------------------------------------------------------------------

    def _handle(self, conn: socket.socket) -> None:
        counted = False  # status requests do not keep the agent alive: `agent status` must not
        try:
            uid = _peer_uid(conn)
            if uid != os.getuid():
                log.warning("refused a connection from uid %s (only uid %s may use this agent)", uid, os.getuid())
                return
            frame = protocol.recv(conn)
            if frame is None or frame[0] != b"J":
                return
            request = protocol.decode_json(frame[1])
            op = request.get("op", "")
            if op != "status":
                counted = True
                with self._lock:
                    self.active_requests += 1
            handler = getattr(self, f"op_{op}", None)
            if handler is None:
                protocol.send_json(conn, {"error": {"kind": "dsvmctl", "type": "UsageError",
                                                    "message": f"the agent knows no operation {op!r}"}})
                return
            try:
                reply = handler(conn, request)
            except Exception as exc:  # noqa: BLE001 - every failure goes back to the client as an error
                log.info("%s failed: %s", op, exc)
                reply = {"error": error_document(exc)}
            if reply is not None:
                protocol.send_json(conn, reply)
        except (OSError, protocol.ProtocolError) as exc:
            log.debug("client went away: %s", exc)
        finally:
            conn.close()
            if counted:
                with self._lock:
                    self.active_requests -= 1
                    self.last_activity = time.monotonic()

    def op_status(self, conn, request) -> dict[str, Any]:
        with self._lock:
            hosts = [{"vm_id": vm_id, "name": spec["name"], "port": host.port, "running": host.running}
                     for vm_id, (host, spec) in self.hosts.items()]
            connections = [{"host": k[0], "port": k[1], "user": k[2], "active": s.active} for k, s in self.pool.items()]
            tunnels = [t.describe() for t in self.tunnels.values()]
        return {"pid": os.getpid(), "home": str(self.home), "socket": str(self.home / agent_client.SOCKET_NAME),
                "log": str(self.home / agent_client.LOG_NAME), "uptime_s": round(time.time() - self.started, 1),
                "idle_limit_s": self.idle_limit, "rss_kib": rss_kib(), "vms": hosts, "connections": connections,
                "tunnels": tunnels}

    def op_stop(self, conn, request) -> dict[str, Any]:
        threading.Thread(target=self._stop_soon, daemon=True).start()
        return {"stopping": True, "pid": os.getpid()}

    def _stop_soon(self) -> None:
        time.sleep(0.05)  # let the reply go out first
        self.stopping.set()
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def op_host(self, conn, request) -> dict[str, Any]:
        return {"port": self.host(request["spec"])}

    def op_unhost(self, conn, request) -> dict[str, Any]:
        return {"stopped": self.unhost(request["vm_id"], request.get("reason", "stopped"))}

    def op_endpoint(self, conn, request) -> dict[str, Any]:
        self.restored.wait(60)
        with self._lock:
            entry = self.hosts.get(request["vm_id"].lower())
        return {"port": entry[0].port if entry is not None and entry[0].running else None}

    def op_exec(self, conn, request) -> dict[str, Any] | None:
        target, command = request["target"], request["command"]
        cancel = threading.Event()
        send_lock = threading.Lock()
        started = threading.Event()

        def sender(kind: bytes):
            def send(data: bytes) -> None:
                started.set()
                if cancel.is_set():
                    return
                try:
                    with send_lock:
                        protocol.send(conn, kind, data)
                except OSError:
                    cancel.set()  # the client is gone: stop the command as Ctrl-C would
            return send

        def taken(size: int) -> None:  # the client may send that much more stdin
            try:
                with send_lock:
                    protocol.send_json(conn, {"stdin_taken": size})
            except OSError:
                cancel.set()

        stdin = StdinRelay(taken) if request.get("stdin") else None

        def watch() -> None:
            try:
                while (frame := protocol.recv(conn)) is not None:
                    kind, payload = frame
                    if kind == b"I" and stdin is not None:
                        stdin.put(payload)
                    elif kind == b"W" and stdin is not None:
                        stdin.end()
                    elif kind == b"J" and protocol.decode_json(payload).get("cancel"):
                        break
            except (OSError, protocol.ProtocolError):
                pass
            cancel.set()
            if stdin is not None:
                stdin.end()

        threading.Thread(target=watch, daemon=True).start()
        from ..remote.errors import SessionClosed

        try:
            for attempt in (0, 1):
                session = self.session(target, fresh=bool(attempt))
                try:
                    code = session.exec(command, stdout=sender(b"O"), stderr=sender(b"E"), stdin=stdin,
                                        timeout=request.get("timeout"), cancel=cancel)
                    break
                except SessionClosed:
                    # A connection that broke while idle is found out here; reopen once if nothing ran yet.
                    if attempt or started.is_set() or session.active or (stdin is not None and stdin.read_from):
                        raise
                except KeyboardInterrupt:  # cancelled: the remote process group was stopped
                    code = 130
                    break
        finally:
            if stdin is not None:
                stdin.end()  # the command is over: the channel's stdin writer stops waiting
        return {"exit": code}

    def op_connect(self, conn, request) -> dict[str, Any]:
        """Open (or check) the pooled connection: a dead VM or a changed host key fails here."""
        session = self.session(request["target"])
        if not session.active:
            session = self.session(request["target"], fresh=True)
        return {"connected": True}

    def op_push(self, conn, request) -> dict[str, Any]:
        from ..remote.posix import check_dest
        from ..remote.sync import push
        from ..remote.target import WORKLOADS_DIR

        dest = request.get("dest") or WORKLOADS_DIR
        check_dest(dest, confined=True)  # before connecting; --dest-absolute pushes take the direct path
        cache_dir = Path(request["cache_dir"]) if request.get("cache_dir") else True
        session = self.session(request["target"])
        if not session.active:
            session = self.session(request["target"], fresh=True)
        summary = push(session, request["src"], dest, request.get("ignore_file"), cache_dir=cache_dir, confined=True)
        return {"summary": summary.to_json()}

    def op_fetch(self, conn, request) -> dict[str, Any]:
        """remote.sync.fetch into the caller's directory: the agent runs as the caller's user (the
        peer uid is checked), so it writes there as the direct path would, with untar.py's checks."""
        from ..errors import UsageError
        from ..remote.sync import fetch
        from ..remote.untar import FetchLimits

        local_dir = request["local_dir"]
        if not os.path.isabs(local_dir):  # the agent's working directory is not the caller's
            raise UsageError(f"the agent fetches only into an absolute directory, not {local_dir!r}")
        limits = FetchLimits(**{k: int(v) for k, v in (request.get("limits") or {}).items()})
        session = self.session(request["target"])
        if not session.active:
            session = self.session(request["target"], fresh=True)
        return {"summary": fetch(session, request["remote_paths"], local_dir, limits=limits).to_json()}

    def op_probe(self, conn, request) -> dict[str, Any]:
        """Does something listen on the VM's 127.0.0.1:PORT? (one direct-tcpip channel, closed at once)"""
        session = self.session(request["target"])
        try:
            channel = session.transport.open_channel("direct-tcpip", ("127.0.0.1", int(request["port"])),
                                                     ("127.0.0.1", 0), timeout=10)
        except Exception as exc:  # noqa: BLE001 - refused, administratively prohibited, ...
            return {"open": False, "reason": str(exc) or type(exc).__name__}
        channel.close()
        return {"open": True}

    def op_tunnel(self, conn, request) -> dict[str, Any] | None:
        target = request["target"]
        self.session(target)  # connect now: a wrong host key or a dead VM fails here, not on first use
        tunnel = Tunnel(lambda: self.session(target).transport, request["remote_port"], request.get("local_port") or 0,
                        machine=target.get("name", ""), vm_id=(request.get("vm_id") or "").lower() or None)
        try:
            tunnel.start()
        except OSError as exc:
            from ..errors import UsageError

            raise UsageError(f"cannot listen on 127.0.0.1:{request.get('local_port')}: {exc.strerror or exc}",
                             fix="choose another --local-port, or leave it out to get a free one") from None
        with self._lock:
            self.tunnels[tunnel.id] = tunnel
        protocol.send_json(conn, {"tunnel": tunnel.describe()})
        if request.get("detach"):
            return None

        def watch_client() -> None:
            try:
                while protocol.recv(conn) is not None:
                    pass
            except (OSError, protocol.ProtocolError):
                pass
            tunnel.close("the dsvmctl tunnel command ended")

        threading.Thread(target=watch_client, daemon=True).start()
        tunnel.closed.wait()
        with self._lock:
            self.tunnels.pop(tunnel.id, None)
        return {"ended": tunnel.reason}

    def op_tunnels(self, conn, request) -> dict[str, Any]:
        with self._lock:
            return {"tunnels": [t.describe() for t in self.tunnels.values()]}

    def op_tunnel_close(self, conn, request) -> dict[str, Any]:
        wanted = request.get("id")
        closed = []
        with self._lock:
            for tunnel_id, tunnel in list(self.tunnels.items()):
                if wanted in (None, tunnel_id) or wanted == tunnel.machine:
                    tunnel.close("closed with dsvmctl tunnel --close")
                    self.tunnels.pop(tunnel_id, None)
                    closed.append(tunnel.describe())
        return {"closed": closed}


class StdinRelay:
    """The client's stdin frames as the binary file Session.exec reads the command's stdin from.
    Each chunk taken is acknowledged (`taken`), so the client sends more: what waits here is
    bounded by the client's window, and the socket is always read (a cancel frame gets through)."""

    def __init__(self, taken: Any) -> None:
        self.chunks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.taken = taken
        self.read_from = False

    def put(self, data: bytes) -> None:
        if data:  # an empty chunk would read as the end
            self.chunks.put(data)

    def end(self) -> None:
        self.chunks.put(None)

    def read(self, size: int = -1) -> bytes:
        chunk = self.chunks.get()
        if chunk is None:
            self.chunks.put(None)  # every later read sees the end too
            return b""
        self.read_from = True
        self.taken(len(chunk))
        return chunk


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def main(argv: list[str]) -> int:
    home = Path(argv[1] if len(argv) > 1 else os.environ["DSVMCTL_HOME"]).resolve()
    # paramiko.config imports invoke, only to run ssh_config's `Match exec` (the agent reads no
    # ssh_config): a third of paramiko's import, which the first command after a start waits for.
    # Only here, in the agent's own process; the library leaves the importer's modules alone.
    sys.modules.setdefault("invoke", None)  # type: ignore[arg-type]
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format=f"%(asctime)s agent[{os.getpid()}] %(levelname)s %(message)s")
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    lock = open(home / agent_client.LOCK_NAME, "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        log.info("another agent already serves %s", home)
        return 0
    agent = Agent(home)
    try:
        agent.serve()
    finally:
        path = home / agent_client.SOCKET_NAME
        try:
            os.unlink(path)
        except OSError:
            pass
        log.info("agent %s stopped", os.getpid())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
