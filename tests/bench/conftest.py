"""Builders for bench tests: metrics shaped like workloads/train.py output, and runs from them.

The numbers are scenario inputs (a CPU baseline, a busy GPU, a GPU that idles), and the
derived fields are computed from them the way train.py computes them, so they stay
consistent. test_real_workload.py runs the real train.py and checks these keys against it.
"""

from __future__ import annotations

import pytest

from dsvmctl.bench.prices import PriceQuote
from dsvmctl.bench.store import RunRecord

TRANSFORMER_CONFIG = {"vocab_size": 256, "d_model": 256, "n_layers": 4, "n_heads": 4}
# The same model at 8x the batch: enough work per step to keep a T4 busy.
LARGE_BATCH = {"batch_size": 128, "flops_per_step": 20_401_094_656 * 8}


def make_metrics(*, device: str = "cpu", device_name: str = "AMD EPYC 7763 64-Core Processor",
                 step_time_ms: float = 180.0, batch_size: int = 16, seq_len: int = 128,
                 flops_per_step: int = 20_401_094_656, peak_tflops: float | None = None,
                 precision: str = "fp32", steps: int = 30, warmup_steps: int = 3, **overrides) -> dict:
    step_s = step_time_ms / 1e3
    samples_per_s = batch_size / step_s
    achieved = flops_per_step / step_s / 1e12
    cuda = device.startswith("cuda")
    losses = [5.55, 4.9, 4.1, 3.6, 3.3]
    metrics = {
        "model": "transformer", "preset": "small", "device": device, "device_name": device_name,
        "torch_version": "2.5.1+cu124" if cuda else "2.5.1+cpu",
        "samples_per_s": samples_per_s, "tokens_per_s": samples_per_s * seq_len,
        "step_time_ms": step_time_ms, "step_time_ms_p90": step_time_ms * 1.08,
        "step_time_ms_mean": step_time_ms * 1.02, "samples_per_s_wall": samples_per_s * 0.97,
        "flops_per_step": flops_per_step, "achieved_tflops": achieved, "peak_tflops": peak_tflops,
        "mfu": achieved / peak_tflops if peak_tflops else None, "precision": precision,
        "compiled": cuda, "compile_error": None, "steps": steps, "warmup_steps": warmup_steps,
        "batch_size": batch_size, "seq_len": seq_len, "config": dict(TRANSFORMER_CONFIG),
        "initial_loss": losses[0], "final_loss": losses[-1],
        "loss_history": [{"step": 1 + i * (steps + warmup_steps - 1) // 4, "loss": v} for i, v in enumerate(losses)],
        "first_step_s": 0.4, "timed_wall_s": steps * step_s * 1.03, "params": 3_243_264, "lr": 3e-3, "seed": 0,
        "max_memory_gb": 1.2 if cuda else None,
        "host": {"hostname": "dsvm-bench", "cpu_count": 4, "torch_threads": 4, "python_version": "3.11.7",
                 "os": "Linux-6.8.0-azure-x86_64-with-glibc2.39", "cuda_version": "12.4" if cuda else None,
                 "gpu_count": 1 if cuda else 0},
        "wall_s": 6.0 + (steps + warmup_steps) * step_s,
    }
    metrics.update(overrides)
    return metrics


def busy_gpu_metrics(**kw) -> dict:
    """A T4 kept busy: MFU well above 5%, step time well above 5 ms."""
    kw = {"device": "cuda:0", "device_name": "Tesla T4", "step_time_ms": 11.0, "peak_tflops": 65.0,
          "precision": "fp16", **LARGE_BATCH} | kw
    return make_metrics(**kw)


def make_run(metrics: dict | None, *, size: str = "Standard_D4ds_v5", comparison_id: str = "cmp000000001",
             machine: str = "dsvm-bench", error: str | None = None, **kw) -> RunRecord:
    common = dict(comparison_id=comparison_id, machine=machine, cloud="local", size=size,
                  workload="train.py --model transformer --preset small") | kw
    if metrics is None:
        return RunRecord.failed(error or "the step could not run", **common)
    return RunRecord.from_metrics(metrics, **common)


@pytest.fixture
def store(tmp_path):
    from dsvmctl.bench.store import ResultsStore

    return ResultsStore(tmp_path / "state" / "results.sqlite")


def quote(size: str, price: float | None, source: str = "test price list", as_of: str = "2026-01-02") -> PriceQuote:
    return PriceQuote(size, price, "USD", source, as_of)
