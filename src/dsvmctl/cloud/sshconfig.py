"""OpenSSH client configuration for dsvmctl's machines, with their host keys pinned.

    STATE/known_hosts   one line per machine: `dsvmctl-<cloud>-<name> <host key>` (HostKeyAlias,
                        so the entry holds whatever address or port the machine has)
    STATE/ssh_config    the Host blocks of every machine, for `Include` in ~/.ssh/config
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DsvmctlError
from .machines import MachineStore

CLOUDS = ("local", "azure")


def alias_of(cloud: str, name: str) -> str:
    return f"dsvmctl-{cloud}-{name}"


def _quote(value: Any) -> str:
    text = str(value)
    return f'"{text}"' if any(c.isspace() for c in text) else text


def write_known_hosts(home: Path) -> Path:
    """Every machine's pinned host key, whatever its cloud (the records hold them)."""
    lines = []
    for cloud in CLOUDS:
        store = MachineStore(home, cloud)
        for name in store.names():
            record = store.load(name)
            if record is not None and record.host_public_key:
                lines.append(f"{alias_of(cloud, name)} {record.host_public_key.split()[0]} "
                             f"{record.host_public_key.split()[1]}")
    path = home / "known_hosts"
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + ("\n" if lines else ""))
    tmp.replace(path)
    return path


def pinned_options(record, known_hosts: Path) -> list[tuple[str, Any]]:
    """The OpenSSH options that pin a machine's host key: dsvmctl's known_hosts, the entry found
    by the machine's alias (whatever address or port it has now), no trust on first use. Both
    `dsvmctl ssh` (Machine.ssh_command) and the ssh_config blocks use exactly these."""
    return [("UserKnownHostsFile", known_hosts), ("HostKeyAlias", alias_of(record.cloud, record.name)),
            ("StrictHostKeyChecking", "yes"), ("IdentitiesOnly", "yes")]


def host_block(machine, host: str, port: int, known_hosts: Path) -> str:
    record = machine.record
    options = [("HostName", host), ("Port", port), ("User", record.admin_user), ("IdentityFile", record.key_path),
               *pinned_options(record, known_hosts), ("ServerAliveInterval", 15)]
    return f"Host {record.name}\n" + "".join(f"  {key} {_quote(value)}\n" for key, value in options)


def ssh_config_text(cloud, name: str | None = None) -> str:
    """Host blocks for NAME (or every machine; then also written to STATE/ssh_config)."""
    home = Path(cloud.home)
    known_hosts = write_known_hosts(home)
    names = [name] if name else cloud.store.names()
    blocks = []
    for each in names:
        machine = cloud.machine(each)
        try:
            host, port = machine.ssh_endpoint()
        except DsvmctlError as err:
            if name:
                raise
            blocks.append(f"# {each}: {err.message}\n")
            continue
        blocks.append(host_block(machine, host, port, known_hosts))
    text = f"# dsvmctl ({cloud.kind} cloud): regenerate with `dsvmctl ssh-config`\n" + "\n".join(blocks)
    if name is None:
        target = home / "ssh_config"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(target)
    return text
