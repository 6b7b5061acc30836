"""Fixtures for the agent tests: a real agent process per test home, always stopped afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dsvmctl.agent.client import find

REPO = Path(__file__).resolve().parents[2]
DSVMCTL = [sys.executable, "-m", "dsvmctl"]


def stop_agent(home: Path) -> None:
    agent = find(home)
    if agent is None:
        return
    pid = agent.ping()["pid"]
    try:
        agent.request("stop")
    except Exception:  # noqa: BLE001 - it may be dying already
        pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by us) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture
def home(tmp_path, monkeypatch):
    """DSVMCTL_HOME with the agent on; the agent (if one started) is stopped at the end."""
    path = tmp_path / "dsvmctl-home"
    path.mkdir(mode=0o700)
    monkeypatch.setenv("DSVMCTL_HOME", str(path))
    monkeypatch.setenv("DSVMCTL_AGENT", "auto")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield path
    stop_agent(path)


def cli(*args: str, timeout: float = 60, check: bool = False, **kwargs) -> subprocess.CompletedProcess:
    """dsvmctl as a separate process (as a user runs it), with this test's environment."""
    done = subprocess.run([*DSVMCTL, *args], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and done.returncode != 0:
        raise AssertionError(f"dsvmctl {' '.join(args)} exited {done.returncode}: {done.stdout}{done.stderr}")
    return done
