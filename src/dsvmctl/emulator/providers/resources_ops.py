"""Microsoft.Resources operations beyond groups and deployments: resource-group and deployment
exportTemplate, deployment cancel, tags (tag names and values, tags at a scope) and template
specs with their versions, as the recorded traffic shows them."""

from __future__ import annotations

import base64
import json
from typing import Any

from ..core import utc_now
from ..routing import Call
from ..wire import ArmError, Response, not_found
from . import deployments
from .common import list_response, normalize_location

TEMPLATE_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
SPEC_TYPE = "Microsoft.Resources/templateSpecs"
TAGS_TYPE = "Microsoft.Resources/tags"


def add_routes(provider) -> None:
    r = provider.route
    r("POST", "root", "subscriptions/{sub}/resourcegroups/{rg}/exportTemplate", export_group)
    r("GET", "root", "subscriptions/{sub}/providers/Microsoft.Resources/locations/{loc}/operationResults/{token}",
      export_result)
    for scope in ("rg", "sub"):
        r("POST", scope, "deployments/{name}/exportTemplate", deployments.export_template)  # newer api-versions
        r("POST", scope, "deployments/{name}/cancel", cancel_deployment)
    r("GET", "root", "subscriptions/{sub}/tagNames", list_tag_names)
    r("PUT", "root", "subscriptions/{sub}/tagNames/{tag}", put_tag_name)
    r("DELETE", "root", "subscriptions/{sub}/tagNames/{tag}", delete_tag_name)
    r("PUT", "root", "subscriptions/{sub}/tagNames/{tag}/tagValues/{value}", put_tag_value)
    r("DELETE", "root", "subscriptions/{sub}/tagNames/{tag}/tagValues/{value}", delete_tag_value)
    for scope in ("rg", "sub"):
        r("GET", scope, "tags/default", get_scope_tags)
        r("PUT", scope, "tags/default", put_scope_tags)
        r("PATCH", scope, "tags/default", patch_scope_tags)
        r("DELETE", scope, "tags/default", delete_scope_tags)
    r("PUT", "rg", "templateSpecs/{name}", put_spec)
    r("GET", "rg", "templateSpecs/{name}", get_spec)
    r("PATCH", "rg", "templateSpecs/{name}", patch_spec)
    r("DELETE", "rg", "templateSpecs/{name}", delete_spec)
    r("GET", "rg", "templateSpecs", list_specs)
    r("GET", "sub", "templateSpecs", list_all_specs)
    r("PUT", "rg", "templateSpecs/{name}/versions/{version}", put_version)
    r("GET", "rg", "templateSpecs/{name}/versions/{version}", get_version)
    r("DELETE", "rg", "templateSpecs/{name}/versions/{version}", delete_version)
    r("GET", "rg", "templateSpecs/{name}/versions", list_versions)


# -- export and cancel -------------------------------------------------------------------------------------

def _group(call: Call) -> dict[str, Any]:
    group = call.em.resource_group(call.resource_group or call.params.get("rg", ""))
    if group is None:
        raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{call.params.get('rg')}' could not be found.")
    return group


def _exported(call: Call) -> dict[str, Any]:
    from .resources import resources_in_group

    wanted = call.body_object().get("resources") or ["*"]
    everything = "*" in wanted
    chosen = [b for b in resources_in_group(call.em, call.params["rg"])
              if everything or any(b["id"].lower() == str(w).lower() for w in wanted)]
    template_resources = []
    for body in chosen:
        item = {"type": body["type"], "apiVersion": call.api_version or "2022-09-01", "name": body["name"]}
        for key in ("location", "tags", "sku", "kind", "zones"):
            if key in body:
                item[key] = body[key]
        item["properties"] = {k: v for k, v in (body.get("properties") or {}).items()
                              if k not in ("provisioningState", "resourceGuid", "uniqueId", "timeCreated", "vmId")}
        template_resources.append(item)
    return {"template": {"$schema": TEMPLATE_SCHEMA, "contentVersion": "1.0.0.0", "parameters": {},
                         "variables": {}, "resources": template_resources}}


def export_group(call: Call) -> Response:
    group = _group(call)
    result = _exported(call)
    if call.api_version >= "2019-08-01" and result["template"]["resources"]:
        # Newer api-versions export asynchronously: 202, then the template on the Location URL;
        # ARM answers 200 at once when the export is done within its wait (nothing to export is).
        op = call.em.start_operation("microsoft.resources", group["location"])
        op.result = result
        token = base64.urlsafe_b64encode(json.dumps({"op": op.id}).encode()).decode().rstrip("=")
        url = (f"{call.request.base_url}/subscriptions/{call.sub}/providers/Microsoft.Resources/locations/"
               f"{group['location']}/operationResults/{token}?api-version={call.api_version}")
        return Response(202, None, {"Location": url, **call.em.retry_after_headers()})
    return Response(200, result)


def export_result(call: Call) -> Response:
    token = call.params["token"]
    try:
        op_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["op"]
    except (ValueError, KeyError, TypeError):
        raise ArmError(404, "NotFound", "The operation was not found.") from None
    op = call.em.poll_operation(op_id)
    if op is None:
        raise ArmError(404, "NotFound", "The operation was not found.")
    if op.status == "InProgress":
        return Response(202, None, {"Location": call.request.url, **call.em.retry_after_headers()})
    return Response(200, op.result)


def cancel_deployment(call: Call) -> Response:
    """A running deployment stops where it is (what it made stays) and turns Canceled."""
    record = deployments.deployment_or_404(call)
    state = record["properties"]["provisioningState"]
    if state not in ("Accepted", "Running"):
        raise ArmError(409, "DeploymentCannotBeCancelled", f"The deployment '{record['name']}' cannot be cancelled "
                       f"because it is in '{state}' state. Only deployments in 'Accepted' or 'Running' state can be "
                       "cancelled.")
    for op in call.em.operations.values():
        if op.status == "InProgress" and op.args.get("deployment_id", "").lower() == record["id"].lower():
            op.status, op.end_time = "Canceled", utc_now()
            op.error = {"code": "DeploymentCanceled", "message": "The deployment was canceled."}
    record["properties"]["provisioningState"] = "Canceled"
    record["properties"]["outputResources"] = deployments.made(call.em.meta_of(record["id"]))
    return Response(204)


# -- tags ------------------------------------------------------------------------------------------------------

def _tag_store(call: Call) -> dict[str, list[str]]:
    """Predefined tag names and values of the subscription (kept with the subscription's facts)."""
    return call.em.meta_of(f"/subscriptions/{call.em.subscription_id}").setdefault("tag_names", {})


def _tag_counts(call: Call) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for body in call.em.resources.values():
        for name, value in (body.get("tags") or {}).items():
            counts.setdefault(name, {}).setdefault(str(value), 0)
            counts[name][str(value)] += 1
    return counts


def _tag_entry(call: Call, name: str, values: set[str], counts: dict[str, int]) -> dict[str, Any]:
    base = f"/subscriptions/{call.sub}/tagNames/{name}"
    return {"id": base, "tagName": name, "count": {"type": "Total", "value": sum(counts.values())},
            "values": [{"id": f"{base}/tagValues/{v}", "tagValue": v, "count": {"type": "Total",
                                                                                "value": counts.get(v, 0)}}
                       for v in sorted(values | set(counts))]}


def list_tag_names(call: Call) -> Response:
    store, counts = _tag_store(call), _tag_counts(call)
    names = sorted(set(store) | set(counts))
    return list_response([_tag_entry(call, n, set(store.get(n, [])), counts.get(n, {})) for n in names])


def put_tag_name(call: Call) -> Response:
    store = _tag_store(call)
    name = call.params["tag"]
    if name.lower().startswith(("microsoft", "azure", "windows")):
        raise ArmError(400, "InvalidTagName", f"The tag name '{name}' has a reserved prefix.")
    created = name not in store
    store.setdefault(name, [])
    return Response(201 if created else 200, _tag_entry(call, name, set(), {}) | {"values": []})


def delete_tag_name(call: Call) -> Response:
    store = _tag_store(call)
    name = call.params["tag"]
    if name in _tag_counts(call):
        raise ArmError(409, "TagNameStillInUse", f"The tag name '{name}' is still in use by resources.")
    if store.pop(name, None) is None:
        return Response(204)
    return Response(200)


def put_tag_value(call: Call) -> Response:
    store = _tag_store(call)
    name, value = call.params["tag"], call.params["value"]
    values = store.setdefault(name, [])
    created = value not in values
    if created:
        values.append(value)
    return Response(201 if created else 200, {"id": f"/subscriptions/{call.sub}/tagNames/{name}/tagValues/{value}",
                                              "tagValue": value, "count": {"type": "Total", "value": 0}})


def delete_tag_value(call: Call) -> Response:
    values = _tag_store(call).get(call.params["tag"], [])
    if call.params["value"] not in values:
        return Response(204)
    values.remove(call.params["value"])
    return Response(200)


def _scope_target(call: Call) -> tuple[str, dict[str, Any] | None]:
    if call.resource_group:
        return f"/subscriptions/{call.sub}/resourceGroups/{call.resource_group}", _group(call)
    return f"/subscriptions/{call.sub}", None


def _scope_tags(call: Call) -> tuple[str, dict[str, Any]]:
    scope, group = _scope_target(call)
    holder = group if group is not None else call.em.meta_of(scope).setdefault("subscription", {})
    return scope, holder


def _tags_resource(scope: str, tags: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"{scope}/providers/Microsoft.Resources/tags/default", "name": "default", "type": TAGS_TYPE,
            "properties": {"tags": dict(tags)}}


def get_scope_tags(call: Call) -> Response:
    scope, holder = _scope_tags(call)
    return Response(200, _tags_resource(scope, holder.get("tags") or {}))


def _requested_tags(call: Call) -> dict[str, Any]:
    tags = (call.body_object().get("properties") or {}).get("tags")
    if not isinstance(tags, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "
                       "'properties.tags' must be an object.", target="properties.tags")
    return tags


def put_scope_tags(call: Call) -> Response:
    scope, holder = _scope_tags(call)
    holder["tags"] = _requested_tags(call)
    return Response(200, _tags_resource(scope, holder["tags"]))


def patch_scope_tags(call: Call) -> Response:
    scope, holder = _scope_tags(call)
    operation = str(call.body_object().get("operation", "")).lower()
    tags, current = _requested_tags(call), dict(holder.get("tags") or {})
    if operation == "merge":
        current.update(tags)
    elif operation == "replace":
        current = dict(tags)
    elif operation == "delete":
        current = {k: v for k, v in current.items() if not (k in tags and (tags[k] in ("", None) or tags[k] == v))}
    else:
        raise ArmError(400, "InvalidTagOperation", "The tag patch operation must be 'Merge', 'Replace' or 'Delete'.",
                       target="operation")
    holder["tags"] = current
    return Response(200, _tags_resource(scope, current))


def delete_scope_tags(call: Call) -> Response:
    _scope, holder = _scope_tags(call)
    holder.pop("tags", None)
    return Response(200)


# -- template specs ---------------------------------------------------------------------------------------------

def _system_data(existing: dict[str, Any] | None) -> dict[str, Any]:
    now = utc_now()
    created = ((existing or {}).get("systemData") or {})
    return {"createdBy": created.get("createdBy", "dsvmctl-emulator"), "createdByType": "Application",
            "createdAt": created.get("createdAt", now), "lastModifiedBy": "dsvmctl-emulator",
            "lastModifiedByType": "Application", "lastModifiedAt": now}


def _spec_id(call: Call) -> str:
    return call.resource_id("templateSpecs", call.params["name"])


def _spec(call: Call) -> dict[str, Any]:
    spec = call.em.get(_spec_id(call))
    if spec is None:
        raise not_found(SPEC_TYPE, call.params["name"], call.resource_group or "")
    return spec


def put_spec(call: Call) -> Response:
    body = call.body_object()
    existing = call.em.get(_spec_id(call))
    location = body.get("location") or (existing or {}).get("location")
    if not location:
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.",
                       target="location")
    props = {k: v for k, v in (body.get("properties") or {}).items() if k != "versions"}
    spec = {"location": normalize_location(location), "tags": body.get("tags", (existing or {}).get("tags", {})),
            "systemData": _system_data(existing), "properties": props, "id": _spec_id(call),
            "name": call.params["name"], "type": SPEC_TYPE}
    call.em.put(spec)
    return Response(201, _spec_view(call, spec))  # 201 for an update too, as recorded


def _spec_view(call: Call, spec: dict[str, Any], with_versions: bool = False) -> dict[str, Any]:
    out = call.em.public(spec)
    if with_versions:
        versions = {v["name"]: {"timeCreated": v["systemData"]["createdAt"],
                                "timeModified": v["systemData"]["lastModifiedAt"]} for v in _versions(call, spec)}
        if versions:
            out["properties"]["versions"] = versions
    return out


def _versions(call: Call, spec: dict[str, Any]) -> list[dict[str, Any]]:
    prefix = spec["id"].lower() + "/versions/"
    return [b for k, b in call.em.resources.items() if k.startswith(prefix)]


def get_spec(call: Call) -> Response:
    return Response(200, _spec_view(call, _spec(call), with_versions=True))


def patch_spec(call: Call) -> Response:
    spec = _spec(call)
    if "tags" in call.body_object():
        spec["tags"] = call.body_object()["tags"]
    spec["systemData"] = _system_data(spec)
    return Response(200, _spec_view(call, spec))


def delete_spec(call: Call) -> Response:
    spec = call.em.get(_spec_id(call))
    if spec is None:
        return Response(204)
    for version in _versions(call, spec):
        call.em.delete(version["id"])
    call.em.delete(spec["id"])
    return Response(200)


def list_specs(call: Call) -> Response:
    return list_response([_spec_view(call, s) for s in call.em.find(SPEC_TYPE, resource_group=call.resource_group)])


def list_all_specs(call: Call) -> Response:
    return list_response([_spec_view(call, s) for s in call.em.find(SPEC_TYPE)])


def put_version(call: Call) -> Response:
    spec = _spec(call)
    body = call.body_object()
    props = body.get("properties") or {}
    if not isinstance(props.get("mainTemplate"), dict):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "
                       "'properties.mainTemplate' is required.", target="properties.mainTemplate")
    version_id = f"{spec['id']}/versions/{call.params['version']}"
    existing = call.em.get(version_id)
    version = {"location": normalize_location(body.get("location") or spec["location"]),
               "tags": body.get("tags", {}), "systemData": _system_data(existing),
               "properties": {"linkedTemplates": [], **props}, "id": version_id, "name": call.params["version"],
               "type": f"{SPEC_TYPE}/versions"}
    call.em.put(version)
    return Response(201, call.em.public(version))  # 201 for an update too, as recorded


def get_version(call: Call) -> Response:
    spec = _spec(call)
    version = call.em.get(f"{spec['id']}/versions/{call.params['version']}")
    if version is None:
        raise not_found(f"{SPEC_TYPE}/versions", f"{spec['name']}/{call.params['version']}", call.resource_group or "")
    return Response(200, call.em.public(version))


def delete_version(call: Call) -> Response:
    spec = _spec(call)
    version_id = f"{spec['id']}/versions/{call.params['version']}"
    if call.em.get(version_id) is None:
        return Response(204)
    call.em.delete(version_id)
    return Response(200)


def list_versions(call: Call) -> Response:
    return list_response([call.em.public(v) for v in _versions(call, _spec(call))])
