"""How long the results store and the report views take, on real train.py output.

    .venv/bin/python benchmarks/bench_report.py                  # runs train.py once (tiny) for its metrics
    .venv/bin/python benchmarks/bench_report.py --metrics m.json # or uses a metrics file you have

Stores --runs runs (half CPU-size, half GPU-size, all with the same real metrics) in a fresh
SQLite file, then times listing, one comparison, and each report view. The numbers that
matter to a user: add_run per run (a bench stores two), list on a big history, and the plot.

Reference (this repository's dev container, 2 cores, CPython 3.11, 1,000 runs): add_run about
10-15 ms (a durable commit: WAL with synchronous=FULL; nothing next to a bench that takes
minutes), list(limit=20) about 1 ms, list(machine=...) of ~140 runs about 9 ms, the rich table
about 6 ms, Markdown 0.02 ms, the PNG plot 200-280 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from dsvmctl.bench import report
from dsvmctl.bench.compare import compare_runs
from dsvmctl.bench.store import ResultsStore, RunRecord, new_id

WORKLOADS = Path(__file__).resolve().parents[1] / "workloads"
TINY = ["--model", "transformer", "--d-model", "32", "--n-layers", "1", "--n-heads", "2", "--seq-len", "16",
        "--vocab-size", "64", "--batch-size", "4", "--steps", "2", "--warmup", "1", "--device", "auto"]


def real_metrics(path: str | None, workdir: Path) -> dict:
    if path:
        return json.loads(Path(path).read_text())
    out = workdir / "metrics.json"
    subprocess.run([sys.executable, "train.py", *TINY, "--out", str(out)], cwd=WORKLOADS, check=True,
                   stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", help="a train.py metrics JSON (default: run train.py once, tiny)")
    parser.add_argument("--runs", type=int, default=1000, help="runs to store")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        metrics = real_metrics(args.metrics, workdir)
        store = ResultsStore(workdir / "results.sqlite")
        benches = [new_id() for _ in range(args.runs // 2)]
        start = time.perf_counter()
        for i in range(args.runs):
            size = "Standard_NC4as_T4_v3" if i % 2 else "Standard_D4ds_v5"
            store.add_run(RunRecord.from_metrics(metrics, comparison_id=benches[i // 2], machine=f"vm-{i % 7}",
                                                 cloud="local", size=size, workload="train.py tiny"))
        add_ms = (time.perf_counter() - start) * 1000 / args.runs
        runs = store.runs_for_comparison(benches[-1])
        comparison = compare_runs(runs)
        console = Console(file=open("/dev/null", "w"), width=200)
        results = {
            "device": metrics.get("device"),
            "add_run_ms": add_ms,
            "list_limit_20_ms": ms(lambda: store.list(limit=20), 20),
            "list_one_machine_ms": ms(lambda: store.list(machine="vm-3"), 10),
            "runs_for_comparison_ms": ms(lambda: store.runs_for_comparison(benches[-1]), 20),
            "render_table_ms": ms(lambda: console.print(report.render_table(runs, comparison)), 20),
            "to_markdown_ms": ms(lambda: report.to_markdown(runs, comparison), 20),
            "plot_ms": ms(lambda: report.plot(runs, workdir / "plot.png", comparison), 3),
        }
    for key, value in results.items():
        print(f"{key:>24}: {value:.2f}" if isinstance(value, float) else f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
