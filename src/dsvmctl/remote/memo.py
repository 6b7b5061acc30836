"""Parsed push caches, kept in memory between pushes of one long-lived process (the agent).

An unchanged re-push reads two cache files (file hashes, what the last push left); parsing
them costs more than the rest of the local work. A parsed value is reused while the file on
disk is still the one it was read from: same device, inode, size and mtime. Every writer
replaces these files by rename (paths.write_atomic), so a write by another process (a second
agent, a push without the agent) always shows as a new inode and is read again.

Values are shared between callers: they must not be mutated.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, TypeVar

T = TypeVar("T")
MAX_FILES = 16  # a few (source tree, destination) pairs; each entry holds one parsed manifest

_lock = threading.Lock()
_parsed: OrderedDict[tuple[str, Callable], tuple[tuple[int, int, int, int], Any]] = OrderedDict()


def load(path: Path, parse: Callable[[bytes], T]) -> T | None:
    """parse(the file's bytes), or the value parsed from this same file before; None when it
    cannot be read. `parse` is part of the key: one file may be read by several parsers."""
    key = (str(path), parse)
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())  # of the file read, not of whatever the path names later
            signature = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
            with _lock:
                hit = _parsed.get(key)
                if hit is not None and hit[0] == signature:
                    _parsed.move_to_end(key)
                    return hit[1]
            raw = handle.read()
    except OSError:
        return None
    value = parse(raw)
    with _lock:
        _parsed[key] = (signature, value)
        _parsed.move_to_end(key)
        while len(_parsed) > MAX_FILES:
            _parsed.popitem(last=False)
    return value


def clear() -> None:
    with _lock:
        _parsed.clear()
