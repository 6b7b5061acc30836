"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# No per-user agent unless a test asks for one (tests/agent sets DSVMCTL_AGENT=auto): set here as
# well as per test, so module-scoped fixtures (a fleet built once per module) start none either.
os.environ["DSVMCTL_AGENT"] = "off"


def shared_dir() -> Path | None:
    """../shared beside the checkout (CI lays it there); None on a user's fresh clone."""
    candidate = Path(os.environ.get("DSVMCTL_SHARED_DIR", REPO.parent / "shared"))
    return candidate if candidate.is_dir() else None


def require_shared(*parts: str) -> Path:
    base = shared_dir()
    if base is None or not base.joinpath(*parts).exists():
        pytest.skip(f"shared test data {'/'.join(parts)} not found beside the checkout "
                    "(../shared); these tests use real Azure examples that the project does not ship")
    return base.joinpath(*parts)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Never touch the user's real state directory."""
    monkeypatch.setenv("DSVMCTL_HOME", str(tmp_path / "dsvmctl-home"))
    # No per-user agent unless a test asks for one (tests/agent): each would outlive its test.
    monkeypatch.setenv("DSVMCTL_AGENT", "off")
    yield
    # A local VM left running keeps its sandbox's processes alive, as a VM keeps running: power
    # off whatever a test left under its temp dir, so they do not pile up across the suite.
    from dsvmctl.emulator.sandbox import VMSandbox

    for record in tmp_path.glob("**/local-cloud/sandboxes/*.json"):
        VMSandbox.stop_recorded(record)


@pytest.fixture
def shared():
    """require_shared(*parts): the path under ../shared, or a skip saying why it is absent."""
    return require_shared
