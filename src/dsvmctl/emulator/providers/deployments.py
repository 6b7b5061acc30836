"""Microsoft.Resources/deployments: expand a template with the `arm` engine and create its
resources, in dependency order, through the emulator's own providers.

Deployments live at resource-group or subscription scope (the URL says which). PUT answers 201
`Accepted` with an Azure-AsyncOperation under `.../deployments/{name}/operationStatuses/{id}`;
then, as ARM does, the deployment turns `Running` and creates its resources one at a time. The
emulator has no clock: each request it handles is one step, and a look at the deployment (its
status URL, or a GET of it) is the client's wait, which finds it finished. So a deployment can be
cancelled while it runs, and a client polling it is answered at once. A failing resource fails
the deployment with `DeploymentFailed` and its details. validate and what-if use the same expansion; what-if
compares it with the current state.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from typing import Any

from ..core import utc_now
from ..routing import Call
from ..wire import ArmError, Request, Response
from .common import normalize_location

DEPLOYMENT_TYPE = "Microsoft.Resources/deployments"
# Keys of a template resource that describe the deployment, not the resource's wire body.
_TEMPLATE_ONLY = {"type", "name", "apiversion", "dependson", "condition", "copy", "comments", "metadata",
                  "resources", "scope", "existing", "import"}
# Values ARM accepts on write but never returns: what-if cannot compare them.
_WRITE_ONLY = {("properties", "osProfile", "adminPassword"), ("properties", "osProfile", "customData"),
               ("properties", "userData")}


def add_routes(provider) -> None:
    r = provider.route
    for scope in ("rg", "sub"):  # a resource group's deployments, and the subscription's own
        r("PUT", scope, "deployments/{name}", put_deployment)
        r("GET", scope, "deployments/{name}", get_deployment)
        r("DELETE", scope, "deployments/{name}", delete_deployment)
        r("GET", scope, "deployments", list_deployments)
        r("POST", scope, "deployments/{name}/validate", validate_deployment)
        r("POST", scope, "deployments/{name}/whatIf", what_if)
        r("GET", scope, "deployments/{name}/operations", list_operations)
        r("GET", scope, "deployments/{name}/operations/{operation}", get_operation)
        r("GET", scope, "deployments/{name}/exportTemplate", export_template)
        r("GET", scope, "deployments/{name}/operationStatuses/{op}", operation_status)
        r("GET", scope, "deployments/{name}/whatIfResults/{op}", what_if_result)
    # The SDK lists operations on the older path, without the provider segment.
    r("GET", "root", "subscriptions/{sub}/resourcegroups/{rg}/deployments/{name}/operations", list_operations)
    r("GET", "root", "subscriptions/{sub}/resourcegroups/{rg}/deployments/{name}/operations/{operation}",
      get_operation)
    r("POST", "root", "providers/Microsoft.Resources/calculateTemplateHash", calculate_template_hash)
    provider.em.steppers["deployments.step"] = step_deployment
    provider.em.finalizers["deployments.run"] = finish_deployment
    provider.em.finalizers["deployments.delete"] = finish_delete


class EmulatorResolver:
    """Lets reference() in a template see resources that already exist in the emulator."""

    def __init__(self, em) -> None:
        self.em = em

    def reference(self, resource_id: str, api_version: str | None, full: bool) -> dict | None:
        body = self.em.get(resource_id)
        if body is None:
            return None
        return self.em.public(body) if full else self.em.public(body.get("properties") or {})

    def list_keys(self, resource_id: str, api_version: str | None) -> dict | None:
        return None


# -- expansion ---------------------------------------------------------------------------------

def _template_and_parameters(call: Call) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    body = call.body_object()
    props = body.get("properties")
    if not isinstance(props, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be "
                       "deserialized: 'properties' is required.", target="properties")
    template = props.get("template")
    link = (props.get("templateLink") or {}).get("uri")
    spec_version = (props.get("templateLink") or {}).get("id")
    if template is None and spec_version:
        template = _template_spec_template(call, spec_version)
    if template is None and link:
        template = call.em.linked_templates.get(link)
        if template is None:
            raise ArmError(400, "InvalidContentLink", f"Unable to download deployment content from '{link}'. The "
                           f"tracking Id is '{uuid.uuid4()}'. The emulator is offline: register the template with "
                           "Emulator.linked_templates[uri] first.")
    if not isinstance(template, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be "
                       "deserialized: the deployment needs 'properties.template' or 'properties.templateLink'.",
                       target="properties.template")
    return template, props.get("parameters") or {}, props


def _location(call: Call) -> str:
    """Where the deployment runs: its resource group's location, or (subscription scope) the
    location the request names, which ARM requires there."""
    if call.resource_group:
        return call.em.resource_group(call.resource_group)["location"]
    location = call.body_object().get("location")
    if not isinstance(location, str) or not location:
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.",
                       target="location")
    return normalize_location(location)


def _template_spec_template(call: Call, version_id: str) -> dict[str, Any]:
    """The main template of a template spec version (templateLink.id), as ARM reads it."""
    version = call.em.get(version_id)
    if version is None or version.get("type", "").lower() != "microsoft.resources/templatespecs/versions":
        raise ArmError(404, "TemplateSpecVersionNotFound", f"The template spec version '{version_id}' could not "
                       "be found.", target="properties.templateLink.id")
    return version["properties"]["mainTemplate"]


def _expand(call: Call, template: dict, parameters: dict, mode: str):
    from ...arm import DeploymentContext, TemplateError, expand

    group = call.em.resource_group(call.resource_group) if call.resource_group else None
    context = DeploymentContext(subscription_id=call.sub, tenant_id=call.em.tenant_id,
                                resource_group=group["name"] if group else "", location=_location(call),
                                deployment_name=call.params["name"], mode=mode,
                                scope="resourceGroup" if group else "subscription")
    try:
        expansion = expand(template, parameters, context=context, resolver=EmulatorResolver(call.em))
    except TemplateError as err:
        raise ArmError(400, "InvalidTemplate", f"Deployment template validation failed: '{err.message}'.",
                       target=err.path or None,
                       details=[{"code": err.code, "message": err.message, "target": err.path}]) from None
    _check_target_groups(call, expansion)
    return expansion


def _check_target_groups(call: Call, expansion) -> None:
    """ARM's preflight: every resource group the deployment writes into exists, or is one the
    template itself creates (a subscription-scope template making its group)."""
    made = {r.id.lower() for r in expansion.all_resources() if r.type.lower() == "microsoft.resources/resourcegroups"}
    for resource in expansion.all_resources():
        parts = resource.id.split("/")
        if len(parts) > 4 and parts[3].lower() == "resourcegroups" and parts[4]:
            group_id = "/".join(parts[:5])
            if group_id.lower() not in made and call.em.get(group_id) is None:
                raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{parts[4]}' could not be found.")


def _on_error_deployment(call: Call, wanted: Any) -> dict[str, Any]:
    """What to redeploy should this deployment fail: a named one, or the scope's last successful
    one (ARM names it in its answer). The emulator records it; it does not roll back."""
    wanted = wanted if isinstance(wanted, dict) else {}
    kind = str(wanted.get("type") or "LastSuccessful")
    if kind.lower() == "specificdeployment":
        if not wanted.get("deploymentName"):
            raise ArmError(400, "InvalidOnErrorDeployment", "An on-error deployment of type 'SpecificDeployment' "
                           "needs a deploymentName.", target="properties.onErrorDeployment.deploymentName")
        return {"type": "SpecificDeployment", "deploymentName": wanted["deploymentName"]}
    prefix = f"{_scope_id(call)}/providers/Microsoft.Resources/deployments/".lower()
    succeeded = [b for k, b in call.em.resources.items()
                 if k.startswith(prefix) and b["properties"].get("provisioningState") == "Succeeded"]
    if not succeeded:
        raise ArmError(400, "InvalidOnErrorDeployment", "No successful deployment was found in this scope to "
                       "deploy on error.", target="properties.onErrorDeployment")
    last = max(succeeded, key=lambda b: b["properties"].get("timestamp", ""))
    return {"type": "LastSuccessful", "deploymentName": last["name"]}


def _template_link(link: dict[str, Any], template: dict[str, Any]) -> dict[str, Any]:
    out = {"uri": link.get("uri"), "id": link.get("id"), "contentVersion": template.get("contentVersion", "1.0.0.0")}
    return {k: v for k, v in out.items() if v is not None}


def _deployable(expansion) -> list:
    """Resources to create, in order; nested deployments contribute their own resources."""
    return [r for r in expansion.all_resources() if r.type.lower() != DEPLOYMENT_TYPE.lower()]


def _plan(expansion, correlation_id: str) -> list[dict[str, Any]]:
    """The deployment's steps in order: each resource to create, and after the resources of an
    inline nested deployment, that deployment's own record (ARM keeps one for each)."""
    steps: list[dict[str, Any]] = []
    for r in expansion.resources:
        if r.type.lower() != DEPLOYMENT_TYPE.lower():
            steps.append({"id": r.id, "type": r.type, "name": r.name, "api_version": r.api_version,
                          "body": _wire_body(r)})
            continue
        if r.nested is None:
            continue  # a linked nested template: the engine did not expand it, so nothing is made
        steps.extend(_plan(r.nested, correlation_id))
        inner = _deployable(r.nested)
        record = {"id": r.id, "name": r.name, "type": DEPLOYMENT_TYPE, "properties": {
            "templateHash": _template_hash(r.properties.get("template") or {}), "parameters": {},
            "mode": r.properties.get("mode", "Incremental"), "provisioningState": "Succeeded",
            "duration": "PT0S", "correlationId": correlation_id, "providers": _providers(inner),
            "dependencies": _dependencies(inner), "outputs": r.nested.outputs,
            "outputResources": [{"id": x.id} for x in inner]}}
        if r.location:  # a subscription-scope nested deployment names where it runs
            record["location"] = r.location
        steps.append({"id": r.id, "type": r.type, "name": r.name, "record": record})
    return steps


def _wire_body(resource) -> dict[str, Any]:
    body = {k: v for k, v in resource.body.items() if k.lower() not in _TEMPLATE_ONLY}
    if resource.location is not None:
        body["location"] = resource.location
    return body


def _dependency(resource_id: str) -> dict[str, str]:
    """`{id, resourceType, resourceName}` as ARM lists a dependency: the type and name read off the id."""
    tail = resource_id.split("/providers/")[-1].split("/")
    if len(tail) < 3:
        return {"id": resource_id}
    types, names = [tail[0] + "/" + tail[1]] + tail[3::2], tail[2::2]
    return {"id": resource_id, "resourceType": "/".join(types), "resourceName": "/".join(names)}


def _scope_id(call: Call) -> str:
    """The resource group, or the subscription, the deployment belongs to."""
    return call.rg_id() if call.resource_group else f"/subscriptions/{call.sub}"


def _dependencies(resources) -> list[dict[str, Any]]:
    return [{"id": r.id, "resourceType": r.type, "resourceName": r.name,
             "dependsOn": [_dependency(d) for d in r.depends_on]} for r in resources if r.depends_on]


def _deployment_id(call: Call) -> str:
    return f"{_scope_id(call)}/providers/Microsoft.Resources/deployments/{call.params['name']}"


def _scope_of(deployment_id: str) -> str:
    return deployment_id.split("/providers/Microsoft.Resources/deployments/")[0]


def _template_hash(template: dict) -> str:
    return str(int(hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:16], 16))


_ARM_TYPES = {str: "String", int: "Int", bool: "Bool", dict: "Object", list: "Array"}


def _public_parameters(expansion) -> dict[str, Any]:
    out = {}
    for name, value in expansion.parameters.items():
        secure = name in expansion.secure_parameters
        out[name] = {"type": "SecureString" if secure else _ARM_TYPES.get(type(value), type(value).__name__)}
        if not secure:
            out[name]["value"] = value
    return out


# -- handlers ----------------------------------------------------------------------------------

def put_deployment(call: Call) -> Response:
    template, parameters, props = _template_and_parameters(call)
    expansion = _expand(call, template, parameters, props.get("mode", "Incremental"))
    deployment_id = _deployment_id(call)
    existing = call.em.get(deployment_id)
    if existing and existing["properties"]["provisioningState"] in ("Accepted", "Running"):
        raise ArmError(409, "DeploymentActive", f"Unable to edit or replace deployment '{call.params['name']}': "
                       "previous deployment from the same name is still active.")
    resources = _deployable(expansion)
    record = {
        "id": deployment_id, "name": call.params["name"], "type": DEPLOYMENT_TYPE,
        **({} if call.resource_group else {"location": _location(call)}),
        "properties": {
            "templateHash": _template_hash(template), "parameters": _public_parameters(expansion),
            "mode": props.get("mode", "Incremental"), "provisioningState": "Accepted",
            "timestamp": utc_now(), "duration": "PT0S", "correlationId": str(uuid.uuid4()),
            "providers": _providers(resources),
            "dependencies": _dependencies(resources),
            "validatedResources": [{"id": r.id} for r in resources],
        },
    }
    if props.get("templateLink"):
        record["properties"]["templateLink"] = _template_link(props["templateLink"], template)
    if props.get("onErrorDeployment"):
        record["properties"]["onErrorDeployment"] = _on_error_deployment(call, props["onErrorDeployment"])
    call.em.put(record)
    meta = call.em.meta_of(deployment_id)
    meta["plan"] = _plan(expansion, record["properties"]["correlationId"])
    meta["outputs"] = expansion.outputs
    meta["mode"] = props.get("mode", "Incremental")
    meta["template"] = template
    meta["parameters"] = parameters  # outputs are evaluated again once the resources exist
    meta["operations"], meta["failures"], meta["next_step"] = [], [], 0  # a new run: nothing of the last one
    op = call.em.start_operation("microsoft.resources", "global", "deployments.run", deployment_id=deployment_id)
    op.stepper = "deployments.step"
    meta["operation"] = op.id
    url = (f"{call.request.base_url}{deployment_id}/operationStatuses/{op.id}?api-version={call.api_version}")
    return Response(201 if existing is None else 200, call.em.public(record),
                    {"Azure-AsyncOperation": url, **call.em.retry_after_headers()})


def step_deployment(em, op) -> bool:
    """One step of a deployment: Accepted -> Running, then one planned resource per step.
    True once nothing is left to create (or a resource failed): the operation may finish."""
    record = em.get(op.args["deployment_id"])
    if record is None:
        return True
    meta = em.meta_of(record["id"])
    if record["properties"]["provisioningState"] == "Accepted":
        record["properties"]["provisioningState"] = "Running"
        return False
    plan, index = meta.get("plan", []), meta.get("next_step", 0)
    if meta.get("failures") or index >= len(plan):
        return True
    _create(em, meta, plan[index])
    meta["next_step"] = index + 1
    return False


def _create(em, meta: dict, step: dict) -> None:
    """Create one planned resource through the emulator's own router, as ARM calls the provider
    (a nested deployment's step writes its record: its resources were the steps before)."""
    if "record" in step:
        em.put({**step["record"], "properties": {**step["record"]["properties"], "timestamp": utc_now()}})
        meta["operations"].append(_operation_record(step, 200, None))
        return
    version = step["api_version"] or "2025-04-01"
    response = _put_with_retries(em, f"https://management.azure.com{step['id']}?api-version={version}",
                                 json.dumps(step["body"]).encode())
    error = response.body.get("error") if isinstance(response.body, dict) and response.status >= 400 else None
    if error is None:
        error = _finish_child_operation(em, response)
    meta["operations"].append(_operation_record(step, response.status, error))
    if error:  # ARM stops dependants; with one ordered list we stop at the first failure
        failure = {"code": error.get("code"), "message": error.get("message"), "target": step["id"]}
        meta.setdefault("failures", []).append(failure)


def made(meta: dict) -> list[dict[str, str]]:
    """The resources a deployment made (outputResources), in the order it made them."""
    return [{"id": o["properties"]["targetResource"]["id"]} for o in meta.get("operations", [])
            if o["properties"]["provisioningState"] == "Succeeded"
            and o["properties"]["targetResource"]["resourceType"].lower() != DEPLOYMENT_TYPE.lower()]


def finish_deployment(em, op) -> None:
    """The end of a deployment: whatever steps are left run now (an operation finished by other
    means than its steps), then the record turns Succeeded or Failed."""
    record = em.get(op.args["deployment_id"])
    if record is None:
        return
    meta = em.meta_of(record["id"])
    plan = meta.get("plan", [])
    meta.setdefault("next_step", 0)  # a state file of an older emulator: nothing made yet
    while not meta.get("failures") and meta["next_step"] < len(plan):
        _create(em, meta, plan[meta["next_step"]])
        meta["next_step"] += 1
    failures = meta.get("failures")
    if failures:
        record["properties"]["provisioningState"] = "Failed"
        record["properties"]["error"] = {
            "code": "DeploymentFailed", "target": record["id"],
            "message": "At least one resource deployment operation failed. Please list deployment operations for "
                       "details. Please see https://aka.ms/arm-deployment-operations for usage details.",
            "details": failures,
        }
        record["properties"]["outputResources"] = made(meta)
        em.fail_operation(op, "DeploymentFailed", record["properties"]["error"]["message"])
        op.error["details"] = failures
        return
    if meta.get("mode") == "Complete" and "/resourcegroups/" in record["id"].lower():
        _delete_unlisted(em, record, {s["id"].lower() for s in plan})
    record["properties"]["provisioningState"] = "Succeeded"
    record["properties"]["outputs"] = _final_outputs(em, record, meta)
    record["properties"]["outputResources"] = [{"id": s["id"]} for s in plan if "record" not in s]
    record["properties"]["duration"] = "PT1S"


TRANSIENT = {429, 500, 502, 503, 504}
ATTEMPTS = 4


def _put_with_retries(em, url: str, body: bytes) -> Response:
    """ARM retries a resource provider's transient failures (throttling, 5xx, a dropped
    connection) inside a deployment before it fails the deployment; so do we."""
    from ..faults import ConnectionResetFault

    response = None
    for _attempt in range(ATTEMPTS):
        try:
            response = em.handle(Request("PUT", url, {"content-type": "application/json"}, body))
        except ConnectionResetFault:
            response = Response(500, {"error": {"code": "InternalServerError",
                                                "message": "The connection to the resource provider was reset."}})
            continue
        if response.status not in TRANSIENT:
            return response
    return response


def _final_outputs(em, record: dict, meta: dict) -> dict:
    """Outputs with reference() answered by the resources just created, as ARM evaluates them."""
    from ...arm import DeploymentContext, TemplateError, expand

    scope = em.get(_scope_of(record["id"])) or {}
    in_group = scope.get("type") == "Microsoft.Resources/resourceGroups"
    context = DeploymentContext(subscription_id=em.active_subscription, tenant_id=em.tenant_id,
                                resource_group=scope.get("name", "") if in_group else "",
                                location=scope.get("location", "") if in_group else record.get("location", ""),
                                deployment_name=record["name"], mode=meta.get("mode", "Incremental"),
                                scope="resourceGroup" if in_group else "subscription")
    try:
        return expand(meta["template"], meta.get("parameters") or {}, context=context,
                      resolver=EmulatorResolver(em)).outputs
    except TemplateError:
        return meta.get("outputs") or {}


def _finish_child_operation(em, response: Response) -> dict | None:
    """A created resource's own long-running operation is waited for (completed) here."""
    url = response.headers.get("Azure-AsyncOperation", "")
    op_id = url.split("/operations/")[-1].split("?")[0] if "/operations/" in url else None
    child = em.operations.get(op_id) if op_id else None
    if child is None:
        return None
    if child.status == "InProgress":
        em.finish(child)
    return child.error


def unlisted_resources(em, group_id: str, keep: set[str]) -> list[dict[str, Any]]:
    """What complete mode removes: top-level resources of the group the template does not list.
    Resources another one manages (an attached OS disk) go with their manager, not on their own."""
    prefix = group_id.lower() + "/providers/"
    out = []
    for key, body in em.resources.items():
        top_level = key.startswith(prefix) and len(key[len(prefix):].split("/")) == 3
        if top_level and key not in keep and body["type"] != DEPLOYMENT_TYPE and not body.get("managedBy"):
            out.append(body)
    return out


def _delete_unlisted(em, record: dict, keep: set[str]) -> None:
    for body in unlisted_resources(em, _scope_of(record["id"]), keep):
        em.handle(Request("DELETE", f"https://management.azure.com{body['id']}?api-version=2025-04-01"))


def _operation_record(step: dict, status: int, error: dict | None) -> dict[str, Any]:
    op_id = uuid.uuid4().hex[:16].upper()
    props: dict[str, Any] = {
        "provisioningOperation": "Create", "provisioningState": "Failed" if error else "Succeeded",
        "timestamp": utc_now(), "duration": "PT0S", "trackingId": str(uuid.uuid4()),
        "serviceRequestId": str(uuid.uuid4()),
        "statusCode": "Conflict" if error and status == 409 else ("BadRequest" if error else "OK"),
        "targetResource": {"id": step["id"], "resourceType": step["type"], "resourceName": step["name"]},
    }
    if error:
        props["statusMessage"] = {"status": "Failed", "error": error}
    return {"id": f"{step['id']}/operations/{op_id}", "operationId": op_id, "properties": props}


def _providers(resources) -> list[dict[str, Any]]:
    by_namespace: dict[str, set[str]] = {}
    for r in resources:
        namespace, _, kind = r.type.partition("/")
        by_namespace.setdefault(namespace, set()).add(kind)
    return [{"namespace": ns, "resourceTypes": [{"resourceType": t, "locations": []} for t in sorted(kinds)]}
            for ns, kinds in sorted(by_namespace.items())]


def deployment_or_404(call: Call) -> dict[str, Any]:
    record = call.em.get(_deployment_id(call))
    if record is None:
        raise ArmError(404, "DeploymentNotFound", f"Deployment '{call.params['name']}' could not be found.")
    return record


def _settle(em, op) -> None:
    """A client that asks how its deployment is doing (its status URL, or the deployment itself)
    stands for the wait: the emulator has no clock, so the deployment runs to its end now (if
    its time has come). Any other request moves it on by one step only (step_deployment)."""
    if op is not None and op.status == "InProgress" and time.monotonic() >= op.done_at:
        em.finish(op)


def get_deployment(call: Call) -> Response:
    record = deployment_or_404(call)
    _settle(call.em, call.em.operations.get(call.em.meta_of(record["id"]).get("operation", "")))
    return Response(200, call.em.public(record))


def delete_deployment(call: Call) -> Response:
    """202 and a Location that answers 204 once the record is gone (the resources it made stay);
    a deployment still running cannot be deleted."""
    from .resources import operation_result_url

    record = call.em.get(_deployment_id(call))
    if record is None:
        return Response(204)
    if record["properties"]["provisioningState"] in ("Accepted", "Running"):
        raise ArmError(409, "DeploymentActive", f"Unable to delete deployment '{record['name']}': it is still "
                       "active. Cancel it first, or wait for it to finish.")
    op = call.em.start_operation("microsoft.resources", "global", "deployments.delete", deployment_id=record["id"])
    op.args["final_status"] = 204
    return Response(202, None, {"Location": operation_result_url(call, op), **call.em.retry_after_headers()})


def finish_delete(em, op) -> None:
    em.delete(op.args["deployment_id"])


_STATE_FILTER = re.compile(r"^\s*provisioningState\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)


def list_deployments(call: Call) -> Response:
    """The scope's deployments; `$filter=provisioningState eq 'X'` is the one filter ARM takes here."""
    prefix = f"{_scope_id(call)}/providers/Microsoft.Resources/deployments/".lower()
    wanted = call.request.query.get("$filter")
    match = _STATE_FILTER.match(wanted) if wanted else None
    if wanted and match is None:
        raise ArmError(400, "InvalidFilterInQueryString", f"The $filter '{wanted}' is not supported; use "
                       "provisioningState eq '{state}'.")
    return Response(200, {"value": [
        call.em.public(b) for k, b in call.em.resources.items() if k.startswith(prefix)
        and (match is None or b["properties"].get("provisioningState", "").lower() == match.group(1).lower())]})


def list_operations(call: Call) -> Response:
    record = deployment_or_404(call)
    return Response(200, {"value": call.em.public(call.em.meta_of(record["id"]).get("operations", []))})


def get_operation(call: Call) -> Response:
    record = deployment_or_404(call)
    for operation in call.em.meta_of(record["id"]).get("operations", []):
        if operation["operationId"].lower() == call.params["operation"].lower():
            return Response(200, call.em.public(operation))
    raise ArmError(404, "DeploymentOperationNotFound", f"Deployment operation '{call.params['operation']}' "
                   "could not be found.")


def export_template(call: Call) -> Response:
    record = deployment_or_404(call)
    return Response(200, {"template": call.em.meta_of(record["id"]).get("template")})


def operation_status(call: Call) -> Response:
    op = call.em.poll_operation(call.params["op"])
    if op is None:
        raise ArmError(404, "NotFound", f"The operation '{call.params['op']}' was not found.")
    _settle(call.em, op)
    record = call.em.get(op.args.get("deployment_id", "")) if op.status == "InProgress" else None
    # While it runs, ARM reports the deployment's own state (Accepted, then Running).
    doc: dict[str, Any] = {"status": record["properties"]["provisioningState"] if record else op.status}
    if op.error:
        doc["error"] = op.error
    return Response(200, doc, call.em.retry_after_headers() if op.status == "InProgress" else {})


def calculate_template_hash(call: Call) -> Response:
    """The hash a deployment of this template reports as templateHash, and the template minified."""
    template = call.body_object()
    return Response(200, {"minifiedTemplate": json.dumps(template, separators=(",", ":")),
                          "templateHash": _template_hash(template)})


def validate_deployment(call: Call) -> Response:
    template, parameters, props = _template_and_parameters(call)
    # A template that does not evaluate is InvalidTemplate here too, as on PUT (as recorded).
    expansion = _expand(call, template, parameters, props.get("mode", "Incremental"))
    resources = _deployable(expansion)
    return Response(200, {
        "id": _deployment_id(call), "name": call.params["name"], "type": DEPLOYMENT_TYPE,
        **({} if call.resource_group else {"location": _location(call)}),
        "properties": {"templateHash": _template_hash(template), "parameters": _public_parameters(expansion),
                       "mode": props.get("mode", "Incremental"), "provisioningState": "Succeeded",
                       "timestamp": utc_now(), "duration": "PT0S", "correlationId": str(uuid.uuid4()),
                       "providers": _providers(resources), "dependencies": _dependencies(resources),
                       "diagnostics": [],
                       "validatedResources": [{"id": r.id} for r in resources],
                       **({"templateLink": _template_link(props["templateLink"], template)}
                          if props.get("templateLink") else {}),
                       **({"onErrorDeployment": _on_error_deployment(call, props["onErrorDeployment"])}
                          if props.get("onErrorDeployment") else {})},
    })


def what_if(call: Call) -> Response:
    template, parameters, props = _template_and_parameters(call)
    expansion = _expand(call, template, parameters, props.get("mode", "Incremental"))
    changes = []
    planned = set()
    for resource in _deployable(expansion):
        planned.add(resource.id.lower())
        changes.append(_change(call.em, resource))
    if props.get("mode") == "Complete" and call.resource_group:
        for body in unlisted_resources(call.em, call.rg_id(), planned):
            changes.append({"resourceId": body["id"], "changeType": "Delete", "before": call.em.public(body)})
    op = call.em.start_operation("microsoft.resources", "global")
    op.result = {"status": "Succeeded", "properties": {"correlationId": str(uuid.uuid4()), "changes": changes}}
    url = f"{call.request.base_url}{_deployment_id(call)}/whatIfResults/{op.id}?api-version={call.api_version}"
    return Response(202, None, {"Location": url, **call.em.retry_after_headers()})


def what_if_result(call: Call) -> Response:
    op = call.em.poll_operation(call.params["op"])
    if op is None:
        raise ArmError(404, "NotFound", f"The what-if result '{call.params['op']}' was not found.")
    if op.status == "InProgress":
        return Response(202, None, {"Location": call.request.url, **call.em.retry_after_headers()})
    return Response(200, op.result)


def _change(em, resource) -> dict[str, Any]:
    after = {"id": resource.id, "name": resource.name, "type": resource.type, "apiVersion": resource.api_version,
             **_wire_body(resource)}
    existing = em.get(resource.id)
    if existing is None:
        return {"resourceId": resource.id, "changeType": "Create", "after": after}
    delta = _delta(_wire_body(resource), existing, ())
    # ARM shows both states whole: what is there now, and that with the template's values laid over it.
    before = {"apiVersion": resource.api_version, **em.public(existing)}
    return {"resourceId": resource.id, "changeType": "Modify" if delta else "NoChange",
            "before": before, "after": _overlay(before, after), "delta": delta}


def _overlay(current: Any, declared: Any) -> Any:
    """`declared` laid over `current`: objects merge key by key (case-insensitively), anything
    else is replaced, as an incremental PUT of the template's body would leave the resource."""
    if not (isinstance(current, dict) and isinstance(declared, dict)):
        return declared
    out = dict(current)
    spelled = {k.lower(): k for k in current}
    for key, value in declared.items():
        existing_key = spelled.get(key.lower(), key)
        out[existing_key] = _overlay(current.get(existing_key), value)
    return out


def _delta(declared: Any, current: Any, path: tuple[str, ...]) -> list[dict[str, Any]]:
    """Differences in what the template declares (keys it does not mention are not compared)."""
    if path in _WRITE_ONLY:
        return []
    if isinstance(declared, dict) and isinstance(current, dict):
        lowered = {k.lower(): v for k, v in current.items()}
        out = []
        for key, value in declared.items():
            if path + (key,) in _WRITE_ONLY or (value is None and key.lower() not in lowered):
                continue  # a declared null is "not given", as the write itself treats it (shapes.py)
            if key.lower() not in lowered:
                out.append({"path": ".".join(path + (key,)), "propertyChangeType": "Create", "after": value})
            else:
                out.extend(_delta(value, lowered[key.lower()], path + (key,)))
        return out
    if isinstance(declared, list) and isinstance(current, list):
        if len(declared) != len(current):
            return [{"path": ".".join(path), "propertyChangeType": "Array", "before": current, "after": declared}]
        out = []
        for index, (a, b) in enumerate(zip(declared, current)):
            out.extend(_delta(a, b, path + (str(index),)))
        return out
    same = declared == current or (isinstance(declared, str) and isinstance(current, str)
                                   and declared.lower() == current.lower())
    if same or (isinstance(declared, (int, float)) and str(declared) == str(current)):
        return []
    return [{"path": ".".join(path), "propertyChangeType": "Modify", "before": current, "after": declared}]
