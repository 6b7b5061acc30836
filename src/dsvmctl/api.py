"""The library API the CLI wraps:

    from dsvmctl import Cloud, EnvironmentSpec

    cloud = Cloud.local()                      # or Cloud.azure(subscription_id=...)
    machine = cloud.up(EnvironmentSpec.from_dict({"name": "lab"}))
    machine.status(); machine.exec("nvidia-smi"); machine.stop(); machine.start(); machine.down()
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .paths import StatePaths

UNSANDBOXED_ENV = "DSVMCTL_UNSAFE_UNSANDBOXED"


class Cloud:
    def __init__(self, backend, home: "StatePaths | Path") -> None:
        from .cloud.machines import MachineStore

        self.backend = backend
        self.paths = StatePaths.of(home)  # where every state file of this cloud lives
        self.home = self.paths.root
        self.store = MachineStore(self.paths, backend.kind)

    @classmethod
    def local(cls, home: Path | None = None, unsafe_unsandboxed: bool | None = None) -> "Cloud":
        """The embedded local cloud. Its VMs' processes run sandboxed; `unsafe_unsandboxed=True`
        (default: env DSVMCTL_UNSAFE_UNSANDBOXED=1) runs them on this machine as you, unconfined."""
        from .cloud.backend import LocalBackend

        if unsafe_unsandboxed is None:
            unsafe_unsandboxed = os.environ.get(UNSANDBOXED_ENV, "").strip().lower() in ("1", "true", "yes")
        paths = StatePaths.of(home)
        return cls(LocalBackend(paths, unsandboxed=unsafe_unsandboxed), paths)

    @classmethod
    def azure(cls, subscription_id: str | None = None, home: Path | None = None) -> "Cloud":
        from .cloud.backend import AzureBackend

        paths = StatePaths.of(home)  # checked first: a bad state root fails before any login
        return cls(AzureBackend(subscription_id), paths)

    @classmethod
    def open(cls, kind: str, home: Path | None = None, unsafe_unsandboxed: bool | None = None) -> "Cloud":
        return cls.local(home, unsafe_unsandboxed) if kind == "local" else cls.azure(home=home)

    @property
    def kind(self) -> str:
        return self.backend.kind

    def up(self, spec, **options: Any):
        from .cloud.provision import up

        return up(self.backend, self.store, spec, **options)

    def sizes(self, location: str = "eastus", *, gpu_only: bool = False):
        """The sizes `location` offers, with quota left and each CPU size's GPU partners (cloud/sizes.py)."""
        from .cloud.sizes import region_sizes

        return region_sizes(self.backend, location, gpu_only=gpu_only)

    def machine(self, name: str):
        """The machine NAME: a Machine, or a Fleet (cloud/fleet.py) when NAME is a fleet."""
        from .cloud.fleet import open_machine

        return open_machine(self.backend, self.store, self.store.require(name))

    def machines(self) -> list[Any]:
        from .cloud.fleet import open_machine

        return [open_machine(self.backend, self.store, self.store.load(n)) for n in self.store.names()]

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> "Cloud":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
