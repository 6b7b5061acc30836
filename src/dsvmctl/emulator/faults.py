"""Fault injection: make the emulator fail the way Azure does, by rule, count or probability.

    faults.throttle("PUT", "/virtualMachines/", retry_after=1, times=2)
    faults.server_error("GET", "/operations/", status=503, probability=0.2)
    faults.connection_reset("PATCH", "/virtualMachines/vm1")
    faults.allocation_failure("POST", "/start")      # the LRO ends Failed, AllocationFailed

Paths are regular expressions matched case-insensitively against the request path (no query).

For the local cloud, where each dsvmctl command is its own process, rules also come from the
environment: DSVMCTL_FAULTS holds a JSON list of rules, each naming one of the methods above,

    DSVMCTL_FAULTS='[{"fault": "server_error", "status": 503, "probability": 0.05, "times": null},
                     {"fault": "allocation_failure", "method": "POST", "path": "/start$", "probability": 0.1}]'

and DSVMCTL_FAULT_SEED seeds their dice (each process adds its pid, so runs differ but repeat).
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
from dataclasses import dataclass, field

from .wire import ArmError, Request


FAULTS_ENV = "DSVMCTL_FAULTS"
FAULT_SEED_ENV = "DSVMCTL_FAULT_SEED"


class ConnectionResetFault(Exception):
    """Raised by the core so that each door drops the connection its own way."""


@dataclass
class FaultRule:
    kind: str  # "http" | "reset" | "allocation_failed"
    method: str | None
    path: str | None
    status: int = 500
    code: str = "InternalServerError"
    message: str = "Encountered internal server error. Diagnostic information: timestamp '', subscription id ''."
    retry_after: float | None = None
    times: int | None = 1  # None: every matching request
    probability: float | None = None
    hits: int = 0
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path, re.IGNORECASE) if self.path else None

    def matches(self, request: Request) -> bool:
        if self.method and self.method.upper() != request.method:
            return False
        return not self._pattern or bool(self._pattern.search(request.path))

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


class Faults:
    def __init__(self, seed: int | None = None) -> None:
        self._rules: list[FaultRule] = []
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[FaultRule]:
        return list(self._rules)

    def throttle(self, method: str | None = None, path: str | None = None, *, retry_after: float = 1,
                 times: int | None = 1, probability: float | None = None) -> FaultRule:
        return self.add(FaultRule(
            "http", method, path, status=429, code="TooManyRequests",
            message="The request is being throttled as the limit has been reached for operation type. "
                    "For more information, see - https://aka.ms/throttling",
            retry_after=retry_after, times=times, probability=probability,
        ))

    def server_error(self, method: str | None = None, path: str | None = None, *, status: int = 500,
                     times: int | None = 1, probability: float | None = None) -> FaultRule:
        code = {500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable",
                504: "GatewayTimeout"}.get(status, "InternalServerError")
        return self.add(FaultRule("http", method, path, status=status, code=code, times=times,
                                  probability=probability))

    def connection_reset(self, method: str | None = None, path: str | None = None, *,
                         times: int | None = 1, probability: float | None = None) -> FaultRule:
        return self.add(FaultRule("reset", method, path, times=times, probability=probability))

    def allocation_failure(self, method: str | None = None, path: str | None = None, *,
                           zonal: bool = False, times: int | None = 1,
                           probability: float | None = None) -> FaultRule:
        return self.add(FaultRule(
            "allocation_failed", method, path, status=200,
            code="ZonalAllocationFailed" if zonal else "AllocationFailed",
            message="Allocation failed. We do not have sufficient capacity for the requested VM size in "
                    "this region. Read more about improving likelihood of allocation success at "
                    "http://aka.ms/allocation-guidance",
            times=times, probability=probability,
        ))

    def configure(self, rules: list[dict]) -> None:
        """Add rules given as data: {"fault": "throttle" | "server_error" | "connection_reset" |
        "allocation_failure", "method": ..., "path": ..., and the method's keyword arguments}."""
        makers = {"throttle": self.throttle, "server_error": self.server_error,
                  "connection_reset": self.connection_reset, "allocation_failure": self.allocation_failure}
        for raw in rules:
            options = dict(raw)
            kind = options.pop("fault", None)
            if kind not in makers:
                raise ValueError(f"unknown fault {kind!r}: use one of {', '.join(makers)}")
            makers[kind](options.pop("method", None), options.pop("path", None), **options)

    def configure_from_environment(self, environ=os.environ) -> None:
        text = environ.get(FAULTS_ENV)
        if not text:
            return
        seed = environ.get(FAULT_SEED_ENV)
        if seed is not None:
            self._random.seed(int(seed) * 100_003 + os.getpid())
        try:
            rules = json.loads(text)
            if not isinstance(rules, list):
                raise ValueError("not a JSON list")
            self.configure(rules)
        except (ValueError, TypeError) as err:
            from ..errors import UsageError

            raise UsageError(f"{FAULTS_ENV} is not a list of fault rules ({err})",
                             fix=f"unset {FAULTS_ENV}, or see dsvmctl/emulator/faults.py for its shape") from None

    def take(self, request: Request, kinds: tuple[str, ...]) -> FaultRule | None:
        """The first live rule of one of `kinds` that fires for this request (counted as a hit)."""
        with self._lock:
            for rule in self._rules:
                if rule.kind not in kinds or rule.exhausted or not rule.matches(request):
                    continue
                if rule.probability is not None and self._random.random() >= rule.probability:
                    continue
                rule.hits += 1
                return rule
        return None

    def check_request(self, request: Request) -> None:
        """Raise the HTTP-level fault (or connection reset) this request should suffer, if any."""
        rule = self.take(request, ("http", "reset"))
        if rule is None:
            return
        if rule.kind == "reset":
            raise ConnectionResetFault(request.path)
        headers = {"Retry-After": _seconds(rule.retry_after)} if rule.retry_after is not None else {}
        raise ArmError(rule.status, rule.code, rule.message, headers=headers)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
