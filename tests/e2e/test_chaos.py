"""A short slice of the chaos suite (benchmarks/chaos.py): whole user cycles on the local cloud
with 10% of ARM responses faulted and dsvmctl killed at random points, then re-run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

CHAOS = Path(__file__).resolve().parents[2] / "benchmarks" / "chaos.py"


def load_chaos():
    spec = importlib.util.spec_from_file_location("dsvmctl_chaos", CHAOS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_cycles_under_ten_percent_faults_and_kills_complete_with_no_traceback_lost_disk_or_leak(tmp_path):
    chaos = load_chaos()
    report = chaos.run_chaos(3, 0.10, seed=7, kill_share=0.67, home=tmp_path / "home")
    assert report.tracebacks == 0, report.traceback_samples
    assert report.disks_lost == 0 and report.leaks == 0
    assert report.completed == report.cycles == 3, report.failures
    assert report.commands > 3 * 7  # every step ran (and the kills' re-runs on top)


def test_fault_rules_fault_about_the_asked_share_of_requests():
    from dsvmctl.emulator.faults import ConnectionResetFault, Faults
    from dsvmctl.emulator.wire import ArmError, Request

    chaos = load_chaos()
    faults = Faults(seed=3)
    faults.configure(chaos.fault_rules(0.30))
    faulted = 0
    for _ in range(4000):
        try:
            faults.check_request(Request("GET", "https://management.azure.com/subscriptions/x?api-version=1", {}, b""))
        except (ArmError, ConnectionResetFault):
            faulted += 1
    assert 0.27 < faulted / 4000 < 0.33


def test_faults_from_the_environment_reach_a_separate_cli_process(tmp_path):
    import json
    import os
    import subprocess

    env = {**os.environ, "DSVMCTL_HOME": str(tmp_path / "home"), "DSVMCTL_CLOUD": "local",
           "DSVMCTL_FAULTS": json.dumps([{"fault": "server_error", "status": 503, "probability": 1.0,
                                          "times": None}])}
    result = subprocess.run([str(Path(sys.executable).with_name("dsvmctl")), "sizes", "-o", "json"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "ServiceUnavailable" in result.stderr or "503" in result.stderr, result.stderr
    bad = subprocess.run([str(Path(sys.executable).with_name("dsvmctl")), "sizes"], capture_output=True, text=True,
                         env={**env, "DSVMCTL_FAULTS": "{not json"}, timeout=300)
    assert bad.returncode == 2 and "DSVMCTL_FAULTS" in bad.stderr and "Traceback" not in bad.stderr
