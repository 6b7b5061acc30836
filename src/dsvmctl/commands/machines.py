"""Provision and lifecycle: up, status, list, ssh, exec, stop, start, down, gc, sizes, images."""

from __future__ import annotations

import shlex
import sys
from typing import Any

import click

from .common import emit, open_cloud, output_option, progress

SPEC_HELP = "Environment spec (TOML) a team lead keeps; flags override it. See examples/team-dsvm.toml."


def register(cli: click.Group) -> None:
    for command in (up, status, list_machines, ssh, exec_command, stop, start, down, gc, sizes, images):
        cli.add_command(command)


def _spec(name: str, spec_path: str | None, **flags: Any):
    from ..spec import EnvironmentSpec

    spec = EnvironmentSpec.load(spec_path) if spec_path else EnvironmentSpec.from_dict({"name": name})
    overrides = {k: v for k, v in flags.items() if v is not None}
    if spec_path and name != spec.name:
        overrides["name"] = name
    return spec.with_overrides(**overrides) if overrides else spec


@click.command()
@click.argument("name")
@click.option("-f", "--spec", "spec_path", type=click.Path(exists=True, dir_okay=False), help=SPEC_HELP)
@click.option("--image", help="ubuntu-2204 (default), ubuntu-2004, win-2022, ... or a URN.")
@click.option("--size", help="CPU size (default Standard_D4ds_v5: has a temp disk, so it can move to NC sizes).")
@click.option("--gpu-size", help="The NC size this machine will be resized to for big runs.")
@click.option("--location", help="Azure region (default eastus).")
@click.option("--allow-from", "allow_from", help="Source address/CIDR allowed to reach SSH (default: yours, /32).")
@click.option("--nodes", type=int, help="Number of identical nodes (a fleet NAME-0 .. NAME-(N-1)); default 1.")
@click.option("--yes", is_flag=True, help="Fewer --nodes than the fleet has: remove the highest without asking.")
@click.option("--what-if", is_flag=True, help="Show what would change, change nothing.")
@output_option
@click.pass_context
def up(ctx, name, spec_path, image, size, gpu_size, location, allow_from, nodes, yes, what_if, output):
    """Create the DSVM NAME (or finish an interrupted create; running it twice changes nothing).

    \b
    Preflight first (size offered, quota, image generation, temp-disk pairing), then one ARM
    deployment of the shipped template, then wait until SSH answers with the VM's host key,
    which dsvmctl generated and pinned: there is no trust on first use.
    """
    spec = _spec(name, spec_path, image=image, size=size, gpu_size=gpu_size, location=location,
                 allowed_sources=[allow_from] if allow_from else None, nodes=nodes)
    with open_cloud(ctx) as cloud:
        remove = yes or _confirm_node_removal(cloud, spec)
        with progress(output) as report:
            result = cloud.up(spec, what_if=what_if, progress=report, remove_nodes=remove)
        if what_if:
            emit({"name": spec.name, "changes": result}, output, table=_print_changes)
            return
        state = result.status()
    emit(state, output, table=lambda state: _print_up(state, ctx.find_root().obj["cloud"]))


def _print_changes(document: dict[str, Any]) -> None:
    for change in document["changes"]:
        click.echo(f"{change['change_type']:>9}  {change['resource_id']}")


def _print_up(state, cloud: str) -> None:
    fleet = _is_fleet_status(state)
    click.echo(f"{state.name} is {state.power_state} ({state.size}) in {state.resource_group}"
               + (f": {state.node_count} nodes" if fleet else ""))
    if fleet:
        _print_nodes(state)
        return
    _print_connect_hint(state, cloud)


def _confirm_node_removal(cloud, spec) -> bool:
    """Ask before `up` deletes the highest nodes of a fleet (False: up refuses, saying why)."""
    from ..cloud.fleet import node_count, node_names

    record = cloud.store.load(spec.name)
    if record is None or node_count(record) <= spec.nodes or not record.extra.get("fleet"):
        return False
    if not sys.stdin.isatty():
        return False
    doomed = node_names(spec.name, node_count(record), True)[spec.nodes:]
    return click.confirm(f"Delete nodes {', '.join(doomed)} of {spec.name} (their VMs and OS disks)?")


def _is_fleet_status(state) -> bool:
    from ..cloud.status import FleetStatus

    return isinstance(state, FleetStatus)


def _print_nodes(state) -> None:
    click.echo(f"{'node':<6}{'name':<22}{'size':<24}{'power':<13}{'private':<16}{'public':<16}os disk")
    for node in state.nodes:
        disk = (node.os_disk_id or "-").rsplit("/", 1)[-1]
        click.echo(f"{node.node!s:<6}{node.name:<22}{node.size or '-':<24}{node.power_state:<13}"
                   f"{node.private_ip or '-':<16}{node.public_ip or '-':<16}{disk}")


def _print_connect_hint(state, cloud: str) -> None:
    prefix = "dsvmctl" if cloud == "local" else "dsvmctl --cloud azure"
    if state.ssh:
        click.echo(f"connect:  {prefix} ssh {state.name}      run: {prefix} exec {state.name} -- nvidia-smi")
    else:
        click.echo(f"Windows: RDP to {state.public_ip}; the admin password is in dsvmctl's state directory "
                   f"(dsvmctl status {state.name} -o json never prints it).")


NODE_OPTION = click.option("--node", type=int, help="A fleet: only node K (0-based).")


def _target(cloud, name: str, node: int | None):
    """NAME's machine; with --node K, node K of the fleet NAME."""
    machine = cloud.machine(name)
    if node is None:
        return machine
    if not hasattr(machine, "node"):
        from ..errors import UsageError

        raise UsageError(f"{name} is a single VM, not a fleet: it has no --node", fix="drop --node")
    return machine.node(node)


@click.command()
@click.argument("name")
@NODE_OPTION
@output_option
@click.pass_context
def status(ctx, name, node, output):
    """Power state, size, OS disk, address and inbound rules of NAME (a fleet: every node)."""
    with open_cloud(ctx) as cloud:
        machine = cloud.machine(name)
        state = machine.status(node=node) if hasattr(machine, "nodes") else _target(cloud, name, node).status()
    emit(state, output, table=_print_status)


def _print_status(state) -> None:
    if _is_fleet_status(state):
        click.echo(f"{state.name}: fleet of {state.node_count} nodes in {state.resource_group} ({state.power_state})")
        _print_nodes(state)
        return
    for key in ("name", "cloud", "resource_group", "location", "image", "size", "gpu_size", "power_state",
                "os_disk_id", "public_ip"):
        click.echo(f"{key:>15}: {getattr(state, key)}")
    if state.ssh:
        ssh = state.ssh
        click.echo(f"{'ssh':>15}: {ssh.user}@{ssh.host}" + (f":{ssh.port}" if ssh.port else ""))
    for rule in state.inbound_rules:
        click.echo(f"{'inbound':>15}: port {rule.port} from {rule.source} ({rule.name})")


@click.command("list")
@output_option
@click.pass_context
def list_machines(ctx, output):
    """Machines dsvmctl manages on the selected cloud."""
    with open_cloud(ctx) as cloud:
        rows = []
        for machine in cloud.machines():
            if hasattr(machine, "nodes"):  # a fleet
                state = machine.status()
                rows.append({"name": machine.name, "resource_group": machine.record.resource_group,
                             "size": state.size, "power_state": state.power_state, "os": machine.record.os,
                             "nodes": state.node_count})
                continue
            vm = machine.vm(instance_view=True)
            rows.append({"name": machine.name, "resource_group": machine.record.resource_group,
                         "size": vm.hardware_profile.vm_size if vm else None,
                         "power_state": machine.power_state(vm), "os": machine.record.os})
    emit({"machines": rows}, output, table=_print_machines)


def _print_machines(document: dict[str, Any]) -> None:
    if not document["machines"]:
        click.echo("no machines yet: dsvmctl up NAME")
    for row in document["machines"]:
        click.echo(f"{row['name']:<20} {row['power_state']:<12} {row['size'] or '-':<24} {row['resource_group']}")


@click.command()
@click.argument("name")
@click.option("--print", "print_only", is_flag=True, help="Print the ssh command instead of running it.")
@NODE_OPTION
@click.pass_context
def ssh(ctx, name, print_only, node):
    """Open a shell on NAME with OpenSSH, the host key pinned (a known_hosts file of its own).
    A fleet: node 0 unless --node."""
    with open_cloud(ctx) as cloud:
        machine = _target(cloud, name, node if node is not None or not hasattr(cloud.machine(name), "nodes") else 0)
        command = machine.ssh_command()
        if print_only:
            click.echo(shlex.join(command))
            if cloud.kind == "local" and not getattr(cloud.backend.hosts, "use_agent", False):
                click.echo("# local cloud without the agent (DSVMCTL_AGENT=off): the VM answers only while a "
                           f"dsvmctl command holds it; run `dsvmctl ssh {name}` instead", err=True)
            return
        code = __import__("subprocess").call(command)
    sys.exit(code)


@click.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--timeout", type=float, help="Stop the remote command (its whole process group) after SECONDS.")
@click.option("-n", "--no-stdin", is_flag=True,
              help="Do not relay stdin (as ssh -n): the remote command's stdin is closed at once.")
@NODE_OPTION
@click.pass_context
def exec_command(ctx, name, command, timeout, no_stdin, node):
    """Run one command on NAME, stream its output; exit with its exit code.
    Piped or redirected stdin is relayed to the command, as ssh does (a terminal is not).
    A fleet: on every node in turn (the first non-zero exit code wins; no stdin), or on --node K.

    \b
    Example: dsvmctl exec lab -- python -c 'import torch; print(torch.cuda.is_available())'
             dsvmctl exec lab -- tar -xzf - -C data < data.tgz
    """
    from ..agent.route import agent_target
    from .stdio import piped_stdin

    stdin = None if no_stdin else piped_stdin()
    routed = agent_target(ctx.find_root().obj["cloud"], name)
    if routed is not None:  # the agent's warm connection: no cloud to open, no handshake
        from ..agent.session import as_callback

        agent, target = routed
        sys.exit(agent.exec(target, shlex.join(command), stdout=as_callback(sys.stdout.buffer),
                            stderr=as_callback(sys.stderr.buffer), stdin=stdin, timeout=timeout))
    with open_cloud(ctx) as cloud:
        machine = _target(cloud, name, node)
        targets = machine.nodes() if hasattr(machine, "nodes") else [machine]
        codes = []
        for target in targets:
            if len(targets) > 1:
                click.echo(f"[node {target.record.extra.get('node')}] {target.name}", err=True)
            codes.append(target.exec(shlex.join(command), timeout=timeout,
                                     stdin=stdin if len(targets) == 1 else None))
    sys.exit(next((c for c in codes if c), 0))


@click.command()
@click.argument("name")
@NODE_OPTION
@output_option
@click.pass_context
def stop(ctx, name, node, output):
    """Deallocate NAME, every node of a fleet (a stopped-but-allocated VM still bills; a deallocated one does not)."""
    with open_cloud(ctx) as cloud, progress(output) as report:
        state = _target(cloud, name, node).stop(progress=report)
    emit(state, output, table=lambda state: click.echo(f"{name} is {state.power_state}; its OS disk is kept."))


@click.command()
@click.argument("name")
@NODE_OPTION
@output_option
@click.pass_context
def start(ctx, name, node, output):
    """Start NAME (every node of a fleet) and wait until SSH answers with its pinned host key."""
    with open_cloud(ctx) as cloud, progress(output) as report:
        state = _target(cloud, name, node).start(progress=report)
    emit(state, output, table=lambda state: click.echo(f"{name} is {state.power_state} ({state.size})"))


@click.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--keep-disk", is_flag=True, help="Keep the OS disk (detached) so its files survive.")
@output_option
@click.pass_context
def down(ctx, name, yes, keep_disk, output):
    """Delete what dsvmctl created for NAME (found by its tags). Asks first unless --yes."""
    with open_cloud(ctx) as cloud:
        if cloud.store.load(name) is None:  # already down: like ARM's DELETE of a missing resource, done
            emit({"name": name, "deleted": [], "kept": [], "already_gone": True}, output,
                 table=lambda _: click.echo(f"{name} is already gone from the {cloud.kind} cloud: nothing to delete"))
            return
        machine = cloud.machine(name)
        owned = machine.owned_resources()
        if not yes:
            if not sys.stdin.isatty():
                from ..errors import UsageError

                raise UsageError(f"down would delete {len(owned)} resources of {name} and needs confirmation",
                                 fix="rerun with --yes (no terminal to ask on)")
            for resource in owned:
                click.echo(f"  {resource.type}  {resource.name}")
            click.confirm(f"Delete these {len(owned)} resources" + (" (keeping the OS disk)" if keep_disk else "")
                          + "?", abort=True)
        with progress(output) as report:
            result = machine.down(keep_disk=keep_disk, progress=report)
    emit(result, output, table=lambda result: click.echo(
        f"deleted {len(result['deleted'])} resources of {name}" + (f"; kept {len(result['kept'])}" if result["kept"] else "")))


@click.command()
@click.option("--yes", is_flag=True, help="Delete the orphans found (default: only list them).")
@output_option
@click.pass_context
def gc(ctx, yes, output):
    """Find (and with --yes remove) resources left by interrupted runs: NICs, IPs, NSGs, disks."""
    from ..cloud.gc import delete_orphans, find_orphans

    with open_cloud(ctx) as cloud:
        orphans = find_orphans(cloud.backend)
        deleted: list[str] = []
        if yes and orphans:
            with progress(output) as report:
                deleted = delete_orphans(cloud.backend, orphans, report)
    emit({"orphans": orphans, "deleted": deleted}, output, table=lambda document: _print_orphans(document, yes))


def _print_orphans(document: dict[str, Any], asked_to_delete: bool) -> None:
    orphans, deleted = document["orphans"], document["deleted"]
    if not orphans:
        click.echo("no orphans")
    for orphan in orphans:
        click.echo(f"{'deleted' if orphan['id'] in deleted else 'orphan':>8}  {orphan['type']}  {orphan['name']} "
                   f"(machine {orphan['machine']}, group {orphan['resource_group']})")
    if orphans and not asked_to_delete:
        click.echo("rerun with --yes to delete them")


@click.command()
@click.option("--location", default="eastus", show_default=True)
@click.option("--gpu-only", is_flag=True, help="Only sizes with a GPU.")
@output_option
@click.pass_context
def sizes(ctx, location, gpu_only, output):
    """The region's sizes: vCPU, memory, GPU, temp disk, generations, price, quota left, GPU partners."""
    with open_cloud(ctx) as cloud:
        listing = cloud.sizes(location, gpu_only=gpu_only)
    emit(listing, output, table=_sizes_table)


def _sizes_table(listing) -> None:
    click.echo(f"{'size':<26}{'vCPU':>5}{'GiB':>6}  {'GPU':<18}{'temp GiB':>9}  {'gen':<6}{'$/h':>7}"
               f"{'quota left':>11}  note")
    for size in listing.sizes:
        gpu = f"{size.gpus}x {size.gpu_model}" if size.gpus else "-"
        price = f"{size.price_per_hour:.3f}" if size.price_per_hour else "?"
        note = f"restricted ({size.restricted})" if size.restricted else (
            "no temp disk: cannot pair with NC sizes" if not size.temp_disk_gb else "")
        click.echo(f"{size.name:<26}{size.vcpus:>5}{size.memory_gb or 0:>6.0f}  {gpu:<18}"
                   f"{size.temp_disk_gb:>9}  {','.join(size.generations):<6}{price:>7}"
                   f"{size.quota_left if size.quota_left is not None else '?':>11}  {note}")
    cpu_sizes = [size for size in listing.sizes if not size.gpus]
    if cpu_sizes:
        click.echo("\nCPU sizes and the GPU sizes they can be resized to (temp disk and Hyper-V generation allow it; "
                   "Gen2-only sizes need a Gen2 image):")
        for size in cpu_sizes:
            pairs = ", ".join(size.gpu_partners) or ("none: no temp disk" if not size.temp_disk_gb else "none")
            click.echo(f"  {size.name:<24} -> {pairs}")
    click.echo(f"prices: {listing.prices_source}, as of {listing.prices_as_of}")


@click.command()
@click.option("--publisher", help="List this marketplace publisher's images from the catalog instead "
              "(e.g. Canonical, MicrosoftWindowsServer, RedHat, Debian).")
@output_option
def images(publisher, output):
    """DSVM images dsvmctl knows, with their Hyper-V generation (or a marketplace publisher's)."""
    from ..catalog.images import IMAGES

    if publisher:
        _marketplace_images(publisher, output)
        return
    rows = [{"alias": i.alias, "urn": i.urn, "os": i.os, "generation": i.generation, "description": i.description,
             "retired": i.retired} for i in IMAGES]
    emit({"images": rows}, output, table=_print_images)


def _print_images(document: dict[str, Any]) -> None:
    for row in document["images"]:
        state = f"retired {row['retired']}" if row["retired"] else "current"
        click.echo(f"{row['alias']:<18}{row['generation']:<4}{row['os']:<9}{state:<14}{row['urn']}")


def _marketplace_images(publisher: str, output: str) -> None:
    from ..catalog import images as catalog

    offers = catalog.offers(publisher)
    if offers is None:
        raise click.UsageError(f"the catalog lists no images of publisher '{publisher}'; publishers with images: "
                               "Canonical, Debian, MicrosoftWindowsServer, RedHat, microsoft-dsvm")
    name = catalog.canonical_publisher(publisher)
    rows = [{"urn": f"{name}:{offer}:{sku}:{max(facts['versions'], key=catalog.version_key)}",
             "generation": facts.get("generation"), "os": catalog.os_of(name, offer), "versions": len(facts["versions"])}
            for offer, skus in sorted(offers.items()) for sku, facts in sorted(skus.items()) if facts.get("versions")]
    emit({"publisher": name, "images": rows}, output, table=_print_marketplace_images)


def _print_marketplace_images(document: dict[str, Any]) -> None:
    for row in document["images"]:
        click.echo(f"{row['generation']:<4}{row['os']:<9}{row['versions']:>3} versions  {row['urn']}")
