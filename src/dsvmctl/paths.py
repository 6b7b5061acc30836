"""Where dsvmctl keeps its state, and how it writes a state file.

`StatePaths` is the one place that says where each state file lives; `Cloud` builds it and
every `Machine` carries it, so `Cloud.local(home=tmp)` reads and writes under `tmp` only.

    <root>/local-cloud/state.json          the local cloud (emulator state, 0600: it holds secrets)
    <root>/disks/<disk id>/                 the local cloud's OS disks
    <root>/machines/<cloud>/<name>/         machine.json, keys (0600), runs.json, resize journal
    <root>/runs/<run id>/                   what `collect` fetched
    <root>/results.sqlite, prices.json      bench results, prices from Azure
    <root>/reports/<comparison id>/         bench reports
    <root>/cache/                           push caches (file hashes, what the last push left)

`write_atomic` is the one way state files are written: a crash never leaves half a file.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def default_root() -> Path:
    """DSVMCTL_HOME, else the user's state directory (XDG_STATE_HOME or ~/.local/state)."""
    explicit = os.environ.get("DSVMCTL_HOME")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "dsvmctl"


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @classmethod
    def default(cls) -> "StatePaths":
        return cls(default_root()).ensure()

    @classmethod
    def of(cls, home: "StatePaths | Path | str | None") -> "StatePaths":
        if isinstance(home, StatePaths):
            return home.ensure()
        return cls(Path(home)).ensure() if home is not None else cls.default()

    def ensure(self) -> "StatePaths":
        """Create the root private (0700), and make it private again if it is not: it holds keys."""
        self.root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        if stat.S_IMODE(self.root.stat().st_mode) != PRIVATE_DIR:
            os.chmod(self.root, PRIVATE_DIR)
        return self

    # -- the local cloud ----------------------------------------------------------------------------

    @property
    def local_cloud(self) -> Path:
        return self.root / "local-cloud"

    @property
    def disks(self) -> Path:
        return self.root / "disks"

    # -- machines -------------------------------------------------------------------------------------

    def machines(self, cloud: str) -> Path:
        return self.root / "machines" / cloud

    def machine(self, cloud: str, name: str) -> Path:
        return self.machines(cloud) / name

    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    # -- bench ----------------------------------------------------------------------------------------

    @property
    def results_db(self) -> Path:
        return self.root / "results.sqlite"

    @property
    def prices_cache(self) -> Path:
        return self.root / "prices.json"

    def report_dir(self, comparison_id: str) -> Path:
        return self.root / "reports" / comparison_id

    # -- caches ---------------------------------------------------------------------------------------

    @property
    def cache(self) -> Path:
        return self.root / "cache"


def state_home() -> Path:
    """The state root, created (or made again) private: 0700."""
    return StatePaths.default().root


def write_atomic(path: Path, data: str | bytes, *, private: bool = False) -> Path:
    """Write `path` whole or not at all: a temp file beside it, fsync, rename.

    private: the file holds a secret (key, password, token, a state file holding them): it is
    created 0600 from the start, never readable by others for an instant, and its directory 0700."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR if private else 0o777)
    import tempfile  # here, not at the top: the CLI's fast path imports this module, writes nothing

    # mkstemp creates the file 0600; a file that is not secret is then made 0644, as most are.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
            if not private:
                os.fchmod(handle.fileno(), 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def private_file(path: Path, data: str | bytes) -> Path:
    """Write a secret (key, password) readable by its owner only, created 0600 from the start."""
    return write_atomic(path, data, private=True)
