#!/usr/bin/env python3
"""Run workloads/train.py N times per model, exactly as the product runs it (a subprocess from
the workloads directory), and print/save the metrics plus a median summary.

  python benchmarks/bench_workload.py                       # both models, small preset, 3 runs
  python benchmarks/bench_workload.py --preset large --device cuda --repeat 2
  python benchmarks/bench_workload.py --model transformer -- --precision fp32 --steps 50

Arguments after `--` are passed to train.py unchanged. Per-run metrics JSON and a summary JSON
go to --out-dir (default benchmarks/out/, which git ignores).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOADS = HERE.parent / "workloads"
SUMMARY_KEYS = ["step_time_ms", "step_time_ms_p90", "samples_per_s", "tokens_per_s", "achieved_tflops",
                "mfu", "wall_s"]


def run_once(model: str, preset: str, device: str, seed: int, out: Path, extra: list[str],
             python: str) -> dict:
    cmd = [python, "train.py", "--model", model, "--preset", preset, "--device", device,
           "--seed", str(seed), "--out", str(out), *extra]
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=WORKLOADS, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"bench_workload: {' '.join(cmd)} exited {proc.returncode}")
    metrics = json.loads(out.read_text())
    metrics["process_wall_s"] = elapsed  # includes interpreter start-up, as a user sees it
    # Other processes on the host skew CPU timings; record the 1-minute load average with them.
    metrics["loadavg_1m_before"] = load_before
    return metrics


def median_or_none(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=["transformer", "cnn", "both"], default="both")
    p.add_argument("--preset", choices=["small", "large"], default="small")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--repeat", type=int, default=3, help="runs per model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", type=Path, default=HERE / "out")
    p.add_argument("--python", default=sys.executable, help="interpreter that runs train.py")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir = args.out_dir / f"workload-{stamp}"
    out_dir.mkdir(parents=True, exist_ok=True)
    models = ["transformer", "cnn"] if args.model == "both" else [args.model]
    summary = {"date_utc": stamp, "preset": args.preset, "device_arg": args.device, "extra_args": extra,
               "models": {}}
    for model in models:
        runs = []
        for r in range(args.repeat):
            m = run_once(model, args.preset, args.device, args.seed, out_dir / f"{model}-{r}.json", extra,
                         args.python)
            runs.append(m)
            mfu = f"{m['mfu']:.1%}" if m["mfu"] is not None else "n/a"
            print(f"{model} run {r + 1}/{args.repeat}: {m['step_time_ms']:.1f} ms/step "
                  f"(p90 {m['step_time_ms_p90']:.1f}), {m['samples_per_s']:.1f} samples/s, "
                  f"{m['achieved_tflops']:.3f} TFLOP/s, MFU {mfu}, loss {m['initial_loss']:.3f}"
                  f"->{m['final_loss']:.3f}, wall {m['process_wall_s']:.1f} s, load {m['loadavg_1m_before']}",
                  flush=True)
        first = runs[0]
        summary["models"][model] = {
            "device": first["device"], "device_name": first["device_name"],
            "torch_version": first["torch_version"], "precision": first["precision"],
            "compiled": first["compiled"], "batch_size": first["batch_size"], "seq_len": first["seq_len"],
            "params": first["params"], "flops_per_step": first["flops_per_step"],
            "peak_tflops": first["peak_tflops"], "runs": len(runs),
            "median": {k: median_or_none([r.get(k) for r in runs]) for k in [*SUMMARY_KEYS, "process_wall_s"]},
        }
        s = summary["models"][model]
        print(f"== {model} on {s['device']} ({s['device_name']}), torch {s['torch_version']}, "
              f"{s['precision']}, compiled={s['compiled']}: median {s['median']['step_time_ms']:.1f} ms/step, "
              f"{s['median']['samples_per_s']:.1f} samples/s, {s['median']['achieved_tflops']:.3f} TFLOP/s",
              flush=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"saved {out_dir}/summary.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
