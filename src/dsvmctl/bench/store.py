"""The results database: one SQLite file holding every benchmark run, ok or failed.

A run keeps the workload's whole metrics JSON; a few fields are copied into columns so runs
can be listed and filtered without parsing JSON. Those columns are always derived from the
metrics (never passed in separately), so a row cannot claim a device or a timing its metrics
do not contain. A run that could not happen is stored as failed, with its error and no
metrics: nothing is filled in for it.

Two processes (a `bench` in one terminal, a `report` in another) may use one file at once:
WAL journal, a busy timeout, a fresh connection per call, and writes inside BEGIN IMMEDIATE.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DsvmctlError

if TYPE_CHECKING:
    from .prices import PriceQuote

SCHEMA_VERSION = 1
STATUSES = ("ok", "failed")
CLOUDS = ("local", "azure")
# Fields of the workload's metrics JSON that become query columns (same names).
DERIVED_FIELDS = ("device", "device_name", "samples_per_s", "step_time_ms", "achieved_tflops", "mfu", "wall_s")
REQUIRED_METRICS = ("device", "samples_per_s", "step_time_ms")  # without these it is not a train.py result

# Each entry moves the schema from version i to i + 1. Append; never edit a released one.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            comparison_id TEXT NOT NULL,
            machine TEXT NOT NULL,
            cloud TEXT NOT NULL CHECK (cloud IN ('local', 'azure')),
            size TEXT NOT NULL,
            size_is_gpu INTEGER NOT NULL CHECK (size_is_gpu IN (0, 1)),
            workload TEXT NOT NULL,
            started_at TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
            error TEXT,
            metrics_json TEXT,
            device TEXT,
            device_name TEXT,
            samples_per_s REAL,
            step_time_ms REAL,
            achieved_tflops REAL,
            mfu REAL,
            wall_s REAL,
            price_per_hour REAL,
            price_source TEXT,
            price_as_of TEXT,
            CHECK ((status = 'ok' AND metrics_json IS NOT NULL)
                   OR (status = 'failed' AND metrics_json IS NULL AND error IS NOT NULL))
        )""",
        "CREATE INDEX runs_comparison ON runs (comparison_id)",
        "CREATE INDEX runs_machine ON runs (machine, started_at)",
        "CREATE INDEX runs_started ON runs (started_at)",
    ],
]
assert len(MIGRATIONS) == SCHEMA_VERSION

COLUMNS = ("run_id", "comparison_id", "machine", "cloud", "size", "size_is_gpu", "workload", "started_at",
           "status", "error", "metrics_json", *DERIVED_FIELDS, "price_per_hour", "price_source", "price_as_of")


def new_id() -> str:
    """A short random id (12 hex digits) for a run or a comparison."""
    return uuid.uuid4().hex[:12]


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class RunRecord:
    """One workload run on one VM size. Build with `from_metrics` or `failed`."""

    comparison_id: str  # groups the CPU run and the GPU run of one bench
    machine: str
    cloud: str  # 'local' | 'azure'
    size: str
    size_is_gpu: bool  # the size offers a GPU (not: the run used one; see `device`)
    workload: str
    metrics: dict | None  # the workload's whole metrics JSON; None for a failed run
    status: str = "ok"
    error: str | None = None
    run_id: str = field(default_factory=new_id)
    started_at: str = field(default_factory=utc_now)
    price_per_hour: float | None = None
    price_source: str | None = None
    price_as_of: str | None = None
    # Derived from `metrics` in __post_init__; not settable.
    device: str | None = field(init=False, default=None)
    device_name: str | None = field(init=False, default=None)
    samples_per_s: float | None = field(init=False, default=None)
    step_time_ms: float | None = field(init=False, default=None)
    achieved_tflops: float | None = field(init=False, default=None)
    mfu: float | None = field(init=False, default=None)
    wall_s: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if self.cloud not in CLOUDS:
            raise ValueError(f"cloud must be one of {CLOUDS}, got {self.cloud!r}")
        try:
            started = dt.datetime.fromisoformat(self.started_at)
        except (TypeError, ValueError):
            raise ValueError(f"started_at must be an ISO 8601 time, got {self.started_at!r}") from None
        if started.tzinfo is None:
            raise ValueError(f"started_at needs a time zone (UTC), got {self.started_at!r}")
        # Stored as UTC text, so that sorting the column sorts by time.
        object.__setattr__(self, "started_at", started.astimezone(dt.timezone.utc).isoformat(timespec="seconds"))
        object.__setattr__(self, "size_is_gpu", bool(self.size_is_gpu))
        if self.status == "failed":
            if self.metrics is not None:
                raise ValueError("a failed run has no metrics (store the error instead)")
            if not self.error:
                raise ValueError("a failed run needs an error saying why it could not run")
            return
        if not isinstance(self.metrics, dict):
            raise ValueError("an ok run needs the workload's metrics dict")
        missing = [k for k in REQUIRED_METRICS if self.metrics.get(k) is None]
        if missing:
            raise ValueError(f"metrics lack {', '.join(missing)}: not a train.py metrics JSON")
        for name in DERIVED_FIELDS:
            value = self.metrics.get(name)
            object.__setattr__(self, name, _text(value) if name in ("device", "device_name") else _number(value))

    @property
    def ran_on_gpu(self) -> bool:
        """True only when the workload itself reported a CUDA device."""
        return bool(self.device and self.device.startswith("cuda"))

    @classmethod
    def from_metrics(cls, metrics: dict, *, comparison_id: str, machine: str, cloud: str, size: str,
                     workload: str, price: PriceQuote | None = None, size_is_gpu: bool | None = None,
                     run_id: str | None = None, started_at: str | None = None) -> RunRecord:
        """A successful run. `price` defaults to the bundled snapshot's quote for `size`."""
        return cls(metrics=metrics, status="ok", error=None,
                   **_common(comparison_id, machine, cloud, size, workload, price, size_is_gpu, run_id, started_at))

    @classmethod
    def failed(cls, error: str, *, comparison_id: str, machine: str, cloud: str, size: str, workload: str,
               price: PriceQuote | None = None, size_is_gpu: bool | None = None, run_id: str | None = None,
               started_at: str | None = None) -> RunRecord:
        """A run that could not happen (resize refused, SSH lost, workload crashed): no metrics."""
        return cls(metrics=None, status="failed", error=error,
                   **_common(comparison_id, machine, cloud, size, workload, price, size_is_gpu, run_id, started_at))

    def to_dict(self) -> dict:
        return asdict(self)


def _common(comparison_id, machine, cloud, size, workload, price, size_is_gpu, run_id, started_at) -> dict:
    from ..catalog.sizes import lookup
    from .prices import price_per_hour

    if size_is_gpu is None:
        known = lookup(size)
        if known is None:
            raise ValueError(f"size {size!r} is not in the catalog: pass size_is_gpu explicitly")
        size_is_gpu = known.is_gpu
    quote = price if price is not None else price_per_hour(size)
    out = dict(comparison_id=comparison_id, machine=machine, cloud=cloud, size=size, size_is_gpu=size_is_gpu,
               workload=workload, price_per_hour=quote.price_per_hour, price_source=quote.source,
               price_as_of=quote.as_of)
    if run_id is not None:
        out["run_id"] = run_id
    if started_at is not None:
        out["started_at"] = started_at
    return out


class ResultsStore:
    """Runs in a SQLite file at `path` (created, with its schema, on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A connection per call: sqlite3 connections must not be shared across threads, and a
        # short-lived one never holds a lock while the caller does something slow.
        try:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as e:
            raise DsvmctlError(f"cannot open the results database {self.path}: {e}",
                               fix="check the path and its permissions") from e
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 30000")
            yield conn
        except sqlite3.DatabaseError as e:
            if "not a database" in str(e) or "malformed" in str(e):
                raise DsvmctlError(f"{self.path} is not a readable dsvmctl results database ({e})",
                                   fix=f"move {self.path} aside; dsvmctl creates a new one") from e
            raise
        finally:
            conn.close()

    def _migrate(self) -> None:
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode = WAL")  # readers never block the writer
            conn.execute("BEGIN IMMEDIATE")  # one process migrates; the other waits, then sees it done
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                row = conn.execute("SELECT version FROM schema_version").fetchone()
                version = row[0] if row else 0
                if row is None:
                    conn.execute("INSERT INTO schema_version (version) VALUES (0)")
                if version > SCHEMA_VERSION:
                    raise DsvmctlError(
                        f"{self.path} has results schema version {version}; this dsvmctl knows up to "
                        f"{SCHEMA_VERSION}", fix="upgrade dsvmctl (pip install -U dsvmctl)")
                for statements in MIGRATIONS[version:]:
                    for sql in statements:
                        conn.execute(sql)
                conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        with self._connect() as conn:
            return conn.execute("SELECT version FROM schema_version").fetchone()[0]

    def add_run(self, run: RunRecord) -> str:
        """Store `run`; returns its run_id. A run_id is stored once."""
        row = _to_row(run)
        placeholders = ", ".join("?" for _ in COLUMNS)
        with self._connect() as conn:
            try:
                conn.execute(f"INSERT INTO runs ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                             [row[c] for c in COLUMNS])
            except sqlite3.IntegrityError as e:
                if "UNIQUE" in str(e):
                    raise DsvmctlError(f"run {run.run_id} is already stored in {self.path}") from e
                raise
        return run.run_id

    def get(self, run_id: str) -> RunRecord | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return _from_row(row) if row else None

    def list(self, limit: int | None = None, machine: str | None = None,
             comparison_id: str | None = None) -> list[RunRecord]:
        """Runs, newest first, optionally for one machine and/or one comparison."""
        where, args = [], []
        if machine is not None:
            where.append("machine = ?")
            args.append(machine)
        if comparison_id is not None:
            where.append("comparison_id = ?")
            args.append(comparison_id)
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self._connect() as conn:
            return [_from_row(r) for r in conn.execute(sql, args).fetchall()]

    def runs_for_comparison(self, comparison_id: str) -> list[RunRecord]:
        """The runs of one bench in the order they ran (the CPU step comes first)."""
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM runs WHERE comparison_id = ? ORDER BY started_at, rowid",
                                (comparison_id,)).fetchall()
        return [_from_row(r) for r in rows]


def _to_row(run: RunRecord) -> dict:
    row = {c: getattr(run, c, None) for c in COLUMNS if c != "metrics_json"}
    row["size_is_gpu"] = int(run.size_is_gpu)
    # Python's json (NaN allowed), as train.py writes it: a diverged loss stays NaN, not null.
    row["metrics_json"] = None if run.metrics is None else json.dumps(run.metrics)
    return row


def _from_row(row: sqlite3.Row) -> RunRecord:
    metrics = json.loads(row["metrics_json"]) if row["metrics_json"] is not None else None
    return RunRecord(
        comparison_id=row["comparison_id"], machine=row["machine"], cloud=row["cloud"], size=row["size"],
        size_is_gpu=bool(row["size_is_gpu"]), workload=row["workload"], metrics=metrics,
        status=row["status"], error=row["error"], run_id=row["run_id"], started_at=row["started_at"],
        price_per_hour=row["price_per_hour"], price_source=row["price_source"], price_as_of=row["price_as_of"],
    )
