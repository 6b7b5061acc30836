"""Fixtures for the remote layer: keys, a LocalVMHost and a real OpenSSH server on loopback.

Tests that take `server` run twice, once against each kind of SSH server.
"""

from __future__ import annotations

import getpass

import pytest

from openssh_server import OpenSSHServer, sshd_available
from remote_helpers import Keys, Target, make_keypair


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> Keys:
    directory = tmp_path_factory.mktemp("keys")
    return Keys(*(make_keypair(directory, name) for name in ("host", "client", "other")))


@pytest.fixture(scope="session")
def vmhost(keys, tmp_path_factory):
    from dsvmctl.emulator.vmhost import LocalVMHost

    disk = tmp_path_factory.mktemp("vmdisk")
    host = LocalVMHost(disk, keys.host.private_pem, [keys.client.public_line], "azureuser")
    host.start()
    yield host
    host.stop()


@pytest.fixture(scope="session")
def openssh(keys, tmp_path_factory):
    if not sshd_available():
        pytest.skip("OpenSSH server not installed (run scripts/install-test-deps.sh as root)")
    server = OpenSSHServer(tmp_path_factory.mktemp("sshd"), keys.host.private_path, [keys.client.public_line])
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["vmhost", "openssh"])
def server(request, keys, tmp_path_factory) -> Target:
    if request.param == "vmhost":
        host = request.getfixturevalue("vmhost")
        (host.home / "work").mkdir(exist_ok=True)
        return Target("vmhost", host.port, "azureuser", keys, "work", host.home / "work")
    sshd = request.getfixturevalue("openssh")
    base = sshd.workdir / "work"
    base.mkdir(exist_ok=True)
    return Target("openssh", sshd.port, getpass.getuser(), keys, str(base), base)


@pytest.fixture(autouse=True)
def _private_hash_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def fresh_host(keys, tmp_path):
    """A LocalVMHost of its own, for tests that stop it."""
    from dsvmctl.emulator.vmhost import LocalVMHost

    host = LocalVMHost(tmp_path / "disk", keys.host.private_pem, [keys.client.public_line], "azureuser")
    yield host
    host.stop()
