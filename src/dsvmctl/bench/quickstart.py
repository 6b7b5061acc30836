"""`quickstart`: the whole job on the embedded local cloud, as one library call.

    result = quickstart(Cloud.local(home=tmp), workload="cnn")
    result.os_disk_kept, result.speedup, result.to_json()

up (a CPU-size DSVM) -> push the bundled workload -> bench (CPU size, resize keeping the OS disk,
GPU size) -> report -> down (unless `keep`). The VM is deleted even when a step fails.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import UsageError

Progress = Callable[[str], None]
CPU_SIZE = "Standard_D4ds_v5"
GPU_SIZE = "Standard_NC4as_T4_v3"


def _quiet(_: str) -> None:
    return None


def require_local(cloud_kind: str) -> None:
    """quickstart creates and deletes a VM of its own: only on the local cloud, never a bill."""
    if cloud_kind != "local":
        raise UsageError("quickstart runs on the embedded local cloud only",
                         fix="drop --cloud azure; on Azure use `dsvmctl up` and `dsvmctl bench`")


@dataclass
class QuickstartResult:
    name: str
    bench: dict[str, Any]  # what bench.orchestrate.bench returned: runs, comparison, resizes, os_disk_ids
    report_paths: dict[str, str]  # markdown (and plot, or plot_error) under <state>/reports/
    seconds: float  # the whole job, up to down
    kept: bool  # the VM was left in place

    @property
    def runs(self) -> list[Any]:
        return self.bench["runs"]

    @property
    def comparison(self):
        return self.bench["comparison"]

    @property
    def speedup(self) -> float | None:
        return self.comparison.speedup

    @property
    def os_disk_id_before(self) -> str | None:
        disks = self.bench["os_disk_ids"]
        return disks[0] if disks else None

    @property
    def os_disk_id_after(self) -> str | None:
        disks = self.bench["os_disk_ids"]
        return disks[-1] if disks else None

    @property
    def os_disk_kept(self) -> bool:
        return self.os_disk_id_before == self.os_disk_id_after

    @property
    def ok(self) -> bool:
        """Both runs happened (a failed one is stored with its reason, never given numbers)."""
        return all(run.status == "ok" for run in self.runs)

    def to_json(self) -> dict[str, Any]:
        from .report import to_json

        document = to_json(self.runs, self.comparison)
        return {
            "runs": document["runs"],
            "speedup": self.speedup,
            "os_disk_id_before": self.os_disk_id_before,
            "os_disk_id_after": self.os_disk_id_after,
            "report_path": self.report_paths.get("markdown"),
            "plot_path": self.report_paths.get("plot"),
            "comparison": document["comparison"],
            "seconds": self.seconds,
            "kept": self.kept,
        }


def quickstart(cloud, *, name: str = "quickstart", workload: str = "transformer", keep: bool = False,
               progress: Progress = _quiet, stream: Any = None) -> QuickstartResult:
    """Run the quickstart on `cloud` (a local `Cloud`); `stream` gets the workload's output."""
    from ..cloud.workload import push
    from ..spec import EnvironmentSpec
    from .orchestrate import QUICK_ARGS, bench, results_store, write_report

    require_local(cloud.kind)
    began = time.monotonic()
    spec = EnvironmentSpec.from_dict({"name": name, "size": CPU_SIZE, "gpu_size": GPU_SIZE})
    progress(f"1/5 up: {spec.image_info.description} on {spec.size} (local cloud, state in {cloud.home})")
    machine = cloud.up(spec, progress=progress)
    try:
        progress("2/5 push: the bundled PyTorch workload")
        pushed = push(machine)
        progress(f"    {pushed.files_sent} files, {pushed.bytes_sent} bytes in {pushed.seconds:.2f} s")
        progress(f"3/5 bench: {workload} on {spec.size}, then on {spec.gpu_size}")
        result = bench(machine, cpu_size=spec.size, gpu_size=spec.gpu_size, workload=workload,
                       args=QUICK_ARGS[workload], store=results_store(cloud.home), progress=progress, stream=stream)
        progress("4/5 report")
        paths = write_report(cloud.home, result)
    finally:
        if not keep:
            progress(f"5/5 down: deleting {name} and everything made for it")
            machine.down()
    return QuickstartResult(name=name, bench=result, report_paths=paths,
                            seconds=round(time.monotonic() - began, 1), kept=keep)
