"""A VM's power state, as Azure's instance view reports it (`PowerState/running`, ...).

The instance view lists a VM's statuses; exactly one of them is a `PowerState/...` code. Its
values are Azure's words, so `str(state)` and JSON output are the strings Azure uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

CODE_PREFIX = "PowerState/"


class PowerState(StrEnum):
    RUNNING = "running"
    STARTING = "starting"
    STOPPING = "stopping"
    STOPPED = "stopped"  # powered off but still allocated: compute keeps billing
    DEALLOCATING = "deallocating"
    DEALLOCATED = "deallocated"  # hardware released; disks kept, compute not billed
    UNKNOWN = "unknown"  # no PowerState status (or one Azure added since)
    ABSENT = "absent"  # dsvmctl's own: the VM does not exist (any more)

    @classmethod
    def parse(cls, value: str | None) -> PowerState:
        """`running`, `PowerState/running` or a PowerState itself; anything else is UNKNOWN."""
        if value is None:
            return cls.UNKNOWN
        text = str(value)
        if text.startswith(CODE_PREFIX):
            text = text[len(CODE_PREFIX):]
        try:
            return cls(text.lower())
        except ValueError:
            return cls.UNKNOWN

    @classmethod
    def from_statuses(cls, statuses: Iterable[Any] | None) -> PowerState:
        """The power state among an instance view's statuses (objects with `.code`, or dicts)."""
        for status in statuses or ():
            code = status.get("code") if isinstance(status, dict) else getattr(status, "code", None)
            if code and code.startswith(CODE_PREFIX):
                return cls.parse(code)
        return cls.UNKNOWN

    @property
    def code(self) -> str:
        """The instance view's code, e.g. `PowerState/running`."""
        return f"{CODE_PREFIX}{self.value}"

    @property
    def transitional(self) -> bool:
        """On its way to another state: wait for it to settle before acting on the VM."""
        return self in (PowerState.STARTING, PowerState.STOPPING, PowerState.DEALLOCATING)

    @property
    def holds_hardware(self) -> bool:
        """Settled on a host (running, or stopped without deallocating): it bills for compute,
        and a resize outside its hardware cluster has to deallocate it first."""
        return self in (PowerState.RUNNING, PowerState.STOPPED)

    @property
    def settled(self) -> bool:
        """A state the VM stays in until asked (running, stopped, deallocated)."""
        return self in (PowerState.RUNNING, PowerState.STOPPED, PowerState.DEALLOCATED)
