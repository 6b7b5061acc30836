"""The run registry's records (cloud/results.py, cloud/runs.py): runs.json and fleet-runs.json
entries as dsvmctl has written them load as RunRecords and write back unchanged, keys it does
not know included."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from dsvmctl.cloud import runs
from dsvmctl.cloud.results import DistributedRunRecord, PushResult, RunRecord

RID = "20261202T184600Z-1a2b3c"

# A foreground run's entry as workload.run wrote it, then collect; plus a key from another version.
OLD_ENTRY = {
    "run_id": RID, "machine": "lab", "cloud": "local", "workload": "cnn", "device_requested": "cpu",
    "args": ["--steps", "2"], "size": "Standard_D4ds_v5", "started_at": "2026-12-02T18:46:00+00:00",
    "detached": False, "pid": None, "exit_code": 0, "push": {"files_sent": 8, "bytes_sent": 51234, "method": "tar"},
    "python": "/anaconda/envs/py310/bin/python", "log": "/state/runs/x/run.log",
    "finished_at": "2026-12-02T18:46:09+00:00", "collected_to": "/state/runs/x",
    "tags_from_a_later_version": {"team": "vision"},
}

FLEET_ENTRY = {
    "run_id": RID, "fleet": "duo", "cloud": "local", "workload": "cnn", "device_requested": "cpu",
    "args": ["--steps", "2"], "nodes": 2, "procs_per_node": 1, "world_size": 2, "rendezvous": "127.0.0.1:29400",
    "max_restarts": 0, "threads_per_process": 2, "node_names": ["duo-0", "duo-1"],
    "sizes": ["Standard_D4ds_v5", "Standard_D4ds_v5"], "started_at": "2026-12-02T18:46:00+00:00",
    "detached": False, "exit_code": 0, "node_exit_codes": [0, 0], "failed_node": None,
    "log": "/state/runs/x/run.log", "finished_at": "2026-12-02T18:46:30+00:00", "stopped": None,
}


class FakeStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path


class FakeMachine:
    """What runs.py uses of a Machine: its name and the store's directory for it."""

    def __init__(self, root: Path, name: str = "lab") -> None:
        self.name, self.store = name, FakeStore(root)


def test_an_old_entry_with_an_unknown_key_loads_and_round_trips():
    record = RunRecord.from_json(OLD_ENTRY)
    assert (record.run_id, record.exit_code, record.push["files_sent"]) == (RID, 0, 8)
    assert record.collected_to == "/state/runs/x" and record.stopped is None
    assert record.extra == {"tags_from_a_later_version": {"team": "vision"}}
    assert record.to_json() == OLD_ENTRY
    assert list(record.to_json()) == list(OLD_ENTRY)  # the keys in the order dsvmctl writes them


def test_an_entry_missing_keys_takes_defaults():
    record = RunRecord.from_json({"run_id": RID, "machine": "lab", "exit_code": 3})
    assert (record.exit_code, record.detached, record.pid, record.python) == (3, False, None, None)
    assert record.to_json()["exit_code"] == 3 and "python" not in record.to_json()


def test_optional_keys_appear_only_once_set():
    started = RunRecord(run_id=RID, machine="lab", cloud="local", workload="cnn", device_requested="cpu",
                        args=[], size=None, started_at="t0", detached=True)
    assert list(started.to_json()) == ["run_id", "machine", "cloud", "workload", "device_requested", "args", "size",
                                       "started_at", "detached", "pid", "exit_code"]
    stopped = replace(started, python="py", exit_code=None, finished_at="t1", stopped="timeout")
    assert list(stopped.to_json())[-3:] == ["python", "finished_at", "stopped"]
    assert stopped.to_json()["exit_code"] is None


def test_runs_json_keeps_other_entries_as_written(tmp_path):
    machine = FakeMachine(tmp_path)
    path = machine.store.dir("lab") / runs.RUNS_FILE
    odd = {"note": "an entry without a run id"}
    other = {**OLD_ENTRY, "run_id": "20261201T000000Z-000000"}
    path.write_text(json.dumps({"runs": [other, odd, OLD_ENTRY]}))

    loaded = runs.load_runs(machine)
    assert [r.run_id for r in loaded] == [other["run_id"], RID]  # the odd entry is skipped, not lost
    assert runs.find_run(machine, RID[:18]) == loaded[1]
    runs.save_run(machine, replace(loaded[1], exit_code=1))

    written = json.loads(path.read_text())["runs"]
    assert written == [other, odd, {**OLD_ENTRY, "exit_code": 1}]
    assert runs.find_run(machine, None).exit_code == 1


def test_a_run_not_on_record_is_found_by_its_id_only(tmp_path):
    machine = FakeMachine(tmp_path)
    with pytest.raises(runs.RunNotFound, match="no run on record"):
        runs.find_run(machine, None)
    elsewhere = runs.find_run(machine, RID)
    assert elsewhere.unknown_locally and elsewhere.machine == "lab" and elsewhere.args is None


def test_fleet_runs_round_trip_and_a_finished_run_says_it_was_not_stopped(tmp_path):
    record = DistributedRunRecord.from_json({**FLEET_ENTRY, "from_later": 1})
    assert record.node_exit_codes == [0, 0] and record.stopped is None and record.extra == {"from_later": 1}
    assert record.to_json() == {**FLEET_ENTRY, "from_later": 1}
    assert list(record.to_json()) == [*FLEET_ENTRY, "from_later"]

    detached = DistributedRunRecord.from_json({**FLEET_ENTRY, "detached": True, "pids": [41, 42]})
    detached = replace(detached, log=None, finished_at=None)
    assert "stopped" not in detached.to_json() and detached.to_json()["pids"] == [41, 42]

    fleet = FakeMachine(tmp_path, "duo")
    runs.save_run(fleet, record, "fleet-runs.json")
    assert runs.load_runs(fleet, "fleet-runs.json", DistributedRunRecord) == [record]


def test_a_push_result_is_the_push_summary_plus_where_from_and_to():
    summary = {"dest": "dsvmctl/workloads", "files_sent": 2, "bytes_sent": 10, "deleted": 0, "unchanged": 5,
               "seconds": 0.1, "method": "tar"}
    pushed = PushResult.of(summary, "/src", "lab")
    assert pushed.to_json() == {**summary, "src": "/src", "machine": "lab"}
    assert list(pushed.to_json()) == [*summary, "src", "machine"]
