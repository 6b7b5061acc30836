"""The SSH side: connect with a pinned host key, exec with live output, push and fetch trees.

Importing this package is cheap: paramiko loads only when a name below is first used, so the
CLI can start without it. `from dsvmctl.remote import connect, push` works as usual.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from dsvmctl.remote.errors import (
    AuthError,
    BadDestination,
    CommandTimeout,
    ForeignDestination,
    HostKeyMismatch,
    HostUnreachable,
    KeyFileError,
    OutsideHome,
    RemoteDiskFull,
    RemoteError,
    RemotePathNotFound,
    SessionClosed,
    TransferError,
)

_LAZY = {
    "connect": "dsvmctl.remote.session",
    "Session": "dsvmctl.remote.session",
    "CommandResult": "dsvmctl.remote.session",
    "push": "dsvmctl.remote.sync",
    "fetch": "dsvmctl.remote.sync",
    "PushSummary": "dsvmctl.remote.sync",
    "FetchSummary": "dsvmctl.remote.sync",
    "target_for": "dsvmctl.remote.target",
    "FetchLimits": "dsvmctl.remote.untar",
    "UnsafeArchive": "dsvmctl.remote.untar",
}

__all__ = [
    "AuthError",
    "BadDestination",
    "CommandTimeout",
    "ForeignDestination",
    "HostKeyMismatch",
    "HostUnreachable",
    "KeyFileError",
    "OutsideHome",
    "RemoteDiskFull",
    "RemoteError",
    "RemotePathNotFound",
    "SessionClosed",
    "TransferError",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dsvmctl.remote' has no attribute {name!r}")
    return getattr(import_module(module), name)
