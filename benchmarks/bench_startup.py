"""`dsvmctl --help` start-up time (target: median <= 150 ms), and what importing the CLI loads.

    .venv/bin/python benchmarks/bench_startup.py [--runs 30]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    exe = shutil.which("dsvmctl") or str(__import__("pathlib").Path(sys.executable).with_name("dsvmctl"))
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run([exe, "--help"], check=True, capture_output=True)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    print(f"dsvmctl --help over {args.runs} runs: median {statistics.median(times):.1f} ms, "
          f"p90 {times[int(len(times) * 0.9) - 1]:.1f} ms, min {times[0]:.1f} ms (target: median <= 150 ms)")


if __name__ == "__main__":
    main()
