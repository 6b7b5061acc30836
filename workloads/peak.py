"""This machine's measured matmul peak on CPU: a short probe, cached per machine.

A CPU has no published "dense peak" the way a GPU does (it depends on the cores the VM gets,
AVX-512/AMX, clocks under load), so the fraction of peak a CPU run reports is against what a
large square matmul reaches here, in fp32 and bf16, with this process's torch threads. The
probe uses every core this process may run on (the node's capacity, also when torchrun gave
each of several processes one thread), takes about a second per precision and is cached in a
JSON file keyed by the CPU model, core count and torch version, so it runs once per VM.
"""

from __future__ import annotations

import json
import os
import time

N = 1024  # square matmul side: large enough for the BLAS's best kernel, small enough for 2 cores
PROBE_S = 0.6  # seconds of timed matmuls per precision


def default_cache() -> str:
    return os.environ.get("DSVMCTL_PEAK_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "dsvmctl", "cpu_peak.json")


def _measure(torch, dtype) -> float:
    a = torch.randn(N, N).to(dtype)
    b = torch.randn(N, N).to(dtype)
    torch.mm(a, b)  # warm-up: thread pool, packing buffers
    count, t0 = 0, time.perf_counter()
    while True:
        torch.mm(a, b)
        count += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= PROBE_S and count >= 3:
            return 2 * N**3 * count / elapsed / 1e12


def cpu_peak(torch, cpu_name: str, cache_path: str | None = None) -> dict:
    """{"fp32": TFLOP/s, "bf16": TFLOP/s, "method", "cached"} for this machine."""
    path = cache_path or default_cache()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    key = f"{cpu_name}|{cores}|{torch.__version__}"
    try:
        with open(path) as f:
            cached = json.load(f)
        if cached.get("key") == key:
            return {**cached["peak"], "cached": True}
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    threads = torch.get_num_threads()
    torch.set_num_threads(cores)
    try:
        fp32, bf16 = _measure(torch, torch.float32), _measure(torch, torch.bfloat16)
    finally:
        torch.set_num_threads(threads)
    peak = {"fp32": fp32, "bf16": bf16,
            "method": f"torch.mm {N}x{N}, {cores} threads, mean over {PROBE_S}s per dtype",
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = f"{path}.tmp.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump({"key": key, "peak": peak}, f)
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable home only costs a probe next time
    return {**peak, "cached": False}
