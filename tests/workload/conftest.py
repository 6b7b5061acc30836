"""Workload tests import the workloads/ package from the repository root."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture
def train_module():
    import workloads.train as train

    return train


@pytest.fixture(autouse=True)
def peak_cache_in_tmp(tmp_path_factory, monkeypatch):
    """train.py caches the CPU's measured matmul peak; keep it out of the real home directory."""
    monkeypatch.setenv("DSVMCTL_PEAK_CACHE", str(tmp_path_factory.getbasetemp() / "cpu_peak.json"))
