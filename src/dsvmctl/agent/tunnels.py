"""A local port forward: 127.0.0.1:LOCAL -> the VM's 127.0.0.1:REMOTE over an SSH transport.

Each accepted local connection gets its own direct-tcpip channel on the (pinned, already
authenticated) transport, so opening one costs one round trip and no handshake. Used by the
agent (`dsvmctl tunnel --detach` and foreground tunnels) and, with the agent off, in-process.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import uuid
from typing import Any, Callable

log = logging.getLogger("dsvmctl.agent")
CHUNK = 2**16


class Tunnel:
    def __init__(self, transport_of: Callable[[], Any], remote_port: int, local_port: int = 0, *,
                 machine: str = "", vm_id: str | None = None, target_port: int | None = None) -> None:
        self.id = uuid.uuid4().hex[:8]
        self.transport_of = transport_of  # called per connection: the agent reopens a broken one
        self.remote_port = int(remote_port)
        self.local_port = int(local_port)
        self.machine, self.vm_id, self.target_port = machine, vm_id, target_port
        self.closed = threading.Event()
        self.reason = ""
        self._listener: socket.socket | None = None
        self._pairs: set[tuple[socket.socket, Any]] = set()
        self._lock = threading.Lock()

    def start(self) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", self.local_port))
        except OSError:
            listener.close()
            raise
        listener.listen(16)
        self._listener = listener
        self.local_port = listener.getsockname()[1]
        threading.Thread(target=self._accept, name=f"tunnel-{self.id}", daemon=True).start()
        return self.local_port

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "machine": self.machine, "local_port": self.local_port,
                "remote_port": self.remote_port, "connections": len(self._pairs)}

    def close(self, reason: str = "closed") -> None:
        with self._lock:
            if self.closed.is_set():
                return
            self.reason = reason
            self.closed.set()
            pairs, self._pairs = list(self._pairs), set()
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
        for local, channel in pairs:
            local.close()
            channel.close()

    # -- threads -----------------------------------------------------------------------------------

    def _accept(self) -> None:
        assert self._listener is not None
        while not self.closed.is_set():
            try:
                local, peer = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._forward, args=(local, peer), daemon=True).start()

    def _forward(self, local: socket.socket, peer: tuple[str, int]) -> None:
        try:
            channel = self.transport_of().open_channel("direct-tcpip", ("127.0.0.1", self.remote_port), peer,
                                                       timeout=15)
        except Exception as exc:  # noqa: BLE001 - refused by the VM, connection lost: tell the log, drop this one
            log.info("tunnel %s: the VM refused a connection to its port %s: %s", self.id, self.remote_port, exc)
            local.close()
            return
        with self._lock:
            if self.closed.is_set():
                local.close()
                channel.close()
                return
            self._pairs.add((local, channel))
        try:
            pump(local, channel)
        finally:
            with self._lock:
                self._pairs.discard((local, channel))
            local.close()
            channel.close()


def pump(local: socket.socket, channel: Any) -> None:
    """Copy both ways until either side closes."""
    while True:
        try:
            ready, _, _ = select.select([local, channel], [], [], 1.0)
        except (OSError, ValueError):
            return
        if local in ready:
            data = local.recv(CHUNK)
            if not data:
                return
            channel.sendall(data)
        if channel in ready:
            data = channel.recv(CHUNK)
            if not data:
                return
            local.sendall(data)
