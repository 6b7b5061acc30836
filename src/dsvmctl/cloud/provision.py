"""`up`: preflight, one ARM deployment of the shipped template, then wait for pinned SSH."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from importlib import resources as package_files
from typing import Any, Callable

from ..errors import CloudError, UsageError
from ..spec import EnvironmentSpec
from .azure_errors import azure_call
from .backend import ArmBackend
from .machine import Machine
from .machines import MachineRecord, MachineStore
from .preflight import QuotaInfo, SkuInfo, preflight, quotas_by_family, raise_for

Progress = Callable[[str], None]


def load_shipped_template(file_name: str) -> dict[str, Any]:
    from ..arm import load_template

    return load_template(json.loads(package_files.files("dsvmctl.templates").joinpath(file_name).read_text()))


def region_facts(backend: ArmBackend, location: str) -> tuple[dict[str, SkuInfo], dict[str, QuotaInfo]]:
    """What preflight needs from the region: offered sizes (resourceSkus) and quota (usages)."""
    with azure_call(f"reading the sizes offered in {location}"):
        skus = [s.as_dict() for s in backend.compute.resource_skus.list(filter=f"location eq '{location}'")]
    offered = {}
    for item in skus:
        if item.get("resourceType") == "virtualMachines":
            info = SkuInfo.from_resource_sku(item, location=location)
            offered[info.name] = info
    with azure_call(f"reading vCPU quota in {location}"):
        usages = [u.as_dict() for u in backend.compute.usage.list(location)]
    return offered, quotas_by_family(usages)


def allowed_source(spec: EnvironmentSpec, backend: ArmBackend) -> str:
    if spec.allowed_sources:
        return spec.allowed_sources[0]
    if backend.kind == "local":
        return "127.0.0.1/32"
    return f"{_public_address()}/32"


def _public_address() -> str:
    """The caller's public IPv4 address, so SSH opens to this machine only."""
    import requests

    try:
        address = requests.get("https://api.ipify.org", timeout=5).text.strip()
    except requests.RequestException:
        raise UsageError("could not find your public IP address to open SSH to it alone",
                         fix="set allowed_sources in the spec (or --allow-from x.x.x.x/32)") from None
    return address


def up(backend: ArmBackend, store: MachineStore, spec: EnvironmentSpec, *, what_if: bool = False,
       progress: Progress = lambda _: None, ssh_retries: int = 30, remove_nodes: bool = False):
    """Create (or complete, or leave unchanged) the machine `spec` declares.

    Idempotent: the deployment is incremental, so running it again changes nothing that
    exists and finishes what an interrupted run left half made. With spec.nodes > 1 it makes
    (or grows) a fleet (see cloud/fleet.py); a smaller node count than the fleet has removes
    the highest nodes, only with `remove_nodes` (the CLI asks first)."""
    from . import fleet as fleets

    existing = store.load(spec.name)
    if existing is not None and existing.resource_group.lower() != spec.resource_group.lower():
        raise UsageError(f"machine {spec.name!r} already exists in resource group {existing.resource_group}",
                         fix=f"use another name, or `dsvmctl down {spec.name}` first")
    if existing is not None and fleets.is_fleet(existing) and "nodes" not in spec._given:
        spec = spec.with_overrides(nodes=fleets.node_count(existing))  # `up NAME` again keeps the fleet's size
    suffixed = spec.nodes > 1 or (existing is not None and fleets.is_fleet(existing))
    had = fleets.node_count(existing) if existing is not None else 0
    if existing is not None and not fleets.is_fleet(existing) and spec.nodes > 1:
        raise UsageError(f"{spec.name} is a single VM; it cannot become a fleet in place (fleet nodes are named "
                         f"{spec.name}-0 .. {spec.name}-{spec.nodes - 1})",
                         fix=f"create the fleet under another name (`dsvmctl up {spec.name}-fleet --nodes "
                             f"{spec.nodes}`), or `dsvmctl down {spec.name}` first")
    for other in fleets.node_names(spec.name, spec.nodes, suffixed) if suffixed else []:
        if store.load(other) is not None:
            raise UsageError(f"a machine named {other} exists: it would clash with node {other} of fleet {spec.name}",
                             fix="pick another fleet name")
    shrinking = suffixed and existing is not None and spec.nodes < had
    if shrinking and not remove_nodes and not what_if:
        doomed = ", ".join(fleets.node_names(spec.name, had, True)[spec.nodes:])
        raise UsageError(f"fleet {spec.name} has {had} nodes; {spec.nodes} would delete {doomed} (VMs and disks)",
                         fix="confirm with --yes, or keep the node count")
    progress("preflight: sizes, quota, image generation, temp-disk pairing"
             + (f" ({spec.nodes} nodes)" if suffixed else ""))
    offered, quota = region_facts(backend, spec.location)
    raise_for(preflight(spec, offered_sizes=offered, quota=quota, existing_nodes=had if suffixed else 0))

    key_path, public_key = store.user_key(spec.name, spec.ssh_key)
    host_private, host_public = store.host_key(spec.name)
    parameters = spec.template_parameters(public_key, allowed_source(spec, backend), host_private, host_public)
    parameters.update(fleets.template_parameters(spec, suffixed))
    if spec.image_info.os == "windows":
        parameters["adminPassword"] = store.admin_password(spec.name)
    body = {"properties": {"template": load_shipped_template(spec.template_file), "mode": "Incremental",
                           "parameters": {k: {"value": v} for k, v in parameters.items()}}}
    deployment = f"dsvmctl-{spec.name}"

    if what_if:
        progress("asking Azure what would change (what-if)")
        _ensure_group(backend, spec, create=False)
        with azure_call("what-if"):
            result = backend.deployments.deployments.begin_what_if(spec.resource_group, deployment, body).result()
        return [{"resource_id": c.resource_id, "change_type": getattr(c.change_type, "value", c.change_type)}
                for c in result.changes or []]

    _ensure_group(backend, spec, create=True, progress=progress)
    record = existing or MachineRecord(
        name=spec.name, cloud=backend.kind, resource_group=spec.resource_group, location=spec.location,
        os=spec.image_info.os, admin_user=spec.admin_user, size=spec.size, gpu_size=spec.gpu_size,
        image=spec.image_info.urn, host_public_key=host_public, key_path=str(key_path), deployment=deployment,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if suffixed:
        record.extra.update(fleet=True, nodes=max(had, spec.nodes))
    store.save(record)  # before any resource exists: `down` can clean up after an interrupted up
    if shrinking:
        fleets.Fleet(backend, store, record).remove_nodes(spec.nodes, progress)
    progress(f"deploying {spec.template_file} ({spec.size}, {spec.image_info.alias}) into {spec.resource_group}"
             + (f" as {spec.nodes} nodes" if suffixed else ""))
    _wait_for_active_deployment(backend, spec.resource_group, deployment, progress)
    _deploy(backend, spec, deployment, body, progress)
    if suffixed:
        return _finish_fleet(backend, store, record, spec, progress, ssh_retries)
    machine = Machine(backend, store, record)
    vm = machine.vm()
    if vm is None:
        raise CloudError(f"the deployment finished but VM {spec.name} is not there", fix="run dsvmctl up again")
    record.vm_id = vm.id
    record.size = vm.hardware_profile.vm_size
    store.save(record)
    if record.os != "windows":
        progress("waiting for SSH to answer with the pinned host key")
        machine.session(retries=ssh_retries).close()
    return machine


def _finish_fleet(backend: ArmBackend, store: MachineStore, record: MachineRecord, spec: EnvironmentSpec,
                  progress: Progress, ssh_retries: int):
    """After a fleet's deployment: every node is there, then every node answers SSH (in parallel)."""
    from . import fleet as fleets

    record.extra["nodes"] = spec.nodes
    fleet = fleets.Fleet(backend, store, record)
    nodes = fleet.nodes()
    missing = [m.name for m in nodes if m.vm() is None]
    if missing:
        raise CloudError(f"the deployment finished but nodes {', '.join(missing)} are not there",
                         fix=f"run dsvmctl up {spec.name} --nodes {spec.nodes} again")
    first = nodes[0].vm()
    record.vm_id, record.size = first.id, first.hardware_profile.vm_size
    store.save(record)
    progress(f"waiting for SSH on {len(nodes)} nodes (pinned host key)")
    endpoints = [m.ssh_endpoint() for m in nodes]  # emulator/ARM reads here, the SSH waits in parallel
    from ..remote import connect

    def wait(endpoint):
        host, port = endpoint
        connect(host, port, record.admin_user, record.key_path, host_key=record.host_public_key,
                retries=ssh_retries).close()

    fleets.in_parallel(wait, endpoints)
    return fleet


ACTIVE_STATES = {"accepted", "running", "deploying", "creating", "updating", "waiting", "validating"}


def _deploy(backend: ArmBackend, spec: EnvironmentSpec, deployment: str, body: dict[str, Any],
            progress: Progress) -> None:
    """Deploy; if our own deployment of that name is still active (an earlier `up` of this
    machine, interrupted), wait for it and deploy again: the incremental mode changes nothing
    it already made."""
    from azure.core.exceptions import HttpResponseError

    for attempt in range(3):
        try:
            with azure_call(f"deploying {spec.name}", passthrough=("DeploymentActive",)):
                backend.deployments.deployments.begin_create_or_update(spec.resource_group, deployment, body).result()
            return
        except HttpResponseError:  # DeploymentActive only (see passthrough)
            if attempt == 2:
                raise CloudError(f"deploying {spec.name} failed: its deployment {deployment} stays active",
                                 fix=f"wait for it to finish (az deployment group show -g {spec.resource_group} "
                                     f"-n {deployment}), then run dsvmctl up {spec.name} again") from None
            _wait_for_active_deployment(backend, spec.resource_group, deployment, progress)


def _wait_for_active_deployment(backend: ArmBackend, group: str, deployment: str, progress: Progress,
                                timeout: float = 1800) -> None:
    """Wait until deployment `deployment` (ours: named after the machine) is no longer active."""
    import time

    from azure.core.exceptions import ResourceNotFoundError

    interval = 0.2 if backend.kind == "local" else 10.0
    deadline = time.monotonic() + timeout
    told = False
    while True:
        try:
            with azure_call(f"reading deployment {deployment}", missing_ok=True):
                state = backend.deployments.deployments.get(group, deployment).properties.provisioning_state
        except ResourceNotFoundError:
            return
        if str(getattr(state, "value", state) or "").lower() not in ACTIVE_STATES:
            return
        if time.monotonic() > deadline:
            raise CloudError(f"deployment {deployment} in {group} is still {state} after {timeout:.0f} s",
                             fix="check it in the Azure portal, then run dsvmctl up again")
        if not told:
            progress(f"waiting for the deployment {deployment} an earlier run started ({state})")
            told = True
        time.sleep(interval)


def _ensure_group(backend: ArmBackend, spec: EnvironmentSpec, *, create: bool, progress: Progress = lambda _: None):
    """Create the resource group, tagged as dsvmctl's, unless it exists (then it is left as it is)."""
    with azure_call(f"reading resource group {spec.resource_group}"):
        exists = backend.resources.resource_groups.check_existence(spec.resource_group)
    if exists or not create:
        if not exists:  # what-if needs the group; make it, as `az deployment group what-if` would need
            with azure_call(f"creating resource group {spec.resource_group}"):
                backend.resources.resource_groups.create_or_update(
                    spec.resource_group, {"location": spec.location, "tags": _group_tags(spec)})
        return
    progress(f"creating resource group {spec.resource_group} in {spec.location}")
    with azure_call(f"creating resource group {spec.resource_group}"):
        backend.resources.resource_groups.create_or_update(
            spec.resource_group, {"location": spec.location, "tags": _group_tags(spec)})


def _group_tags(spec: EnvironmentSpec) -> dict[str, str]:
    return {"dsvmctl-managed": "true", "dsvmctl-machine": spec.name}
