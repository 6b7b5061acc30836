"""GPU against CPU: speedup, cost per 1,000 steps, and notes that say what the numbers mean.

Pure functions over stored runs. The notes are the point: a speedup is only reported as a
GPU speedup when the workload itself said it ran on CUDA; a slower GPU run is a warning; a
step that could not run is named, and its numbers stay empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from .store import RunRecord

SMALL_MFU = 0.05  # below this a GPU mostly waits on launches and the host
SMALL_STEP_MS = 5.0  # a step this short is dominated by per-step overhead, not math
# Metrics that must agree for the two runs to have trained the same thing.
WORKLOAD_KEYS = ("model", "batch_size", "seq_len", "config")


def cost_per_1000_steps(step_time_ms: float | None, price_per_hour: float | None) -> float | None:
    """Dollars for 1,000 training steps at the median step time (excludes start-up and warm-up)."""
    if step_time_ms is None or price_per_hour is None:
        return None
    if step_time_ms < 0 or price_per_hour < 0:
        raise ValueError(f"negative step time or price: {step_time_ms} ms, ${price_per_hour}/h")
    return 1000 * step_time_ms / 1000 / 3600 * price_per_hour  # 1,000 steps x ms -> hours -> dollars


@dataclass(frozen=True)
class Note:
    level: str  # 'info' | 'warning'
    text: str


@dataclass(frozen=True)
class Comparison:
    comparison_id: str | None
    cpu_run_id: str | None
    gpu_run_id: str | None
    cpu_size: str | None
    gpu_size: str | None
    gpu_ran_on_gpu: bool | None  # None when the GPU-size run did not happen
    speedup: float | None  # GPU-size samples/s over CPU-size samples/s
    cpu_cost_per_1000_steps: float | None
    gpu_cost_per_1000_steps: float | None
    cost_ratio: float | None  # GPU-size cost per 1,000 steps over CPU-size cost (< 1: GPU cheaper)
    notes: tuple[Note, ...] = field(default_factory=tuple)
    did_not_run: tuple[str, ...] = ()  # 'CPU' and/or 'GPU': steps that are missing or failed

    @property
    def warnings(self) -> list[str]:
        return [n.text for n in self.notes if n.level == "warning"]

    def headline(self) -> str:
        """One line for the report footer, worded by what actually ran."""
        if self.speedup is None:
            if not self.did_not_run:
                return "no speedup: the CPU run measured no throughput"
            plural = "s" if len(self.did_not_run) > 1 else ""
            return f"no speedup: the {' and '.join(self.did_not_run)} step{plural} did not run"
        what = "GPU" if self.gpu_ran_on_gpu else "GPU-size run (on CPU)"
        line = f"{what} vs CPU: {self.speedup:.2f}x samples/s"
        if self.cost_ratio is not None:
            line += f"; 1,000 steps cost {self.cost_ratio:.2f}x as much"
        return line

    def to_dict(self) -> dict:
        out = asdict(self)
        out["notes"] = [asdict(n) for n in self.notes]
        out["did_not_run"] = list(self.did_not_run)  # JSON has no tuples; keep to_dict == its round trip
        return out


def pair_runs(runs: Sequence[RunRecord]) -> tuple[RunRecord | None, RunRecord | None]:
    """The CPU-size and GPU-size runs of a bench (by the size, not the device that ran).

    When a step was retried, the last ok attempt wins, else the last attempt.
    """
    def pick(candidates: list[RunRecord]) -> RunRecord | None:
        ok = [r for r in candidates if r.status == "ok"]
        return (ok or candidates or [None])[-1]

    return pick([r for r in runs if not r.size_is_gpu]), pick([r for r in runs if r.size_is_gpu])


def compare(cpu: RunRecord | None, gpu: RunRecord | None) -> Comparison:
    notes: list[Note] = []
    did_not_run = tuple(role for role, run in (("CPU", cpu), ("GPU", gpu)) if run is None or run.status != "ok")
    for role, run in (("CPU", cpu), ("GPU", gpu)):
        if run is None:
            notes.append(Note("warning", f"there is no {role}-size run: nothing to compare against"))
        elif run.status != "ok":
            notes.append(Note("warning", f"the {role} step on {run.size} could not run: {run.error}"))
    both = cpu is not None and gpu is not None and cpu.status == "ok" and gpu.status == "ok"

    speedup = None
    if both:
        speedup = gpu.samples_per_s / cpu.samples_per_s if cpu.samples_per_s else None
        notes += _device_notes(cpu, gpu)
        notes += _speed_notes(gpu, speedup)
        notes += _workload_notes(cpu, gpu)
        if cpu.comparison_id != gpu.comparison_id:
            notes.append(Note("info", f"the runs come from different benches ({cpu.comparison_id}, "
                                      f"{gpu.comparison_id})"))

    cpu_cost = _run_cost(cpu)
    gpu_cost = _run_cost(gpu)
    cost_ratio = gpu_cost / cpu_cost if both and cpu_cost and gpu_cost is not None else None
    if both:
        for run in (cpu, gpu):
            if run.price_per_hour is None:
                notes.append(Note("info", f"no price known for {run.size} ({run.price_source}): "
                                          "its cost per 1,000 steps is unknown"))
        if cost_ratio is not None and cost_ratio > 1:
            notes.append(Note("info", f"1,000 steps cost {cost_ratio:.2f}x as much on {gpu.size} as on {cpu.size}"))

    ids = {run.comparison_id for run in (cpu, gpu) if run is not None}
    return Comparison(
        comparison_id=ids.pop() if len(ids) == 1 else None,
        cpu_run_id=cpu.run_id if cpu else None,
        gpu_run_id=gpu.run_id if gpu else None,
        cpu_size=cpu.size if cpu else None,
        gpu_size=gpu.size if gpu else None,
        gpu_ran_on_gpu=gpu.ran_on_gpu if gpu is not None and gpu.status == "ok" else None,
        speedup=speedup,
        cpu_cost_per_1000_steps=cpu_cost,
        gpu_cost_per_1000_steps=gpu_cost,
        cost_ratio=cost_ratio,
        notes=tuple(notes),
        did_not_run=did_not_run,
    )


def compare_runs(runs: Sequence[RunRecord]) -> Comparison:
    """compare() over the runs of one bench, e.g. ResultsStore.runs_for_comparison(id)."""
    return compare(*pair_runs(runs))


def _run_cost(run: RunRecord | None) -> float | None:
    if run is None or run.status != "ok":
        return None
    return cost_per_1000_steps(run.step_time_ms, run.price_per_hour)


def _device_notes(cpu: RunRecord, gpu: RunRecord) -> list[Note]:
    notes = []
    if not gpu.ran_on_gpu:
        notes.append(Note("info", f"the GPU-size run ran on the CPU (no GPU on this machine): the speedup "
                                  f"compares two CPU runs (device {gpu.device}, {gpu.device_name})"))
    if not gpu.size_is_gpu:
        notes.append(Note("warning", f"the 'GPU' run's size {gpu.size} offers no GPU"))
    if cpu.ran_on_gpu:
        notes.append(Note("warning", f"the CPU-size run reports device {cpu.device}: it is not a CPU baseline"))
    return notes


def _speed_notes(gpu: RunRecord, speedup: float | None) -> list[Note]:
    notes = []
    if speedup is not None and speedup < 1:
        notes.append(Note("warning", f"the GPU-size run was slower than the CPU run ({speedup:.2f}x the "
                                     "samples/s): no speedup"))
    if gpu.ran_on_gpu:
        small = []
        if gpu.mfu is not None and gpu.mfu < SMALL_MFU:
            small.append(f"MFU {gpu.mfu:.1%}")
        if gpu.step_time_ms is not None and gpu.step_time_ms < SMALL_STEP_MS:
            small.append(f"{gpu.step_time_ms:.2f} ms per step")
        if small:
            notes.append(Note("warning", f"workload too small to load the GPU ({', '.join(small)}): the "
                                         "speedup understates the GPU; try --preset large or a bigger batch"))
        if gpu.mfu is None:
            notes.append(Note("info", f"MFU unknown: no peak TFLOP/s figure for {gpu.device_name}"))
    return notes


def _workload_notes(cpu: RunRecord, gpu: RunRecord) -> list[Note]:
    notes = []
    differ = [k for k in WORKLOAD_KEYS if cpu.metrics.get(k) != gpu.metrics.get(k)]
    if differ:
        detail = ", ".join(f"{k} {cpu.metrics.get(k)} vs {gpu.metrics.get(k)}" for k in differ)
        notes.append(Note("warning", f"the runs trained different workloads ({detail}): not like-for-like"))
    cpu_prec, gpu_prec = cpu.metrics.get("precision"), gpu.metrics.get("precision")
    if cpu_prec != gpu_prec:
        notes.append(Note("info", f"precision differs: CPU-size run {cpu_prec}, GPU-size run {gpu_prec}"))
    return notes
