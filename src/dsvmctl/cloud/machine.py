"""One machine: its status, power, SSH session, and teardown. The CLI and library wrap this."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import CloudError
from .azure_errors import azure_call
from .backend import ArmBackend
from .machines import MachineRecord, MachineStore
from .power import PowerState
from .status import InboundRule, MachineStatus, SshAccess

if TYPE_CHECKING:
    from .resize import ResizeResult
    from .results import CollectResult, PushResult, RunRecord

Progress = Callable[[str], None]

# Teardown order: what holds a reference goes before what it references.
DELETE_ORDER = ["microsoft.compute/virtualmachines", "microsoft.devtestlab/schedules",
                "microsoft.network/networkinterfaces", "microsoft.network/publicipaddresses",
                "microsoft.network/networksecuritygroups", "microsoft.network/virtualnetworks",
                "microsoft.compute/disks"]


def _quiet(_: str) -> None:
    return None


class Machine:
    def __init__(self, backend: ArmBackend, store: MachineStore, record: MachineRecord) -> None:
        self.backend = backend
        self.store = store
        self.record = record

    @property
    def paths(self):
        """Where this machine's state lives (the cloud's StatePaths)."""
        return self.store.paths

    @property
    def name(self) -> str:
        return self.record.name

    # -- reading ---------------------------------------------------------------------------------

    def vm(self, instance_view: bool = False):
        from azure.core.exceptions import ResourceNotFoundError

        try:
            with azure_call(f"reading VM {self.name}", missing_ok=True):
                return self.backend.compute.virtual_machines.get(
                    self.record.resource_group, self.name, expand="instanceView" if instance_view else None)
        except ResourceNotFoundError:
            return None

    def power_state(self, vm=None) -> PowerState:
        vm = vm or self.vm(instance_view=True)
        if vm is None:
            return PowerState.ABSENT
        return PowerState.from_statuses(vm.instance_view.statuses if vm.instance_view else None)

    def _network(self, vm) -> tuple[Any, Any, Any]:
        """(nic, public ip, nsg) of the VM's primary NIC; any may be None."""
        network = self.backend.network
        nic_id = vm.network_profile.network_interfaces[0].id
        nic = network.network_interfaces.get(self.record.resource_group, nic_id.rsplit("/", 1)[-1])
        ip = nsg = None
        ip_ref = nic.ip_configurations[0].public_ip_address
        if ip_ref is not None:
            ip = network.public_ip_addresses.get(self.record.resource_group, ip_ref.id.rsplit("/", 1)[-1])
        if nic.network_security_group is not None:
            nsg = network.network_security_groups.get(self.record.resource_group,
                                                      nic.network_security_group.id.rsplit("/", 1)[-1])
        return nic, ip, nsg

    def status(self) -> MachineStatus:
        vm = self.vm(instance_view=True)
        record = self.record
        if vm is None:
            return MachineStatus(self.name, record.cloud, record.resource_group, PowerState.ABSENT)
        with azure_call(f"reading the network of {self.name}"):
            _nic, ip, nsg = self._network(vm)
        power = self.power_state(vm)
        public_ip = ip.ip_address if ip else None
        ssh = None
        if record.os != "windows":
            host, port = ("127.0.0.1", None) if self.backend.kind == "local" else (public_ip, 22)
            note = None
            if self.backend.kind == "local" and not getattr(self.backend.hosts, "use_agent", False):
                note = "local VMs answer SSH while a dsvmctl command holds them (dsvmctl ssh NAME)"
            elif self.backend.kind == "local" and power is PowerState.RUNNING:
                port = self.ssh_endpoint()[1]
            ssh = SshAccess(host, port, record.admin_user, record.host_public_key, note)
        return MachineStatus(
            self.name, record.cloud, record.resource_group, power, size=vm.hardware_profile.vm_size,
            os_disk_id=vm.storage_profile.os_disk.managed_disk.id, public_ip=public_ip, ssh=ssh,
            inbound_rules=_inbound_rules(nsg), location=vm.location, os=record.os, image=record.image,
            gpu_size=record.gpu_size, provisioning_state=vm.provisioning_state, tags=dict(vm.tags or {}))

    # -- power -----------------------------------------------------------------------------------

    def stop(self, progress: Progress = _quiet) -> MachineStatus:
        """Deallocate: a stopped-but-allocated VM still bills, a deallocated one does not."""
        progress(f"deallocating {self.name}")
        with azure_call(f"deallocating {self.name}"):
            self.backend.compute.virtual_machines.begin_deallocate(self.record.resource_group, self.name).result()
        return self.status()

    def start(self, progress: Progress = _quiet, wait_for_ssh: bool = True) -> MachineStatus:
        progress(f"starting {self.name}")
        with azure_call(f"starting {self.name}"):
            self.backend.compute.virtual_machines.begin_start(self.record.resource_group, self.name).result()
        if wait_for_ssh and self.record.os != "windows":
            progress("waiting for SSH (host key pinned)")
            self.session(retries=20).close()
        return self.status()

    def resize(self, size: str, dry_run: bool = False, start: bool | None = None, abandon: bool = False,
               progress: Progress = _quiet) -> ResizeResult:
        """Move to `size` keeping the OS disk (plan, journal, steps, verification): see cloud/resize.py.

        abandon: forget an unfinished resize to another size (its journal) and plan afresh."""
        from .resize import resize

        return resize(self, size, dry_run=dry_run, start=start, abandon=abandon, progress=progress)

    def resume(self, progress: Progress = _quiet) -> ResizeResult:
        """Finish an interrupted resize from its journal, repeating no step: see cloud/resize.py."""
        from .resize import resume

        return resume(self, progress=progress)

    # -- SSH ---------------------------------------------------------------------------------------

    def ssh_endpoint(self) -> tuple[str, int]:
        if self.record.attached:
            return self.record.ssh_host or "", self.record.ssh_port or 22
        vm = self.vm(instance_view=True)
        if vm is None:
            raise CloudError(f"VM {self.name} does not exist any more", fix=f"dsvmctl up {self.name}")
        power = self.power_state(vm)
        if power is not PowerState.RUNNING:
            raise CloudError(f"VM {self.name} is {power}: it does not answer SSH",
                             fix=f"start it first: dsvmctl start {self.name}")
        _nic, ip, _nsg = self._network(vm)
        return self.backend.ssh_endpoint(vm, ip.ip_address if ip else None)

    def ssh_command(self) -> list[str]:
        """The OpenSSH command line (argv) that opens a shell on the machine, its host key pinned.

        Rewrites the state directory's known_hosts (every machine's pinned key, by HostKeyAlias:
        cloud/sshconfig.py) and checks against it only (StrictHostKeyChecking): no trust on first
        use, and the user's ~/.ssh/known_hosts is left alone."""
        from .sshconfig import pinned_options, write_known_hosts

        host, port = self.ssh_endpoint()
        known_hosts = write_known_hosts(self.paths.root)
        options = [word for key, value in pinned_options(self.record, known_hosts) for word in ("-o", f"{key}={value}")]
        return ["ssh", "-i", str(self.record.key_path), "-p", str(port), *options, f"{self.record.admin_user}@{host}"]

    def session(self, retries: int = 3, timeout: float = 10.0):
        """An SSH session: over the agent's pinned connection when the agent runs (it is started
        on demand), else a direct one. Either way the host key is checked before anything else."""
        from ..agent.client import AgentUnavailable, agent_enabled, ensure

        host, port = self.ssh_endpoint()

        def direct():
            from ..remote import connect

            return connect(host, port, self.record.admin_user, self.record.key_path,
                           host_key=self.record.host_public_key, retries=retries, timeout=timeout)

        if self.record.os == "windows" or not agent_enabled():
            return direct()
        try:
            agent = ensure(Path(self.store.root).parents[1])
        except AgentUnavailable:
            return direct()
        from ..agent.session import AgentSession

        target = self.ssh_target(host, port)
        agent.request("connect", timeout=None, target={**target, "retries": retries})
        return AgentSession(agent, target, direct)

    def ssh_target(self, host: str, port: int) -> dict[str, Any]:
        """What the agent needs to reach this machine (no secret: the key stays in its file)."""
        target = {"name": self.name, "host": host, "port": int(port), "user": self.record.admin_user,
                  "key_path": str(self.record.key_path), "host_key": self.record.host_public_key}
        if self.backend.kind == "local" and not self.record.attached:
            target["vm_id"] = (self.record.vm_id or "").lower()
        return target

    def exec(self, command: str, *, stdout=None, stderr=None, stdin=None, timeout: float | None = None) -> int:
        """Run one command on the VM, streaming its output; return its exit code. `stdin`: bytes,
        str or a binary file relayed to the command (None: its stdin is closed at once)."""
        with self.session() as session:
            return session.exec(command, stdout=stdout if stdout is not None else sys.stdout.buffer,
                                stderr=stderr if stderr is not None else sys.stderr.buffer, stdin=stdin,
                                timeout=timeout)

    # -- teardown ----------------------------------------------------------------------------------

    def owned_resources(self) -> list[Any]:
        """Resources in the machine's group that dsvmctl tagged as this machine's."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            with azure_call(f"listing the resources of {self.name}", missing_ok=True):
                items = list(self.backend.resources.resources.list_by_resource_group(self.record.resource_group))
        except ResourceNotFoundError:
            return []
        return [r for r in items if (r.tags or {}).get("dsvmctl-machine") == self.name]

    def down(self, keep_disk: bool = False, progress: Progress = _quiet) -> dict[str, Any]:
        if self.record.attached:
            self.store.forget(self.name)
            return {"name": self.name, "deleted": [], "kept": [], "forgotten": True}
        resources = self.owned_resources()
        deleted, kept = [], []
        rank = {t: i for i, t in enumerate(DELETE_ORDER)}
        for resource in sorted(resources, key=lambda r: rank.get(r.type.lower(), len(rank))):
            if keep_disk and resource.type.lower() == "microsoft.compute/disks":
                kept.append(resource.id)
                continue
            progress(f"deleting {resource.type.split('/')[-1]} {resource.name}")
            self._delete(resource)
            deleted.append(resource.id)
        group_deleted = self._delete_group_if_ours_and_empty(progress)
        self.store.forget(self.name)
        return {"name": self.name, "deleted": deleted, "kept": kept, "resource_group_deleted": group_deleted}

    def _delete(self, resource) -> None:
        delete_resource(self.backend, resource.id, resource.type, resource.name)

    def _delete_group_if_ours_and_empty(self, progress: Progress) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        group_name = self.record.resource_group
        try:
            with azure_call(f"reading resource group {group_name}", missing_ok=True):
                group = self.backend.resources.resource_groups.get(group_name)
                left = list(self.backend.resources.resources.list_by_resource_group(group_name))
        except ResourceNotFoundError:
            return False
        if (group.tags or {}).get("dsvmctl-managed") != "true" or left:
            return False
        progress(f"deleting resource group {group_name}")
        with azure_call(f"deleting resource group {group_name}"):
            self.backend.resources.resource_groups.begin_delete(group_name).result()
        return True

    # -- workloads (see cloud/workload.py) ---------------------------------------------------------

    def push(self, src=None, dest=None, **options: Any) -> PushResult:
        from .workload import push

        return push(self, src, dest, **options)

    def run(self, workload: str = "transformer", device: str = "auto", args=(), **options: Any) -> RunRecord:
        from .workload import run

        return run(self, workload, device, args, **options)

    def logs(self, run_id: str | None = None, follow: bool = False, **options: Any) -> RunRecord:
        from .workload import logs

        return logs(self, run_id, follow, **options)

    def collect(self, run_id: str | None = None, dest=None) -> CollectResult:
        from .workload import collect

        return collect(self, run_id, dest)


def delete_resource(backend: ArmBackend, resource_id: str, resource_type: str, name: str) -> None:
    """Delete one resource by id and wait; one already gone is fine."""
    from azure.core.exceptions import ResourceNotFoundError

    kind = resource_type.lower()
    api_version = "2018-09-15" if kind == "microsoft.devtestlab/schedules" else (
        "2024-05-01" if kind.startswith("microsoft.network/") else "2024-07-01")
    try:
        with azure_call(f"deleting {name}", missing_ok=True):
            backend.resources.resources.begin_delete_by_id(resource_id, api_version=api_version).result()
    except ResourceNotFoundError:
        pass


def _inbound_rules(nsg) -> list[InboundRule]:
    if nsg is None:
        return []
    rules = []
    for rule in nsg.security_rules or []:
        if (rule.direction or "").lower() != "inbound" or (rule.access or "").lower() != "allow":
            continue
        ports = rule.destination_port_ranges or [rule.destination_port_range]
        sources = rule.source_address_prefixes or [rule.source_address_prefix]
        for port in ports:
            for source in sources:
                rules.append(InboundRule(rule.name, port, source, getattr(rule.protocol, "value", rule.protocol),
                                         rule.priority))
    return rules


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()
