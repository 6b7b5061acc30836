"""The long fuzz run: each target of tests/fuzz/targets.py for >= 10,000 generated inputs.

    python benchmarks/fuzz.py                       # all targets, 10,000 inputs each
    python benchmarks/fuzz.py --examples 2000 --targets door,cli --seed 7

Unlike the suite (which stops at the first failing input), this run records every failure,
grouped by the exception and the line that raised it (or the invariant that broke), and goes
on, so one run lists all findings. Results go to benchmarks/out/fuzz.json and a Markdown table
on stdout (copy it into RESULTS.md). The state directory and the emulator are temporary.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

TARGETS = ("spec", "arm-expression", "arm-template", "door", "cli")


def _finding(err: BaseException) -> str:
    frames = traceback.extract_tb(err.__traceback__)
    inner = next((f for f in reversed(frames) if "/dsvmctl/" in f.filename), frames[-1] if frames else None)
    where = f"{Path(inner.filename).name}:{inner.lineno}" if inner else "?"
    if isinstance(err, AssertionError):
        return f"invariant broken: {str(err)[:160]}"
    return f"{type(err).__name__} at {where}: {str(err)[:120]}"


def run_target(name: str, examples: int, seed: int, work: Path) -> dict:
    from fuzz import targets

    outcomes: collections.Counter = collections.Counter()
    findings: dict[str, dict] = {}
    setup = None

    if name == "spec":
        strategy, check = targets.spec_documents(), lambda x: targets.check_spec(x, work)
    elif name == "arm-expression":
        strategy = st.one_of(targets.EXPRESSIONS, targets.RAW_EXPRESSIONS)
        check = lambda x: targets.check_template(targets.expression_template(x), None)  # noqa: E731
    elif name == "arm-template":
        strategy, check = targets.templates(), lambda x: targets.check_template(*x)
    elif name == "door":
        from dsvmctl.emulator.server import EmulatorServer
        from fuzz.corpus import ready_emulator

        folder = work / "door"
        server = EmulatorServer(folder, emulator=ready_emulator(state_dir=folder)).start()
        client = targets.DoorClient(server)
        setup = (server, client)
        strategy = targets.door_requests()

        def check(case):
            try:
                return targets.check_door(client, *case)
            finally:
                server.last_internal_error = None  # record each bug once per input, then go on

    elif name == "cli":
        from click.testing import CliRunner

        from dsvmctl.cli import cli

        os.environ["DSVMCTL_HOME"] = str(work / "state")
        os.environ.pop("DSVMCTL_CLOUD", None)
        os.chdir(work)
        runner = CliRunner()
        strategy = targets.cli_arguments()

        def check(args):
            try:
                return targets.check_cli(runner, cli, args, work)
            finally:
                reports = work / "state" / "reports"
                if reports.exists():
                    for report in reports.iterdir():
                        report.unlink()
                    reports.rmdir()
    else:
        raise SystemExit(f"unknown target {name!r}; known: {', '.join(TARGETS)}")

    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(value=strategy)
    def drive(value):
        try:
            outcome = check(value)
        except Exception as err:  # noqa: BLE001 - every failure is a finding, then the run goes on
            key = _finding(err)
            entry = findings.setdefault(key, {"count": 0, "example": repr(value)[:400]})
            entry["count"] += 1
            outcome = "FAILED"
        outcomes[str(outcome)] += 1

    started = time.monotonic()
    drive()
    elapsed = time.monotonic() - started
    if setup:
        setup[1].close()
        setup[0].stop()
    return {"target": name, "inputs": sum(outcomes.values()), "outcomes": dict(outcomes),
            "findings": findings, "seconds": round(elapsed, 1), "seed": seed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "fuzz.json"))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="dsvmctl-fuzz-") as tmp:
        for name in args.targets.split(","):
            work = Path(tmp) / name
            work.mkdir()
            result = run_target(name, args.examples, args.seed, work)
            results.append(result)
            print(f"{name}: {result['inputs']} inputs in {result['seconds']} s, {len(result['findings'])} "
                  f"finding(s), outcomes {result['outcomes']}", file=sys.stderr, flush=True)
            for key, entry in result["findings"].items():
                print(f"  {entry['count']}x {key}\n     e.g. {entry['example']}", file=sys.stderr, flush=True)
    os.chdir(ROOT)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print("| target | inputs | outcomes | findings | wall |\n|---|---|---|---|---|")
    for r in results:
        outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(r["outcomes"].items()))
        print(f"| {r['target']} | {r['inputs']:,} | {outcomes} | {len(r['findings'])} | {r['seconds']} s |")


if __name__ == "__main__":
    main()
