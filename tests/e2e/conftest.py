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
