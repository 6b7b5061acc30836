"""A fleet: one environment of N identical nodes, NAME-0 .. NAME-(N-1), from one deployment.

The fleet's record is an ordinary MachineRecord under NAME with `extra["nodes"] = N` and
`extra["fleet"] = True`. Each node is an ordinary `Machine` over a record derived from it (the
node's VM name, the fleet's keys and resource group), so everything a single VM can do
(status, power, SSH, the journaled resize, workloads) works per node unchanged; per-node state
(runs.json, the resize journal) lives under `<state>/machines/<cloud>/NAME-K/`.

Every node shares the fleet's SSH host key (injected by the one deployment) and user key.
The shipped template tags every node's resources `dsvmctl-machine = NAME` and
`dsvmctl-node = K`, so `down` finds the whole fleet and scale-down finds exactly one node.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Callable, Sequence, TypeVar

from ..errors import DsvmctlError, UsageError
from .backend import ArmBackend
from .machine import DELETE_ORDER, Machine, delete_resource
from .machines import MachineRecord, MachineStore
from .power import PowerState
from .results import DistributedRunRecord, FleetCollectResult, PushResult
from .status import FleetStatus, NodeStatus

Progress = Callable[[str], None]
T = TypeVar("T")
PARALLEL = 8  # at most this many nodes handled at once (ARM throttles bursts of writes)
NODE_TAG = "dsvmctl-node"


def _quiet(_: str) -> None:
    return None


def node_names(name: str, count: int, suffixed: bool) -> list[str]:
    """The VM names of a fleet's nodes: NAME-0 .. NAME-(N-1), or just NAME for a single VM."""
    if not suffixed:
        return [name]
    return [f"{name}-{k}" for k in range(count)]


def is_fleet(record: MachineRecord) -> bool:
    return bool(record.extra.get("fleet"))


def node_count(record: MachineRecord) -> int:
    return int(record.extra.get("nodes", 1)) if is_fleet(record) else 1


def template_parameters(spec, suffixed: bool) -> dict[str, Any]:
    """The shipped template's fleet parameters. A single VM passes none, so its deployment
    is exactly what it was before fleets existed."""
    if not suffixed:
        return {}
    from ..catalog.sizes import SIZES

    # Accelerated networking only where the size has it and so does the GPU size it is resized to
    # (Azure refuses a resize to a size without it while the NIC has it on).
    sizes = [SIZES.get(s) for s in (spec.size, spec.gpu_size) if s]
    accelerated = all(s is not None and s.accelerated_networking for s in sizes)
    return {"nodeCount": spec.nodes, "nodeSuffixes": True, "acceleratedNetworking": accelerated}


def in_parallel(func: Callable[[Any], T], items: Sequence[Any], limit: int = PARALLEL) -> list[T]:
    """func over items on a bounded thread pool, results in order; the first error is raised
    after every item has finished (no half-abandoned node work)."""
    if len(items) <= 1:
        return [func(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(limit, len(items))) as pool:
        futures = [pool.submit(func, item) for item in items]
        errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error
    return [f.result() for f in futures]


class Fleet:
    """The nodes of a fleet, acted on together (the same verbs as a Machine, fanned out)."""

    def __init__(self, backend: ArmBackend, store: MachineStore, record: MachineRecord) -> None:
        self.backend = backend
        self.store = store
        self.record = record

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def paths(self):
        """Where the fleet's cloud keeps its state (as a Machine's `paths`)."""
        return self.store.paths

    @property
    def size(self) -> int:
        return node_count(self.record)

    def nodes(self) -> list[Machine]:
        return [self._node_machine(vm_name) for vm_name in node_names(self.name, self.size, True)]

    def node(self, index: int) -> Machine:
        if not 0 <= index < self.size:
            raise UsageError(f"fleet {self.name} has {self.size} nodes (0..{self.size - 1}); there is no node {index}",
                             fix=f"pass --node 0..{self.size - 1}")
        return self.nodes()[index]

    def _node_machine(self, vm_name: str) -> Machine:
        return Machine(self.backend, self.store, replace(self.record, name=vm_name, vm_id=None, extra={
            "fleet_name": self.name, "node": int(vm_name.rsplit("-", 1)[1])}))

    # -- reading ---------------------------------------------------------------------------------

    def status(self, node: int | None = None) -> FleetStatus:
        """Every node's status (with `node`, that node's only)."""
        nodes = [self.node(node)] if node is not None else self.nodes()
        return FleetStatus(self.name, self.record.cloud, self.record.resource_group, [node_status(m) for m in nodes],
                           node_count=self.size, gpu_size=self.record.gpu_size, os=self.record.os,
                           image=self.record.image)

    def owned_resources(self) -> list[Any]:
        return Machine(self.backend, self.store, self.record).owned_resources()

    # -- power -----------------------------------------------------------------------------------

    def stop(self, progress: Progress = _quiet) -> FleetStatus:
        in_parallel(lambda m: m.stop(progress=progress), self.nodes())
        return self.status()

    def start(self, progress: Progress = _quiet, wait_for_ssh: bool = True) -> FleetStatus:
        in_parallel(lambda m: m.start(progress=progress, wait_for_ssh=wait_for_ssh), self.nodes())
        return self.status()

    # -- workloads (every node: see cloud/distributed.py) --------------------------------------------

    def push(self, src=None, dest=None) -> list[PushResult]:
        """Push to every node in parallel, one session each; each node's push summary, in node order."""
        from . import workload

        nodes = self.nodes()
        sessions = [m.session() for m in nodes]
        try:
            return in_parallel(lambda pair: workload.push(pair[0], src, dest, session=pair[1]),
                               list(zip(nodes, sessions)))
        finally:
            for session in sessions:
                session.close()

    def run(self, workload: str = "transformer", device: str = "auto", args=(), **options: Any) -> DistributedRunRecord:
        """The workload on the fleet's nodes with torchrun (options: nodes, procs_per_node, port, ...)."""
        from . import distributed

        return distributed.run(self, workload, device=device, args=list(args), **options)

    def logs(self, run_id: str | None = None, follow: bool = False, **options: Any) -> DistributedRunRecord:
        from . import distributed

        return distributed.logs(self, run_id, follow, **options)

    def collect(self, run_id: str | None = None) -> FleetCollectResult:
        from . import distributed

        return distributed.collect(self, run_id)

    # -- teardown ----------------------------------------------------------------------------------

    def down(self, keep_disk: bool = False, progress: Progress = _quiet) -> dict[str, Any]:
        names = node_names(self.name, self.size, True)
        result = Machine(self.backend, self.store, self.record).down(keep_disk=keep_disk, progress=progress)
        for vm_name in names:
            self.store.forget(vm_name)  # the nodes' runs.json and resize journals
        return {**result, "nodes": names}

    def remove_nodes(self, first: int, progress: Progress = _quiet) -> list[str]:
        """Delete nodes first .. N-1 (every resource tagged with their index), highest first;
        the record shrinks with each one, so an interrupted scale-down resumes where it stopped."""
        deleted: list[str] = []
        rank = {t: i for i, t in enumerate(DELETE_ORDER)}
        resources = self.owned_resources()
        for index in range(self.size - 1, first - 1, -1):
            mine = [r for r in resources if (r.tags or {}).get(NODE_TAG) == str(index)]
            for resource in sorted(mine, key=lambda r: rank.get(r.type.lower(), len(rank))):
                progress(f"deleting {resource.type.split('/')[-1]} {resource.name} (node {index})")
                delete_resource(self.backend, resource.id, resource.type, resource.name)
                deleted.append(resource.id)
            self.store.forget(f"{self.name}-{index}")
            self.record.extra["nodes"] = index
            self.store.save(self.record)
        return deleted


def node_status(machine: Machine) -> NodeStatus:
    """One node's line: size, power state, OS disk, private and public address."""
    from .azure_errors import azure_call

    vm = machine.vm(instance_view=True)
    index = machine.record.extra.get("node")
    if vm is None:
        return NodeStatus(index, machine.name, PowerState.ABSENT)
    with azure_call(f"reading the network of {machine.name}"):
        nic, ip, _nsg = machine._network(vm)
    return NodeStatus(
        index, machine.name, machine.power_state(vm), size=vm.hardware_profile.vm_size,
        os_disk_id=vm.storage_profile.os_disk.managed_disk.id,
        private_ip=nic.ip_configurations[0].private_ip_address if nic.ip_configurations else None,
        public_ip=ip.ip_address if ip else None, provisioning_state=vm.provisioning_state,
        accelerated_networking=bool(getattr(nic, "enable_accelerated_networking", False)),
        proximity_placement_group=vm.proximity_placement_group.id if vm.proximity_placement_group else None)


def open_machine(backend: ArmBackend, store: MachineStore, record: MachineRecord) -> Machine | Fleet:
    """The record's machine: a Fleet for a fleet, else the single VM."""
    return Fleet(backend, store, record) if is_fleet(record) else Machine(backend, store, record)


# -- resize ----------------------------------------------------------------------------------------------

RESIZE_PARALLEL = 4  # nodes resized at once: bounds the burst of deallocate/start writes


def resize_fleet(fleet: Fleet, size: str, *, dry_run: bool = False, start: bool | None = None,
                 parallel: int = RESIZE_PARALLEL, progress: Progress = _quiet) -> dict[str, Any]:
    """Plan every node first; if any node cannot move (or the fleet's quota is short), refuse
    before any change. Then resize the nodes in parallel (at most `parallel` at once), each with
    cloud/resize.py: its own journal, OS-disk and marker verification, and rollback."""
    from . import resize as single

    nodes = fleet.nodes()
    progress(f"planning the resize of {len(nodes)} nodes to {size}")
    plans = [single.resize(m, size, dry_run=True) for m in nodes]  # GETs only
    blockers = [{"node": k, "name": m.name, **b} for k, (m, p) in enumerate(zip(nodes, plans))
                for b in p.plan["blockers"]]
    quota = _fleet_quota_problem(fleet, plans, size)
    if quota is not None:
        blockers.append(quota)
    result: dict[str, Any] = {"name": fleet.name, "fleet": True, "to": size, "node_count": len(nodes),
                              "plans": [p.plan for p in plans], "blockers": blockers}
    if blockers:
        body = "\n".join(f"  - {b.get('name', fleet.name)}: {b['message']}\n    fix: {b['fix']}" for b in blockers)
        raise FleetResizeRefused(f"cannot resize fleet {fleet.name} to {size}; no node was changed:\n{body}", result)
    if dry_run:
        return {**result, "dry_run": True}

    def one(machine) -> dict[str, Any]:
        try:
            return single.resize(machine, size, start=start,
                                 progress=lambda m: progress(f"{machine.name}: {m}")).to_json()
        except (single.ResizeIncomplete, DsvmctlError) as err:
            return {"name": machine.name, "verified": False, "error": str(err),
                    "incomplete": isinstance(err, single.ResizeIncomplete)}

    results = in_parallel(one, nodes, limit=parallel)
    _record_size(fleet, results)
    return {**result, "nodes": results, "verified": all(r.get("verified") for r in results),
            "rolled_back": [r["name"] for r in results if r.get("rolled_back")],
            "failed": [r["name"] for r in results if not r.get("verified")]}


def resume_fleet(fleet: Fleet, *, parallel: int = RESIZE_PARALLEL, progress: Progress = _quiet) -> dict[str, Any]:
    """Finish every node's unfinished resize (nodes with nothing to finish are listed as such)."""
    from . import resize as single

    def one(machine) -> dict[str, Any]:
        journal = single.Journal.load(single.journal_path(machine))
        if journal is None or not journal.is_open:
            return {"name": machine.name, "verified": True, "nothing_to_resume": True}
        try:
            return single.resume(machine, progress=lambda m: progress(f"{machine.name}: {m}")).to_json()
        except (single.ResizeIncomplete, DsvmctlError) as err:
            return {"name": machine.name, "verified": False, "error": str(err)}

    results = in_parallel(one, fleet.nodes(), limit=parallel)
    if any(not r.get("nothing_to_resume") for r in results):
        _record_size(fleet, results)
    if all(r.get("nothing_to_resume") for r in results):
        raise UsageError(f"no unfinished resize on any node of fleet {fleet.name}",
                         fix=f"see the nodes with `dsvmctl status {fleet.name}`")
    return {"name": fleet.name, "fleet": True, "nodes": results, "verified": all(r.get("verified") for r in results),
            "failed": [r["name"] for r in results if not r.get("verified")]}


class FleetResizeRefused(UsageError):
    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


def _fleet_quota_problem(fleet: Fleet, plans: list[Any], size: str) -> dict[str, Any] | None:
    """Each node's plan checks the quota for itself; the fleet needs it for all nodes at once."""
    from ..catalog.sizes import SIZES
    from .provision import region_facts

    moving = [p.plan for p in plans if p.kind not in ("noop", "impossible")]
    target = SIZES.get(size) or next((s for name, s in SIZES.items() if name.lower() == size.lower()), None)
    if not moving or target is None:
        return None
    _offered, quota = region_facts(fleet.backend, fleet.record.location)
    info = {k.lower(): v for k, v in quota.items()}.get(target.family.lower())
    if info is None:
        return None
    same_family = [p for p in moving if (SIZES.get(p["from_size"]) or target).family == target.family]
    freed = sum((SIZES[p["from_size"]].vcpus if p["from_size"] in SIZES else 0) for p in same_family)
    needed = target.vcpus * len(moving)
    if needed <= info.free + freed:
        return None
    return {"code": "quota", "message": f"{len(moving)} x {target.name} need {needed} vCPUs of {target.family} quota "
            f"in {fleet.record.location}, but only {info.free + freed} are free (limit {info.limit}, in use {info.current})",
            "fix": f"request a quota increase for {target.family} to at least {info.current - freed + needed} vCPUs, "
                   "or resize fewer nodes (make a smaller fleet first with `dsvmctl up NAME --nodes N`)"}


def _record_size(fleet: Fleet, results: list[dict[str, Any]]) -> None:
    sizes = {r.get("size") for r in results if r.get("verified") and r.get("size")}
    if len(sizes) == 1:
        fleet.record.size = sizes.pop()
        fleet.store.save(fleet.record)
