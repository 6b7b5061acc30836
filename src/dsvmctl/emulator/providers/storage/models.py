"""Storage accounts as Azure keeps them: the name rules, SKUs and kinds, the computed fields."""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

from ...core import utc_now
from ...wire import ArmError

NS = "Microsoft.Storage"
ACCOUNT_TYPE = f"{NS}/storageAccounts"
# 3-24 characters, lower-case letters and digits only, unique across Azure (here: the emulator).
ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")
SKUS = ("Standard_LRS", "Standard_GRS", "Standard_RAGRS", "Standard_ZRS", "Premium_LRS", "Premium_ZRS",
        "Standard_GZRS", "Standard_RAGZRS")
KINDS = ("Storage", "StorageV2", "BlobStorage", "FileStorage", "BlockBlobStorage")
SERVICES = ("blob", "queue", "table", "file", "dfs", "web")


def name_problem(em, name: str) -> tuple[str, str] | None:
    """(reason, message) when `name` cannot be used, as checkNameAvailability says it."""
    if not ACCOUNT_NAME.match(name):
        return ("AccountNameInvalid", f"{name} is not a valid storage account name. Storage account name must be "
                "between 3 and 24 characters in length and use numbers and lower-case letters only.")
    if any(b["name"].lower() == name.lower() for b in em.find(ACCOUNT_TYPE)):
        return ("AlreadyExists", f"The storage account named {name} is already taken.")
    return None


def check_new_name(em, name: str) -> None:
    problem = name_problem(em, name)
    if problem and problem[0] == "AccountNameInvalid":
        raise ArmError(400, "AccountNameInvalid", problem[1])
    if problem:
        raise ArmError(409, "StorageAccountAlreadyTaken", problem[1])


def canonical(value: str, allowed: tuple[str, ...], what: str, target: str) -> str:
    for option in allowed:
        if option.lower() == str(value).lower():
            return option
    raise ArmError(400, "InvalidRequestPropertyValue" if what == "kind" else "SkuNotSupported",
                   f"The value '{value}' is not valid for the {what}. Allowed: {', '.join(allowed)}.", target=target)


def build_account(body: dict[str, Any], request: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    props_in = request.get("properties") or {}
    old = (existing or {}).get("properties") or {}
    # api-versions before 2016-01-01 name the SKU properties.accountType (templates still use them).
    wanted = (request.get("sku") or {}).get("name") or props_in.get("accountType") \
        or (existing or {}).get("sku", {}).get("name")
    sku = canonical(wanted, SKUS, "sku", "sku.name") if wanted else None
    if sku is None:
        raise ArmError(400, "MissingRequiredProperty", "The sku property is required.", target="sku")
    default_kind = "Storage" if props_in.get("accountType") else "StorageV2"  # the old API knew no other
    kind = canonical(request.get("kind") or (existing or {}).get("kind") or default_kind, KINDS, "kind", "kind")
    name, location = body["name"], body["location"]
    endpoints = {s: f"https://{name}.{s}.core.windows.net/" for s in SERVICES}
    if kind == "Storage":
        endpoints = {s: endpoints[s] for s in ("blob", "queue", "table", "file")}
    now = old.get("creationTime") or utc_now()
    props = {
        "keyCreationTime": old.get("keyCreationTime") or {"key1": now, "key2": now},
        "privateEndpointConnections": [],
        "minimumTlsVersion": props_in.get("minimumTlsVersion", old.get("minimumTlsVersion", "TLS1_0")),
        "allowBlobPublicAccess": props_in.get("allowBlobPublicAccess", old.get("allowBlobPublicAccess", False)),
        "allowCrossTenantReplication": props_in.get("allowCrossTenantReplication", False),
        "networkAcls": props_in.get("networkAcls") or old.get("networkAcls") or {
            "bypass": "AzureServices", "virtualNetworkRules": [], "ipRules": [], "ipv6Rules": [],
            "defaultAction": "Allow"},
        "supportsHttpsTrafficOnly": props_in.get("supportsHttpsTrafficOnly", True),
        "encryption": old.get("encryption") or {
            "services": {s: {"keyType": "Account", "enabled": True, "lastEnabledTime": now} for s in ("file", "blob")},
            "keySource": "Microsoft.Storage"},
        "provisioningState": "Succeeded",
        "creationTime": now,
        "primaryEndpoints": endpoints,
        "primaryLocation": location,
        "statusOfPrimary": "available",
    }
    if props_in.get("accountType"):
        props["accountType"] = sku
    if kind in ("StorageV2", "BlobStorage"):
        props["accessTier"] = props_in.get("accessTier", old.get("accessTier", "Hot"))
    if "GRS" in sku or "GZRS" in sku:
        props["secondaryLocation"] = location
        props["statusOfSecondary"] = "available"
    return {**body, "sku": {"name": sku, "tier": sku.split("_")[0]}, "kind": kind, "properties": props}


def new_keys() -> list[dict[str, Any]]:
    def key() -> str:
        # Key-shaped random bytes: the emulator serves no data plane, so nothing accepts them.
        return base64.b64encode(secrets.token_bytes(64)).decode()
    now = utc_now()
    return [{"creationTime": now, "keyName": name, "value": key(), "permissions": "FULL"} for name in ("key1", "key2")]
