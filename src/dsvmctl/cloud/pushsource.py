"""What a push sends: the directory given, or the bundled workloads (without byte-code caches).

Stdlib only: the CLI's fast path (commands/pushing.py) needs this much and no more of the cloud
layer, whose imports cost more than an unchanged push itself.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DsvmctlError, UsageError

# The bundled tree is pushed without byte-code caches (a test or an editable install leaves them).
BUNDLED_IGNORE = "__pycache__/\n*.pyc\n*.pyo\n"


def bundled_workloads() -> Path:
    """The shipped workloads directory (package data `dsvmctl.workloads`), as a real path."""
    from importlib.resources import files

    root = files("dsvmctl.workloads")
    path = Path(str(root))
    if not (path / "train.py").is_file():  # pragma: no cover - zipped installs are not supported
        raise DsvmctlError(f"the bundled workloads are not a directory on disk ({root})",
                           fix="install dsvmctl from a wheel or a source checkout (not a zip)")
    return path


def push_source(src: str | Path | None, cache_dir: Path) -> tuple[Path, str]:
    """(the tree, its ignore file) for a push of `src` (None: the bundled workloads). The bundled
    tree's rules are written into `cache_dir`: an absolute ignore path wins over the tree's own."""
    if src is None:
        rules = cache_dir / "bundled.dsvmignore"
        try:
            current = rules.read_text()
        except OSError:
            current = None
        if current != BUNDLED_IGNORE:
            rules.parent.mkdir(parents=True, exist_ok=True)
            rules.write_text(BUNDLED_IGNORE)
        return bundled_workloads(), str(rules)
    root = Path(src).expanduser()
    if not root.is_dir():
        raise UsageError(f"nothing to push: {root} is not a directory", fix="give a directory to push")
    return root, ".dsvmignore"
