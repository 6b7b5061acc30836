"""A Session that runs its commands over the agent's pooled connection (no handshake, no paramiko
in this process). exec/run (stdin relayed), push and fetch go through the agent; anything that needs
a raw channel (SFTP, open_exec, Windows streams) opens a direct connection on first use, so every
caller of `dsvmctl.remote.session.Session` keeps working unchanged.
"""

from __future__ import annotations

import codecs
import io
from typing import Any, Callable, NamedTuple

from .client import AgentClient


class CommandResult(NamedTuple):
    code: int
    out: str
    err: str


def as_callback(target: Any) -> Callable[[bytes], None]:
    """A callback, a binary stream or a text stream (None discards), as Session.exec takes them."""
    if target is None:
        return lambda data: None
    if callable(target) and not hasattr(target, "write"):
        return target
    if isinstance(target, io.TextIOBase) or hasattr(target, "encoding"):
        decoder = codecs.getincrementaldecoder("utf-8")("replace")

        def feed_text(data: bytes) -> None:
            target.write(decoder.decode(data))
            target.flush()

        return feed_text

    def feed_bytes(data: bytes) -> None:
        target.write(data)
        if hasattr(target, "flush"):
            target.flush()

    return feed_bytes


class AgentSession:
    def __init__(self, agent: AgentClient, target: dict[str, Any], direct: Callable[[], Any]) -> None:
        self.agent, self.target = agent, target
        self.host, self.port, self.user = target["host"], int(target["port"]), target["user"]
        self._direct_factory = direct
        self._direct: Any = None

    @property
    def active(self) -> bool:
        return True

    def direct(self) -> Any:
        """The direct paramiko Session behind this one, opened on first use."""
        if self._direct is None:
            self._direct = self._direct_factory()
        return self._direct

    def exec(self, command: str, *, stdout: Any = None, stderr: Any = None, stdin: Any = None,
             timeout: float | None = None, kill_grace: float = 2.0) -> int:
        return self.agent.exec(self.target, command, stdout=as_callback(stdout), stderr=as_callback(stderr),
                               stdin=stdin, timeout=timeout)

    def run(self, command: str, *, stdin: Any = None, timeout: float | None = None) -> CommandResult:
        out, err = io.BytesIO(), io.BytesIO()
        code = self.exec(command, stdout=out.write, stderr=err.write, stdin=stdin, timeout=timeout)
        return CommandResult(code, out.getvalue().decode("utf-8", "replace"), err.getvalue().decode("utf-8", "replace"))

    def push_tree(self, src: Any, dest: str, ignore_file: str | None, cache_dir: str | None = None):
        """remote.sync.push, run by the agent (it reads the local tree itself)."""
        import os
        from pathlib import Path

        from ..remote.sync import PushSummary

        # The caller's cache (what it pushed before), not the one of whoever started the agent.
        cache_dir = cache_dir or str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dsvmctl")
        return PushSummary(**self.agent.push(self.target, str(Path(src).resolve()), dest, ignore_file, cache_dir))

    def fetch_tree(self, remote_paths: list[str] | str, local_dir: Any, limits: Any = None):
        """remote.sync.fetch, run by the agent (as this user: it writes into `local_dir` itself,
        with untar.py's checks); `local_dir` is made absolute here, where it was meant."""
        from dataclasses import asdict
        from pathlib import Path

        from ..remote.sync import FetchSummary
        from ..remote.untar import DEFAULT_LIMITS

        wanted = [remote_paths] if isinstance(remote_paths, str) else list(remote_paths)
        summary = self.agent.fetch(self.target, wanted, str(Path(local_dir).absolute()), asdict(limits or DEFAULT_LIMITS))
        return FetchSummary(**summary)

    def close(self) -> None:
        if self._direct is not None:
            self._direct.close()
            self._direct = None

    def __enter__(self) -> "AgentSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:  # open_exec, sftp, transport, ...
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.direct(), name)
