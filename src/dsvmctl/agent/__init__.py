"""The per-user agent: one long-lived process per state directory (DSVMCTL_HOME).

It hosts the SSH servers of the local cloud's running VMs (so they answer between commands),
keeps one pinned, authenticated SSH connection per machine open (as OpenSSH's ControlMaster
does), runs exec and push over those connections for the CLI, and holds port tunnels.

    protocol.py  the framing on its unix socket (stdlib only)
    client.py    find, start, and talk to the agent (stdlib only: the CLI imports it)
    server.py    the agent process itself (paramiko, asyncssh)
    tunnels.py   local port -> VM port forwards over a paramiko transport

`DSVMCTL_AGENT=off` turns it off: every command then connects directly and hosts the local
cloud's VMs in its own process, as the library does when no agent can start.
"""
