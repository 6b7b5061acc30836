"""The local cloud's VM hosts: each running emulated Linux VM gets an SSH server on 127.0.0.1.

Plugged into the emulator as a hook: it hears about power changes and disk deletions, so a
deallocated VM stops answering and a deleted disk's directory goes away. Hosts are started on
demand, inside the dsvmctl process that needs one (no daemon), from what the VM was created
with: the host key from its cloud-init custom data, the authorized keys from its osProfile.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..errors import CloudError


class LocalHosts:
    def __init__(self, paths) -> None:
        from ..paths import StatePaths

        self.disks_root = StatePaths.of(paths).disks
        self.hosts: dict[str, Any] = {}  # vm id (lower) -> LocalVMHost

    # -- emulator hooks ----------------------------------------------------------------------------

    def vm_stopped(self, em, vm: dict[str, Any], deallocated: bool) -> None:
        self._stop(vm["id"])

    def vm_deleted(self, em, vm: dict[str, Any]) -> None:
        self._stop(vm["id"])

    def vm_restarted(self, em, vm: dict[str, Any]) -> None:
        if vm["id"].lower() in self.hosts:  # a restart drops connections, as a reboot does
            self._stop(vm["id"])
            self.ensure(em, vm)

    def disk_deleted(self, em, disk: dict[str, Any]) -> None:
        shutil.rmtree(self.disk_dir(disk), ignore_errors=True)

    def run_command(self, em, vm: dict[str, Any], script: str, command_id: str) -> tuple[str, str] | None:
        """runCommand on a local Linux VM: the script runs in the VM's disk, as its admin user's home."""
        if em.meta_of(vm["id"]).get("os_type") == "Windows" or command_id.lower().startswith("runpowershell"):
            return None
        home = self._home(em, vm)
        home.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["bash", "-c", script], cwd=home, capture_output=True, text=True, timeout=600,
                              env={"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin"})
        return done.stdout, done.stderr

    # -- hosts -------------------------------------------------------------------------------------

    def disk_dir(self, disk: dict[str, Any]) -> Path:
        return self.disks_root / disk["properties"]["uniqueId"]

    def _home(self, em, vm: dict[str, Any]) -> Path:
        disk = em.get(vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"])
        user = vm["properties"].get("osProfile", {}).get("adminUsername", "azureuser")
        return self.disk_dir(disk) / "home" / user

    def ensure(self, em, vm: dict[str, Any]) -> int:
        """Start (if needed) the SSH server of a running VM; return its port on 127.0.0.1."""
        key = vm["id"].lower()
        meta = em.meta_of(vm["id"])
        if meta.get("power") != "running":
            raise CloudError(f"VM {vm['name']} is {meta.get('power', 'not running')}: it does not answer SSH",
                             fix=f"start it first: dsvmctl start {vm['name']}")
        if meta.get("os_type") == "Windows":
            raise CloudError(f"VM {vm['name']} is a Windows DSVM: the local cloud emulates its provisioning but "
                             "runs no Windows guest, so there is no SSH server to reach",
                             fix="use an Ubuntu image on the local cloud, or --cloud azure for Windows")
        host = self.hosts.get(key)
        if host is not None and host.running:
            return host.port
        from ..emulator.vmhost import LocalVMHost

        profile = vm["properties"].get("osProfile", {})
        keys = [k["keyData"] for k in profile.get("linuxConfiguration", {}).get("ssh", {}).get("publicKeys", [])]
        host_key = _host_key_from_custom_data(meta.get("custom_data"))
        if host_key is None:
            raise CloudError(f"VM {vm['name']} was created without an SSH host key in its custom data, so its "
                             "host key cannot be pinned", fix="recreate it with dsvmctl up")
        disk = em.get(vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"])
        host = LocalVMHost(self.disk_dir(disk), host_key, keys, profile.get("adminUsername", "azureuser"),
                           path=image_path())
        host.start()
        self.hosts[key] = host
        return host.port

    def _stop(self, vm_id: str) -> None:
        host = self.hosts.pop(vm_id.lower(), None)
        if host is not None:
            host.stop()

    def close(self) -> None:
        for vm_id in list(self.hosts):
            self._stop(vm_id)


def image_path() -> str:
    """PATH on a local VM. Its "image" is this machine; as a DSVM puts its conda environment
    with torch first, a local VM puts first the Python environment dsvmctl runs in (which has
    torch when installed with the `workload` extra)."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")])


def _host_key_from_custom_data(custom_data: str | None) -> str | None:
    """The ed25519 private host key in cloud-init custom data ('#cloud-config' + JSON, base64)."""
    if not custom_data:
        return None
    try:
        text = base64.b64decode(custom_data).decode()
        body = text.split("\n", 1)[1] if text.startswith("#cloud-config") else text
        return json.loads(body).get("ssh_keys", {}).get("ed25519_private")
    except (ValueError, IndexError, AttributeError):
        return None
