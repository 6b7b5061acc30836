"""Frames on the agent's unix socket: one type byte, a 4-byte big-endian length, the payload.

    J  a JSON object (requests, replies, errors, events)
    O  stdout bytes        E  stderr bytes        (agent -> client)
    I  stdin bytes         W  end of stdin        (client -> agent)

A request is the first J frame a client sends; the rest of the conversation depends on its
"op". Stdlib only: the CLI imports this at start-up.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

HEADER = struct.Struct(">cI")
MAX_FRAME = 2**24


class ProtocolError(Exception):
    """The other side sent something that is not a frame, or went away mid-frame."""


def send(sock: socket.socket, kind: bytes, payload: bytes = b"") -> None:
    head = HEADER.pack(kind, len(payload))
    if len(payload) < 65536:  # one write for small frames; big ones are not copied
        sock.sendall(head + payload)
    else:
        sock.sendall(head)
        sock.sendall(payload)


def send_json(sock: socket.socket, document: dict[str, Any]) -> None:
    send(sock, b"J", json.dumps(document, separators=(",", ":")).encode())


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 2**20))
        if not chunk:
            raise ProtocolError("connection closed mid-frame" if chunks or size != HEADER.size else "connection closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv(sock: socket.socket) -> tuple[bytes, bytes] | None:
    """The next frame as (kind, payload), or None when the other side closed cleanly."""
    try:
        head = sock.recv(HEADER.size, socket.MSG_WAITALL)
    except ConnectionResetError:
        return None
    if not head:
        return None
    if len(head) < HEADER.size:
        head += _read_exact(sock, HEADER.size - len(head))
    kind, size = HEADER.unpack(head)
    if size > MAX_FRAME:
        raise ProtocolError(f"frame of {size} bytes is too big")
    return kind, _read_exact(sock, size) if size else b""


def decode_json(payload: bytes) -> dict[str, Any]:
    try:
        document = json.loads(payload)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ProtocolError("a JSON frame must hold an object")
    return document
