"""Moving resources between resource groups: POST .../resourceGroups/{rg}/moveResources and
validateMoveResources. Both answer 202 with a Location under `/subscriptions/{s}/operationresults/`;
that URL answers 204 once done. A moved resource takes its child resources along, and every
reference to it (in any resource's body) follows it to its new id, as ARM updates them."""

from __future__ import annotations

import json
import re
from typing import Any

from ..routing import Call
from ..wire import ArmError, Response, not_found

MOVABLE_GROUP = re.compile(r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)$", re.IGNORECASE)


def add_routes(provider) -> None:
    r = provider.route
    r("POST", "root", "subscriptions/{sub}/resourcegroups/{rg}/moveResources", move_resources)
    r("POST", "root", "subscriptions/{sub}/resourcegroups/{rg}/validateMoveResources", validate_move)
    provider.em.finalizers["resources.move"] = finish_move


def _request(call: Call) -> tuple[list[dict[str, Any]], str]:
    """The resources to move (their stored bodies) and the target group's id, checked as ARM does."""
    body = call.body_object()
    ids, target = body.get("resources"), body.get("targetResourceGroup")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "
                       "'resources' must be a non-empty list of resource ids.", target="resources")
    match = MOVABLE_GROUP.match(target) if isinstance(target, str) else None
    if match is None:
        raise ArmError(400, "InvalidTargetResourceGroup", "The target resource group must be a resource group id "
                       "(/subscriptions/{id}/resourceGroups/{name}).", target="targetResourceGroup")
    source = call.em.resource_group(call.params["rg"])
    if source is None:
        raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{call.params['rg']}' could not be found.")
    with call.em.acting_for(match.group(1)):
        destination = call.em.resource_group(match.group(2))
    if destination is None:
        raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{match.group(2)}' could not be found.")
    if destination["id"].lower() == source["id"].lower():
        raise ArmError(400, "InvalidTargetResourceGroup", "The source and target resource groups are the same.",
                       target="targetResourceGroup")
    bodies = []
    for resource_id in ids:
        stored = call.em.get(resource_id)
        if stored is None or not resource_id.lower().startswith(source["id"].lower() + "/providers/"):
            raise not_found(resource_id.split("/providers/")[-1].rsplit("/", 1)[0],
                            resource_id.rsplit("/", 1)[-1], call.params["rg"])
        bodies.append(stored)
    return bodies, destination["id"]


def _accepted(call: Call, finalizer: str | None = None, **args: Any) -> Response:
    from .resources import operation_result_url

    op = call.em.start_operation("microsoft.resources", "global", finalizer, **args)
    op.args["final_status"] = 204
    return Response(202, None, {"Location": operation_result_url(call, op), **call.em.retry_after_headers()})


def validate_move(call: Call) -> Response:
    _request(call)
    return _accepted(call)


def move_resources(call: Call) -> Response:
    bodies, target = _request(call)
    return _accepted(call, "resources.move", ids=[b["id"] for b in bodies], target=target)


def finish_move(em, op) -> None:
    """Re-home each resource and what lives under it; rewrite references to them everywhere."""
    renames: dict[str, str] = {}
    for old_id in op.args["ids"]:
        tail = old_id[old_id.lower().index("/providers/"):]
        renames[old_id] = op.args["target"] + tail
    for old_prefix, new_prefix in renames.items():
        pattern = re.compile(re.escape(old_prefix) + r"(?=[/\"]|$)", re.IGNORECASE)
        moving = [k for k in em.resources if k == old_prefix.lower() or k.startswith(old_prefix.lower() + "/")]
        for key in moving:
            body, meta = em.resources.pop(key), em.meta.pop(key, None)
            moved = json.loads(pattern.sub(new_prefix, json.dumps(body)))
            em.put(moved)
            if meta is not None:
                em.meta[moved["id"].lower()] = meta
        for key, body in list(em.resources.items()):  # references from resources that stay
            text = json.dumps(body)
            if pattern.search(text):
                em.resources[key] = json.loads(pattern.sub(new_prefix, text))
