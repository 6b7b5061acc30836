"""train.py under torchrun: two gloo processes on this CPU, each on its own data shard."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKLOADS = Path(__file__).resolve().parents[2] / "workloads"

# Smaller than the single-process tiny sizes: two processes share 2 cores.
TINY = {
    "transformer": ["--model", "transformer", "--d-model", "32", "--n-layers", "1", "--n-heads", "2",
                    "--seq-len", "32", "--batch-size", "4", "--device", "cpu"],
    "cnn": ["--model", "cnn", "--width", "8", "--blocks", "1", "--image-size", "16",
            "--batch-size", "8", "--device", "cpu"],
}


def torchrun(args: list[str], nproc: int = 2, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
           "--nproc-per-node", str(nproc), "train.py", *args]
    return subprocess.run(cmd, cwd=WORKLOADS, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["transformer", "cnn"])
def test_two_ranks_end_with_identical_parameters_and_rank0_reports_global_numbers(tmp_path, model):
    out = tmp_path / "m.json"
    proc = torchrun([*TINY[model], "--steps", "4", "--warmup", "1", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads(out.read_text())
    assert (m["world_size"], m["nodes"], m["procs_per_node"]) == (2, 1, 2)
    assert m["distributed_backend"] == "gloo"
    checksums = m["param_checksums"]
    assert len(checksums) == 2 and len(checksums[0]) == 64
    assert checksums[0] == checksums[1] and m["param_checksums_equal"] is True
    assert [r["rank"] for r in m["ranks"]] == [0, 1]
    assert len({r["pid"] for r in m["ranks"]}) == 2
    # Global throughput counts both ranks' samples: the global batch over the slowest rank's step.
    assert m["global_batch_size"] == 2 * m["batch_size"]
    assert m["samples_per_s"] == pytest.approx(m["global_batch_size"] / (m["step_time_ms"] / 1e3), rel=1e-6)
    assert m["step_time_ms"] >= min(r["step_time_ms"] for r in m["ranks"]) * 0.999
    assert m["mfu"] is None  # a CPU has no published peak...
    assert m["measured_peak_tflops"]["fp32"] > 0  # ...but a measured one
    assert 0 < m["fraction_of_measured_peak"] < 1.5
    # Only rank 0 prints progress: one line per log point, not two.
    steps = [line for line in proc.stdout.splitlines() if line.startswith("step ")]
    assert len(steps) == len({line.split()[1] for line in steps})


def test_ranks_get_different_shards_of_the_same_task():
    import workloads.data as data

    base = data.markov_lm_batches(n_batches=2, batch_size=4, seq_len=16, vocab_size=32, seed=3)
    again = data.markov_lm_batches(n_batches=2, batch_size=4, seq_len=16, vocab_size=32, seed=3, shard=0)
    other = data.markov_lm_batches(n_batches=2, batch_size=4, seq_len=16, vocab_size=32, seed=3, shard=1)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(base, again))  # shard 0 = the single-process data
    assert not torch.equal(base[0][0], other[0][0])
    # Same Markov chain: every transition seen in shard 1 is one the chain allows (4 successors/token).
    succ: dict[int, set[int]] = {}
    for x, y in base + other:
        for a, b in zip(x.flatten().tolist(), y.flatten().tolist()):
            succ.setdefault(a, set()).add(b)
    assert max(len(s) for s in succ.values()) <= 4
    imgs0 = data.pattern_image_batches(n_batches=1, batch_size=4, image_size=8, in_channels=3, num_classes=2, seed=1)
    imgs1 = data.pattern_image_batches(n_batches=1, batch_size=4, image_size=8, in_channels=3, num_classes=2,
                                       seed=1, shard=1)
    assert not torch.equal(imgs0[0][0], imgs1[0][0])


def run_train(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "train.py", *args], cwd=WORKLOADS, capture_output=True,
                          text=True, timeout=timeout)


def test_single_process_run_reports_world_size_one_and_measured_peak(tmp_path):
    out = tmp_path / "m.json"
    proc = run_train([*TINY["cnn"], "--steps", "2", "--warmup", "1", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = json.loads(out.read_text())
    assert (m["world_size"], m["nodes"], m["distributed_backend"]) == (1, 1, None)
    assert len(m["param_checksums"]) == 1
    key = "bf16" if m["precision"] == "bf16" else "fp32"
    assert m["fraction_of_measured_peak"] == pytest.approx(
        m["achieved_tflops"] / m["measured_peak_tflops"][key], rel=1e-6)
