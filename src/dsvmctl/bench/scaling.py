"""`bench NAME --nodes 1,2,4`: the same workload at each node count on the same fleet.

Each count runs with torchrun on the fleet's first N nodes (the others stay idle), is
collected and stored in the results database like any run (its metrics carry world_size and
nodes). The report gives throughput, scaling efficiency samples_per_s(N) / (N x
samples_per_s(1)), and the cost per 1,000 steps of the whole fleet used (N x the size's
price). Notes say what the numbers are: CPU-only runs say so; on the local cloud every node
is a host on this one machine, sharing its cores, so its scaling shows the sharing and the
gloo all-reduce overhead, not what N separate VMs would give.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import DsvmctlError, UsageError
from .compare import cost_per_1000_steps
from .store import ResultsStore, RunRecord, new_id

Progress = Callable[[str], None]


def parse_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"--nodes {text!r}: give node counts separated by commas, e.g. 1,2,4",
                         fix="dsvmctl bench NAME --nodes 1,2") from None
    if not counts or min(counts) < 1:
        raise UsageError(f"--nodes {text!r}: node counts must be 1 or more", fix="e.g. --nodes 1,2,4")
    return sorted(dict.fromkeys(counts))


def scaling_bench(fleet, *, node_counts: Sequence[int], workload: str = "transformer", args: Sequence[str] = (),
                  device: str = "auto", size: str | None = None, port: int = 29400, store: ResultsStore,
                  progress: Progress, stream: Any = None) -> dict[str, Any]:
    from ..cloud import distributed
    from ..cloud.fleet import resize_fleet
    from .orchestrate import _price

    counts = list(node_counts)
    if max(counts) > fleet.size:
        raise UsageError(f"--nodes {','.join(map(str, counts))}: fleet {fleet.name} has {fleet.size} nodes",
                         fix=f"grow it first: dsvmctl up {fleet.name} --nodes {max(counts)}")
    comparison_id = new_id()
    resized = None
    if size is not None:
        current = fleet.status().size
        if (current or "").lower() != size.lower():
            progress(f"resizing every node of {fleet.name} to {size}")
            resized = resize_fleet(fleet, size, start=True, progress=progress)
            if not resized["verified"]:
                raise DsvmctlError(f"the fleet resize to {size} did not finish on {', '.join(resized['failed'])}",
                                   fix=f"dsvmctl resume {fleet.name}, then bench again")
    run_size = size or fleet.status().size
    quote = _price(fleet, run_size)
    runs: list[RunRecord] = []
    for n in counts:
        progress(f"{workload} on {n} node{'s' if n > 1 else ''} of {fleet.name}")
        started = time.time()
        try:
            entry = distributed.run(fleet, workload, nodes=n, device=device, args=args, port=port,
                                    stdout=stream, progress=progress)
            collected = distributed.collect(fleet, entry.run_id) if entry.exit_code == 0 else None
        except DsvmctlError as err:
            runs.append(_failed(comparison_id, fleet, run_size, workload, f"{n} nodes: {err}", quote))
            continue
        if collected is None or not collected.metrics:
            runs.append(_failed(comparison_id, fleet, run_size, workload,
                                f"{n} nodes: {entry.error or 'no metrics'}", quote, run_id=entry.run_id))
            continue
        metrics = json.loads(Path(collected.metrics).read_text())
        progress(f"{n} nodes: {metrics['samples_per_s']:.1f} samples/s (world size {metrics['world_size']}), "
                 f"{time.time() - started:.1f} s")
        runs.append(RunRecord.from_metrics(metrics, comparison_id=comparison_id, machine=fleet.name,
                                           cloud=fleet.record.cloud, size=run_size, workload=workload,
                                           run_id=entry.run_id, price=quote))
    for run in runs:
        store.add_run(run)
    return {"comparison_id": comparison_id, "fleet": fleet.name, "size": run_size, "runs": runs,
            "scaling": scaling_table(runs, counts, local=fleet.backend.kind == "local"), "resize": resized}


def _failed(comparison_id, fleet, size, workload, error, quote, run_id=None) -> RunRecord:
    return RunRecord.failed(error, comparison_id=comparison_id, machine=fleet.name, cloud=fleet.record.cloud,
                            size=size, workload=workload, run_id=run_id, price=quote)


def scaling_table(runs: Sequence[RunRecord], counts: Sequence[int], *, local: bool) -> dict[str, Any]:
    """Rows per node count (throughput, efficiency, fleet cost) and honest notes."""
    by_nodes = {}
    for count, run in zip(counts, runs):
        by_nodes[count] = run
    base = by_nodes.get(1)
    base_sps = base.samples_per_s if base is not None and base.status == "ok" else None
    rows = []
    for count in counts:
        run = by_nodes[count]
        ok = run.status == "ok"
        sps = run.samples_per_s if ok else None
        metrics = run.metrics or {}
        fleet_price = count * run.price_per_hour if run.price_per_hour is not None else None
        rows.append({
            "nodes": count, "run_id": run.run_id, "status": run.status, "error": run.error,
            "world_size": metrics.get("world_size"), "device": run.device, "samples_per_s": sps,
            "step_time_ms": run.step_time_ms if ok else None,
            "efficiency": (sps / (count * base_sps)) if sps is not None and base_sps else None,
            "fleet_price_per_hour": fleet_price,
            "cost_per_1000_steps": cost_per_1000_steps(run.step_time_ms, fleet_price) if ok else None,
            "final_loss": metrics.get("final_loss"), "precision": metrics.get("precision"),
        })
    notes = []
    if any(r["device"] == "cpu" for r in rows):
        notes.append("CPU-only runs: no GPU did this work; gloo all-reduces the gradients over TCP.")
    if local:
        notes.append("local cloud: every node is a host on this one machine and shares its cores (each process "
                     "gets cores / (nodes x processes) threads), so the scaling shows that sharing plus the "
                     "all-reduce cost, not what separate VMs would give.")
    if base_sps is None:
        notes.append("no 1-node run: scaling efficiency needs one (add 1 to --nodes).")
    notes += [f"{r['nodes']} nodes did not run: {r['error']}" for r in rows if r["status"] != "ok"]
    return {"rows": rows, "notes": notes}


def to_markdown(result: dict[str, Any]) -> str:
    lines = [f"Scaling of {result['runs'][0].workload if result['runs'] else '?'} on fleet {result['fleet']} "
             f"({result['size']})", "",
             "| nodes | world size | device | samples/s | efficiency | fleet $/h | $ per 1,000 steps |",
             "|---:|---:|---|---:|---:|---:|---:|"]
    for r in result["scaling"]["rows"]:
        def cell(value, fmt):
            return fmt.format(value) if value is not None else "—"
        lines.append(f"| {r['nodes']} | {cell(r['world_size'], '{}')} | {r['device'] or 'did not run'} | "
                     f"{cell(r['samples_per_s'], '{:,.1f}')} | {cell(r['efficiency'], '{:.0%}')} | "
                     f"{cell(r['fleet_price_per_hour'], '${:.3f}')} | {cell(r['cost_per_1000_steps'], '${:.5f}')} |")
    lines += [""] + [f"- {n}" for n in result["scaling"]["notes"]]
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: str | Path) -> Path:
    """Throughput and scaling efficiency against node count."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise DsvmctlError("plotting needs matplotlib, which is not installed", fix="pip install dsvmctl[plot]") from e
    rows = [r for r in result["scaling"]["rows"] if r["samples_per_s"] is not None]
    fig = Figure(figsize=(9, 4), layout="constrained")
    FigureCanvasAgg(fig)
    speed, eff = fig.subplots(1, 2)
    nodes = [r["nodes"] for r in rows]
    speed.plot(nodes, [r["samples_per_s"] for r in rows], marker="o")
    speed.set_title("samples / s (all ranks)")
    speed.set_xlabel("nodes")
    speed.set_xticks(nodes)
    eff_rows = [r for r in rows if r["efficiency"] is not None]
    eff.plot([r["nodes"] for r in eff_rows], [r["efficiency"] for r in eff_rows], marker="o", color="#d62728")
    eff.axhline(1.0, color="#999999", linewidth=0.8, linestyle="--")
    eff.set_title("scaling efficiency  sps(N) / (N x sps(1))")
    eff.set_xlabel("nodes")
    eff.set_xticks(nodes)
    eff.set_ylim(0, max([1.1] + [r["efficiency"] * 1.1 for r in eff_rows]))
    fig.supxlabel(" ".join(result["scaling"]["notes"])[:200], fontsize=7, color="#555555")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=110)
    return out


def write_report(home: Path, result: dict[str, Any], plot_it: bool = True) -> dict[str, str]:
    directory = home / "reports" / result["comparison_id"]
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": str(directory / "scaling.md")}
    (directory / "scaling.md").write_text(to_markdown(result))
    if plot_it:
        try:
            paths["plot"] = str(plot(result, directory / "scaling.png"))
        except DsvmctlError as err:
            paths["plot_error"] = str(err)
    return paths
