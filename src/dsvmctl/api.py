"""The library API the CLI wraps:

    from dsvmctl import Cloud, EnvironmentSpec

    cloud = Cloud.local()                      # or Cloud.azure(subscription_id=...)
    machine = cloud.up(EnvironmentSpec.from_dict({"name": "lab"}))
    machine.status(); machine.exec("nvidia-smi"); machine.stop(); machine.start(); machine.down()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .paths import StatePaths


class Cloud:
    def __init__(self, backend, home: "StatePaths | Path") -> None:
        from .cloud.machines import MachineStore

        self.backend = backend
        self.paths = StatePaths.of(home)  # where every state file of this cloud lives
        self.home = self.paths.root
        self.store = MachineStore(self.paths, backend.kind)

    @classmethod
    def local(cls, home: Path | None = None) -> "Cloud":
        from .cloud.backend import LocalBackend

        paths = StatePaths.of(home)
        return cls(LocalBackend(paths), paths)

    @classmethod
    def azure(cls, subscription_id: str | None = None, home: Path | None = None) -> "Cloud":
        from .cloud.backend import AzureBackend

        paths = StatePaths.of(home)  # checked first: a bad state root fails before any login
        return cls(AzureBackend(subscription_id), paths)

    @classmethod
    def open(cls, kind: str, home: Path | None = None) -> "Cloud":
        return cls.local(home) if kind == "local" else cls.azure(home=home)

    @property
    def kind(self) -> str:
        return self.backend.kind

    def up(self, spec, **options: Any):
        from .cloud.provision import up

        return up(self.backend, self.store, spec, **options)

    def machine(self, name: str):
        from .cloud.machine import Machine

        return Machine(self.backend, self.store, self.store.require(name))

    def machines(self) -> list[Any]:
        from .cloud.machine import Machine

        return [Machine(self.backend, self.store, self.store.load(n)) for n in self.store.names()]

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> "Cloud":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
