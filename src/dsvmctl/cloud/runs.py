"""The run registry: the runs started on each machine, kept locally.

`<state>/machines/<cloud>/<name>/runs.json` lists them (id, workload, pid for detached runs,
exit code once known; a fleet's distributed runs are in its fleet-runs.json, cloud/distributed.py); `<state>/runs/<run_id>/` holds a run's local files (run.log teed from
the live stream, what `collect` fetched, run.json).

Run ids are `<UTC timestamp>-<6 hex>` (they sort by time and are unique across
workstations). An id given by a user (or a prefix of one) must look like one: it becomes part
of remote paths and commands, so anything else is refused up front with a clear error.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..paths import write_atomic

RUNS_FILE = "runs.json"
RUN_ID_FORM = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]{0,63}")


class RunNotFound(UsageError):
    """No run with that id on record (or no run at all) for the machine."""


def new_run_id() -> str:
    """UTC timestamp + short random suffix: sorts by time, unique across workstations."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def check_run_id(run_id: str) -> str:
    """`run_id` if it has the form of a run id (or a prefix of one), else UsageError."""
    if not RUN_ID_FORM.fullmatch(run_id) or ".." in run_id:
        raise UsageError(f"{run_id!r} is not a run id: run ids look like 20260101T120000Z-1a2b3c (letters, digits, "
                         "'-', '_', '.'; at most 64)",
                         fix="copy the id from `dsvmctl run` or `dsvmctl collect` output, or leave it out for the "
                             "latest run")
    return run_id


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def state_home_of(machine) -> Path:
    """The state root of the machine's cloud."""
    return machine.paths.root


def local_run_dir(machine, run_id: str) -> Path:
    return machine.paths.run_dir(check_run_id(run_id))


def _runs_file(machine, file: str) -> Path:
    return machine.store.dir(machine.name) / file


def load_runs(machine, file: str = RUNS_FILE) -> list[dict[str, Any]]:
    """The machine's runs on record, oldest first (none when the file is missing or unreadable)."""
    path = _runs_file(machine, file)
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text()).get("runs", []))
    except (ValueError, AttributeError):
        return []


def save_run(machine, entry: dict[str, Any], file: str = RUNS_FILE) -> None:
    """Add or replace the run's entry (by run_id); the file is replaced atomically."""
    runs = [r for r in load_runs(machine, file) if r.get("run_id") != entry["run_id"]] + [entry]
    write_atomic(_runs_file(machine, file), json.dumps({"runs": runs}, indent=2))


def find_run(machine, run_id: str | None) -> dict[str, Any]:
    """The run on record with that id (a unique prefix will do), or the latest one."""
    runs = load_runs(machine)
    if run_id is None:
        if not runs:
            raise RunNotFound(f"no run on record for {machine.name}",
                              fix=f"start one with `dsvmctl run {machine.name}`, or name a run id")
        return runs[-1]
    check_run_id(run_id)
    matches = [r for r in runs if r.get("run_id", "").startswith(run_id)]
    exact = [r for r in matches if r["run_id"] == run_id]
    if exact or len(matches) == 1:
        return (exact or matches)[0]
    if len(matches) > 1:
        raise RunNotFound(f"run id {run_id!r} is ambiguous on {machine.name}: "
                          + ", ".join(r["run_id"] for r in matches), fix="give more of the id")
    # Not started from here (another workstation?): still reachable on the VM by its id.
    return {"run_id": run_id, "machine": machine.name, "unknown_locally": True}
