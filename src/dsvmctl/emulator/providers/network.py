"""Microsoft.Network: virtual networks and subnets, NSGs and rules, public IPs, NICs.

Writes answer as the Network RP does: 201/200 with the body in `Updating`, an
Azure-AsyncOperation header under Microsoft.Network/locations/{loc}/operations/{id}, and
`etag: W/"guid"` on every resource. Every answer shows the back-references Azure computes
(network_links); the other kinds are network_shapes' table, questions are network_queries.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from ..routing import Call, Provider
from ..wire import ArmError, Response, not_found
from .common import (begin_put, check_name, find_child, get_or_404, list_response, new_etag, properties_of,
                     require_reference)
from . import network_shapes
from .network_fields import complete, complete_child
from .network_links import present, present_child

NS = "Microsoft.Network"
DEFAULT_RULES = (
    ("AllowVnetInBound", 65000, "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "AzureLoadBalancer", "*"),
    ("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*"),
    ("AllowVnetOutBound", 65000, "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "Internet"),
    ("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*"),
)

# Kinds whose DELETE Azure completes at once: 200 with no body and no operation to poll.
SYNCHRONOUS_DELETES = {"ipGroups"}


class NetworkProvider(Provider):
    namespace = NS

    def __init__(self, em) -> None:
        super().__init__(em)
        kinds = {
            "virtualNetworks": self.put_vnet,
            "networkSecurityGroups": self.put_nsg,
            "publicIPAddresses": self.put_public_ip,
            "networkInterfaces": self.put_nic,
        }
        for kind, put in kinds.items():
            self.route("PUT", "rg", f"{kind}/{{name}}", self._writer(kind, put))
            self.route("GET", "rg", f"{kind}/{{name}}", self._getter(kind))
            self.route("DELETE", "rg", f"{kind}/{{name}}", self._deleter(kind))
            self.route("PATCH", "rg", f"{kind}/{{name}}", self._tags_patcher(kind))
            self.route("GET", "rg", kind, self._lister(kind))
            self.route("GET", "sub", kind, self._lister(kind, whole_subscription=True))
        for parent, child in (("virtualNetworks", "subnets"), ("networkSecurityGroups", "securityRules")):
            self.route("PUT", "rg", f"{parent}/{{name}}/{child}/{{child}}", self._child_writer(parent, child))
            self.route("GET", "rg", f"{parent}/{{name}}/{child}/{{child}}", self._child_getter(parent, child))
            self.route("DELETE", "rg", f"{parent}/{{name}}/{child}/{{child}}", self._child_deleter(parent, child))
            self.route("GET", "rg", f"{parent}/{{name}}/{child}", self._child_lister(parent, child))
        self.route("GET", "sub", "locations/{loc}/operations/{op}", self.operation_status)
        self.route("GET", "sub", "locations/{loc}/operationResults/{op}", self.operation_result)
        network_shapes.add_routes(self)  # load balancers, route tables, ASGs, peerings, ...

    # -- generic verbs ---------------------------------------------------------------------------

    def _id(self, call: Call, kind: str, name: str) -> str:
        return call.resource_id(kind, name)

    def _writer(self, kind: str, build):
        def handler(call: Call) -> Response:
            name = call.params["name"]
            existing, body, props = begin_put(call, f"{NS}/{kind}", self._id(call, kind, name), name, keep_id=True)
            body["etag"] = new_etag()
            build(call, body, props, existing)
            return self._accepted_write(call, body, created=existing is None)
        return handler

    def _accepted_write(self, call: Call, body: dict[str, Any], created: bool) -> Response:
        """Store the resource `Updating`, answer with the async-operation header."""
        complete(body)
        network_shapes.link_backends(call.em, body)
        body["properties"]["provisioningState"] = "Updating"
        call.em.put(body)
        op = call.em.start_operation("microsoft.network", body["location"], "network.succeeded", resource_id=body["id"])
        headers = {"Azure-AsyncOperation": call.em.operation_url(call.request.base_url, op, call.api_version),
                   **call.em.retry_after_headers()}
        return Response(201 if created else 200, present(call.em, body), headers)

    def _getter(self, kind: str):
        def handler(call: Call) -> Response:
            name = call.params["name"]
            return Response(200, present(call.em, get_or_404(call, self._id(call, kind, name), f"{NS}/{kind}", name)))
        return handler

    def _lister(self, kind: str, whole_subscription: bool = False):
        def handler(call: Call) -> Response:
            group = None if whole_subscription else call.resource_group
            return list_response([present(call.em, b) for b in call.em.find(f"{NS}/{kind}", resource_group=group)])
        return handler

    def _tags_patcher(self, kind: str):
        def handler(call: Call) -> Response:
            name = call.params["name"]
            body = get_or_404(call, self._id(call, kind, name), f"{NS}/{kind}", name)
            if "tags" in call.body_object():
                body["tags"] = call.body_object()["tags"]
            body["etag"] = new_etag()
            return Response(200, present(call.em, body))
        return handler

    def _deleter(self, kind: str):
        def handler(call: Call) -> Response:
            name = call.params["name"]
            resource_id = self._id(call, kind, name)
            body = call.em.get(resource_id)
            if body is None:
                return Response(204)
            _refuse_delete_in_use(call, kind, body)
            if kind in SYNCHRONOUS_DELETES:
                finish_delete(call.em, None, resource_id)
                return Response(200)
            # Until the operation ends the resource is still there, reading Deleting, and still
            # holds what it uses (a NIC its subnet and public IP): Azure refuses their deletes then.
            body.setdefault("properties", {})["provisioningState"] = "Deleting"
            op = call.em.start_operation("microsoft.network", body["location"], "network.delete",
                                         resource_id=resource_id)
            url = call.em.operation_url(call.request.base_url, op, call.api_version)
            return Response(202, None, {"Azure-AsyncOperation": url,
                                        "Location": url.replace("/operations/", "/operationResults/"),
                                        **call.em.retry_after_headers()})
        return handler

    # -- child resources (stored inside their parent, as the Network RP returns them) -------------

    def _parent(self, call: Call, parent: str) -> dict[str, Any]:
        name = call.params["name"]
        return get_or_404(call, self._id(call, parent, name), f"{NS}/{parent}", name)

    def _child_writer(self, parent: str, child: str):
        def handler(call: Call) -> Response:
            holder = self._parent(call, parent)
            name = call.params["child"]
            check_name(name)
            props = properties_of(call)
            item = {"name": name, "id": f"{holder['id']}/{child}/{name}", "etag": new_etag(),
                    "properties": dict(props), "type": f"{NS}/{parent}/{child}"}
            siblings = [c for c in holder["properties"].get(child, []) if c["name"].lower() != name.lower()]
            created = len(siblings) == len(holder["properties"].get(child, []))
            if child == "subnets":
                kept = next((c for c in holder["properties"].get(child, []) if c["name"].lower() == name.lower()), {})
                if kept.get("properties", {}).get("ipConfigurations"):  # read-only: the NICs' own
                    item["properties"]["ipConfigurations"] = kept["properties"]["ipConfigurations"]
                _build_subnet(holder, item)
            else:
                _build_rule(item, "properties")
            complete_child(child, item)
            item.setdefault("etag", holder.get("etag"))
            holder["properties"][child] = siblings + [item]
            holder["etag"] = new_etag()
            item["properties"]["provisioningState"] = "Updating"
            op = call.em.start_operation("microsoft.network", holder["location"], "network.succeeded",
                                         resource_id=holder["id"])
            headers = {"Azure-AsyncOperation": call.em.operation_url(call.request.base_url, op, call.api_version)}
            return Response(201 if created else 200, present_child(call.em, holder, item["id"]), headers)
        return handler

    def _child_getter(self, parent: str, child: str):
        def handler(call: Call) -> Response:
            holder = self._parent(call, parent)
            item = find_child(call.em, f"{holder['id']}/{child}/{call.params['child']}")
            if item is None:
                raise not_found(f"{NS}/{parent}/{child}", f"{holder['name']}/{call.params['child']}",
                                call.resource_group or "")
            return Response(200, present_child(call.em, holder, item["id"]))
        return handler

    def _child_lister(self, parent: str, child: str):
        def handler(call: Call) -> Response:
            return list_response(present(call.em, self._parent(call, parent))["properties"].get(child, []))
        return handler

    def _child_deleter(self, parent: str, child: str):
        def handler(call: Call) -> Response:
            holder = self._parent(call, parent)
            name = call.params["child"]
            items = holder["properties"].get(child, [])
            item = next((c for c in items if c["name"].lower() == name.lower()), None)
            if item is None:
                return Response(204)
            shown = present_child(call.em, holder, item["id"])
            if child == "subnets" and shown["properties"].get("ipConfigurations"):
                raise _subnet_in_use(shown)
            holder["properties"][child] = [c for c in items if c is not item]
            op = call.em.start_operation("microsoft.network", holder["location"])
            url = call.em.operation_url(call.request.base_url, op, call.api_version)
            return Response(202, None, {"Azure-AsyncOperation": url,
                                        "Location": url.replace("/operations/", "/operationResults/")})
        return handler

    def operation_result(self, call: Call) -> Response:
        """The Location URL: 202 while running, then 204 (a delete) or the status document."""
        op = self._polled(call)
        if op.status == "InProgress":
            return Response(202, None, {"Location": call.request.url, **call.em.retry_after_headers()})
        if op.status == "Succeeded" and op.finalizer in (None, "network.delete"):
            return Response(204)
        return Response(200, op.status_document())

    def operation_status(self, call: Call) -> Response:
        op = self._polled(call)
        return Response(200, op.status_document(), call.em.retry_after_headers() if op.status == "InProgress" else {})

    def _polled(self, call: Call):
        op = call.em.poll_operation(call.params["op"])
        if op is None:
            raise ArmError(404, "NotFound", f"Operation {call.params['op']} was not found.")
        return op

    # -- builders: validate the request, fill in what the Network RP computes ---------------------

    def put_vnet(self, call: Call, body: dict[str, Any], props: dict[str, Any], existing) -> None:
        prefixes = (props.get("addressSpace") or {}).get("addressPrefixes")
        if not prefixes:
            raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request: the virtual network must have "
                           "an address space (properties.addressSpace.addressPrefixes).",
                           target="properties.addressSpace.addressPrefixes")
        networks = [_network(p, "properties.addressSpace.addressPrefixes") for p in prefixes]
        old_subnets = {s["name"].lower(): s for s in ((existing or {}).get("properties") or {}).get("subnets", [])}
        subnets = []
        for index, raw in enumerate(props.get("subnets") or []):
            name = raw.get("name")
            if not name:
                raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request: every subnet needs a name.",
                               target=f"properties.subnets[{index}].name")
            item = {"name": name, "id": f"{body['id']}/subnets/{name}", "etag": new_etag(),
                    "type": f"{NS}/virtualNetworks/subnets", "properties": dict(raw.get("properties") or {})}
            keep = old_subnets.get(name.lower(), {}).get("properties", {}).get("ipConfigurations")
            if keep:
                item["properties"]["ipConfigurations"] = keep
            _build_subnet({"properties": {"addressSpace": {"addressPrefixes": prefixes}}}, item, networks)
            subnets.append(item)
        for name, old in old_subnets.items():
            if old["properties"].get("ipConfigurations") and name not in {s["name"].lower() for s in subnets}:
                raise _subnet_in_use(old)
        body["properties"] = {**props, "addressSpace": {"addressPrefixes": prefixes}, "subnets": subnets,
                              "resourceGuid": (existing or {}).get("properties", {}).get("resourceGuid")
                              or _guid(), "virtualNetworkPeerings": [], "enableDdosProtection": False}

    def put_nsg(self, call: Call, body: dict[str, Any], props: dict[str, Any], existing) -> None:
        rules = []
        for index, raw in enumerate(props.get("securityRules") or []):
            name = raw.get("name")
            if not name:
                raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request: every security rule needs a "
                               "name.", target=f"properties.securityRules[{index}].name")
            item = {"name": name, "id": f"{body['id']}/securityRules/{name}", "etag": new_etag(),
                    "type": f"{NS}/networkSecurityGroups/securityRules", "properties": dict(raw.get("properties") or {})}
            _build_rule(item, f"properties.securityRules[{index}].properties")
            rules.append(item)
        priorities = [(r["properties"]["direction"].lower(), r["properties"]["priority"]) for r in rules]
        if len(set(priorities)) != len(priorities):
            raise ArmError(400, "SecurityRuleConflict", "Security rules in the same direction must have distinct "
                           "priorities.", target="properties.securityRules")
        body["properties"] = {
            **props, "securityRules": rules,
            "defaultSecurityRules": [_default_rule(body["id"], *rule) for rule in DEFAULT_RULES],
            "resourceGuid": ((existing or {}).get("properties") or {}).get("resourceGuid") or _guid(),  # kept, as ARM does
            "networkInterfaces": ((existing or {}).get("properties") or {}).get("networkInterfaces", []),
        }

    def put_public_ip(self, call: Call, body: dict[str, Any], props: dict[str, Any], existing) -> None:
        sku = (call.body_object().get("sku") or {}).get("name", "Standard")
        if sku.lower() == "basic":
            raise ArmError(400, "BasicSkuPublicIpIsRetired",
                           "Basic SKU public IP addresses were retired on 30 September 2025 and can no longer be "
                           "created. Use sku 'Standard' with a static allocation.", target="sku.name")
        if sku.lower() != "standard":
            raise ArmError(400, "InvalidRequestFormat", f"Cannot parse the request: unknown public IP sku '{sku}'.",
                           target="sku.name")
        method = props.get("publicIPAllocationMethod", "Static")
        if method.lower() != "static":
            raise ArmError(400, "StandardSkuPublicIPAddressesMustBeStatic",
                           "Standard sku publicIp addresses must have their allocation method set to Static.",
                           target="properties.publicIPAllocationMethod")
        old = (existing or {}).get("properties") or {}
        body["sku"] = {"name": "Standard", "tier": (call.body_object().get("sku") or {}).get("tier", "Regional")}
        body["properties"] = {
            **props, "publicIPAllocationMethod": "Static",
            "publicIPAddressVersion": props.get("publicIPAddressVersion", "IPv4"),
            "idleTimeoutInMinutes": props.get("idleTimeoutInMinutes", 4),
            # A Standard static address is assigned at once and kept until the resource is deleted.
            "ipAddress": old.get("ipAddress") or _next_public_address(call.em),
            "resourceGuid": old.get("resourceGuid") or _guid(),
        }
        if old.get("ipConfiguration"):
            body["properties"]["ipConfiguration"] = old["ipConfiguration"]
        zones = call.body_object().get("zones", (existing or {}).get("zones"))
        if zones:
            body["zones"] = [str(z) for z in zones]
        dns = props.get("dnsSettings") or {}
        if dns.get("domainNameLabel"):
            body["properties"]["dnsSettings"] = {**dns, "fqdn": f"{dns['domainNameLabel']}.{body['location']}"
                                                 ".cloudapp.azure.com"}

    def put_nic(self, call: Call, body: dict[str, Any], props: dict[str, Any], existing) -> None:
        configs = props.get("ipConfigurations")
        if not configs:
            raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request: a network interface needs at "
                           "least one IP configuration.", target="properties.ipConfigurations")
        old = (existing or {}).get("properties") or {}
        release_nic(call.em, existing)
        # A dynamic private address stays with its IP configuration across updates, as in Azure.
        previous = {(c.get("name", "").lower(), ((c.get("properties") or {}).get("subnet") or {}).get("id", "").lower()):
                    (c.get("properties") or {}).get("privateIPAddress") for c in old.get("ipConfigurations") or []}
        built = []
        for index, raw in enumerate(configs):
            cprops = dict(raw.get("properties") or {})
            path = f"properties.ipConfigurations[{index}].properties"
            subnet = require_reference(call, cprops.get("subnet"), body["id"], f"{path}.subnet")
            config_id = f"{body['id']}/ipConfigurations/{raw.get('name', f'ipconfig{index + 1}')}"
            if cprops.get("publicIPAddress"):
                ip = require_reference(call, cprops["publicIPAddress"], body["id"], f"{path}.publicIPAddress")
                owner = (ip["properties"].get("ipConfiguration") or {}).get("id", "")
                if owner and not owner.lower().startswith(body["id"].lower() + "/"):
                    raise ArmError(400, "PublicIPAddressInUse", f"Public IP address {ip['id']} is in use by "
                                   f"{owner} and cannot be used by another resource.")
                ip["properties"]["ipConfiguration"] = {"id": config_id}
                cprops["publicIPAddress"] = {"id": ip["id"]}
            subnet["properties"].setdefault("ipConfigurations", []).append({"id": config_id})
            cprops["subnet"] = {"id": subnet["id"]}
            cprops["privateIPAddress"] = (cprops.get("privateIPAddress")
                                          or previous.get((raw.get("name", f"ipconfig{index + 1}").lower(),
                                                           subnet["id"].lower()))
                                          or _next_private_address(call, subnet))
            cprops.setdefault("privateIPAllocationMethod", "Dynamic")
            cprops.setdefault("privateIPAddressVersion", "IPv4")
            cprops["primary"] = index == 0
            cprops["provisioningState"] = "Succeeded"
            built.append({"name": raw.get("name", f"ipconfig{index + 1}"), "id": config_id, "etag": body["etag"],
                          "type": f"{NS}/networkInterfaces/ipConfigurations", "properties": cprops})
        if props.get("networkSecurityGroup"):
            nsg = require_reference(call, props["networkSecurityGroup"], body["id"], "properties.networkSecurityGroup")
            links = nsg["properties"].setdefault("networkInterfaces", [])
            if not any(link["id"].lower() == body["id"].lower() for link in links):
                links.append({"id": body["id"]})
            props["networkSecurityGroup"] = {"id": nsg["id"]}
        body["properties"] = {
            **props, "ipConfigurations": built,
            "enableAcceleratedNetworking": bool(props.get("enableAcceleratedNetworking", False)),
            "enableIPForwarding": bool(props.get("enableIPForwarding", False)),
            "resourceGuid": old.get("resourceGuid") or _guid(),
            "macAddress": old.get("macAddress", ""),
            "nicType": "Standard",
        }
        if old.get("virtualMachine"):  # still attached: what the Network RP shows of it stays
            body["properties"]["virtualMachine"] = old["virtualMachine"]
            if "primary" in old:
                body["properties"]["primary"] = old["primary"]
        if (old.get("dnsSettings") or {}).get("internalDomainNameSuffix"):
            body["properties"].setdefault("dnsSettings", {}).setdefault(
                "internalDomainNameSuffix", old["dnsSettings"]["internalDomainNameSuffix"])


# -- helpers ---------------------------------------------------------------------------------------

def _guid() -> str:
    return str(uuid.uuid4())


def _network(prefix: Any, target: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(str(prefix), strict=True)
    except ValueError:
        raise ArmError(400, "InvalidAddressPrefixFormat", f"Address prefix {prefix} does not have a valid format.",
                       target=target) from None


def _build_subnet(vnet: dict[str, Any], item: dict[str, Any], networks=None) -> None:
    props = item["properties"]
    prefix = props.get("addressPrefix") or (props.get("addressPrefixes") or [None])[0]
    if not prefix:
        raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request: the subnet needs an addressPrefix.",
                       target=f"subnets/{item['name']}.properties.addressPrefix")
    subnet = _network(prefix, "properties.addressPrefix")
    networks = networks or [_network(p, "addressSpace") for p in vnet["properties"]["addressSpace"]["addressPrefixes"]]
    if not any(subnet.version == n.version and subnet.subnet_of(n) for n in networks):
        raise ArmError(400, "NetcfgSubnetRangeOutsideVnet",
                       f"Subnet '{item['name']}' is not valid because its IP address range is outside the IP address "
                       "range of virtual network.", target=item["id"])
    props["addressPrefix"] = str(subnet)
    props.setdefault("privateEndpointNetworkPolicies", "Disabled")
    props.setdefault("privateLinkServiceNetworkPolicies", "Enabled")
    props["provisioningState"] = "Succeeded"


_RULE_FIELDS = ("protocol", "access", "direction", "priority")


def _build_rule(item: dict[str, Any], path: str) -> None:
    props = item["properties"]
    for name in _RULE_FIELDS:
        if props.get(name) in (None, ""):
            raise ArmError(400, "SecurityRuleParameterMissing", f"Security rule {item['name']} is missing the "
                           f"required property '{name}'.", target=f"{path}.{name}")
    try:
        priority = int(props["priority"])
    except (TypeError, ValueError):
        priority = -1
    if not 100 <= priority <= 4096:
        raise ArmError(400, "SecurityRuleInvalidPriority", f"Security rule {item['name']} has invalid priority "
                       f"{props['priority']}. Value provided: {props['priority']} Allowed range 100-4096.",
                       target=f"{path}.priority")
    props["priority"] = priority
    if str(props["direction"]).lower() not in ("inbound", "outbound"):
        raise ArmError(400, "SecurityRuleInvalidDirection", f"Security rule {item['name']} has invalid direction.",
                       target=f"{path}.direction")
    if str(props["access"]).lower() not in ("allow", "deny"):
        raise ArmError(400, "SecurityRuleInvalidAccess", f"Security rule {item['name']} has invalid access.",
                       target=f"{path}.access")
    for field_name in ("sourcePortRange", "destinationPortRange", "sourceAddressPrefix", "destinationAddressPrefix"):
        plural = field_name.replace("Range", "Ranges").replace("Prefix", "Prefixes")
        if field_name not in props and not props.get(plural):
            props[field_name] = "*"
    props["provisioningState"] = "Succeeded"


def _default_rule(nsg_id: str, name: str, priority: int, direction: str, access: str, src: str, dst: str):
    return {"name": name, "id": f"{nsg_id}/defaultSecurityRules/{name}", "type": f"{NS}/networkSecurityGroups/"
            "defaultSecurityRules", "properties": {
                "description": name, "protocol": "*", "sourcePortRange": "*", "destinationPortRange": "*",
                "sourceAddressPrefix": src, "destinationAddressPrefix": dst, "access": access,
                "priority": priority, "direction": direction, "provisioningState": "Succeeded"}}


def _next_public_address(em) -> str:
    # Documentation range (TEST-NET-3, RFC 5737): never routable, clearly not a real address.
    taken = {b["properties"].get("ipAddress") for b in em.find(f"{NS}/publicIPAddresses")}
    for host in ipaddress.ip_network("203.0.113.0/24").hosts():
        if str(host) not in taken:
            return str(host)
    raise ArmError(409, "PublicIpAddressesExhausted", "The emulator has no public addresses left.")


def _next_private_address(call: Call, subnet: dict[str, Any]) -> str:
    network = ipaddress.ip_network(subnet["properties"]["addressPrefix"])
    taken = set()
    for nic in call.em.find(f"{NS}/networkInterfaces"):
        for config in nic["properties"].get("ipConfigurations", []):
            taken.add(config["properties"].get("privateIPAddress"))
    # Azure reserves the first four addresses and the last one (hosts() leaves out the last).
    for offset, host in enumerate(network.hosts(), start=1):
        if offset >= 4 and str(host) not in taken:
            return str(host)
    raise ArmError(400, "SubnetIsFull", f"Subnet {subnet['name']} has no free addresses.")


def release_nic(em, nic: dict[str, Any] | None) -> None:
    """Drop the back-references a NIC holds (subnet ipConfigurations, public IP, NSG)."""
    if not nic:
        return
    for config in nic["properties"].get("ipConfigurations", []):
        subnet = find_child(em, config["properties"]["subnet"]["id"])
        if subnet:
            subnet["properties"]["ipConfigurations"] = [
                c for c in subnet["properties"].get("ipConfigurations", []) if c["id"].lower() != config["id"].lower()]
        ip_ref = config["properties"].get("publicIPAddress")
        ip = em.get(ip_ref["id"]) if ip_ref else None
        if ip:
            ip["properties"].pop("ipConfiguration", None)
    nsg_ref = nic["properties"].get("networkSecurityGroup")
    nsg = em.get(nsg_ref["id"]) if nsg_ref else None
    if nsg:
        nsg["properties"]["networkInterfaces"] = [
            link for link in nsg["properties"].get("networkInterfaces", []) if link["id"].lower() != nic["id"].lower()]


def _subnet_in_use(subnet: dict[str, Any]) -> ArmError:
    users = ", ".join(c["id"] for c in subnet["properties"].get("ipConfigurations", []))
    return ArmError(400, "InUseSubnetCannotBeDeleted", f"Subnet {subnet['name']} is in use by {users} and cannot be "
                    "deleted. In order to delete the subnet, delete all the resources within the subnet.")


def _refuse_delete_in_use(call: Call, kind: str, body: dict[str, Any]) -> None:
    """Azure refuses to delete what others still use: what the back-references show (network_links)."""
    props = body.get("properties") or {}
    shown = present(call.em, body)["properties"]
    if kind == "networkInterfaces":
        if props.get("virtualMachine"):
            raise ArmError(400, "NicInUse", f"Network Interface {body['id']} is used by existing resource "
                           f"{props['virtualMachine']['id']}. In order to delete the network interface, it must be "
                           "dissociated from the resource.")
    elif kind == "publicIPAddresses" and shown.get("ipConfiguration"):
        raise ArmError(400, "PublicIPAddressCannotBeDeleted", f"Public IP address {body['id']} can not be deleted "
                       f"since it is still allocated to resource {shown['ipConfiguration']['id']}.")
    elif kind == "networkSecurityGroups" and (shown.get("networkInterfaces") or shown.get("subnets")):
        users = ", ".join(r["id"] for r in shown.get("networkInterfaces", []) + shown.get("subnets", []))
        raise ArmError(400, "InUseNetworkSecurityGroupCannotBeDeleted", f"Network security group {body['id']} "
                       f"cannot be deleted because it is in use by the following resources: {users}.")
    elif kind == "ddosProtectionPlans" and shown.get("virtualNetworks"):
        networks = ", ".join(v["id"] for v in shown["virtualNetworks"])
        raise ArmError(400, "InUseDdosProtectionPlanCannotBeDeleted", f"DDoS Protection Plan {body['id']} cannot be "
                       f"deleted because it is in use with virtual networks {networks}.")
    elif kind == "virtualNetworks":
        for subnet in shown.get("subnets", []):
            if subnet["properties"].get("ipConfigurations"):
                raise _subnet_in_use(subnet)


def finish_write(em, op) -> None:
    body = em.get(op.args["resource_id"])
    if body is None:
        return
    body["properties"]["provisioningState"] = "Succeeded"
    for child_key in ("subnets", "securityRules"):
        for child in body["properties"].get(child_key, []):
            child["properties"]["provisioningState"] = "Succeeded"


def finish_delete(em, op, resource_id: str | None = None) -> None:
    """The end of a delete: the resource goes, and a NIC lets go of what it held."""
    resource_id = resource_id or op.args["resource_id"]
    body = em.get(resource_id)
    if body is None:
        return
    if body["type"].lower() == f"{NS}/networkinterfaces".lower():
        release_nic(em, body)
    em.delete(resource_id)


def register(em) -> NetworkProvider:
    em.finalizers["network.succeeded"] = finish_write
    em.finalizers["network.delete"] = finish_delete
    return NetworkProvider(em)


PROVIDER = register
