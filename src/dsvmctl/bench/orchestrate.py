"""`bench`: the same workload on the CPU size, then on the GPU size, on one VM whose OS disk
is kept across the resize; both runs stored and compared. `quickstart` wraps it end to end.

Nothing here invents a number: a run that could not happen is stored as failed with the reason,
and every row names the device the workload itself reported (on a machine without a GPU, the
"GPU size" run of the local cloud runs on the CPU, and the comparison says so).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import DsvmctlError
from .store import RunRecord, ResultsStore, new_id

Progress = Callable[[str], None]
# Small enough for the quickstart's two runs to take well under two minutes on 2 CPU cores.
QUICK_ARGS = {"transformer": ["--steps", "20", "--warmup", "3"], "cnn": ["--steps", "20", "--warmup", "3"]}


def results_store(home) -> ResultsStore:
    """The results database of a state root (a StatePaths or its root)."""
    from ..paths import StatePaths

    return ResultsStore(StatePaths.of(home).results_db)


def prices_cache(home) -> Path:
    """Where `dsvmctl prices --refresh` keeps prices fetched from Azure's Retail Prices API."""
    from ..paths import StatePaths

    return StatePaths.of(home).prices_cache


def _price(machine, size: str):
    from .prices import price_per_hour

    return price_per_hour(size, machine.record.location, cache_path=prices_cache(machine.paths))


def bench(machine, *, cpu_size: str, gpu_size: str, workload: str = "transformer", args: Sequence[str] = (),
          device: str = "auto", return_to_cpu: bool = False, store: ResultsStore, progress: Progress,
          stream: Any = None) -> dict[str, Any]:
    """Run `workload` at `cpu_size`, resize to `gpu_size`, run again (optionally resize back)."""
    comparison_id = new_id()
    resizes: list[dict[str, Any]] = []
    runs: list[RunRecord] = []

    def move_to(size: str) -> bool:
        if (machine.status().size or "").lower() == size.lower():
            return True
        progress(f"resizing {machine.name} to {size} (OS disk kept and checked)")
        try:
            result = machine.resize(size, start=True, progress=progress)
        except DsvmctlError as err:
            resizes.append({"to": size, "error": str(err)})
            return False
        resizes.append(result.to_json())
        return result.succeeded

    for size in (cpu_size, gpu_size):
        if not move_to(size):
            reason = resizes[-1].get("error") or f"resize to {size} did not complete (rolled back: " \
                f"{resizes[-1].get('rolled_back')})"
            runs.append(_failed(comparison_id, machine, size, workload, f"could not run on {size}: {reason}"))
            continue
        progress(f"running the {workload} workload on {size}")
        runs.append(_run_once(machine, comparison_id, size, workload, device, args, progress, stream))
    if return_to_cpu:
        move_to(cpu_size)
    for run in runs:
        store.add_run(run)
    from .compare import compare_runs

    comparison = compare_runs(runs)
    disk_ids = [r.get("os_disk_id_before") for r in resizes if r.get("os_disk_id_before")] + \
        [r.get("os_disk_id_after") for r in resizes if r.get("os_disk_id_after")]
    return {"comparison_id": comparison_id, "runs": runs, "comparison": comparison, "resizes": resizes,
            "os_disk_ids": disk_ids}


def _run_once(machine, comparison_id: str, size: str, workload: str, device: str, args: Sequence[str],
              progress: Progress, stream: Any) -> RunRecord:
    from ..cloud.workload import collect, run

    started = time.time()
    try:
        entry = run(machine, workload, device, list(args), stdout=stream, stderr=stream, progress=progress)
        collected = collect(machine, entry.run_id)
    except DsvmctlError as err:
        return _failed(comparison_id, machine, size, workload, f"the run on {size} failed: {err}")
    if entry.exit_code != 0 or not collected.metrics:
        return _failed(comparison_id, machine, size, workload,
                       f"the workload exited with {entry.exit_code} on {size}; see {collected.dir}",
                       run_id=entry.run_id)
    metrics = json.loads(Path(collected.metrics).read_text())
    progress(f"{size}: {metrics['samples_per_s']:.1f} samples/s on {metrics['device']} "
             f"({metrics.get('device_name')}), {time.time() - started:.1f} s")
    return RunRecord.from_metrics(metrics, comparison_id=comparison_id, machine=machine.name,
                                  cloud=machine.record.cloud, size=size, workload=workload, run_id=entry.run_id,
                                  price=_price(machine, size))


def _failed(comparison_id: str, machine, size: str, workload: str, error: str, run_id: str | None = None) -> RunRecord:
    return RunRecord.failed(error, comparison_id=comparison_id, machine=machine.name, cloud=machine.record.cloud,
                            size=size, workload=workload, run_id=run_id, price=_price(machine, size))


def write_report(home, result: dict[str, Any], plot: bool = True) -> dict[str, str]:
    """Markdown (and, with matplotlib, a PNG) of one bench, under <state>/reports/<comparison id>/."""
    from ..paths import StatePaths
    from .report import plot as draw, to_markdown

    directory = StatePaths.of(home).report_dir(result["comparison_id"])
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": str(directory / "report.md")}
    (directory / "report.md").write_text(to_markdown(result["runs"], result["comparison"]))
    if plot:
        try:
            paths["plot"] = str(draw(result["runs"], directory / "report.png", result["comparison"]))
        except DsvmctlError as err:  # matplotlib missing: the markdown report still stands
            paths["plot_error"] = str(err)
    return paths
