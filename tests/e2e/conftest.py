"""What the local-cloud end-to-end tests share: the cloud, one VM named lab, the VM's home, and
the environment workload runs need."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dsvmctl import Cloud, EnvironmentSpec
from dsvmctl.cloud import workload


@pytest.fixture
def remote_env(tmp_path, monkeypatch):
    """Push caches under the test's temp dir; the VM runs workloads with this interpreter (it has torch)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv(workload.PYTHON_ENV, sys.executable)


@pytest.fixture
def cloud():
    with Cloud.local() as cloud:  # DSVMCTL_HOME: the suite's per-test temp dir (tests/conftest.py)
        yield cloud


@pytest.fixture
def lab(cloud):
    return cloud.up(EnvironmentSpec.from_dict({"name": "lab"}))


@pytest.fixture
def lab_home(cloud, lab) -> Path:
    """lab's admin home on its disk directory (what `~` is on the VM)."""
    emulator = cloud.backend.emulator
    return cloud.backend.hosts._home(emulator, emulator.get(lab.vm().id))


@pytest.fixture(params=["direct", "agent"])
def over(request, cloud, monkeypatch):
    """Each test twice: commands over a direct connection, then over the agent's pooled one. The
    VM stays hosted in this process (where a test can tamper with it); in the agent run a direct
    connection from this process fails the test, so what passes went through the agent."""
    if request.param == "direct":
        yield "direct"
        return
    from dsvmctl import remote

    def no_direct(*args, **kwargs):
        raise AssertionError("a direct SSH connection was opened while the agent was on")

    monkeypatch.setenv("DSVMCTL_AGENT", "auto")
    monkeypatch.setattr(remote, "connect", no_direct)
    yield "agent"
    stop_agent(Path(cloud.paths.root))


def stop_agent(home: Path) -> None:
    """Stop the agent of `home` (if one runs) and wait until it is gone."""
    import os
    import time

    from dsvmctl.agent.client import find

    agent = find(home)
    if agent is None:
        return
    pid = agent.ping()["pid"]
    agent.request("stop")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return
        except OSError:
            return
        time.sleep(0.05)
    os.kill(pid, 9)
