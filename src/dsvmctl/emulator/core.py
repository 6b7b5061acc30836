"""The emulator's core: one stateful, thread-safe Azure Resource Manager.

It owns the resource store, the long-running operations, the request log and the faults, and
routes each request (case-insensitively, as ARM does) to the resource provider that owns the
path. Providers live in `providers/`, one module per namespace; doors live beside this module.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..paths import write_atomic
from . import routing
from .faults import ConnectionResetFault, Faults
from .wire import ArmError, Request, Response

DEFAULT_SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000001"
DEFAULT_TENANT_ID = "72f988bf-0000-0000-0000-00000000e0e0"
# The regions the emulator models (the catalog has a size list for each).
DEFAULT_LOCATIONS = ("eastus", "eastus2", "westus", "westus2", "westeurope", "northeurope", "southcentralus")

# api-versions accepted per namespace: any dated version inside the range.
API_VERSION_RANGES = {
    "microsoft.resources": ("2015-01-01", "2026-12-31"),
    "microsoft.compute": ("2015-05-01", "2026-12-31"),  # 2015-05-01-preview: the first, still listed
    "microsoft.network": ("2015-06-15", "2026-12-31"),
    "microsoft.devtestlab": ("2016-05-15", "2018-09-15"),
}
SUBSCRIPTION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_API_VERSION = re.compile(r"^(\d{4}-\d{2}-\d{2})(-preview|-beta|-privatepreview)?$", re.IGNORECASE)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class Subscription:
    """One subscription's own facts; its resources live in the shared store under its id."""

    id: str
    registered: set[str] = field(default_factory=set)  # lower-case namespaces
    quota_limits: dict[str, dict[str, int]] = field(default_factory=dict)  # location -> family -> limit


@dataclass
class Operation:
    """A long-running operation, as ARM reports it on its status URL."""

    id: str
    namespace: str
    location: str
    done_at: float
    finalizer: str | None = None  # name of a registered finalizer, run once when the op completes
    args: dict[str, Any] = field(default_factory=dict)
    status: str = "InProgress"
    start_time: str = field(default_factory=utc_now)
    end_time: str | None = None
    error: dict[str, Any] | None = None
    result: Any = None  # what the monitor (Location) URL answers once done
    subscription: str = ""  # the subscription the operation belongs to (its finalizer acts for it)
    # Name of a registered stepper: one step of the operation per request the emulator handles,
    # until it answers True (a deployment creates its resources one by one, as ARM does).
    stepper: str | None = None
    # With the emulator's finish_on_poll: the client was given a URL to poll, and only a poll of
    # it advances the operation.
    awaits_poll: bool = False

    def status_document(self) -> dict[str, Any]:
        if self.namespace == "microsoft.network":
            doc: dict[str, Any] = {"status": self.status}
        else:
            doc = {"startTime": self.start_time, "status": self.status, "name": self.id}
            if self.end_time:
                doc["endTime"] = self.end_time
        if self.error:
            doc["error"] = self.error
        return doc


class Emulator:
    """Azure Resource Manager, emulated. `handle(Request) -> Response` is the only entry point."""

    def __init__(
        self,
        *,
        subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
        tenant_id: str = DEFAULT_TENANT_ID,
        operation_seconds: float = 0.0,
        finish_on_poll: bool = False,
        state_dir: str | os.PathLike[str] | None = None,
        require_registration: bool = False,
        fault_seed: int | None = None,
    ) -> None:
        self.subscription_id = subscription_id
        self.tenant_id = tenant_id
        self.operation_seconds = operation_seconds
        # Manual progression (as moto's state manager offers): an operation whose URL a client
        # was given ends only when that URL is polled, so the client's requests in between see it
        # running. Operations nobody can poll (an eviction Azure carries out later) end on time.
        self.finish_on_poll = finish_on_poll
        self.require_registration = require_registration
        self.faults = Faults(fault_seed)
        self.lock = threading.RLock()
        self.request_log: list[tuple[str, str, int]] = []
        self.resources: dict[str, dict[str, Any]] = {}  # lower-case id -> wire body
        self.meta: dict[str, dict[str, Any]] = {}  # lower-case id -> emulator-only facts
        self.operations: dict[str, Operation] = {}
        # Any subscription appears on first use (moto-style); `subscription_id` is the default one.
        self.subscriptions: dict[str, Subscription] = {subscription_id.lower(): Subscription(subscription_id)}
        self._active_subscription: str | None = None  # the subscription of the request being handled
        self.linked_templates: dict[str, Any] = {}  # templateLink uri -> template (offline store)
        self.finalizers: dict[str, Callable[[Emulator, Operation], None]] = {}
        self.steppers: dict[str, Callable[[Emulator, Operation], bool]] = {}
        self._stepping: set[str] = set()  # operations inside a step (its own requests must not step it)
        self.hooks: list[Any] = []  # objects told about VM power changes (local VM hosts)
        self.state_file = Path(state_dir, "state.json") if state_dir else None
        self._loaded_mtime: int | None = None
        self._lock_depth = 0  # the file lock is taken once per outermost request
        self._changed = False  # state changed outside a write request (an operation finished on a GET poll)
        self.providers = routing.load_providers(self)
        if self.state_file and self.state_file.exists():
            self._load()

    # -- entry point ---------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        with self.lock, self._shared_state():
            try:
                self.complete_due_operations()
                self.faults.check_request(request)
                started = set(self.operations)
                response = routing.dispatch(self, request)
                if self.finish_on_poll and request.method != "GET":
                    self._hold_for_polls(response, started)
            except ArmError as err:
                response = err.response()
            except ConnectionResetFault:
                self.request_log.append((request.method, request.path, 0))
                if self._changed:  # an operation finished before the fault: keep it
                    self.save()
                raise
            # Any other exception is a bug in the emulator and propagates: in-process it fails the
            # test that found it; the HTTPS door answers 500 and logs the traceback. Client input
            # is validated explicitly (providers/common.py), never excused by catching its fallout.
            self.request_log.append((request.method, request.path, response.status))
            if self._changed or (request.method != "GET" and response.status < 400):
                self.save()
            return response

    # -- subscriptions ---------------------------------------------------------------------------

    @property
    def active_subscription(self) -> str:
        """The subscription the current request (or finalizer) acts for; the default otherwise."""
        return self._active_subscription or self.subscription_id

    def subscription(self, subscription_id: str | None = None) -> Subscription:
        """A subscription's state, made on first use."""
        subscription_id = subscription_id or self.active_subscription
        key = subscription_id.lower()
        if key not in self.subscriptions:
            self.subscriptions[key] = Subscription(subscription_id)
        return self.subscriptions[key]

    @contextlib.contextmanager
    def acting_for(self, subscription_id: str | None):
        if not subscription_id:
            yield
            return
        self.subscription(subscription_id)
        previous, self._active_subscription = self._active_subscription, self.subscription(subscription_id).id
        try:
            yield
        finally:
            self._active_subscription = previous

    @property
    def registered(self) -> set[str]:
        return self.subscription().registered

    @property
    def quota_limits(self) -> dict[str, dict[str, int]]:
        return self.subscription().quota_limits

    # -- resources -------------------------------------------------------------------------------

    def get(self, resource_id: str) -> dict[str, Any] | None:
        return self.resources.get(resource_id.lower())

    def put(self, body: dict[str, Any]) -> dict[str, Any]:
        self.resources[body["id"].lower()] = body
        return body

    def delete(self, resource_id: str) -> None:
        self.resources.pop(resource_id.lower(), None)
        self.meta.pop(resource_id.lower(), None)

    def meta_of(self, resource_id: str) -> dict[str, Any]:
        return self.meta.setdefault(resource_id.lower(), {})

    def find(self, resource_type: str, *, resource_group: str | None = None) -> list[dict[str, Any]]:
        """Resources of one type (case-insensitive) in the active subscription, optionally inside
        one resource group."""
        prefix = f"/subscriptions/{self.active_subscription}/".lower()
        if resource_group is not None:
            prefix += f"resourcegroups/{resource_group}/".lower()
        return [
            body for key, body in self.resources.items()
            if body.get("type", "").lower() == resource_type.lower() and key.startswith(prefix)
        ]

    def resource_group(self, name: str) -> dict[str, Any] | None:
        return self.get(f"/subscriptions/{self.active_subscription}/resourceGroups/{name}")

    def public(self, body: dict[str, Any]) -> dict[str, Any]:
        """A copy safe to hand to a client (the store keeps its own)."""
        return copy.deepcopy(body)

    # -- long-running operations -----------------------------------------------------------------

    def start_operation(self, namespace: str, location: str, finalizer: str | None = None,
                        **args: Any) -> Operation:
        op = Operation(str(uuid.uuid4()), namespace.lower(), location.lower(),
                       time.monotonic() + self.operation_seconds, finalizer, args,
                       subscription=self.active_subscription)
        self.operations[op.id] = op
        return op

    def fail_operation(self, op: Operation, code: str, message: str) -> None:
        op.error = {"code": code, "message": message}

    def complete_due_operations(self) -> None:
        for op in list(self.operations.values()):
            if not op.awaits_poll:
                self._advance(op)

    def poll_operation(self, op_id: str) -> Operation | None:
        """The operation a client polls by its id, advanced first when it waits for polls."""
        op = self.operations.get(op_id)
        if op is not None and op.awaits_poll:
            self._advance(op)
        return op

    def _advance(self, op: Operation) -> None:
        if op.status != "InProgress" or op.id in self._stepping:
            return
        if op.stepper and not self._step(op):
            return
        if time.monotonic() >= op.done_at:
            self.finish(op)

    def _hold_for_polls(self, response: Response, started: set[str]) -> None:
        """The operations this request started and answered with a URL to poll wait for polls."""
        headers = {k.lower() for k in response.headers}
        if not headers & {"azure-asyncoperation", "location"}:
            return
        for op_id in set(self.operations) - started:
            self.operations[op_id].awaits_poll = True
            self._changed = True

    def _step(self, op: Operation) -> bool:
        """One step of a stepped operation; True once it has no step left."""
        self._stepping.add(op.id)
        try:
            with self.acting_for(op.subscription):
                done = self.steppers[op.stepper](self, op)
        finally:
            self._stepping.discard(op.id)
        self._changed = True
        return done

    def finish(self, op: Operation) -> None:
        # Out of "InProgress" first: a finalizer may send requests of its own (a deployment
        # creates its resources), which must not finish this operation a second time.
        op.status = "Finalizing"
        if op.finalizer:
            with self.acting_for(op.subscription):
                self.finalizers[op.finalizer](self, op)
        op.status = "Failed" if op.error else "Succeeded"
        op.end_time = utc_now()
        self._changed = True  # often finished by a GET poll: that GET must save what it changed

    def operation_url(self, base_url: str, op: Operation, api_version: str, *, monitor: bool = False) -> str:
        provider = {"microsoft.compute": "Microsoft.Compute", "microsoft.network": "Microsoft.Network"}.get(
            op.namespace, op.namespace)
        query = f"p={op.id[:8]}&" if op.namespace == "microsoft.compute" else ""
        if monitor:
            query += "monitor=true&"
        return (f"{base_url}/subscriptions/{op.subscription or self.subscription_id}/providers/{provider}/locations/"
                f"{op.location}/operations/{op.id}?{query}api-version={api_version}")

    def retry_after_headers(self) -> dict[str, str]:
        # Real ARM often sends no Retry-After; we send one only when operations take time.
        if self.operation_seconds > 0:
            return {"Retry-After": str(max(1, round(self.operation_seconds)))}
        return {}

    # -- quota -----------------------------------------------------------------------------------

    def quota_limit(self, location: str, family: str) -> int:
        from .providers.compute import DEFAULT_QUOTA

        limits = self.quota_limits.get(location.lower(), {})
        lowered = {k.lower(): v for k, v in limits.items()}
        if family.lower() in lowered:
            return lowered[family.lower()]
        return DEFAULT_QUOTA.get(family.lower(), DEFAULT_QUOTA["*"])

    def set_quota(self, location: str, family: str, limit: int, subscription_id: str | None = None) -> None:
        with self.lock:
            limits = self.subscription(subscription_id).quota_limits
            limits.setdefault(location.lower(), {})[family] = limit
            self.save()

    # -- observation helpers for tests -----------------------------------------------------------

    def count_requests(self, method: str | None = None, path_pattern: str | None = None) -> int:
        pattern = re.compile(path_pattern, re.IGNORECASE) if path_pattern else None
        return sum(
            1 for m, path, _ in self.request_log
            if (method is None or m == method.upper()) and (pattern is None or pattern.search(path))
        )

    def notify(self, event: str, **details: Any) -> None:
        for hook in self.hooks:
            handler = getattr(hook, event, None)
            if handler:
                handler(self, **details)

    # -- api-version -----------------------------------------------------------------------------

    def check_api_version(self, request: Request, namespace: str, resource_type: str) -> None:
        version = request.api_version
        if not version:
            raise ArmError(400, "MissingApiVersionParameter",
                           "The api-version query parameter (?api-version=) is required for all requests.")
        low, high = API_VERSION_RANGES.get(namespace.lower(), API_VERSION_RANGES["microsoft.resources"])
        match = _API_VERSION.match(version)
        if not match:
            raise ArmError(400, "InvalidApiVersionParameter",
                           f"The api-version '{version}' is invalid. The supported versions are "
                           f"'{low}' to '{high}'.")
        if not low <= match.group(1) <= high:
            raise ArmError(400, "NoRegisteredProviderFound",
                           f"No registered resource provider found for location 'global' and API version "
                           f"'{version}' for type '{resource_type}'. The supported api-versions are "
                           f"'{low}' to '{high}'.")

    # -- persistence -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _shared_state(self):
        """Several processes may share one state dir (each dsvmctl command on the local cloud is
        its own process): hold a file lock per request and reload when another process wrote."""
        if not self.state_file or self._lock_depth:
            yield  # no state dir, or a request made while handling one (a deployment's resources)
            return
        self._lock_depth += 1
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.state_file.with_suffix(".lock"), "a+") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                if self.state_file.exists() and self.state_file.stat().st_mtime_ns != self._loaded_mtime:
                    self._load()
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
                self._lock_depth -= 1

    def save(self) -> None:
        if not self.state_file:
            return
        state = {
            "subscription_id": self.subscription_id,
            "resources": self.resources,
            "meta": self.meta,
            "subscriptions": {key: {"id": sub.id, "registered": sorted(sub.registered),
                                    "quota_limits": sub.quota_limits}
                              for key, sub in self.subscriptions.items()},
            "operations": {
                op_id: {**op.__dict__, "done_at": 0.0}
                for op_id, op in self.operations.items()
            },
        }
        # Whole or not at all (a kill -9 never leaves half a state file), and 0600 from the
        # start: stored deployments and VMs hold host keys and passwords.
        write_atomic(self.state_file, json.dumps(state), private=True)
        self._loaded_mtime = self.state_file.stat().st_mtime_ns
        self._changed = False

    def _load(self) -> None:
        self._loaded_mtime = self.state_file.stat().st_mtime_ns
        state = json.loads(self.state_file.read_text())
        self.resources = state.get("resources", {})
        self.meta = state.get("meta", {})
        self.subscriptions = {self.subscription_id.lower(): Subscription(self.subscription_id)}
        for key, sub in state.get("subscriptions", {}).items():
            self.subscriptions[key] = Subscription(sub["id"], set(sub.get("registered", [])),
                                                   sub.get("quota_limits", {}))
        default = self.subscriptions[self.subscription_id.lower()]  # state files from before subscriptions
        default.registered |= set(state.get("registered", []))
        default.quota_limits = state.get("quota_limits", default.quota_limits)
        self.operations = {op_id: Operation(**fields) for op_id, fields in state.get("operations", {}).items()}
        for op in self.operations.values():
            # Saved mid-finalizer by a process that died (the file lock held it alone): run it
            # again, as ARM carries on with an operation whatever happens to its caller.
            if op.status == "Finalizing":
                op.status = "InProgress"
