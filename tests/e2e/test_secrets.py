"""Secrets stay secret: a planted Windows admin password and securestring parameter appear in
no output, no message, and no state file anyone but the user can read."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

DSVMCTL = str(Path(sys.executable).with_name("dsvmctl"))
SECRET = "Planted-Secret-Pa55word!"
TEMPLATE = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {"adminPassword": {"type": "securestring", "allowedValues": ["one-allowed-value"]},
                   "settings": {"type": "secureObject"}},
    "resources": [],
    "outputs": {"echo": {"type": "int", "value": "[parameters('adminPassword')]"}},
}


def dsvmctl(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DSVMCTL_HOME": str(home), "DSVMCTL_CLOUD": "local"}
    return subprocess.run([DSVMCTL, *args], capture_output=True, text=True, env=env, timeout=180, cwd=home.parent)


def readable_by_others(root: Path) -> list[Path]:
    """Files whose own mode lets group or others read them (whatever the directories above allow)."""
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and p.stat().st_mode & 0o044]


@pytest.mark.slow
def test_a_planted_admin_password_and_securestring_appear_in_no_output_message_or_shared_file(tmp_path):
    home = tmp_path / "home"
    # The Windows admin password dsvmctl would generate, planted where it keeps it.
    machine_dir = home / "machines" / "local" / "win"
    machine_dir.mkdir(parents=True)
    password = machine_dir / "admin-password"
    fd = os.open(password, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, SECRET.encode())
    os.close(fd)
    (tmp_path / "t.json").write_text(json.dumps(TEMPLATE))
    (tmp_path / "t.parameters.json").write_text(json.dumps({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
        "contentVersion": "1.0.0.0", "parameters": {
        "adminPassword": {"value": SECRET}, "settings": {"value": {"token": SECRET}}}}))

    outputs = []
    for args in (["up", "win", "--image", "win-2022"], ["status", "win", "-o", "json"], ["list", "-o", "json"],
                 ["validate", str(tmp_path / "t.json")], ["validate", str(tmp_path / "t.json"), "-o", "json"],
                 ["validate", str(tmp_path / "t.json"), "--against-emulator"]):
        result = dsvmctl(home, *args)
        assert "Traceback" not in result.stderr, result.stderr
        outputs.append((args, result.stdout + result.stderr))
    up_output = outputs[0][1]
    assert "win is running" in up_output, up_output
    assert "not one of its allowed values" in outputs[3][1]  # validate did fail on the secret's value
    for args, text in outputs:
        assert SECRET not in text, f"`dsvmctl {' '.join(args)}` printed the secret"

    # The emulator holds the password (stored deployment parameters, the VM's osProfile): privately.
    state = home / "local-cloud" / "state.json"
    assert SECRET in state.read_text()
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert stat.S_IMODE(password.stat().st_mode) == 0o600
    os.chmod(home, 0o755)  # loosened by someone: the next start makes it private again
    dsvmctl(home, "list")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    leaking = [p for p in readable_by_others(home) if SECRET.encode() in p.read_bytes()]
    assert leaking == []

    # What a client reads back: ARM never returns a secure parameter or the admin password.
    from dsvmctl import Cloud

    with Cloud.local(home=home) as cloud:
        backend = cloud.backend
        deployment = backend.deployments.deployments.get("dsvmctl-win", "dsvmctl-win")
        vm = backend.compute.virtual_machines.get("dsvmctl-win", "win")
        assert SECRET not in json.dumps(deployment.as_dict(), default=str)
        assert SECRET not in json.dumps(vm.as_dict(), default=str)

    down = dsvmctl(home, "down", "win", "--yes")
    assert down.returncode == 0 and SECRET not in down.stdout + down.stderr
