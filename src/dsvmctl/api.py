"""The library API the CLI wraps:

    from dsvmctl import Cloud, EnvironmentSpec

    cloud = Cloud.local()                      # or Cloud.azure(subscription_id=...)
    machine = cloud.up(EnvironmentSpec.from_dict({"name": "lab"}))
    machine.status(); machine.exec("nvidia-smi"); machine.stop(); machine.start(); machine.down()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .paths import state_home


class Cloud:
    def __init__(self, backend, home: Path) -> None:
        from .cloud.machines import MachineStore

        self.backend = backend
        self.home = home
        self.store = MachineStore(home, backend.kind)

    @classmethod
    def local(cls, home: Path | None = None) -> "Cloud":
        from .cloud.backend import LocalBackend

        home = home or state_home()
        return cls(LocalBackend(home), home)

    @classmethod
    def azure(cls, subscription_id: str | None = None, home: Path | None = None) -> "Cloud":
        from .cloud.backend import AzureBackend

        return cls(AzureBackend(subscription_id), home or state_home())

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
