"""Microsoft.Resources/links: a named link from a scope (a resource group or the subscription) to
another resource, with notes. ARM answers both ids with a trailing '/', as recorded."""

from __future__ import annotations

from typing import Any

from ..routing import Call
from ..wire import ArmError, Response, not_found
from .common import list_response

LINK_TYPE = "Microsoft.Resources/links"


def add_routes(provider) -> None:
    r = provider.route
    for scope in ("rg", "sub"):
        r("PUT", scope, "links/{name}", put_link)
        r("GET", scope, "links/{name}", get_link)
        r("DELETE", scope, "links/{name}", delete_link)
        r("GET", scope, "links", list_links)


def _scope(call: Call) -> str:
    return call.rg_id() if call.resource_group else f"/subscriptions/{call.sub}"


def _link_id(call: Call) -> str:
    return f"{_scope(call)}/providers/{LINK_TYPE}/{call.params['name']}"


def put_link(call: Call) -> Response:
    props = call.body_object().get("properties")
    target = props.get("targetId") if isinstance(props, dict) else None
    if not isinstance(target, str) or not target.startswith("/subscriptions/"):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "
                       "'properties.targetId' must be a resource id.", target="properties.targetId")
    existing = call.em.get(_link_id(call))
    link = {"id": _link_id(call), "type": LINK_TYPE, "name": call.params["name"],
            "properties": {"sourceId": _scope(call).rstrip("/") + "/", "targetId": target.rstrip("/") + "/",
                           **({"notes": props["notes"]} if isinstance(props.get("notes"), str) else {})}}
    call.em.put(link)
    return Response(200 if existing else 201, call.em.public(link))


def get_link(call: Call) -> Response:
    link = call.em.get(_link_id(call))
    if link is None:
        raise not_found(LINK_TYPE, call.params["name"], call.resource_group or "")
    return Response(200, call.em.public(link))


def delete_link(call: Call) -> Response:
    if call.em.get(_link_id(call)) is None:
        return Response(204)
    call.em.delete(_link_id(call))
    return Response(200)


def list_links(call: Call) -> Response:
    """Links at this scope or below it; `$filter=atScope()` keeps those at this scope only."""
    at_scope_only = "atscope()" in call.request.query.get("$filter", "").replace(" ", "").lower()
    scope = _scope(call).lower() + "/"
    links: list[dict[str, Any]] = []
    for link in call.em.find(LINK_TYPE):
        source = link["properties"]["sourceId"].lower()
        if source == scope or (not at_scope_only and source.startswith(scope)):
            links.append(call.em.public(link))
    return list_response(links)
