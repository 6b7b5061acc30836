"""`dsvmctl emulator ...`: the emulated Azure Resource Manager as a loopback HTTPS server."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    cli.add_command(emulator)


# -- emulator ---------------------------------------------------------------------------------------

@click.group()
def emulator() -> None:
    """The emulated Azure Resource Manager (for CI and offline work)."""


@emulator.command("serve")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="TCP port on 127.0.0.1 (0 picks a free one; endpoint.json says which).")
@click.option("--state-dir", type=click.Path(file_okay=False), required=True,
              help="Where state, the CA certificate and endpoint.json live; state persists across restarts.")
@click.option("--operation-seconds", type=click.FloatRange(0), default=0.0, show_default=True,
              help="How long long-running operations take (0: done at the first poll).")
@click.option("--finish-on-poll", is_flag=True,
              help="End a long-running operation only when a client polls its own status or result URL "
                   "(for testing how clients poll; by default operations end on time).")
@click.option("--require-registration", is_flag=True,
              help="Refuse writes to an unregistered provider namespace (MissingSubscriptionRegistration).")
def emulator_serve(port: int, state_dir: str, operation_seconds: float, finish_on_poll: bool,
                   require_registration: bool) -> None:
    """Serve the emulator over HTTPS on 127.0.0.1 until stopped (Ctrl-C).

    \b
    When ready it writes STATE_DIR/endpoint.json with arm_endpoint, authority_host, ca_bundle,
    tenant_id, subscription_id, client_id and client_secret. Point azure-identity's
    ClientSecretCredential (authority=authority_host, connection_verify=ca_bundle,
    disable_instance_discovery=True) and azure-mgmt-* clients (base_url=arm_endpoint) at it.
    """
    import signal

    from ..emulator.server import EmulatorServer

    server = EmulatorServer(state_dir, port, operation_seconds=operation_seconds, finish_on_poll=finish_on_poll,
                            require_registration=require_registration)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    click.echo(f"dsvmctl emulator listening on {server.base_url} (state in {state_dir}); Ctrl-C stops it.",
               err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
        (server.state_dir / "endpoint.json").unlink(missing_ok=True)


