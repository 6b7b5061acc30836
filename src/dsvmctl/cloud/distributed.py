"""Distributed runs on a fleet: the workload on N nodes at once, launched by PyTorch's torchrun.

    from dsvmctl import Cloud
    from dsvmctl.cloud import distributed

    fleet = Cloud.local().machine("lab")                       # a Fleet (cloud/fleet.py)
    run = distributed.run(fleet, "transformer", nodes=2, args=["--steps", "20"])   # a DistributedRunRecord
    collected = distributed.collect(fleet, run.run_id)          # every node's run dir, rank 0's metrics
    run.exit_code, run.node_exit_codes, run.failed_node, collected.metrics

What happens: the workload tree is pushed to every node in parallel (`workload.push`), each
node's Python with torch is found (`workload.find_python`), the rendezvous port is checked on
node 0, then every node starts

    python -m torch.distributed.run --nnodes N --nproc-per-node P --rdzv-backend c10d \
        --rdzv-endpoint <node 0 private address>:PORT --rdzv-id <run id> --max-restarts R \
        train.py --model ... --out ../runs/<run id>/metrics.json

torch.distributed does the rest (rendezvous, process group, DDP); dsvmctl schedules nothing.
On the local cloud every node is a local VM host on this machine, so the rendezvous address
is 127.0.0.1 and the nodes share this machine's cores: each process gets cores / (N x P)
threads, so the measured scaling is what the sharing allows, not what N real VMs give.

Stopping: each node's torchrun runs inside a small shell wrapper that tags every process of
the run with DSVMCTL_RUN_NODE=<run id>:<node> in its environment. If any node's torchrun ends
non-zero (a node died, was killed, or its workers failed), or on Ctrl-C, every node's
processes with that tag are sent TERM, then KILL: no orphans on any node (torchrun starts its
workers in sessions of their own, so a process-group kill alone would miss them).
"""

from __future__ import annotations

import json
import shlex
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from ..errors import CloudError, DsvmctlError, UsageError
from . import runs, workload
from .fleet import Fleet, in_parallel
from .results import DistributedRunRecord, FleetCollectResult, NodeCollected

DEFAULT_PORT = 29400  # torchrun's c10d default
NODE_PID_MARK = "dsvmctl-node-pid:"
TAG = "DSVMCTL_RUN_NODE"


def _quiet(_: str) -> None:
    return None


# -- command lines (pure; unit-tested) ---------------------------------------------------------------


def torchrun_argv(python: str, *, nnodes: int, nproc: int | str, endpoint: str, run_id: str,
                  max_restarts: int, local_addr: str | None, train_args: Sequence[str], is_host: bool) -> list[str]:
    """torchrun's command line on one node. Node 0 hosts the c10d rendezvous store (said
    explicitly: on the local cloud every node's address matches the endpoint)."""
    argv = [python, "-m", "torch.distributed.run", "--nnodes", str(nnodes), "--nproc-per-node", str(nproc),
            "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint, "--rdzv-id", run_id,
            "--rdzv-conf", f"is_host={1 if is_host else 0}", "--max-restarts", str(max_restarts)]
    if local_addr:
        argv += ["--local-addr", local_addr]
    return argv + list(train_args)


def _tagged_pids(tag_value: str) -> str:
    """sh: the pids whose environment holds the run's tag (one grep over every /proc/PID/environ)."""
    needle = shlex.quote(f"{TAG}={tag_value}")
    return (f"grep -lzxF {needle} /proc/[0-9]*/environ 2>/dev/null | "
            "sed -n 's|^/proc/\\([0-9]*\\)/environ$|\\1|p'")


def _cleanup_function(tag_value: str) -> str:
    """sh function `stop_tagged SIG`: signal every process whose environment has the tag."""
    return f"stop_tagged() {{ for p in $({_tagged_pids(tag_value)}); do kill -\"$1\" \"$p\" 2>/dev/null; done; }}\n"


def node_command(argv: Sequence[str], run_id: str, node: int, threads: int | None) -> str:
    """What one node runs: torchrun tagged with the run and node, its exit code kept in
    runs/<id>/node-<k>.exit_code, and whatever of the run is left on this node stopped after it
    (workers orphaned by a killed torchrun)."""
    tag_value = f"{run_id}:{node}"
    run_dir = f"{workload.RUNS_DIR}/{run_id}"
    env = [f"{TAG}={tag_value}"] + ([f"OMP_NUM_THREADS={threads}"] if threads else [])
    exit_file = shlex.quote(f"../runs/{run_id}/node-{node}.exit_code")
    return (f"mkdir -p -- {shlex.quote(run_dir)} && cd -- {shlex.quote(workload.WORKLOADS_DIR)} || exit 1\n"
            + _cleanup_function(tag_value)
            + f"printf '{NODE_PID_MARK}%s\\n' \"$$\"\n"
            + f"env {' '.join(shlex.quote(e) for e in env)} {shlex.join(argv)} &\n"
            + "wait $!; code=$?\n"
            + f"echo $code > {exit_file}\n"
            + f"if [ -n \"$({_tagged_pids(tag_value)})\" ]; then stop_tagged TERM; sleep 0.5; stop_tagged KILL; fi\n"
            + "exit $code")


def stop_command(run_id: str, node: int, grace: float = 5.0) -> str:
    """TERM every process of the run on this node, wait up to `grace`, KILL the rest."""
    tag_value = f"{run_id}:{node}"
    steps = max(1, int(grace / 0.2))
    return (_cleanup_function(tag_value)
            + f"alive() {{ [ -n \"$({_tagged_pids(tag_value)})\" ]; }}\n"
            + f"stop_tagged TERM; i=0; while [ $i -lt {steps} ] && alive; do sleep 0.2; i=$((i+1)); done\n"
            + "stop_tagged KILL; exit 0")


def port_check_command(python: str, port: int) -> str:
    code = ("import socket,sys\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
            f"try:\n s.bind(('',{int(port)}))\nexcept OSError as e:\n print(e.strerror or e); sys.exit(5)\n")
    return f"{shlex.quote(python)} -c {shlex.quote(code)}"


GPU_COUNT = "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)"


# -- output ------------------------------------------------------------------------------------------


class _Prefixed:
    """Whole lines of one node's stream, written as `[node K] line` (lines never interleave)."""

    def __init__(self, node: int, target, lock: threading.Lock, log) -> None:
        self.prefix = f"[node {node}] ".encode()
        self.target, self.lock, self.log = target, lock, log
        self.buffer = b""

    def __call__(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        if lines:
            self._write(b"".join(self.prefix + line + b"\n" for line in lines))

    def flush(self) -> None:
        if self.buffer:
            self._write(self.prefix + self.buffer + b"\n")
            self.buffer = b""

    def _write(self, data: bytes) -> None:
        with self.lock:
            if self.log is not None:
                self.log.write(data)
                self.log.flush()
            if callable(self.target):
                self.target(data)
            elif self.target is not None:
                try:
                    self.target.write(data)
                except TypeError:
                    self.target.write(data.decode("utf-8", "replace"))
                self.target.flush()


# -- the fleet's runs ---------------------------------------------------------------------------------


FLEET_RUNS_FILE = "fleet-runs.json"  # in the fleet's own state directory, beside its nodes' runs.json


def load_runs(fleet: Fleet) -> list[DistributedRunRecord]:
    return runs.load_runs(fleet, FLEET_RUNS_FILE, DistributedRunRecord)


def _save_run(fleet: Fleet, entry: DistributedRunRecord) -> None:
    runs.save_run(fleet, entry, FLEET_RUNS_FILE)


def find_run(fleet: Fleet, run_id: str | None) -> DistributedRunRecord:
    """The fleet's run with that id (a unique prefix), or its latest; unlike a single VM's, a run
    not on record here is an error (its node count and pids are only known from the record)."""
    on_record = load_runs(fleet)
    if not on_record:
        raise workload.RunNotFound(f"no distributed run on record for fleet {fleet.name}",
                                   fix=f"start one with `dsvmctl run {fleet.name}`")
    if run_id is None:
        return on_record[-1]
    matches = [r for r in on_record if r.run_id.startswith(run_id)]
    if len(matches) != 1:
        raise workload.RunNotFound(f"run id {run_id!r} matches {len(matches)} runs of fleet {fleet.name}",
                                   fix="give more of the id" if matches else "list them in fleet-runs.json")
    return matches[0]


# -- run ----------------------------------------------------------------------------------------------


def rendezvous_address(fleet: Fleet, node0) -> str:
    """Node 0's private address (the VNet carries node-to-node traffic); on the local cloud every
    node is a host on this machine, so it is loopback."""
    if fleet.backend.kind == "local":
        return "127.0.0.1"
    from .fleet import node_status

    address = node_status(node0).private_ip
    if not address:
        raise CloudError(f"{node0.name} has no private address for the rendezvous", fix="check its NIC")
    return address


def run(fleet: Fleet, workload_name: str = "transformer", *, nodes: int | None = None,
        procs_per_node: int | str = "auto", device: str = "auto", args: Sequence[str] = (),
        port: int = DEFAULT_PORT, max_restarts: int = 0, detach: bool = False, timeout: float | None = None,
        stdout=None, progress=_quiet) -> DistributedRunRecord:
    """Run the workload on the first `nodes` nodes of the fleet with torchrun (see the module
    docstring). Returns the run's record: run_id, exit_code, node_exit_codes, failed_node, ..."""
    if workload_name not in workload.WORKLOADS:
        raise UsageError(f"unknown workload {workload_name!r}", fix=f"choose one of {', '.join(workload.WORKLOADS)}")
    count = fleet.size if nodes is None else nodes
    if count < 1 or count > fleet.size:
        raise UsageError(f"--nodes {count}: fleet {fleet.name} has {fleet.size} nodes",
                         fix=f"pass --nodes 1..{fleet.size}, or grow it: dsvmctl up {fleet.name} --nodes {count}")
    if not 1 <= port <= 65535:
        raise UsageError(f"--port {port} is not a TCP port", fix="pass 1..65535")
    if max_restarts < 0:
        raise UsageError(f"--max-restarts {max_restarts} must be >= 0", fix="pass 0 or more")
    machines = fleet.nodes()[:count]
    run_id = workload.new_run_id()
    progress(f"connecting to {count} nodes")
    sessions = [m.session() for m in machines]  # endpoints read here, one at a time
    try:
        progress(f"pushing workloads to {count} nodes")
        in_parallel(lambda pair: workload.push(pair[0], session=pair[1]), list(zip(machines, sessions)))
        pythons = in_parallel(lambda pair: workload.find_python(pair[1], pair[0]), list(zip(machines, sessions)))
        nproc = _procs_per_node(procs_per_node, pythons[0], sessions[0], device)
        address = rendezvous_address(fleet, machines[0])
        code, out, _ = sessions[0].run(port_check_command(pythons[0], port), timeout=60)
        if code == 5:
            raise UsageError(f"rendezvous port {port} is taken on {machines[0].name} ({out.strip()})",
                             fix="pass another --port, or stop what listens there")
        threads = _threads_per_process(fleet, count, nproc)
        local = fleet.backend.kind == "local"
        train_args = workload.train_argv(workload_name, device, run_id, args)
        commands = [node_command(torchrun_argv(pythons[k], nnodes=count, nproc=nproc, endpoint=f"{address}:{port}",
                                               run_id=run_id, max_restarts=max_restarts,
                                               local_addr="127.0.0.1" if local else None, train_args=train_args,
                                               is_host=k == 0),
                                 run_id, k, threads) for k in range(count)]
        entry = DistributedRunRecord(
            run_id=run_id, fleet=fleet.name, cloud=fleet.record.cloud, workload=workload_name,
            device_requested=device, args=list(args), nodes=count, procs_per_node=nproc, world_size=count * nproc,
            rendezvous=f"{address}:{port}", max_restarts=max_restarts, threads_per_process=threads,
            node_names=[m.name for m in machines], sizes=[m.record.size for m in machines],
            started_at=workload._now(), detached=detach)
        if detach:
            return _start_detached(fleet, machines, sessions, commands, entry, progress)
        return _run_foreground(fleet, machines, sessions, commands, entry, stdout, timeout, progress)
    finally:
        for session in sessions:
            session.close()


def _procs_per_node(requested: int | str, python: str, session, device: str) -> int:
    if requested != "auto":
        try:
            value = int(requested)
        except ValueError:
            raise UsageError(f"--procs-per-node {requested!r}", fix="pass a number or auto") from None
        if value < 1:
            raise UsageError(f"--procs-per-node {value} must be >= 1", fix="pass 1 or more, or auto")
        return value
    if device == "cpu":
        return 1
    code, out, _ = session.run(f"{shlex.quote(python)} -c {shlex.quote(GPU_COUNT)}", timeout=120)
    gpus = int(out.strip()) if code == 0 and out.strip().isdigit() else 0
    return gpus or 1  # CPU: one process per node, using every core with threads


def _threads_per_process(fleet: Fleet, nodes: int, nproc: int) -> int | None:
    """On the local cloud the nodes share this machine: split its cores between all processes."""
    if fleet.backend.kind != "local":
        return None
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // (nodes * nproc))


def _start_detached(fleet, machines, sessions, commands, entry: DistributedRunRecord,
                    progress) -> DistributedRunRecord:
    pids = []
    for k, (machine, session, command) in enumerate(zip(machines, sessions, commands)):
        run_dir = f"{workload.RUNS_DIR}/{entry.run_id}"  # from the home directory, as `command` expects
        line = (f"mkdir -p -- {shlex.quote(run_dir)} || exit 1\n"
                f"nohup setsid sh -c {shlex.quote(command)} > {shlex.quote(run_dir + '/run.log')} 2>&1 < /dev/null &\n"
                f"printf '{workload.PID_MARK}%s\\n' \"$!\"")
        code, out, err = session.run(line, timeout=60)
        pid = next((int(x[len(workload.PID_MARK):]) for x in out.splitlines()
                    if x.startswith(workload.PID_MARK) and x[len(workload.PID_MARK):].strip().isdigit()), None)
        if code != 0 or pid is None:
            _stop_all(machines, sessions, entry.run_id)
            raise DsvmctlError(f"could not start run {entry.run_id} on {machine.name} (exit {code}): "
                               f"{err.strip() or out.strip() or 'no output'}; the nodes started are stopped")
        pids.append(pid)
    entry = replace(entry, pids=pids)
    _save_run(fleet, entry)
    progress(f"run {entry.run_id} started on {len(machines)} nodes; follow it with "
             f"`dsvmctl logs {fleet.name} {entry.run_id} --follow`")
    return entry


def _run_foreground(fleet, machines, sessions, commands, entry: DistributedRunRecord, stdout, timeout,
                    progress) -> DistributedRunRecord:
    run_id = entry.run_id
    local_dir = workload.local_run_dir(machines[0], run_id)
    local_dir.mkdir(parents=True, exist_ok=True)
    entry = replace(entry, log=str(local_dir / "run.log"))
    _save_run(fleet, entry)
    target = stdout if stdout is not None else getattr(sys.stdout, "buffer", sys.stdout)
    lock = threading.Lock()
    codes: dict[int, int] = {}
    ended: list[int] = []  # node indices in the order their torchrun ended
    errors: dict[int, BaseException] = {}
    done = threading.Event()
    progress(f"run {run_id}: {entry.workload} on {len(machines)} nodes x {entry.procs_per_node} "
             f"(world size {entry.world_size}, rendezvous {entry.rendezvous}; log {entry.log})")
    with open(entry.log, "ab") as log:
        sinks = [_Prefixed(k, target, lock, log) for k in range(len(machines))]

        def one(k: int) -> None:
            try:
                codes[k] = sessions[k].exec(commands[k], stdout=_strip_pid(sinks[k]), stderr=sinks[k])
            except BaseException as err:  # noqa: BLE001 - reported by the main thread
                errors[k] = err
            finally:
                sinks[k].flush()
                with lock:
                    ended.append(k)
                done.set()

        threads = [threading.Thread(target=one, args=(k,), daemon=True, name=f"node-{k}")
                   for k in range(len(machines))]
        for t in threads:
            t.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        stopped = None
        try:
            while any(t.is_alive() for t in threads):
                done.wait(0.2)
                done.clear()
                failed = [k for k in ended if k in errors or codes.get(k, 0) != 0]
                if failed and stopped is None:
                    stopped = "node-failed"
                    progress(f"node {failed[0]} ({machines[failed[0]].name}) ended "
                             f"{_how(codes.get(failed[0]), errors.get(failed[0]))}: stopping the other nodes")
                    _stop_all(machines, None, run_id, skip={failed[0]})
                if deadline is not None and time.monotonic() > deadline and stopped is None:
                    stopped = "timeout"
                    progress(f"timeout after {timeout:.0f}s: stopping every node")
                    _stop_all(machines, None, run_id)
        except KeyboardInterrupt:
            stopped = "interrupted"
            _stop_all(machines, None, run_id)
            for t in threads:
                t.join(timeout=15)
            _save_run(fleet, replace(entry, exit_code=130, finished_at=workload._now(), stopped="interrupted",
                                     node_exit_codes=[codes.get(k) for k in range(len(machines))]))
            raise
    failed = [k for k in ended if k in errors or codes.get(k, 0) != 0]
    error = None
    if failed:
        k = failed[0]
        error = (f"node {k} ({machines[k].name}) ended first, {_how(codes.get(k), errors.get(k))}; "
                 "every other node's processes of the run were stopped")
    entry = replace(entry, node_exit_codes=[codes.get(k) for k in range(len(machines))],
                    failed_node=failed[0] if failed else None,
                    exit_code=0 if not failed else (codes.get(failed[0]) or 1), finished_at=workload._now(),
                    stopped=stopped, error=error)
    _save_run(fleet, entry)
    return entry


def _how(code: int | None, error: BaseException | None) -> str:
    if error is not None:
        return f"with an error ({type(error).__name__}: {error})"
    if code is not None and code > 128:
        return f"with exit code {code} (killed by signal {code - 128})"
    return f"with exit code {code}"


def _strip_pid(sink):
    """Drop the wrapper's `dsvmctl-node-pid:` line from the node's stdout."""
    state = {"head": b""}

    def feed(data: bytes) -> None:
        if state["head"] is None:
            sink(data)
            return
        state["head"] += data
        if b"\n" in state["head"]:
            line, _, rest = state["head"].partition(b"\n")
            state["head"] = None
            if not line.startswith(NODE_PID_MARK.encode()):
                rest = line + b"\n" + rest
            if rest:
                sink(rest)

    return feed


def _stop_all(machines, sessions, run_id: str, skip: set[int] = frozenset()) -> None:
    """Stop every node's processes of the run (fresh connections: the run's own are busy)."""
    def stop(k: int) -> None:
        try:
            with machines[k].session() as session:
                session.run(stop_command(run_id, k), timeout=30)
        except DsvmctlError:
            pass  # a node that cannot be reached has nothing we could stop
        except Exception:  # noqa: BLE001 - a dead node's SSH may fail any way; the others still stop
            pass

    targets = [k for k in range(len(machines)) if k not in skip]
    for k in targets:  # the node that failed cleaned up after itself; the others are told to stop
        stop(k)


# -- logs, collect ---------------------------------------------------------------------------------------


def logs(fleet: Fleet, run_id: str | None = None, follow: bool = False, *, stdout=None) -> DistributedRunRecord:
    """A fleet run's output: the local prefixed log of a foreground run; for a detached run each
    node's run.log, read on the node (follow: until that node's run ends), prefixed `[node K]`."""
    entry = find_run(fleet, run_id)
    target = stdout if stdout is not None else getattr(sys.stdout, "buffer", sys.stdout)
    if not entry.detached:
        sink = _Prefixed(0, target, threading.Lock(), None)
        sink._write(Path(entry.log).read_bytes() if entry.log and Path(entry.log).is_file() else b"")
        return entry
    machines = fleet.nodes()[:entry.nodes]
    lock = threading.Lock()
    pids = entry.pids or [None] * len(machines)
    for k, machine in enumerate(machines):
        sink = _Prefixed(k, target, lock, None)
        command = workload.posix_logs_command(entry.run_id, pids[k], follow)
        with machine.session() as session:
            session.exec(command, stdout=sink, stderr=sink)
        sink.flush()
    codes = []
    for k, machine in enumerate(machines):
        exit_file = shlex.quote(f"{workload.RUNS_DIR}/{entry.run_id}/node-{k}.exit_code")
        with machine.session() as session:
            _, out, _ = session.run(f"cat -- {exit_file} 2>/dev/null || true")
        codes.append(int(out.strip()) if out.strip().lstrip("-").isdigit() else None)
    entry = replace(entry, node_exit_codes=codes)
    if all(c is not None for c in codes):
        entry = replace(entry, exit_code=next((c for c in codes if c), 0))
        _save_run(fleet, entry)
    return entry


def collect(fleet: Fleet, run_id: str | None = None) -> FleetCollectResult:
    """Every node's run directory into `<state>/runs/<id>/node-K/` (workload.collect per node);
    rank 0's metrics (on whichever node hosted global rank 0) also as `<state>/runs/<id>/metrics.json`."""
    entry = find_run(fleet, run_id)
    machines = fleet.nodes()[:entry.nodes]
    root = workload.local_run_dir(machines[0], entry.run_id)
    nodes, metrics_path = [], None
    for k, machine in enumerate(machines):
        try:
            result = workload.collect(machine, entry.run_id, dest=root / f"node-{k}")
        except workload.RunNotFound:  # the run left nothing on that node
            nodes.append(NodeCollected(node=k, machine=machine.name, files=[]))
            continue
        nodes.append(NodeCollected(node=k, machine=machine.name, files=result.files))
        metrics_path = metrics_path or result.metrics
    metrics = None
    if metrics_path:
        metrics = json.loads(Path(metrics_path).read_text())
        (root / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    summary = FleetCollectResult(run=entry, dir=str(root), metrics=str(root / "metrics.json") if metrics else None,
                                 nodes_collected=nodes)
    (root / "run.json").write_text(json.dumps(summary.run_info(), indent=2, default=str) + "\n")
    _save_run(fleet, replace(entry, collected_to=str(root)))
    return summary
