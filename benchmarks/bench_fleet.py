"""Requests and wall time of `up` for one VM against `up --nodes 4`, and the scaling of a
distributed run, on the local cloud.

    .venv/bin/python benchmarks/bench_fleet.py [--repeat 3] [--scaling] [--steps 30]

Requests are counted in the emulator's request log (every ARM call the Azure SDK clients
made, polling included). Wall time is `cloud.up(...)` end to end: preflight, the deployment,
and SSH answering with the pinned host key on every node. --scaling also runs the bundled
transformer (small preset, CPU) on 1 and 2 nodes of a fleet and prints the efficiency.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def up_once(nodes: int) -> tuple[float, int, collections.Counter]:
    from dsvmctl import Cloud, EnvironmentSpec

    with tempfile.TemporaryDirectory(prefix="dsvmctl-bench-fleet-") as home:
        with Cloud.local(Path(home)) as cloud:
            spec = {"name": "bench"} | ({"nodes": nodes} if nodes > 1 else {})
            started = time.perf_counter()
            made = cloud.up(EnvironmentSpec.from_dict(spec))
            seconds = time.perf_counter() - started
            log = list(cloud.backend.emulator.request_log)
            made.down()
    kinds = collections.Counter(method for method, _path, _status in log)
    return seconds, len(log), kinds


def scaling(steps: int) -> None:
    from dsvmctl import Cloud, EnvironmentSpec
    from dsvmctl.bench.orchestrate import results_store
    from dsvmctl.bench.scaling import scaling_bench, to_markdown

    os.environ.setdefault("DSVMCTL_REMOTE_PYTHON", sys.executable)
    with tempfile.TemporaryDirectory(prefix="dsvmctl-bench-scaling-") as home:
        with Cloud.local(Path(home)) as cloud:
            fleet = cloud.up(EnvironmentSpec.from_dict({"name": "scale", "nodes": 2}))
            result = scaling_bench(fleet, node_counts=[1, 2], workload="transformer", device="cpu",
                                   args=["--steps", str(steps), "--warmup", "3"], port=29471,
                                   store=results_store(Path(home)), progress=lambda _: None,
                                   stream=lambda _: None)
            print(to_markdown(result))
            for run in result["runs"]:
                m = run.metrics or {}
                print(f"  world {m.get('world_size')}: step {m.get('step_time_ms', 0):.1f} ms, threads/process "
                      f"{m.get('host', {}).get('torch_threads')}, of measured peak {m.get('fraction_of_measured_peak')}")
            fleet.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scaling", action="store_true")
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    for nodes in (1, 4):
        times, counts = [], []
        for _ in range(args.repeat):
            seconds, requests, kinds = up_once(nodes)
            times.append(seconds)
            counts.append(requests)
        print(f"up --nodes {nodes}: {statistics.median(times):.2f} s median of {args.repeat} "
              f"(min {min(times):.2f}, max {max(times):.2f}); {statistics.median(counts):.0f} requests "
              f"({dict(kinds)})")
    if args.scaling:
        scaling(args.steps)


if __name__ == "__main__":
    main()
