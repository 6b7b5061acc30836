"""What dsvmctl remembers about each machine: a small JSON record and its keys, per cloud.

    <state>/machines/<cloud>/<name>/machine.json   resource group, VM id, admin user, host key
                                     id_ed25519     the user's SSH key for it (0600), unless given
                                     host_ed25519   the VM's SSH host key, injected at creation
                                     admin-password Windows only (0600), never printed unless asked

The host key is generated here and pinned: the first connection needs no trust on first use.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..paths import StatePaths, private_file, write_atomic


@dataclass
class MachineRecord:
    name: str
    cloud: str
    resource_group: str
    location: str
    os: str
    admin_user: str
    size: str
    gpu_size: str | None
    image: str
    host_public_key: str
    key_path: str
    vm_id: str | None = None
    deployment: str | None = None
    created_at: str | None = None
    attached: bool = False  # registered with `dsvmctl attach`: not created (nor deleted) by dsvmctl
    ssh_host: str | None = None  # attached machines only
    ssh_port: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class MachineStore:
    def __init__(self, paths: StatePaths | Path, cloud: str) -> None:
        self.paths = StatePaths.of(paths)
        self.root = self.paths.machines(cloud)
        self.cloud = cloud

    def dir(self, name: str) -> Path:
        return self.paths.machine(self.cloud, name)

    def load(self, name: str) -> MachineRecord | None:
        path = self.dir(name) / "machine.json"
        if not path.exists():
            return None
        try:
            return MachineRecord(**json.loads(path.read_text()))
        except (ValueError, TypeError) as err:  # not JSON, or not a record's fields
            raise UsageError(f"the record of machine {name!r} ({path}) is damaged: {err}",
                             fix="restore the file from a backup, or remove its directory to forget the machine "
                                 "(then `dsvmctl gc` finds what it left in the cloud)") from None

    def require(self, name: str) -> MachineRecord:
        record = self.load(name)
        if record is None:
            known = ", ".join(self.names()) or "none yet"
            raise UsageError(f"no machine named {name!r} on the {self.cloud} cloud (known: {known})",
                             fix=f"create it with `dsvmctl --cloud {self.cloud} up {name}` or check the name")
        return record

    def save(self, record: MachineRecord) -> None:
        directory = self.dir(record.name)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(directory / "machine.json", json.dumps(asdict(record), indent=2))

    def names(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "machine.json").exists())

    def forget(self, name: str) -> None:
        directory = self.dir(name)
        if directory.exists():
            for item in sorted(directory.rglob("*"), reverse=True):
                item.unlink() if item.is_file() or item.is_symlink() else item.rmdir()
            directory.rmdir()

    # -- keys and secrets ----------------------------------------------------------------------

    def user_key(self, name: str, given: Path | None) -> tuple[Path, str]:
        """The SSH key to log in with: the one the spec names, else one generated for this machine."""
        if given is not None:
            return given, _public_line_of(given)
        path = self.dir(name) / "id_ed25519"
        if not path.exists():
            private, public = generate_ed25519(f"dsvmctl-{name}")
            private_file(path, private)
            path.with_suffix(".pub").write_text(public + "\n")
        return path, path.with_suffix(".pub").read_text().strip()

    def host_key(self, name: str) -> tuple[str, str]:
        """The VM's SSH host key pair (private OpenSSH text, public line), made once per machine."""
        path = self.dir(name) / "host_ed25519"
        if not path.exists():
            private, public = generate_ed25519(f"dsvmctl-host-{name}")
            private_file(path, private)
            path.with_suffix(".pub").write_text(public + "\n")
        return path.read_text(), path.with_suffix(".pub").read_text().strip()

    def admin_password(self, name: str) -> str:
        """A Windows admin password meeting Azure's complexity rules, stored 0600, made once."""
        path = self.dir(name) / "admin-password"
        if not path.exists():
            alphabet = string.ascii_letters + string.digits
            core = "".join(secrets.choice(alphabet) for _ in range(20))
            private_file(path, f"{core}-Aa1!")
        return path.read_text()


def generate_ed25519(comment: str) -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return private, f"{public} {comment}"


def _public_line_of(private_key: Path) -> str:
    pub = Path(str(private_key) + ".pub")
    if pub.exists():
        return pub.read_text().strip()
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_ssh_private_key(private_key.read_bytes(), password=None)
    except (ValueError, TypeError) as err:
        raise UsageError(f"{private_key}: not an unencrypted OpenSSH private key ({err})",
                         fix="point ssh_key at an unencrypted private key, or leave it out to get one generated")
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
