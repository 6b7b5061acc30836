"""The run registry: the runs started on each machine, kept locally.

`<state>/machines/<cloud>/<name>/runs.json` lists them, one RunRecord each (cloud/results.py:
id, workload, pid for detached runs, exit code once known); a fleet's distributed runs are in
its fleet-runs.json (DistributedRunRecords, cloud/distributed.py). `<state>/runs/<run_id>/`
holds a run's local files (run.log teed from the live stream, what `collect` fetched, run.json).

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
from typing import Any, TypeVar

from ..errors import UsageError
from ..paths import write_atomic
from .results import DistributedRunRecord, RunRecord

Record = TypeVar("Record", RunRecord, DistributedRunRecord)

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


def _entries(machine, file: str) -> list[Any]:
    """The runs file's entries as written (none when the file is missing or unreadable)."""
    path = _runs_file(machine, file)
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text()).get("runs", []))
    except (ValueError, AttributeError, TypeError):
        return []


def load_runs(machine, file: str = RUNS_FILE, record: type[Record] = RunRecord) -> list[Record]:  # type: ignore
    """The machine's runs on record, oldest first, as `record`s (a fleet's: DistributedRunRecord).
    An entry without a run id is skipped here, and kept in the file."""
    return [record.from_json(entry) for entry in _entries(machine, file)
            if isinstance(entry, dict) and isinstance(entry.get("run_id"), str)]


def save_run(machine, run: RunRecord | DistributedRunRecord, file: str = RUNS_FILE) -> None:
    """Add or replace the run's entry (by run_id); the file is replaced atomically. The other
    entries are written back as they were read."""
    others = [e for e in _entries(machine, file) if not (isinstance(e, dict) and e.get("run_id") == run.run_id)]
    write_atomic(_runs_file(machine, file), json.dumps({"runs": others + [run.to_json()]}, indent=2))


def find_run(machine, run_id: str | None) -> RunRecord:
    """The run on record with that id (a unique prefix will do), or the latest one."""
    runs = load_runs(machine)
    if run_id is None:
        if not runs:
            raise RunNotFound(f"no run on record for {machine.name}",
                              fix=f"start one with `dsvmctl run {machine.name}`, or name a run id")
        return runs[-1]
    check_run_id(run_id)
    matches = [r for r in runs if r.run_id.startswith(run_id)]
    exact = [r for r in matches if r.run_id == run_id]
    if exact or len(matches) == 1:
        return (exact or matches)[0]
    if len(matches) > 1:
        raise RunNotFound(f"run id {run_id!r} is ambiguous on {machine.name}: "
                          + ", ".join(r.run_id for r in matches), fix="give more of the id")
    # Not started from here (another workstation?): still reachable on the VM by its id.
    return RunRecord(run_id=run_id, machine=machine.name, unknown_locally=True)
