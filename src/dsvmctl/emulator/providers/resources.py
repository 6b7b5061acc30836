"""Microsoft.Resources: subscriptions, tenants, resource groups, provider registration."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

from ...catalog import providers as catalog_providers
from ..routing import Call, Provider
from ..wire import ArmError, Response
from .common import list_response, normalize_location
from .deployments import DEPLOYMENT_TYPE

RESOURCE_GROUP_NAME = re.compile(r"^[-\w._()]{1,90}(?<!\.)$")
# Display name, longitude and latitude, as ARM lists its regions.
LOCATIONS = {"eastus": ("East US", "-79.8164", "37.3719"), "eastus2": ("East US 2", "-78.3889", "36.6681"),
             "westus": ("West US", "-122.417", "37.783"), "westus2": ("West US 2", "-119.852", "47.233"),
             "westeurope": ("West Europe", "4.9", "52.3667"), "northeurope": ("North Europe", "-6.2597", "53.3478"),
             "southcentralus": ("South Central US", "-98.5", "29.4167")}
# The api-versions the emulator has been checked against, newest first, as a provider lists them
# (clients such as `az resource` pick one from here). It accepts any version of its range.
SERVED_API_VERSIONS = {"Microsoft.Compute": ["2025-04-01", "2024-07-01"],
                       "Microsoft.Network": ["2025-07-01", "2024-05-01"],
                       "Microsoft.Resources": ["2025-04-01", "2022-09-01"],
                       "Microsoft.DevTestLab": ["2018-09-15"], "Microsoft.Storage": ["2023-01-01"]}
KNOWN_NAMESPACES = ("Microsoft.Compute", "Microsoft.Network", "Microsoft.Resources", "Microsoft.DevTestLab",
                    "Microsoft.Storage")


class ResourcesProvider(Provider):
    namespace = "Microsoft.Resources"

    def __init__(self, em) -> None:
        super().__init__(em)
        sub = "subscriptions/{sub}"
        for path, handler in (  # the GETs (all on whole paths: scope root)
                ("subscriptions", self.list_subscriptions), (sub, self.get_subscription),
                (f"{sub}/locations", self.list_locations), ("tenants", self.list_tenants),
                (f"{sub}/resourcegroups", self.list_groups),
                (f"{sub}/resourcegroups/{{rg}}/resources", self.list_group_resources),
                (f"{sub}/resources", self.list_all_resources),
                (f"{sub}/operationresults/{{token}}", self.operation_result),
                (f"{sub}/providers", self.list_providers), (f"{sub}/providers/{{ns}}", self.get_provider),
                (f"{sub}/providers/{{ns}}/resourceTypes", self.list_resource_types)):
            self.route("GET", "root", path, handler)
        self.route_methods("root", f"{sub}/resourcegroups/{{rg}}", PUT=self.put_group, GET=self.get_group,
                           HEAD=self.head_group, PATCH=self.patch_group, DELETE=self.delete_group)
        self.route("POST", "root", f"{sub}/providers/{{ns}}/register", self.register_provider)
        self.route("POST", "root", f"{sub}/providers/{{ns}}/unregister", self.unregister_provider)
        from . import deployments

        deployments.add_routes(self)
        from . import resources_ops  # exportTemplate, cancel, tags, template specs

        resources_ops.add_routes(self)
        from . import resources_links

        resources_links.add_routes(self)
        from . import resources_move

        resources_move.add_routes(self)

    # -- subscriptions and tenants ---------------------------------------------------------------

    def _subscription(self, subscription_id: str) -> dict[str, Any]:
        em = self.em
        return {
            "id": f"/subscriptions/{subscription_id}",
            "subscriptionId": subscription_id,
            "tenantId": em.tenant_id,
            "displayName": "dsvmctl emulated subscription",
            "state": "Enabled",
            "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01",
                                     "spendingLimit": "Off"},
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
        }

    def list_subscriptions(self, call: Call) -> Response:
        return list_response([self._subscription(sub.id) for sub in self.em.subscriptions.values()])

    def get_subscription(self, call: Call) -> Response:
        return Response(200, self._subscription(call.sub))

    def list_locations(self, call: Call) -> Response:
        from ..core import DEFAULT_LOCATIONS

        out = []
        for loc in DEFAULT_LOCATIONS:
            name, longitude, latitude = LOCATIONS.get(loc, (loc, "0", "0"))
            item = {"id": f"/subscriptions/{self.em.active_subscription}/locations/{loc}", "name": loc,
                    "displayName": name, "regionalDisplayName": name, "type": "Region"}
            if call.api_version < "2020-01-01":  # older api-versions put the coordinates at the top
                item |= {"longitude": longitude, "latitude": latitude}
            else:
                item["metadata"] = {"regionType": "Physical", "regionCategory": "Recommended",
                                    "longitude": longitude, "latitude": latitude}
            out.append(item)
        return list_response(out)

    def list_tenants(self, call: Call) -> Response:
        tid = self.em.tenant_id
        return list_response([{"id": f"/tenants/{tid}", "tenantId": tid, "tenantCategory": "Home",
                               "displayName": "dsvmctl emulated tenant", "defaultDomain": "dsvmctl.local"}])

    # -- resource groups -------------------------------------------------------------------------

    def _group_id(self, name: str) -> str:
        return f"/subscriptions/{self.em.active_subscription}/resourceGroups/{name}"

    def put_group(self, call: Call) -> Response:
        name = call.params["rg"]
        if not RESOURCE_GROUP_NAME.match(name):
            raise ArmError(400, "InvalidResourceGroupName",
                           f"The resource group name '{name}' is invalid. It can be up to 90 characters long, "
                           "contain letters, digits, '_', '-', '.', '(' and ')', and must not end with a period.",
                           target=name)
        body = call.body_object()
        existing = self.em.resource_group(name)
        if existing and existing["properties"]["provisioningState"] == "Deleting":
            raise ArmError(409, "ResourceGroupBeingDeleted",
                           f"The resource group '{name}' is in deprovisioning state and cannot perform this "
                           "operation.")
        location = body.get("location")
        if not location:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.",
                           target="location")
        if existing and normalize_location(location) != existing["location"]:
            raise ArmError(409, "InvalidResourceGroupLocation",
                           f"Invalid resource group location '{normalize_location(location)}'. The Resource group "
                           f"already exists in location '{existing['location']}'.")
        group = {
            "id": existing["id"] if existing else self._group_id(name),
            "name": existing["name"] if existing else name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": normalize_location(location),
            "properties": {"provisioningState": "Succeeded"},
        }
        for key in ("managedBy", "tags"):  # what manages the group (an application, AKS): kept as given
            if key in body:
                group[key] = body[key]
            elif existing and key in existing:
                group[key] = existing[key]
        self.em.put(group)
        return Response(200 if existing else 201, self.em.public(group))

    def _existing_group(self, name: str) -> dict[str, Any]:
        group = self.em.resource_group(name)
        if group is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
        return group

    def get_group(self, call: Call) -> Response:
        return Response(200, self.em.public(self._existing_group(call.params["rg"])))

    def head_group(self, call: Call) -> Response:
        return Response(204 if self.em.resource_group(call.params["rg"]) else 404)

    def patch_group(self, call: Call) -> Response:
        group = self._existing_group(call.params["rg"])
        body = call.body_object()
        for key in ("managedBy", "tags"):
            if key in body:
                group[key] = body[key]
        return Response(200, self.em.public(group))

    def list_groups(self, call: Call) -> Response:
        return list_response([self.em.public(g) for g in self.em.find("Microsoft.Resources/resourceGroups")])

    def delete_group(self, call: Call) -> Response:
        group = self.em.resource_group(call.params["rg"])
        if group is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{call.params['rg']}' could not be found.")
        group["properties"]["provisioningState"] = "Deleting"
        op = self.em.start_operation("microsoft.resources", group["location"], "resources.delete_group",
                                     group_id=group["id"])
        op.stepper = "resources.delete_group_step"  # it stays Deleting a while: a resource per request
        return Response(202, None, {"Location": operation_result_url(call, op), **self.em.retry_after_headers()})

    def operation_result(self, call: Call) -> Response:
        """A group delete's or a move's Location: 202 while it runs, then 200 (204 for a move)."""
        token = call.params["token"]
        try:
            op_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["op"]
        except (ValueError, KeyError, TypeError):
            raise ArmError(404, "NotFound", "The operation was not found.") from None
        op = self.em.poll_operation(op_id)
        if op is None:
            raise ArmError(404, "NotFound", "The operation was not found.")
        if op.status == "InProgress" and time.monotonic() >= op.done_at:
            self.em.finish(op)  # the client's poll stands for its wait (the emulator has no clock)
        if op.status == "InProgress":
            return Response(202, None, {"Location": call.request.url, **self.em.retry_after_headers()})
        return Response(op.args.get("final_status", 200))

    def list_group_resources(self, call: Call) -> Response:
        self._existing_group(call.params["rg"])
        return list_response([_generic(b) for b in resources_in_group(self.em, call.params["rg"])])

    def list_all_resources(self, call: Call) -> Response:
        prefix = f"/subscriptions/{call.sub}/".lower()
        return list_response([_generic(b) for key, b in self.em.resources.items() if key.startswith(prefix)
                              and b.get("type") not in ("Microsoft.Resources/resourceGroups", DEPLOYMENT_TYPE)])

    # -- providers -------------------------------------------------------------------------------

    def _provider(self, namespace: str) -> dict[str, Any]:
        canonical = next((n for n in KNOWN_NAMESPACES if n.lower() == namespace.lower()), None)
        if canonical is None:
            raise ArmError(404, "InvalidResourceNamespace", f"The resource namespace '{namespace}' is invalid.")
        registered = not self.em.require_registration or canonical.lower() in self.em.registered \
            or canonical == "Microsoft.Resources"
        provider = self.em.providers.get(canonical.lower())
        # Each type as its routes spell it (virtualMachines), as ARM lists them.
        spelled = {r.pattern[0].lower(): r.pattern[0] for r in provider.routes if r.scope != "root"} if provider else {}
        types = [spelled[k] for k in sorted(spelled)]
        resource_types = []
        for t in types:
            locations = ["East US", "West Europe", "West US"]
            entry = {"resourceType": t, "locations": locations, "apiVersions": SERVED_API_VERSIONS[canonical],
                     "defaultApiVersion": SERVED_API_VERSIONS[canonical][0], "capabilities": "None"}
            profiles = catalog_providers.api_profiles(canonical, t)
            if profiles:  # only the types Azure Stack profiles pin
                entry["apiProfiles"] = profiles
            zones = catalog_providers.zone_mappings(canonical, t, locations)
            if zones:  # only zonal types, in the regions that have zones
                entry["zoneMappings"] = zones
            resource_types.append(entry)
        body = {"id": f"/subscriptions/{self.em.active_subscription}/providers/{canonical}", "namespace": canonical}
        authorizations = catalog_providers.authorizations(canonical)
        if authorizations:
            body["authorizations"] = authorizations
        return {**body, "registrationState": "Registered" if registered else "NotRegistered",
                "registrationPolicy": "RegistrationRequired", "resourceTypes": resource_types}

    def list_providers(self, call: Call) -> Response:
        return list_response([self._provider(n) for n in KNOWN_NAMESPACES])

    def get_provider(self, call: Call) -> Response:
        return Response(200, self._provider(call.params["ns"]))

    def register_provider(self, call: Call) -> Response:
        provider = self._provider(call.params["ns"])
        self.em.registered.add(provider["namespace"].lower())
        provider["registrationState"] = "Registered"
        return Response(200, provider)

    def unregister_provider(self, call: Call) -> Response:
        provider = self._provider(call.params["ns"])
        self.em.registered.discard(provider["namespace"].lower())
        provider["registrationState"] = "Unregistering"  # as ARM answers; NotRegistered once read again
        return Response(200, provider)

    def list_resource_types(self, call: Call) -> Response:
        return list_response(self._provider(call.params["ns"])["resourceTypes"])


def operation_result_url(call: Call, op) -> str:
    """Where ARM points a client to learn how a subscription-level operation (group delete, move) ended."""
    token = base64.urlsafe_b64encode(json.dumps({"op": op.id}).encode()).decode().rstrip("=")
    return (f"{call.request.base_url}/subscriptions/{call.em.active_subscription}/operationresults/{token}"
            f"?api-version={call.api_version}")


def resources_in_group(em, group_name: str) -> list[dict[str, Any]]:
    """The group's resources as ARM lists them (deployment records are not resources)."""
    prefix = f"/subscriptions/{em.active_subscription}/resourcegroups/{group_name}/providers/".lower()
    return [body for key, body in em.resources.items()
            if key.startswith(prefix) and body.get("type") != "Microsoft.Resources/deployments"]


def _generic(body: dict[str, Any]) -> dict[str, Any]:
    out = {k: body[k] for k in ("id", "name", "type", "location", "tags", "sku", "kind", "managedBy") if k in body}
    return out


def _deletion_order(em, group: dict[str, Any]) -> list[dict[str, Any]]:
    """The group's resources as they go: VMs first (they release disks and NICs), then the rest."""
    order = {"microsoft.compute/virtualmachines": 0}
    return sorted(resources_in_group(em, group["name"]), key=lambda b: order.get(b["type"].lower(), 1))


def _delete_member(em, body: dict[str, Any]) -> None:
    if body["type"].lower() == "microsoft.compute/virtualmachines":
        em.notify("vm_deleted", vm=body)
    elif body["type"].lower() == "microsoft.compute/disks":
        em.notify("disk_deleted", disk=body)
    em.delete(body["id"])


def step_group_delete(em, op) -> bool:
    """One step of a group's deletion, as ARM takes its time: the group reads Deleting for a
    request, then loses one resource per request; True once it is empty."""
    group = em.get(op.args["group_id"])
    if group is None:
        return True
    if not op.args.get("started"):
        op.args["started"] = True
        return False
    contents = _deletion_order(em, group)
    if contents:
        _delete_member(em, contents[0])
    return not contents


def finish_group_delete(em, op) -> None:
    """Delete what is left in the group, its deployment records, then the group."""
    group = em.get(op.args["group_id"])
    if group is None:
        return
    for body in _deletion_order(em, group):
        _delete_member(em, body)
    for key in [k for k, v in em.resources.items()
                if v.get("type", "").lower() == "microsoft.resources/deployments"
                and k.startswith(group["id"].lower() + "/")]:
        em.delete(key)
    em.delete(group["id"])


def register(em) -> ResourcesProvider:
    em.finalizers["resources.delete_group"] = finish_group_delete
    em.steppers["resources.delete_group_step"] = step_group_delete
    return ResourcesProvider(em)


PROVIDER = register
