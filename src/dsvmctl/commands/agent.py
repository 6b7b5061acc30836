"""The agent and what it makes possible: agent status|stop, ssh-config, tunnel, jupyter."""

from __future__ import annotations

import sys
import time

import click

from .common import emit, open_cloud, output_option

# A DSVM serves JupyterHub on 8000 (https, self-signed certificate); plain Jupyter uses 8888.
JUPYTER_PORTS = ((8000, "https", "JupyterHub"), (8888, "http", "Jupyter"))


def register(cli: click.Group) -> None:
    for command in (agent, ssh_config, tunnel, jupyter):
        cli.add_command(command)


@click.group()
def agent():
    """The per-user agent: hosts the local cloud's VMs, keeps SSH connections warm, holds tunnels.

    \b
    Started on demand by the first command that needs it, one per state directory
    (DSVMCTL_HOME); socket and log in that directory. It exits after DSVMCTL_AGENT_IDLE_S
    seconds (default 600) idle with no local VM running. DSVMCTL_AGENT=off does without it.
    """


@agent.command("status")
@output_option
def agent_status(output):
    """Is it running; which VMs it hosts, which connections and tunnels it holds; its memory."""
    from ..agent.client import find
    from ..paths import state_home

    home = state_home()
    client = find(home)
    document = {"running": False, "home": str(home)} if client is None else {"running": True, **client.ping()}
    emit(document, output, table=_print_agent)


def _print_agent(document: dict) -> None:
    if not document["running"]:
        click.echo(f"no agent runs for {document['home']} (the next command that needs one starts it)")
        return
    click.echo(f"agent pid {document['pid']}, up {document['uptime_s']:.0f} s, {document['rss_kib'] / 1024:.1f} MiB "
               f"resident, idle limit {document['idle_limit_s']:.0f} s")
    click.echo(f"  socket {document['socket']}   log {document['log']}")
    for vm in document["vms"]:
        click.echo(f"  hosts VM {vm['name']} on 127.0.0.1:{vm['port']}")
    for conn in document["connections"]:
        click.echo(f"  connection {conn['user']}@{conn['host']}:{conn['port']} ({'open' if conn['active'] else 'closed'})")
    for t in document["tunnels"]:
        click.echo(f"  tunnel {t['id']}: 127.0.0.1:{t['local_port']} -> {t['machine']}:{t['remote_port']}")


@agent.command("stop")
@output_option
def agent_stop(output):
    """Stop it. Local VMs stop answering until the next command brings them back."""
    from ..agent.client import find
    from ..paths import state_home

    client = find(state_home())
    document = {"stopped": False} if client is None else {"stopped": True, **client.request("stop")}
    if client is not None:
        deadline = time.monotonic() + 10
        while client.socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    emit(document, output, table=lambda document: click.echo(
        f"agent {document['pid']} stopped" if document["stopped"] else "no agent was running"))


@click.command("ssh-config")
@click.argument("name", required=False)
@click.pass_context
def ssh_config(ctx, name):
    """OpenSSH Host blocks for your machines (or NAME): ssh, scp, rsync and VS Code use them.

    \b
    Each block pins the machine's host key through a known_hosts file dsvmctl keeps, with
    StrictHostKeyChecking yes: no trust on first use. Also written to STATE/ssh_config, so
    one line in ~/.ssh/config makes `ssh lab` work:  Include ~/.local/state/dsvmctl/ssh_config
    """
    from ..cloud.sshconfig import ssh_config_text

    with open_cloud(ctx) as cloud:
        text = ssh_config_text(cloud, name)
    click.echo(text, nl=False)


def _tunnel_target(ctx, cloud, name: str) -> dict:
    machine = cloud.machine(name)
    if machine.record.os == "windows":
        from ..errors import UsageError

        raise UsageError(f"{name} is a Windows machine: tunnels need its OpenSSH server's forwarding",
                         fix=f"use ssh -L with the command `dsvmctl ssh {name} --print` shows")
    host, port = machine.ssh_endpoint()
    return machine.ssh_target(host, port)


@click.command()
@click.argument("name", required=False)
@click.argument("remote_port", type=int, required=False)
@click.option("--local-port", type=int, default=0, help="Local port on 127.0.0.1 [default: a free one].")
@click.option("--detach", is_flag=True, help="Keep the tunnel in the agent and return.")
@click.option("--list", "list_only", is_flag=True, help="List the agent's tunnels.")
@click.option("--close", "close_id", metavar="ID|NAME", help="Close a detached tunnel (by id, or all of NAME's).")
@output_option
@click.pass_context
def tunnel(ctx, name, remote_port, local_port, detach, list_only, close_id, output):
    """Forward 127.0.0.1:LOCAL to REMOTE_PORT on NAME's loopback, through its pinned SSH connection.

    \b
    Runs until Ctrl-C, or with --detach stays in the agent (dsvmctl tunnel --list / --close).
    Deallocating the VM ends its tunnels, with a message.
    """
    from ..agent.client import AgentUnavailable, agent_enabled, ensure, find
    from ..errors import UsageError
    from ..paths import state_home

    if list_only or close_id:
        client = find(state_home())
        if list_only:
            tunnels = client.request("tunnels")["tunnels"] if client else []
            emit({"tunnels": tunnels}, output, table=_print_tunnels)
            return
        closed = client.request("tunnel_close", id=close_id)["closed"] if client else []
        emit({"closed": closed}, output, table=lambda document: click.echo(f"closed {len(document['closed'])} tunnel(s)"))
        return
    if not name or remote_port is None:
        raise UsageError("tunnel needs NAME and REMOTE_PORT", fix="dsvmctl tunnel lab 8888 [--local-port 8888]")
    with open_cloud(ctx) as cloud:
        target = _tunnel_target(ctx, cloud, name)
        try:
            client = ensure(state_home()) if agent_enabled() else None
        except AgentUnavailable:
            client = None
        if client is None:
            if detach:
                raise UsageError("--detach needs the agent, which is off or cannot start",
                                 fix="unset DSVMCTL_AGENT, or run the tunnel in the foreground")
            _tunnel_in_process(cloud.machine(name), target, remote_port, local_port, output)
            return
        _tunnel_via_agent(client, target, remote_port, local_port, detach, output)


def _print_tunnels(document: dict) -> None:
    for t in document["tunnels"]:
        click.echo(f"{t['id']}  127.0.0.1:{t['local_port']} -> {t['machine']}:{t['remote_port']}")
    if not document["tunnels"]:
        click.echo("no tunnels")


def _announce(document: dict, output: str, detach: bool, scheme: str | None = None, note: str | None = None) -> None:
    """The tunnel's document under -o json; else (after `note`, what answers there) where to connect."""
    if scheme:
        document = {**document, "url": f"{scheme}://127.0.0.1:{document['local_port']}/"}
    emit(document, output, table=lambda document: _print_tunnel(document, detach, note))


def _print_tunnel(document: dict, detach: bool, note: str | None) -> None:
    if note:
        click.echo(note)
    if "url" in document:
        click.echo(f"open {document['url']}")
    click.echo(f"127.0.0.1:{document['local_port']} -> {document['machine']}:{document['remote_port']}"
               + (f"  (tunnel {document['id']}; close: dsvmctl tunnel --close {document['id']})" if detach
                  else "  (Ctrl-C ends it)"))


def _tunnel_via_agent(client, target, remote_port, local_port, detach, output, scheme: str | None = None,
                      note: str | None = None) -> None:
    from ..agent import protocol
    from ..agent.client import raise_error

    sock = client.connect(timeout=None)
    with sock:
        protocol.send_json(sock, {"op": "tunnel", "target": target, "remote_port": remote_port,
                                  "local_port": local_port, "detach": detach, "vm_id": target.get("vm_id")})
        try:
            while (frame := protocol.recv(sock)) is not None:
                document = protocol.decode_json(frame[1])
                if "error" in document:
                    raise_error(document["error"])
                if "tunnel" in document:
                    _announce(document["tunnel"], output, detach, scheme, note)
                    if detach:
                        return
                if "ended" in document:
                    click.secho(f"tunnel ended: {document['ended']}", fg="yellow", err=True)
                    sys.exit(1)
        except KeyboardInterrupt:
            click.echo("tunnel closed", err=True)
            return
    click.secho("tunnel ended: the dsvmctl agent went away", fg="yellow", err=True)
    sys.exit(1)


def _tunnel_in_process(machine, target, remote_port, local_port, output) -> None:
    from ..agent.tunnels import Tunnel

    with machine.session() as session:
        transport = session.direct().transport if hasattr(session, "direct") else session.transport
        t = Tunnel(lambda: transport, remote_port, local_port, machine=machine.name)
        t.start()
        _announce(t.describe(), output, False)
        try:
            while not t.closed.wait(0.5):
                if not transport.is_active():
                    t.close(f"the SSH connection to {machine.name} closed (deallocated?)")
        except KeyboardInterrupt:
            t.close("interrupted")
            click.echo("tunnel closed", err=True)
            return
        click.secho(f"tunnel ended: {t.reason}", fg="yellow", err=True)
        sys.exit(1)


@click.command()
@click.argument("name")
@click.option("--local-port", type=int, default=0, help="Local port on 127.0.0.1 [default: a free one].")
@click.option("--detach", is_flag=True, help="Keep the tunnel in the agent and return.")
@output_option
@click.pass_context
def jupyter(ctx, name, local_port, detach, output):
    """Forward NAME's JupyterHub (a DSVM serves it on 8000) or Jupyter (8888) and print the URL.

    Where nothing serves Jupyter on the VM (the local cloud's VMs), says so and how to start it.
    """
    from ..agent.client import ensure
    from ..errors import UsageError
    from ..paths import state_home

    with open_cloud(ctx) as cloud:
        target = _tunnel_target(ctx, cloud, name)
        client = ensure(state_home())
        found = None
        for port, scheme, what in JUPYTER_PORTS:
            if client.request("probe", target=target, port=port).get("open"):
                found = (port, scheme, what)
                break
        if found is None:
            local = " (a local-cloud VM has no JupyterHub)" if cloud.kind == "local" else ""
            raise UsageError(
                f"nothing serves Jupyter on {name}: ports 8000 (JupyterHub) and 8888 (Jupyter) are closed{local}",
                fix=f"install and start it on the VM, then run this again: dsvmctl exec {name} -- python -m pip "
                    f"install jupyterlab; dsvmctl exec {name} -- sh -c 'nohup python -m jupyter lab --no-browser "
                    f"--port 8888 --ServerApp.ip=127.0.0.1 > jupyter.log 2>&1 &' (its token is in ~/jupyter.log)")
        port, scheme, what = found
        answers = f"{what} answers on {name}:{port} " + (
            "(self-signed certificate; log in as the VM's admin user)" if what == "JupyterHub"
            else "(its token is in the server's log on the VM)")
        _tunnel_via_agent(client, target, port, local_port, detach, output, scheme, answers)
