"""The one loop that drives a command's channel: live stdout/stderr, timeout, Ctrl-C, exit code.

Used by `Session.exec` (Linux: the wrapper's first stdout line is the process-group id) and by
the Windows target (the run script's first stdout line is its pid). When a `mark` is given, a
first stdout line `<mark><number>` is taken off the stream and handed to `stop` if the command
must be ended early; stop's return value says whether that worked.
"""

from __future__ import annotations

import codecs
import io
import select
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from dsvmctl.remote import errors

if TYPE_CHECKING:
    import paramiko

READ_CHUNK = 2**18
Feed = Callable[[bytes], Any]
Stop = Callable[["int | None"], bool]


def sink(target: Any) -> Feed:
    """Turn None (discard), a callback, a binary stream or a text stream into `feed(bytes)`."""
    if target is None:
        return lambda data: None
    if callable(target) and not hasattr(target, "write"):
        return target  # type: ignore[return-value]
    stream = target
    if isinstance(stream, io.TextIOBase) or hasattr(stream, "encoding"):
        decoder = codecs.getincrementaldecoder("utf-8")("replace")

        def feed_text(data: bytes) -> None:
            stream.write(decoder.decode(data))  # type: ignore[arg-type]
            stream.flush()

        return feed_text

    def feed_bytes(data: bytes) -> None:
        stream.write(data)  # type: ignore[arg-type]
        if hasattr(stream, "flush"):
            stream.flush()

    return feed_bytes


def split_mark(head: bytes, mark: bytes) -> tuple[int | None, bytes]:
    """Split a `<mark><number>` first line off `head`; (None, head) when it is not there."""
    line, sep, rest = head.partition(b"\n")
    value = line.strip()
    if sep and value.startswith(mark) and value[len(mark):].isdigit():
        return int(value[len(mark):]), rest
    return None, head


def pump(channel: "paramiko.Channel", transport: Any, *, stdout: Feed, stderr: Feed, label: str,
         timeout: float | None = None, mark: bytes | None = None,
         stop: Stop = lambda _: False, cancel: "threading.Event | None" = None) -> int:
    """Stream the channel's output until the command exits; return its exit status.

    On timeout, `stop(id)` runs and CommandTimeout is raised; on KeyboardInterrupt, `stop(id)`
    runs and the interrupt goes on. A dropped connection raises SessionClosed. The channel is
    closed on the way out. `cancel`, set from another thread, acts as Ctrl-C (the agent sets it
    when its client goes away)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    found: int | None = None
    head: bytes | None = b"" if mark else None  # stdout until the mark line is complete
    try:
        while True:
            progressed = False
            if channel.recv_ready():
                data = channel.recv(READ_CHUNK)
                progressed = True
                if head is not None:
                    head += data
                    if b"\n" in head or len(head) > 64:
                        found, rest = split_mark(head, mark or b"")
                        head = None
                        if rest:
                            stdout(rest)
                else:
                    stdout(data)
            if channel.recv_stderr_ready():
                stderr(channel.recv_stderr(READ_CHUNK))
                progressed = True
            if progressed:
                continue
            if cancel is not None and cancel.is_set():
                raise KeyboardInterrupt
            if channel.exit_status_ready() and (channel.eof_received or channel.closed):
                break
            if channel.closed or not transport.is_active():
                if channel.exit_status_ready():
                    break
                raise errors.SessionClosed(f"the remote command {label!r}")
            wait = 0.2
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    killed = stop(found)
                    raise errors.CommandTimeout(label, timeout or 0, killed)
                wait = min(wait, remaining)
            select.select([channel], [], [], wait)
    except KeyboardInterrupt:
        stop(found)
        raise
    finally:
        channel.close()
    if head:  # the command printed less than a whole first line
        stdout(split_mark(head, mark or b"")[1])
    return channel.recv_exit_status()
