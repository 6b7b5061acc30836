"""What `status` reports of a machine or a fleet, as typed results; `to_json()` is `-o json`.

    state = machine.status()          # MachineStatus (a fleet's: FleetStatus, one NodeStatus a node)
    state.power_state, state.size, state.ssh.host, state.to_json()

A VM that no longer exists reports `power_state` ABSENT and only what the record knows; its
JSON document then leaves out the fields only Azure could give (location, tags, ...).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .power import PowerState


@dataclass(frozen=True)
class SshAccess:
    host: str | None
    port: int | None  # None: the local cloud's VM is hosted on demand (see note)
    user: str
    host_key: str | None  # the pinned public host key
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        document = {"host": self.host, "port": self.port, "user": self.user, "host_key": self.host_key}
        if self.note is not None:
            document["note"] = self.note
        return document


@dataclass(frozen=True)
class InboundRule:
    """One allowed inbound port and source of the VM's network security group."""

    name: str
    port: str
    source: str
    protocol: str | None
    priority: int | None


@dataclass(frozen=True)
class MachineStatus:
    name: str
    cloud: str
    resource_group: str
    power_state: PowerState
    size: str | None = None
    os_disk_id: str | None = None
    public_ip: str | None = None
    ssh: SshAccess | None = None  # None: a Windows VM (RDP), or the VM is gone
    inbound_rules: list[InboundRule] = field(default_factory=list)
    # What Azure reports of a VM that exists
    location: str | None = None
    os: str | None = None
    image: str | None = None
    gpu_size: str | None = None
    provisioning_state: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.power_state is not PowerState.ABSENT

    def to_json(self) -> dict[str, Any]:
        ssh = self.ssh.to_json() if self.ssh else None
        rules = [asdict(rule) for rule in self.inbound_rules]
        if not self.exists:
            return {"name": self.name, "cloud": self.cloud, "resource_group": self.resource_group,
                    "power_state": self.power_state, "size": self.size, "os_disk_id": self.os_disk_id,
                    "public_ip": self.public_ip, "ssh": ssh, "inbound_rules": rules}
        return {"name": self.name, "cloud": self.cloud, "resource_group": self.resource_group,
                "location": self.location, "os": self.os, "image": self.image, "size": self.size,
                "gpu_size": self.gpu_size, "power_state": self.power_state,
                "provisioning_state": self.provisioning_state, "os_disk_id": self.os_disk_id,
                "public_ip": self.public_ip, "ssh": ssh, "inbound_rules": rules, "tags": dict(self.tags)}


@dataclass(frozen=True)
class NodeStatus:
    """One node of a fleet: its line in `dsvmctl status`."""

    node: int | None
    name: str
    power_state: PowerState
    size: str | None = None
    os_disk_id: str | None = None
    private_ip: str | None = None
    public_ip: str | None = None
    # What Azure reports of a node that exists
    provisioning_state: str | None = None
    accelerated_networking: bool = False
    proximity_placement_group: str | None = None

    def to_json(self) -> dict[str, Any]:
        document = {"node": self.node, "name": self.name, "size": self.size, "power_state": self.power_state}
        if self.power_state is not PowerState.ABSENT:
            document["provisioning_state"] = self.provisioning_state
        document.update(os_disk_id=self.os_disk_id, private_ip=self.private_ip, public_ip=self.public_ip)
        if self.power_state is not PowerState.ABSENT:
            document.update(accelerated_networking=self.accelerated_networking,
                            proximity_placement_group=self.proximity_placement_group)
        return document


MIXED = "mixed"  # a fleet's power state or size when its nodes differ


@dataclass(frozen=True)
class FleetStatus:
    name: str
    cloud: str
    resource_group: str
    nodes: list[NodeStatus]
    node_count: int
    gpu_size: str | None = None
    os: str | None = None
    image: str | None = None

    @property
    def power_state(self) -> PowerState | str:
        """The nodes' power state when they share one, else "mixed"."""
        powers = {node.power_state for node in self.nodes}
        return powers.pop() if len(powers) == 1 else MIXED

    @property
    def size(self) -> str:
        sizes = {node.size for node in self.nodes}
        return sizes.pop() if len(sizes) == 1 else MIXED

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "cloud": self.cloud, "resource_group": self.resource_group, "fleet": True,
                "node_count": self.node_count, "power_state": self.power_state, "size": self.size,
                "gpu_size": self.gpu_size, "os": self.os, "image": self.image,
                "nodes": [node.to_json() for node in self.nodes]}
