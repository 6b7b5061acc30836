"""The CLI process's own stdio, as the commands relay it. Standard library only: the fast path
(dsvmctl.fastpath) imports this without click."""

from __future__ import annotations

import os
import sys
from typing import Any


def piped_stdin() -> Any:
    """What `dsvmctl exec` relays as the command's stdin: this process's stdin when it is a pipe
    or a file (`... | dsvmctl exec lab -- cat`, as ssh relays it), read as it arrives; None (the
    remote stdin closed at once) when it is a terminal, so a command waiting for input cannot
    hang an interactive shell, or when there is none."""
    stream = getattr(sys.stdin, "buffer", None)
    try:
        if stream is None or os.isatty(stream.fileno()):
            return None
    except (OSError, ValueError):  # closed or not a real file
        return None
    return getattr(stream, "raw", stream)  # unbuffered: each read returns what has arrived
