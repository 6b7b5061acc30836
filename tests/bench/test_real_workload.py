"""The real train.py output through store, compare and report (slow: two tiny real runs, ~5 s).

Also guards the builders in conftest.py: every field they fake must exist in real output,
so the fast tests cannot drift away from what the workload writes.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dsvmctl.bench import report
from dsvmctl.bench.compare import compare_runs
from dsvmctl.bench.store import RunRecord, new_id

from .conftest import make_metrics

WORKLOADS = Path(__file__).resolve().parents[2] / "workloads"
TINY = ["--model", "transformer", "--d-model", "32", "--n-layers", "1", "--n-heads", "2", "--seq-len", "16",
        "--vocab-size", "64", "--batch-size", "4", "--steps", "2", "--warmup", "1", "--device", "auto"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="the workload needs torch"),
]


@pytest.fixture(scope="module")
def real_metrics(tmp_path_factory) -> list[dict]:
    """Two real tiny runs in one interpreter, so torch is imported once (it is most of the time)."""
    out = tmp_path_factory.mktemp("metrics")
    runs = [[*TINY, "--seed", str(i), "--out", str(out / f"{i}.json")] for i in range(2)]
    driver = f"import sys, train; sys.exit(max(train.main(argv) for argv in {runs!r}))"
    proc = subprocess.run([sys.executable, "-c", driver], cwd=WORKLOADS, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [json.loads((out / f"{i}.json").read_text()) for i in range(2)]


def test_test_builders_use_only_fields_the_workload_writes(real_metrics):
    fake = make_metrics()
    assert set(fake) <= set(real_metrics[0]), set(fake) - set(real_metrics[0])
    assert set(fake["host"]) <= set(real_metrics[0]["host"])


def test_real_runs_flow_through_store_compare_and_report(real_metrics, store, tmp_path):
    bench = new_id()
    common = dict(comparison_id=bench, machine="this-machine", cloud="local", workload="train.py tiny")
    cpu = RunRecord.from_metrics(real_metrics[0], size="Standard_D4ds_v5", **common)
    gpu = RunRecord.from_metrics(real_metrics[1], size="Standard_NC4as_T4_v3", **common)
    store.add_run(cpu)
    store.add_run(gpu)
    runs = store.runs_for_comparison(bench)
    assert [r.metrics for r in runs] == real_metrics

    comparison = compare_runs(runs)
    assert comparison.speedup == pytest.approx(real_metrics[1]["samples_per_s"] / real_metrics[0]["samples_per_s"])
    on_cpu_note = any("ran on the CPU" in n.text for n in comparison.notes)
    # Whatever this machine is, the report tells the truth about it.
    assert on_cpu_note == (not real_metrics[1]["device"].startswith("cuda"))
    assert comparison.gpu_ran_on_gpu == real_metrics[1]["device"].startswith("cuda")

    doc = report.to_json(runs, comparison)
    assert [r["device"] for r in doc["runs"]] == [m["device"] for m in real_metrics]
    assert real_metrics[1]["device_name"] in report.to_markdown(runs, comparison)
    assert report.plot(runs, tmp_path / "real.png", comparison).stat().st_size > 1024
