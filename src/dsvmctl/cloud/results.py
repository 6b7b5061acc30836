"""What push, run, logs and collect return, as typed results; `to_json()` is `-o json`.

    pushed = machine.push()                  # PushResult: pushed.files_sent, pushed.method
    run = machine.run("cnn", "cpu")          # RunRecord: run.run_id, run.exit_code
    collected = machine.collect(run.run_id)  # CollectResult: collected.metrics, collected.device
    fleet.run(...)                           # a fleet's: DistributedRunRecord, FleetCollectResult

A RunRecord is also what the machine's runs.json keeps (a DistributedRunRecord: the fleet's
fleet-runs.json): `to_json()` writes an entry, `from_json()` reads one back. Users' scripts
read those files and the `-o json` documents, so the keys and their order are the ones dsvmctl
always wrote; a key left out below is one that entry never had. Reading is tolerant: a known
key that is missing takes its default, a key this version does not know is kept in `extra`
and written back as it was, so saving a record never drops what another version put there.

Kept free of heavy imports: the agent's push path (commands/pushing.py) builds a PushResult.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

if TYPE_CHECKING:
    from ..remote.sync import FetchSummary

R = TypeVar("R", bound="_Entry")


@dataclass(frozen=True)
class PushResult:
    """A push of a local tree to a machine: remote.sync's PushSummary, plus where from and to.
    Its fields are the summary's, repeated rather than inherited so that the CLI's push path
    need not import remote.sync; `of()` fails the moment the two differ."""

    dest: str
    files_sent: int
    bytes_sent: int
    deleted: int
    unchanged: int
    seconds: float
    method: str  # "tar", "sftp", or "none" when nothing changed
    src: str
    machine: str

    @classmethod
    def of(cls, summary: dict[str, Any], src: str, machine: str) -> PushResult:
        """From a PushSummary's `to_json()` (as the agent sends it, too)."""
        return cls(**summary, src=src, machine=machine)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)  # the fields, in their order


class _Entry:
    """A record kept in a runs file: known keys become fields, the others stay in `extra`.
    An entry's keys are its fields, in their order; those in `WHEN_SET` only when not None."""

    WHEN_SET: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def from_json(cls: type[R], document: dict[str, Any]) -> R:
        names = {f.name for f in fields(cls)} - {"extra"}  # type: ignore[arg-type]
        known = {key: value for key, value in document.items() if key in names}
        return cls(**known, extra={key: value for key, value in document.items() if key not in names})

    def _written(self, name: str, value: Any) -> bool:
        return value is not None or name not in self.WHEN_SET

    def to_json(self) -> dict[str, Any]:
        document = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}  # type: ignore
        return {**{k: v for k, v in document.items() if self._written(k, v)}, **self.extra}  # type: ignore


@dataclass(frozen=True)
class RunRecord(_Entry):
    """One run on a machine: its entry in the machine's runs.json, and what `run` and `logs`
    return. The run updates it as it goes (dataclasses.replace) and saves each new state."""

    run_id: str
    machine: str | None = None
    cloud: str | None = None
    workload: str | None = None
    device_requested: str | None = None
    args: list[str] | None = None
    size: str | None = None  # the VM size when it started (None for an attached machine)
    started_at: str | None = None
    detached: bool = False
    pid: int | None = None  # a detached run's process on the VM
    exit_code: int | None = None  # None: still running, stopped by a timeout, or not known yet
    push: dict[str, Any] | None = None  # files_sent, bytes_sent, method of the push before it
    python: str | None = None
    log: str | None = None  # a foreground run's local copy of its output
    finished_at: str | None = None
    stopped: str | None = None  # "timeout" or "interrupted"
    collected_to: str | None = None
    # Not on record here (started from another workstation): only its id is known.
    unknown_locally: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    WHEN_SET = frozenset({"push", "python", "log", "finished_at", "stopped", "collected_to"})

    def _written(self, name: str, value: Any) -> bool:
        return bool(value) if name == "unknown_locally" else super()._written(name, value)


@dataclass(frozen=True)
class DistributedRunRecord(_Entry):
    """One torchrun run across a fleet's nodes: its entry in fleet-runs.json, and what the
    fleet's `run` and `logs` return (cloud/distributed.py)."""

    run_id: str
    fleet: str | None = None
    cloud: str | None = None
    workload: str | None = None
    device_requested: str | None = None
    args: list[str] | None = None
    nodes: int = 1  # the run used the fleet's first `nodes` nodes
    procs_per_node: int = 1
    world_size: int = 1
    rendezvous: str | None = None  # node 0's address:port
    max_restarts: int = 0
    threads_per_process: int | None = None  # the local cloud splits this machine's cores
    node_names: list[str] = field(default_factory=list)
    sizes: list[str | None] = field(default_factory=list)
    started_at: str | None = None
    detached: bool = False
    exit_code: int | None = None
    node_exit_codes: list[int | None] | None = None
    failed_node: int | None = None  # the node whose torchrun ended first with an error
    pids: list[int] | None = None  # a detached run's wrapper on each node
    log: str | None = None  # a foreground run's local log, every node's lines prefixed
    finished_at: str | None = None
    stopped: str | None = None  # "node-failed", "timeout", "interrupted"; None (kept) once finished
    error: str | None = None
    collected_to: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    WHEN_SET = frozenset({"pids", "log", "finished_at", "error", "collected_to"})

    def _written(self, name: str, value: Any) -> bool:
        if name == "stopped":  # a finished foreground run says null: it was not stopped
            return value is not None or self.finished_at is not None
        return super()._written(name, value)


@dataclass(frozen=True)
class CollectResult:
    """A run's results fetched from its machine (cloud/workload.py's collect)."""

    run_id: str
    machine: str
    cloud: str
    size: str | None  # the VM size the run started on
    size_now: str | None
    workload: str | None
    device_requested: str | None
    device: str | None  # what torch reported in the metrics: never the requested device, never the size's GPU
    device_name: str | None
    exit_code: int | None
    started_at: str | None
    finished_at: str | None
    collected_at: str
    args: list[str] | None
    python: str | None
    dir: str
    metrics: str | None  # the metrics.json path; None when the run left none (or not that shape)
    run_json: str
    files: list[str]
    fetch: FetchSummary

    def run_info(self) -> dict[str, Any]:
        """The run.json document written beside the results."""
        return {"run_id": self.run_id, "machine": self.machine, "cloud": self.cloud, "size": self.size,
                "size_now": self.size_now, "workload": self.workload, "device_requested": self.device_requested,
                "device": self.device, "device_name": self.device_name, "exit_code": self.exit_code,
                "started_at": self.started_at, "finished_at": self.finished_at, "collected_at": self.collected_at,
                "args": self.args, "python": self.python}

    def to_json(self) -> dict[str, Any]:
        return {**self.run_info(), "dir": self.dir, "metrics": self.metrics, "run_json": self.run_json,
                "files": self.files, "fetch": self.fetch.to_json()}


@dataclass(frozen=True)
class NodeCollected:
    node: int
    machine: str
    files: list[str]  # empty: the run left nothing on that node

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node, "machine": self.machine, "files": self.files}


@dataclass(frozen=True)
class FleetCollectResult:
    """A fleet run's results: every node's run directory under `dir`/node-K, rank 0's metrics."""

    run: DistributedRunRecord
    dir: str
    metrics: str | None
    nodes_collected: list[NodeCollected]

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def run_info(self) -> dict[str, Any]:
        """The run.json document written in `dir`."""
        return {**self.run.to_json(), "dir": self.dir, "metrics": self.metrics}

    def to_json(self) -> dict[str, Any]:
        return {**self.run_info(), "nodes_collected": [node.to_json() for node in self.nodes_collected]}
