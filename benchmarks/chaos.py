"""Chaos: whole user cycles on the local cloud while ARM fails and dsvmctl gets killed.

    .venv/bin/python benchmarks/chaos.py --cycles 20 --rate 0.10 [--kill-share 0.3] [--seed 1]

Each cycle is what a user types, each command its own `dsvmctl` process:
up -> push -> run (a tiny cnn) -> resize to the GPU partner -> run -> down -> gc. A share of the
emulator's ARM responses is faulted (DSVMCTL_FAULTS): 500/503, 429 with Retry-After, dropped
connections, AllocationFailed on start. A failed command is re-run as a user would, up to
3 times. In some cycles one of up/push/run/resize/down is killed with SIGKILL at a random
moment, then run again. Reported, over all cycles:

  completed        cycles whose every command ended with exit 0 (within the re-runs)
  clean_failures   cycles that gave up: a command failed 1 + 3 times, each with a message
  tracebacks       commands that printed a Python traceback (must be 0)
  disks_lost       cycles whose OS disk (its id, or the files pushed onto it) did not survive the resize
  leaks            resources (or disk directories) left for the cycle's machine after down + gc
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

DSVMCTL = str(Path(sys.executable).with_name("dsvmctl"))
RERUNS = 3
TINY = ["--steps", "2", "--warmup", "1", "--compile", "off", "--batch-size", "8", "--image-size", "32",
        "--width", "8", "--blocks", "1,1"]
GPU_SIZE = "Standard_NC4as_T4_v3"
KILLABLE = ("up", "push", "run", "resize", "down")


def fault_rules(rate: float) -> list[dict]:
    """`rate` of all ARM responses faulted, spread over the kinds Azure fails with; and `rate`
    of VM starts ending in AllocationFailed."""
    if rate <= 0:
        return []
    return [
        {"fault": "server_error", "status": 500, "probability": rate * 0.3, "times": None},
        {"fault": "server_error", "status": 503, "probability": rate * 0.3 / (1 - rate * 0.3), "times": None},
        {"fault": "throttle", "retry_after": 1, "probability": rate * 0.1 / (1 - rate * 0.6), "times": None},
        {"fault": "connection_reset", "probability": rate * 0.3 / (1 - rate * 0.7), "times": None},
        {"fault": "allocation_failure", "method": "POST", "path": "/start$", "probability": rate, "times": None},
    ]


@dataclass
class Report:
    rate: float
    cycles: int = 0
    completed: int = 0
    clean_failures: int = 0
    tracebacks: int = 0
    disks_lost: int = 0
    leaks: int = 0
    kills: int = 0
    commands: int = 0
    reruns: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)  # the last message of each cycle that gave up
    traceback_samples: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


class Chaos:
    def __init__(self, home: Path, rate: float, seed: int, kill_share: float, remote_python: str) -> None:
        self.home = home
        self.rng = random.Random(seed)
        self.report = Report(rate)
        self.base_env = {**os.environ, "DSVMCTL_HOME": str(home), "DSVMCTL_CLOUD": "local",
                         "DSVMCTL_REMOTE_PYTHON": remote_python}
        self.base_env.pop("DSVMCTL_FAULTS", None)
        self.fault_env = {**self.base_env, "DSVMCTL_FAULTS": json.dumps(fault_rules(rate)),
                          "DSVMCTL_FAULT_SEED": str(seed)}
        self.kill_share = kill_share

    # -- one command, as a user runs it --------------------------------------------------------------

    def _spawn(self, args: list[str], faults: bool = True) -> subprocess.Popen:
        return subprocess.Popen([DSVMCTL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.fault_env if faults else self.base_env, cwd=self.home.parent,
                                start_new_session=True)

    def _finish(self, process: subprocess.Popen, timeout: float = 600) -> tuple[int, str, str]:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            err += "\n(chaos: the command hung and was killed)"
        self.report.commands += 1
        if "Traceback (most recent call last)" in err:
            self.report.tracebacks += 1
            self.report.traceback_samples.append(err[-1500:])
        return process.returncode, out, err

    def command(self, args: list[str], *, kill: bool = False) -> tuple[bool, str]:
        """Run a command; if it fails, run it again (up to RERUNS times). `kill`: SIGKILL the first
        try at a random moment (then run it again, as a user whose terminal died would)."""
        if kill:
            process = self._spawn(args)
            try:
                process.wait(timeout=self.rng.uniform(0.3, 4.0))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # the command and anything it started
                self.report.kills += 1
            self._finish(process)
        message = ""
        for attempt in range(1 + RERUNS):
            code, out, err = self._finish(self._spawn(args))
            if code == 0:
                return True, out
            lines = err.strip().splitlines()
            message = next((line for line in lines if line.startswith("error:")), lines[-1] if lines else f"exit {code}")
            if attempt < RERUNS:
                self.report.reruns += 1
        return False, f"dsvmctl {' '.join(args)}: {message}"

    def observe(self, args: list[str]) -> dict | None:
        """A read without faults: what the user would check, not part of the chaos."""
        code, out, _ = self._finish(self._spawn(args, faults=False))
        try:
            return json.loads(out) if code == 0 else None
        except ValueError:
            return None

    # -- one cycle ------------------------------------------------------------------------------------

    def cycle(self, index: int) -> None:
        name = f"chaos{index}"
        self.report.cycles += 1
        killed = self.rng.choice(KILLABLE) if self.rng.random() < self.kill_share else None
        steps = [
            ("up", ["up", name]),
            ("push", ["push", name]),
            ("run", ["run", name, "--workload", "cnn", "--device", "cpu", "--", *TINY]),
            ("resize", ["resize", name, "--size", GPU_SIZE]),
            ("run", ["run", name, "--workload", "cnn", "--device", "cpu", "--", *TINY]),
            ("down", ["down", name, "--yes"]),
            ("gc", ["gc", "--yes"]),
        ]
        disk_before = None
        ok = True
        for label, args in steps:
            if label == "resize":
                state = self.observe(["status", name, "-o", "json"])
                disk_before = state and state.get("os_disk_id")
            ok, message = self.command(args, kill=(label == killed))
            killed = None if label == killed else killed  # one kill per cycle
            if not ok:
                self.report.clean_failures += 1
                self.report.failures.append(message)
                break
            if label == "resize" and not self._disk_survived(name, disk_before):
                self.report.disks_lost += 1
        if ok:
            self.report.completed += 1
        else:  # the user gives up on this cycle and cleans up, without faults
            self._finish(self._spawn(["down", name, "--yes"], faults=False))
            self._finish(self._spawn(["gc", "--yes"], faults=False))
        self.report.leaks += self._leaked(name)

    def _disk_survived(self, name: str, disk_before: str | None) -> bool:
        state = self.observe(["status", name, "-o", "json"])
        if not state or not disk_before or state.get("os_disk_id") != disk_before:
            return False
        code, _, _ = self._finish(self._spawn(["exec", name, "--", "test", "-f", "dsvmctl/workloads/train.py"],
                                              faults=False))
        return code == 0

    def _leaked(self, name: str) -> int:
        state_file = self.home / "local-cloud" / "state.json"
        if not state_file.exists():
            return 0
        state = json.loads(state_file.read_text())
        group = f"/resourcegroups/dsvmctl-{name}".lower()
        left = [key for key in state.get("resources", {}) if group in key.lower() + "/"]
        disks = self.home / "disks"
        live_disks = {body["properties"].get("uniqueId") for body in state.get("resources", {}).values()
                      if body.get("type", "").lower() == "microsoft.compute/disks"}
        stray = [d for d in disks.iterdir() if d.name not in live_disks] if disks.is_dir() else []
        return len(left) + len(stray)


def run_chaos(cycles: int, rate: float, *, seed: int = 1, kill_share: float = 0.3, home: Path | None = None,
              remote_python: str | None = None, progress=lambda _line: None) -> Report:
    with tempfile.TemporaryDirectory(prefix="dsvmctl-chaos-") as tmp:
        chaos = Chaos(Path(home or Path(tmp) / "home"), rate, seed, kill_share, remote_python or sys.executable)
        started = time.monotonic()
        for index in range(cycles):
            chaos.cycle(index)
            progress(f"cycle {index + 1}/{cycles}: completed {chaos.report.completed}, "
                     f"clean failures {chaos.report.clean_failures}, tracebacks {chaos.report.tracebacks}, "
                     f"disks lost {chaos.report.disks_lost}, leaks {chaos.report.leaks}, "
                     f"kills {chaos.report.kills}, {time.monotonic() - started:.0f} s")
        chaos.report.seconds = round(time.monotonic() - started, 1)
        return chaos.report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--rate", type=float, default=0.10, help="share of ARM responses faulted")
    parser.add_argument("--kill-share", type=float, default=0.3, help="share of cycles with one SIGKILL")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    report = run_chaos(args.cycles, args.rate, seed=args.seed, kill_share=args.kill_share,
                       progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(json.dumps(report.to_json(), indent=2))


if __name__ == "__main__":
    main()
