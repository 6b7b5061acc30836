"""Azure SDK errors turned into messages written for the user (code, what, and how to fix)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from ..errors import CloudError

FIXES = {
    "SkuNotAvailable": "pick another size (`dsvmctl sizes`) or another region",
    "AllocationFailed": "Azure has no capacity for this size here right now: try again later, another size, "
                        "or another region",
    "ZonalAllocationFailed": "Azure has no capacity for this size in this zone: try another zone or region",
    "OperationNotAllowed": "see the message: a quota increase (https://aka.ms/ProdportalCRP) or a different size",
    "MissingSubscriptionRegistration": "register the provider: az provider register --namespace <namespace>",
    "AuthorizationFailed": "ask for the Contributor role on the resource group or subscription",
}


def describe(err: Exception) -> tuple[str, str, list[str]]:
    """(code, message, detail lines) of an azure.core HttpResponseError (or any exception)."""
    error = getattr(err, "error", None)
    code = getattr(error, "code", None) or type(err).__name__
    message = getattr(error, "message", None) or str(err).splitlines()[0]
    details = []
    for detail in getattr(error, "details", None) or []:
        details.append(f"{detail.code}: {detail.message}")
    return code, message, details


@contextmanager
def azure_call(what: str, *, missing_ok: bool = False, passthrough: tuple[str, ...] = ()) -> Iterator[None]:
    """Run SDK calls; an Azure error becomes a CloudError saying what failed and how to fix it.

    missing_ok: let ResourceNotFoundError through, for callers that treat "gone" as an answer;
    passthrough: error codes let through as they are, for callers that handle them."""
    from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError

    try:
        yield
    except HttpResponseError as err:
        if missing_ok and isinstance(err, ResourceNotFoundError):
            raise
        code, message, details = describe(err)
        if code in passthrough:
            raise
        detail_codes = [d.split(":", 1)[0] for d in details]
        fix = next((FIXES[c] for c in [code, *detail_codes] if c in FIXES), None)
        text = f"{what} failed: {code}: {message}" + "".join(f"\n  - {d}" for d in details)
        raise CloudError(text, fix=fix) from None
    except AzureError as err:
        raise CloudError(f"{what} failed: {err}", fix="check your network connection and try again") from None
