"""Remote execution: push, run, logs, collect, attach (thin wrappers over cloud/workload.py, and for a
fleet's NAME over cloud/fleet.py and cloud/distributed.py)."""

from __future__ import annotations

import sys

import click

from .common import emit, live_output, open_cloud, output_option


def register(cli: click.Group) -> None:
    for command in (push, run, logs, collect, attach):
        cli.add_command(command)


@click.command()
@click.argument("name")
@click.argument("src", required=False, type=click.Path(exists=True, file_okay=False))
@click.option("--dest", metavar="DIR", help="Remote directory, relative to the VM user's home and inside it "
              "(`~/x` is fine) [default: dsvmctl/workloads].")
@click.option("--dest-absolute", is_flag=True, help="Allow a --dest outside the home (an absolute path).")
@output_option
@click.pass_context
def push(ctx, name, src, dest, dest_absolute, output):
    """Copy SRC (default: the bundled PyTorch workloads) to NAME over SSH.

    \b
    Incremental (only changed files travel) and atomic (the VM sees the old tree or the new
    one, never a mix). Files matched by SRC/.dsvmignore (gitignore rules) stay behind; files
    that exist only on the VM (e.g. run outputs) are kept. A directory already at the
    destination that dsvmctl did not push there is never replaced: the push is refused.
    """
    from ..agent.route import agent_target

    routed = None if dest_absolute else agent_target(ctx.find_root().obj["cloud"], name)
    if routed is not None:  # the agent pushes over its warm connection: no cloud to open
        from .pushing import push_via_agent

        summary = push_via_agent(ctx.find_root().obj["cloud"], name, routed, src, dest)
    else:
        with open_cloud(ctx) as cloud:
            machine = cloud.machine(name)
            if _is_fleet(machine):  # every node, in parallel
                summaries = machine.push(src, dest)
                emit({"name": name, "nodes": summaries}, output, table=lambda document: click.echo(
                    f"pushed to {len(summaries)} nodes of {name}: "
                    + ", ".join(f"{s.machine} {s.files_sent} files" for s in summaries)))
                return
            summary = machine.push(src, dest, dest_absolute=dest_absolute)
    emit(summary, output, table=lambda summary: _print_push(summary, name))


def _print_push(summary, name: str) -> None:
    from ..fastpath import push_message

    click.echo(push_message(summary, name))


def _is_fleet(machine) -> bool:
    """cloud.machine() gives a Fleet (cloud/fleet.py) for a fleet's NAME: the verbs go to every node."""
    return hasattr(machine, "nodes")


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--workload", type=click.Choice(["transformer", "cnn"]), default="transformer", show_default=True,
              help="Which bundled model to train.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="auto: CUDA when the VM has a GPU, else CPU. The metrics say which device really ran.")
@click.option("--timeout", type=float, metavar="SECONDS",
              help="Stop the run (its whole remote process group) after SECONDS.")
@click.option("--detach", is_flag=True, help="Start it in its own session on the VM and return: it survives a "
              "lost connection. Reattach with `dsvmctl logs NAME RUN_ID --follow`.")
@click.option("--src", type=click.Path(exists=True, file_okay=False),
              help="Push this directory (must hold train.py) instead of the bundled workloads.")
@click.option("--no-push", is_flag=True, help="Run what is on the VM already; push nothing.")
@click.option("--nodes", type=int, help="A fleet: run on its first N nodes (default: all) with torchrun.")
@click.option("--procs-per-node", default="auto", show_default=True,
              help="A fleet: processes per node (auto: one per GPU, else 1).")
@click.option("--port", type=int, default=29400, show_default=True, help="A fleet: rendezvous port on node 0.")
@click.option("--max-restarts", type=int, default=0, show_default=True, help="A fleet: passed to torchrun.")
@output_option
@click.pass_context
def run(ctx, name, args, workload, device, timeout, detach, src, no_push, nodes, procs_per_node, port,
        max_restarts, output):
    """Run a workload on NAME, streaming its output; exit with its exit code.

    \b
    Pushes the workloads first (a no-op when nothing changed), finds the VM's Python that
    has torch (conda environments, then python3/python; override: DSVMCTL_REMOTE_PYTHON),
    and runs train.py in ~/dsvmctl/workloads. Arguments after `--` go to train.py:

        dsvmctl run lab --workload cnn --device cpu -- --steps 20 --warmup 2

    \b
    The log is kept under the state directory (runs/RUN_ID/run.log) and the metrics stay on
    the VM until `dsvmctl collect NAME`. Ctrl-C stops the remote run. With -o json the run's
    output goes to stderr and stdout gets one JSON document.
    """
    def report(message: str) -> None:  # plain lines: a live spinner would garble the streamed output
        click.echo(f"- {message}", err=True)

    with open_cloud(ctx) as cloud:
        machine = cloud.machine(name)
        fleet = _is_fleet(machine)
        if fleet:
            result = machine.run(workload, device, args, nodes=nodes, procs_per_node=procs_per_node, port=port,
                                 max_restarts=max_restarts, detach=detach, timeout=timeout,
                                 stdout=live_output(output), progress=report)
        else:
            if nodes is not None and nodes != 1:
                from ..errors import UsageError

                raise UsageError(f"--nodes {nodes}: {name} is a single VM",
                                 fix=f"make a fleet: dsvmctl up NAME --nodes {nodes}")
            result = machine.run(workload, device, list(args), timeout=timeout, detach=detach, src=src,
                                 push_first=not no_push, stdout=live_output(output), progress=report)
    emit(result, output, table=lambda result: _print_run(result, name, detach, fleet))
    if not detach:
        sys.exit(result.exit_code)


def _print_run(result, name: str, detach: bool, fleet: bool) -> None:
    """What happened to the run (a RunRecord; a fleet's: a DistributedRunRecord, which says its
    nodes), and the commands that go on from here."""
    run_id = result.run_id
    on = f"{result.nodes} nodes of {name}" if fleet else f"{name} (pid {result.pid})"
    if detach:
        click.echo(f"run {run_id} started on {on}")
        click.echo(f"follow:   dsvmctl logs {name} {run_id} --follow")
        click.echo(f"collect:  dsvmctl collect {name} {run_id}")
    elif result.exit_code == 0:
        spread = f" on {result.nodes} nodes (world size {result.world_size})" if fleet else ""
        click.echo(f"run {run_id} finished{spread}; get its metrics with `dsvmctl collect {name} {run_id}`", err=True)
    elif fleet:
        click.echo(f"run {run_id} failed: {result.error or result.exit_code}", err=True)
    else:
        click.echo(f"run {run_id} exited with {result.exit_code}; its log: dsvmctl logs {name} {run_id}", err=True)


@click.command()
@click.argument("name")
@click.argument("run_id", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the run ends (detached runs).")
@click.pass_context
def logs(ctx, name, run_id, follow):
    """Print the log of a run on NAME (default: the latest started from here).

    \b
    A detached run's log is read on the VM; with --follow it streams until the run ends and
    the command exits with the run's exit code. A foreground run's log is the local copy.
    """
    with open_cloud(ctx) as cloud:
        entry = cloud.machine(name).logs(run_id, follow)
    code = entry.exit_code
    if follow and isinstance(code, int):
        sys.exit(code)


@click.command()
@click.argument("name")
@click.argument("run_id", required=False)
@click.option("--dest", type=click.Path(file_okay=False), help="Local directory to fill "
              "[default: the state directory's runs/RUN_ID].")
@output_option
@click.pass_context
def collect(ctx, name, run_id, dest, output):
    """Fetch a run's results from NAME (default: the latest run): metrics JSON and logs.

    \b
    Writes run.json beside them: run id, machine, cloud, VM size, times, and the device that
    actually ran (as torch reported it in the metrics; never guessed from the size).
    """
    with open_cloud(ctx) as cloud:
        machine = cloud.machine(name)
        if _is_fleet(machine):
            emit(machine.collect(run_id), output, table=_print_fleet_collect)
            return
        result = machine.collect(run_id, dest)
    emit(result, output, table=_print_collect)


def _print_fleet_collect(result) -> None:
    click.echo(f"run {result.run_id} ({result.run.nodes} nodes) -> {result.dir}")
    for node in result.nodes_collected:
        click.echo(f"  node {node.node} ({node.machine}): {len(node.files)} files")
    click.echo(f"  metrics: {result.metrics or 'none (the run did not finish; see its logs)'}")


def _print_collect(result) -> None:
    click.echo(f"run {result.run_id} -> {result.dir}")
    for path in result.files:
        click.echo(f"  {path}")
    if result.device:
        click.echo(f"ran on {result.device} ({result.device_name}), size {result.size}")
    else:
        click.echo("no metrics.json: the run did not finish (see its run.log)")


@click.command()
@click.argument("name")
@click.option("--host", required=True, help="Address (DNS name or IP) of the machine's SSH server.")
@click.option("--port", type=int, default=22, show_default=True)
@click.option("--user", required=True, help="SSH user (a DSVM's admin user, e.g. azureuser).")
@click.option("--identity", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Private key file that user logs in with (unencrypted OpenSSH/PEM).")
@click.option("--host-key-fingerprint", required=True, metavar="SHA256:...",
              help="The server's host key fingerprint, as `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` "
              "prints it on the machine (or the portal's serial console shows it). Pinned: no trust on first use.")
@click.option("--os", "os_type", type=click.Choice(["auto", "linux", "windows"]), default="auto", show_default=True,
              help="auto asks the machine once (uname).")
@output_option
@click.pass_context
def attach(ctx, name, host, port, user, identity, host_key_fingerprint, os_type, output):
    """Register an existing machine (a DSVM made in the portal, any SSH host) as NAME.

    \b
    Connects once with the host key fingerprint pinned, then remembers the verified host key.
    push, run, logs, collect, exec and ssh then work on NAME; `down NAME` only forgets it.
    """
    from ..cloud.workload import attach as attach_machine

    with open_cloud(ctx) as cloud:
        record = attach_machine(cloud.store, name, host, port, user, identity, host_key_fingerprint, os_type)
    document = {"name": record.name, "cloud": record.cloud, "attached": True, "os": record.os,
                "ssh": {"host": record.ssh_host, "port": record.ssh_port, "user": record.admin_user,
                        "host_key": record.host_public_key,
                        "host_key_fingerprint": record.extra.get("host_key_fingerprint")}}
    emit(document, output, table=_print_attached)


def _print_attached(document: dict) -> None:
    name, ssh = document["name"], document["ssh"]
    click.echo(f"attached {name}: {ssh['user']}@{ssh['host']}:{ssh['port']} ({document['os']}), host key "
               f"{ssh['host_key_fingerprint']} pinned")
    click.echo(f"next:  dsvmctl push {name}   dsvmctl run {name} --workload cnn")
