"""Where dsvmctl keeps its state: DSVMCTL_HOME, else the user's state directory."""

from __future__ import annotations

import os
from pathlib import Path


def state_home() -> Path:
    """The state root, created private (0700): it holds SSH keys and the local cloud."""
    explicit = os.environ.get("DSVMCTL_HOME")
    if explicit:
        root = Path(explicit).expanduser()
    else:
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        root = Path(base) / "dsvmctl"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def private_file(path: Path, data: str | bytes) -> Path:
    """Write a secret (key, password) readable by its owner only, created 0600 from the start."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    os.chmod(path, 0o600)
    return path
