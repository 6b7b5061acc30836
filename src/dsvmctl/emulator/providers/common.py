"""Pieces every provider uses: resource bodies, names, references, list envelopes."""

from __future__ import annotations

import re
import uuid
from typing import Any

from ..routing import Call, Handler
from ..wire import ArmError, Response, not_found

# ARM's generic naming rule (network resources, disks, ...): word characters, '.', '-', '_';
# starts with a word character; ends with a word character or '_'.
GENERIC_NAME = re.compile(r"^[A-Za-z0-9_][\w.\-]{0,79}(?<![.\-])$")


def check_name(name: str, *, pattern: re.Pattern[str] = GENERIC_NAME, max_length: int = 80) -> None:
    if len(name) > max_length or not pattern.match(name):
        raise ArmError(
            400, "InvalidResourceName",
            f"Resource name {name} is invalid. The name can be up to {max_length} characters long. It must "
            "begin with a word character, and it must end with a word character or with '_'. The name may "
            "contain word characters or '.', '-', '_'.",
            target=name,
        )


def new_etag() -> str:
    return f'W/"{uuid.uuid4()}"'


def tracked_body(call: Call, resource_type: str, name: str, resource_id: str,
                 existing: dict[str, Any] | None) -> dict[str, Any]:
    """The common top of a tracked resource: id, name, type, location, tags."""
    body = call.body_object()
    location = body.get("location") or (existing or {}).get("location")
    if not location:
        raise ArmError(400, "LocationRequired",
                       "The location property is required for this definition.", target="location")
    if not isinstance(location, str):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be "
                       "deserialized: 'location' must be a string.", target="location")
    tags = body.get("tags", (existing or {}).get("tags"))
    if tags is not None and not isinstance(tags, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be "
                       "deserialized: 'tags' must be an object.", target="tags")
    out: dict[str, Any] = {"name": name, "id": resource_id, "type": resource_type,
                           "location": normalize_location(location)}
    if tags is not None:
        out["tags"] = tags
    return out


def begin_put(call: Call, resource_type: str, resource_id: str, name: str, *, max_length: int = 80,
              keep_id: bool = False) -> tuple[dict[str, Any] | None, dict[str, Any], dict[str, Any]]:
    """How a tracked resource's PUT starts: its name checked, the resource it replaces (None on a
    create), the new body's top (tracked_body) and a copy of the request's properties to build on.
    keep_id: a replaced resource keeps its stored id (the casing it was created with), not the request's."""
    check_name(name, max_length=max_length)
    existing = call.em.get(resource_id)
    body = tracked_body(call, resource_type, name, existing["id"] if keep_id and existing else resource_id, existing)
    return existing, body, dict(properties_of(call))


def normalize_location(location: str) -> str:
    """ARM answers with the canonical short form: 'East US' -> 'eastus'."""
    return location.replace(" ", "").lower()


def properties_of(call: Call) -> dict[str, Any]:
    props = call.body_object().get("properties", {})
    if props is None:
        return {}
    if not isinstance(props, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be "
                       "deserialized: 'properties' must be an object.", target="properties")
    return props


def require_reference(call: Call, reference: Any, referring_id: str, path: str) -> dict[str, Any]:
    """A `{"id": ...}` reference that must name an existing resource."""
    ref_id = reference.get("id") if isinstance(reference, dict) else None
    if not ref_id or not isinstance(ref_id, str):
        raise ArmError(400, "InvalidRequestFormat", f"Cannot parse the request: '{path}.id' is required.",
                       target=path)
    target = call.em.get(ref_id) or find_child(call.em, ref_id)
    if target is None:
        raise ArmError(
            400, "InvalidResourceReference",
            f"Resource {ref_id} referenced by resource {referring_id} was not found. Please make sure that the "
            "referenced resource exists, and that both resources are in the same region.",
            details=[],
        )
    return target


def find_child(em, ref_id: str) -> dict[str, Any] | None:
    """Find a child resource stored inside its parent (subnets in vnets, rules in NSGs)."""
    parts = ref_id.rstrip("/").split("/")
    if len(parts) < 4:
        return None
    parent = em.get("/".join(parts[:-2]))
    if parent is None:
        return None
    for child in (parent.get("properties") or {}).get(parts[-2], []) or []:
        if isinstance(child, dict) and child.get("name", "").lower() == parts[-1].lower():
            return child
    return None


def get_or_404(call: Call, resource_id: str, type_label: str, name: str) -> dict[str, Any]:
    body = call.em.get(resource_id)
    if body is None:
        raise not_found(type_label, name, call.resource_group or "")
    return body


def getter(kind: str, resource_type: str, param: str = "name") -> Handler:
    """GET of one resource, `{kind}/{param}` in the call's group: its body, or 404 ResourceNotFound."""
    def handler(call: Call) -> Response:
        name = call.params[param]
        return Response(200, call.em.public(get_or_404(call, call.resource_id(kind, name), resource_type, name)))
    return handler


def lister(resource_type: str) -> Handler:
    """GET of a kind's collection, the same handler for both scopes: at `rg` the call's group's (dispatch
    has already answered 404 ResourceGroupNotFound for a missing group), at `sub` (no group) the whole
    subscription's."""
    def handler(call: Call) -> Response:
        found = call.em.find(resource_type, resource_group=call.resource_group)
        return list_response([call.em.public(b) for b in found])
    return handler


def list_response(items: list[dict[str, Any]]) -> Response:
    return Response(200, {"value": items})


def ok(call: Call, body: dict[str, Any], created: bool, headers: dict[str, str] | None = None) -> Response:
    return Response(201 if created else 200, call.em.public(body), headers or {})
