"""ResultsStore: schema on open, round trips, failed runs, filters, concurrent writers."""

from __future__ import annotations

import math
import multiprocessing
import sqlite3
import threading

import pytest

from dsvmctl.bench.store import SCHEMA_VERSION, ResultsStore, RunRecord
from dsvmctl.errors import DsvmctlError

from .conftest import busy_gpu_metrics, make_metrics, make_run, quote


def columns(path, run_id: str) -> dict:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone())
    finally:
        conn.close()


def test_empty_file_gets_the_schema_and_its_version(tmp_path):
    path = tmp_path / "results.sqlite"
    path.write_bytes(b"")  # e.g. touched by a user or left by a crashed first open
    store = ResultsStore(path)
    assert store.schema_version() == SCHEMA_VERSION
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "schema_version"} <= tables
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 1
    conn.close()
    assert store.list() == []


def test_reopening_keeps_runs_and_does_not_migrate_twice(tmp_path):
    path = tmp_path / "results.sqlite"
    run_id = ResultsStore(path).add_run(make_run(make_metrics()))
    again = ResultsStore(path)
    assert again.schema_version() == SCHEMA_VERSION
    assert again.get(run_id) is not None


def test_missing_parent_directories_are_created(tmp_path):
    store = ResultsStore(tmp_path / "a" / "b" / "results.sqlite")
    assert store.path.exists()


def test_run_round_trips_with_its_whole_metrics(store):
    metrics = make_metrics()
    run = make_run(metrics, price=quote("Standard_D4ds_v5", 0.25))
    assert store.add_run(run) == run.run_id
    back = store.get(run.run_id)
    assert back == run
    assert back.metrics == metrics  # nested host/config/loss_history included
    assert len(back.run_id) == 12 and int(back.run_id, 16) >= 0
    assert (back.price_per_hour, back.price_source, back.price_as_of) == (0.25, "test price list", "2026-01-02")


def test_query_columns_are_derived_from_the_metrics(store):
    metrics = busy_gpu_metrics()
    run = make_run(metrics, size="Standard_NC4as_T4_v3")
    store.add_run(run)
    row = columns(store.path, run.run_id)
    assert row["device"] == "cuda:0" and row["device_name"] == "Tesla T4"
    for name in ("samples_per_s", "step_time_ms", "achieved_tflops", "mfu", "wall_s"):
        assert row[name] == pytest.approx(metrics[name])
    assert row["size_is_gpu"] == 1  # from the catalog: NC4as_T4_v3 has a T4


def test_derived_fields_cannot_be_passed_in():
    with pytest.raises(TypeError):
        RunRecord(comparison_id="c", machine="m", cloud="local", size="Standard_D4ds_v5", size_is_gpu=False,
                  workload="w", metrics=make_metrics(), device="cuda:0")


def test_default_price_comes_from_the_bundled_snapshot(store):
    from dsvmctl.catalog.sizes import PRICES_AS_OF, SIZES

    run = make_run(make_metrics(), size="Standard_D4ds_v5")
    assert run.price_per_hour == SIZES["Standard_D4ds_v5"].price_per_hour
    assert run.price_as_of == PRICES_AS_OF


def test_failed_run_is_stored_with_null_metrics_and_its_error(store):
    run = make_run(None, size="Standard_NC4as_T4_v3", error="resize refused: QuotaExceeded for NCASv3_T4 family")
    store.add_run(run)
    row = columns(store.path, run.run_id)
    assert row["status"] == "failed"
    assert row["metrics_json"] is None
    assert all(row[c] is None for c in ("device", "device_name", "samples_per_s", "step_time_ms", "mfu", "wall_s"))
    back = store.get(run.run_id)
    assert back.metrics is None and back.error.startswith("resize refused")
    assert back.samples_per_s is None


def test_failed_run_with_metrics_is_refused():
    with pytest.raises(ValueError, match="failed run has no metrics"):
        RunRecord(comparison_id="c", machine="m", cloud="local", size="s", size_is_gpu=False, workload="w",
                  metrics=make_metrics(), status="failed", error="boom")


def test_failed_run_without_an_error_is_refused():
    with pytest.raises(ValueError, match="needs an error"):
        RunRecord.failed("", comparison_id="c", machine="m", cloud="local", size="Standard_D4ds_v5", workload="w")


def test_ok_run_needs_real_timings():
    metrics = make_metrics()
    del metrics["samples_per_s"]
    with pytest.raises(ValueError, match="samples_per_s"):
        make_run(metrics)


def test_unknown_size_needs_size_is_gpu():
    with pytest.raises(ValueError, match="size_is_gpu"):
        make_run(make_metrics(), size="Standard_Made_Up")
    run = make_run(make_metrics(), size="Standard_Made_Up", size_is_gpu=False)
    assert run.price_per_hour is None  # no invented price either


def test_bad_cloud_and_time_are_refused():
    with pytest.raises(ValueError, match="cloud"):
        make_run(make_metrics(), cloud="aws")
    with pytest.raises(ValueError, match="ISO"):
        make_run(make_metrics(), started_at="yesterday")
    with pytest.raises(ValueError, match="time zone"):
        make_run(make_metrics(), started_at="2026-01-01T10:00:00")


def test_start_times_are_kept_in_utc_so_they_sort(store):
    late = make_run(make_metrics(), started_at="2026-01-01T09:00:00-05:00")  # 14:00 UTC
    early = make_run(make_metrics(), started_at="2026-01-01T12:00:00Z")
    store.add_run(late)
    store.add_run(early)
    assert late.started_at == "2026-01-01T14:00:00+00:00"
    assert [r.run_id for r in store.list()] == [late.run_id, early.run_id]


def test_a_run_id_is_stored_once(store):
    run = make_run(make_metrics())
    store.add_run(run)
    with pytest.raises(DsvmctlError, match="already stored"):
        store.add_run(run)


def test_nan_loss_round_trips(store):
    run = make_run(make_metrics(final_loss=float("nan")))
    store.add_run(run)
    assert math.isnan(store.get(run.run_id).metrics["final_loss"])


def test_get_unknown_run_is_none(store):
    assert store.get("0123456789ab") is None


def test_list_is_newest_first_and_filters(store):
    runs = [
        make_run(make_metrics(), machine="vm-a", comparison_id="cmp-a", started_at="2026-01-01T10:00:00+00:00"),
        make_run(busy_gpu_metrics(), machine="vm-a", comparison_id="cmp-a", size="Standard_NC4as_T4_v3",
                 started_at="2026-01-01T10:05:00+00:00"),
        make_run(make_metrics(), machine="vm-b", comparison_id="cmp-b", started_at="2026-01-02T09:00:00+00:00"),
    ]
    for run in runs:
        store.add_run(run)
    assert [r.run_id for r in store.list()] == [runs[2].run_id, runs[1].run_id, runs[0].run_id]
    assert [r.run_id for r in store.list(limit=1)] == [runs[2].run_id]
    assert {r.run_id for r in store.list(machine="vm-a")} == {runs[0].run_id, runs[1].run_id}
    assert [r.run_id for r in store.list(comparison_id="cmp-b")] == [runs[2].run_id]
    assert store.list(machine="vm-b", comparison_id="cmp-a") == []


def test_runs_for_comparison_are_in_run_order(store):
    cpu = make_run(make_metrics(), started_at="2026-01-01T10:00:00+00:00")
    gpu = make_run(busy_gpu_metrics(), size="Standard_NC4as_T4_v3", started_at="2026-01-01T10:07:00+00:00")
    store.add_run(gpu)  # insertion order must not matter
    store.add_run(cpu)
    assert [r.run_id for r in store.runs_for_comparison("cmp000000001")] == [cpu.run_id, gpu.run_id]


def test_newer_schema_is_refused_with_advice(tmp_path):
    path = tmp_path / "results.sqlite"
    ResultsStore(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(DsvmctlError, match="version 99") as info:
        ResultsStore(path)
    assert "upgrade dsvmctl" in str(info.value)


def test_a_file_that_is_not_a_database_gives_a_clear_error(tmp_path):
    path = tmp_path / "results.sqlite"
    path.write_bytes(b"this is a text file, not SQLite\n" * 100)
    with pytest.raises(DsvmctlError, match="not a readable dsvmctl results database") as info:
        ResultsStore(path)
    assert "move" in str(info.value)


def _write_runs(path: str, machine: str, count: int) -> None:
    store = ResultsStore(path)  # each writer opens (and may migrate) on its own
    for _ in range(count):
        store.add_run(make_run(make_metrics(), machine=machine))


def test_two_processes_write_to_one_file(tmp_path):
    path = str(tmp_path / "results.sqlite")  # not created yet: both race to create the schema
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    procs = [ctx.Process(target=_write_runs, args=(path, f"vm-{i}", 25)) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    store = ResultsStore(path)
    assert len(store.list(machine="vm-0")) == 25 and len(store.list(machine="vm-1")) == 25


def test_threads_share_one_store(store):
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for _ in range(20):
                store.add_run(make_run(make_metrics(), machine=name))
                store.list(limit=5)  # reads interleave with the other thread's writes
        except BaseException as e:  # surfaced below; a thread's exception is otherwise lost
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(f"t{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(store.list()) == 60
