"""Microsoft.Storage on the wire: routes, status codes and LRO headers as the Storage RP sends them
(a new account: 202 with a Location to poll, 200 with the account once done; an update: 200)."""

from __future__ import annotations

from typing import Any

from ...routing import Call, Provider
from ...wire import ArmError, Response
from ..common import get_or_404, getter, lister, tracked_body
from . import models

NS = models.NS


class StorageProvider(Provider):
    namespace = NS

    def __init__(self, em) -> None:
        super().__init__(em)
        self.route_kind("storageAccounts", "name", lister(models.ACCOUNT_TYPE), PUT=self.put_account,
                        GET=getter("storageAccounts", models.ACCOUNT_TYPE), PATCH=self.patch_account,
                        DELETE=self.delete_account)
        self.route("POST", "rg", "storageAccounts/{name}/listKeys", self.list_keys)
        self.route("POST", "rg", "storageAccounts/{name}/regenerateKey", self.regenerate_key)
        self.route("POST", "sub", "checkNameAvailability", self.check_name_availability)
        self.route("GET", "sub", "locations/{loc}/asyncoperations/{op}", self.operation_result)

    def _id(self, call: Call) -> str:
        return call.resource_id("storageAccounts", call.params["name"])

    def _account(self, call: Call) -> dict[str, Any]:
        return get_or_404(call, self._id(call), models.ACCOUNT_TYPE, call.params["name"])

    def put_account(self, call: Call) -> Response:
        name = call.params["name"]
        existing = call.em.get(self._id(call))
        if existing is None:
            models.check_new_name(call.em, name)
        body = tracked_body(call, models.ACCOUNT_TYPE, name, self._id(call), existing)
        account = call.em.put(models.build_account(body, call.body_object(), existing))
        if existing is None:
            call.em.meta_of(account["id"])["keys"] = models.new_keys()
            op = call.em.start_operation("microsoft.storage", account["location"], resource_id=account["id"])
            url = (f"{call.request.base_url}/subscriptions/{call.sub}/providers/{NS}/locations/{account['location']}"
                   f"/asyncoperations/{op.id}?monitor=true&api-version={call.api_version}")
            return Response(202, None, {"Location": url, "Retry-After": "17"})
        return Response(200, call.em.public(account))

    def operation_result(self, call: Call) -> Response:
        op = call.em.poll_operation(call.params["op"])
        if op is None or op.namespace != "microsoft.storage":
            raise ArmError(404, "NotFound", f"The operation '{call.params['op']}' was not found.")
        if op.status == "InProgress":
            return Response(202, None, {"Location": call.request.url, **call.em.retry_after_headers()})
        account = call.em.get(op.args["resource_id"])
        return Response(200, call.em.public(account)) if account else Response(204)

    def patch_account(self, call: Call) -> Response:
        account = self._account(call)
        patch = call.body_object()
        merged = {**patch, "sku": patch.get("sku") or account["sku"], "kind": patch.get("kind") or account["kind"],
                  "properties": {**account["properties"], **(patch.get("properties") or {})}}
        updated = models.build_account({k: account[k] for k in ("id", "name", "type", "location")}
                                       | {"tags": patch.get("tags", account.get("tags", {}))}, merged, account)
        return Response(200, call.em.public(call.em.put(updated)))

    def delete_account(self, call: Call) -> Response:
        if call.em.get(self._id(call)) is None:
            return Response(204)
        call.em.delete(self._id(call))
        return Response(200)

    def list_keys(self, call: Call) -> Response:
        account = self._account(call)
        keys = call.em.meta_of(account["id"]).setdefault("keys", models.new_keys())
        return Response(200, {"keys": keys})

    def regenerate_key(self, call: Call) -> Response:
        account = self._account(call)
        wanted = str(call.body_object().get("keyName", "")).lower()
        keys = call.em.meta_of(account["id"]).setdefault("keys", models.new_keys())
        if wanted not in ("key1", "key2"):
            raise ArmError(400, "InvalidRequestPropertyValue", "keyName must be key1 or key2.", target="keyName")
        fresh = {k["keyName"]: k for k in models.new_keys()}
        keys[:] = [fresh[k["keyName"]] if k["keyName"] == wanted else k for k in keys]
        return Response(200, {"keys": keys})

    def check_name_availability(self, call: Call) -> Response:
        name = str(call.body_object().get("name", ""))
        problem = models.name_problem(call.em, name)
        if problem is None:
            return Response(200, {"nameAvailable": True})
        return Response(200, {"nameAvailable": False, "reason": problem[0], "message": problem[1]})


def register(em) -> StorageProvider:
    return StorageProvider(em)
