"""URL routing: ARM paths, matched case-insensitively, to provider handlers.

A provider declares routes like `route("PUT", "rg", "virtualMachines/{vm}")`: the scope says
where the pattern starts (`rg`: under /subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/,
`sub`: under /subscriptions/{sub}/providers/{ns}/, `root`: the whole path).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from . import shapes
from .normalize import normalize
from .wire import ArmError, Request, Response

if TYPE_CHECKING:
    from .core import Emulator

PROVIDER_MODULES = ("resources", "network", "compute", "devtestlab", "storage")


@dataclass
class Call:
    """One request, with the parts of its path a handler needs."""

    em: "Emulator"
    request: Request
    params: dict[str, str]  # captured pattern values, original case
    resource_group: str | None = None
    namespace: str | None = None
    resource_type: str = ""  # lower-case, e.g. microsoft.compute/virtualmachines: what the body describes
    _body: Any = field(default=None, repr=False)
    _parsed: bool = False

    @property
    def body(self) -> Any:
        if not self._parsed:
            self._body, self._parsed = normalize(self.resource_type, self.request.json()), True
        return self._body

    def body_object(self) -> dict[str, Any]:
        body = self.body
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise ArmError(400, "InvalidRequestContent",
                           "The request content was invalid and could not be deserialized: "
                           "expected a JSON object.")
        return body

    @property
    def api_version(self) -> str:
        return self.request.api_version or ""

    @property
    def sub(self) -> str:
        return self.em.active_subscription

    def rg_id(self) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{self.resource_group}"

    def resource_id(self, *type_name_pairs: str) -> str:
        return f"{self.rg_id()}/providers/{self.namespace}/" + "/".join(type_name_pairs)


Handler = Callable[[Call], Response]


@dataclass
class Route:
    method: str
    scope: str
    pattern: list[str]
    handler: Handler

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.pattern):
            return None
        params: dict[str, str] = {}
        for want, got in zip(self.pattern, segments):
            if want.startswith("{"):
                params[want[1:-1]] = got
            elif want.lower() != got.lower():
                return None
        return params


class Provider:
    """A resource provider: a namespace and its routes. Subclasses add routes in __init__."""

    namespace = ""

    def __init__(self, em: "Emulator") -> None:
        self.em = em
        self.routes: list[Route] = []

    def route(self, method: str, scope: str, pattern: str, handler: Handler) -> None:
        self.routes.append(Route(method.upper(), scope, pattern.strip("/").split("/"), handler))

    def route_methods(self, scope: str, pattern: str, **handlers: Handler) -> None:
        """Several methods on one path, a keyword each: `route_methods("rg", "disks/{disk}", GET=get, PUT=put)`."""
        for method, handler in handlers.items():
            self.route(method, scope, pattern, handler)

    def route_kind(self, kind: str, param: str, listed: Handler, **handlers: Handler) -> None:
        """A kind that lives in resource groups: `handlers` on `{kind}/{param}` (as route_methods), and
        `listed` as the GET of its collection, in a group and in the whole subscription."""
        self.route_methods("rg", f"{kind}/{{{param}}}", **handlers)
        self.route("GET", "rg", kind, listed)
        self.route("GET", "sub", kind, listed)

    def route_type(self, route: "Route") -> str:
        """The resource type a route's body describes: the pattern's type segments (each followed
        by a name), so `deployments/{name}/validate` is a deployment."""
        segments = route.pattern
        types = [seg for i, seg in enumerate(segments[:-1]) if not seg.startswith("{") and segments[i + 1].startswith("{")]
        if not segments[-1].startswith("{") and (len(segments) < 2 or not segments[-2].startswith("{")):
            types.append(segments[-1])  # a collection: GET .../virtualMachines
        return f"{self.namespace}/{'/'.join(types)}".lower()

    def resource_types(self) -> set[str]:
        return {r.pattern[0].lower() for r in self.routes if r.scope != "root"}


def load_providers(em: "Emulator") -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    for name in PROVIDER_MODULES:
        module = importlib.import_module(f"{__package__}.providers.{name}")
        provider = module.PROVIDER(em)
        providers[provider.namespace.lower()] = provider
    return providers


def dispatch(em: "Emulator", request: Request) -> Response:
    segments = [s for s in request.path.split("/") if s]
    lower = [s.lower() for s in segments]
    subscription = segments[1] if len(lower) >= 2 and lower[0] == "subscriptions" else None
    if subscription is not None:
        _check_subscription(subscription)
    with em.acting_for(subscription):
        return _dispatch(em, request, segments, lower)


def _dispatch(em: "Emulator", request: Request, segments: list[str], lower: list[str]) -> Response:

    # Subscriptions, tenants, resource groups and provider registration are Microsoft.Resources'
    # and matched against the whole path first.
    resources = em.providers["microsoft.resources"]
    for route in resources.routes:
        if route.scope != "root":
            continue
        params = route.match(segments)
        if params is not None and route.method == request.method:
            em.check_api_version(request, "Microsoft.Resources", segments[-1])
            resource_type = "microsoft.resources/resourcegroups" if "rg" in params else "microsoft.resources"
            return route.handler(_checked(Call(em, request, params, resource_group=params.get("rg"),
                                               resource_type=resource_type), "", route))
    if any(route.scope == "root" and route.match(segments) is not None for route in resources.routes):
        raise _method_not_allowed(request)

    # Paths under a provider namespace: resource group or subscription scope.
    if len(lower) >= 5 and lower[0] == "subscriptions" and lower[2] == "resourcegroups" and lower[4] == "providers":
        if len(lower) < 6:
            raise _unknown_path(request)
        return _dispatch_namespace(em, request, "rg", segments[5], segments[6:], resource_group=segments[3])
    if len(lower) >= 4 and lower[0] == "subscriptions" and lower[2] == "providers" and len(lower) > 4:
        return _dispatch_namespace(em, request, "sub", segments[3], segments[4:])

    raise _unknown_path(request)


def _dispatch_namespace(em: "Emulator", request: Request, scope: str, namespace: str,
                        rest: list[str], resource_group: str | None = None) -> Response:
    provider = em.providers.get(namespace.lower())
    if provider is None:
        raise ArmError(400, "InvalidResourceNamespace", f"The resource namespace '{namespace}' is invalid.")
    type_name = rest[0] if rest else ""
    em.check_api_version(request, provider.namespace, type_name)
    candidates = [r for r in provider.routes if r.scope == scope]
    matched = [(r, p) for r in candidates if (p := r.match(rest)) is not None]
    for route, params in matched:
        if route.method == request.method or (request.method == "HEAD" and route.method == "GET"):
            if scope == "rg":
                _require_resource_group(em, resource_group or "")
                _require_registration(em, request, provider.namespace)
            call = Call(em, request, params, resource_group=resource_group, namespace=provider.namespace,
                        resource_type=provider.route_type(route))
            try:
                response = route.handler(_checked(call, provider.namespace, route))
            except ArmError as err:
                if request.method != "HEAD":
                    raise
                response = err.response()
            if request.method == "HEAD":  # a status and no body, whatever the GET would say
                response = Response(204 if response.status < 400 else response.status)
            return response
    if matched:
        raise _method_not_allowed(request)
    if type_name.lower() not in provider.resource_types():
        raise ArmError(400, "InvalidResourceType",
                       f"The resource type '{type_name}' could not be found in the namespace "
                       f"'{provider.namespace}' for api version '{request.api_version}'.")
    raise _unknown_path(request)


def _checked(call: Call, namespace: str, route: Route) -> Call:
    """The call with its body checked against the route's shape (shapes.py), as ARM deserializes first."""
    if call.request.method in ("PUT", "PATCH", "POST"):
        call._body = shapes.check_body(shapes.shape_key(namespace, route.pattern), call.body)
        call._parsed = True
    return call


def _check_subscription(subscription_id: str) -> None:
    """Any well-formed subscription id is served (it appears on first use); others are refused."""
    from .core import SUBSCRIPTION_ID

    if not SUBSCRIPTION_ID.match(subscription_id):
        raise ArmError(400, "InvalidSubscriptionId",
                       f"The provided subscription identifier '{subscription_id}' is malformed or invalid.")


def _require_resource_group(em: "Emulator", name: str) -> None:
    if em.resource_group(name) is None:
        raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")


def _require_registration(em: "Emulator", request: Request, namespace: str) -> None:
    if not em.require_registration or request.method == "GET" or namespace.lower() in em.registered:
        return
    if namespace.lower() == "microsoft.resources":
        return
    message = (f"The subscription is not registered to use namespace '{namespace}'. "
               "See https://aka.ms/rps-not-found for how to register subscriptions.")
    raise ArmError(409, "MissingSubscriptionRegistration", message, target=namespace,
                   details=[{"code": "MissingSubscriptionRegistration", "target": namespace, "message": message}])


def _method_not_allowed(request: Request) -> ArmError:
    return ArmError(405, "MethodNotAllowed",
                    f"The requested resource does not support http method '{request.method}'.")


def _unknown_path(request: Request) -> ArmError:
    return ArmError(404, "NotFound", f"The requested path '{request.path}' was not found.")
