"""`dsvmctl validate --against-emulator`: the Deployments validate and what-if calls, sent to an
in-process emulated Azure, so a template is also checked against Azure's resource rules."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .template import example_parameter_values, load_parameters, load_template

ARM = "https://management.azure.com"
API = "api-version=2025-04-01"


def check_against_emulator(template_path: str, parameter_files: list[str] | None) -> dict[str, Any]:
    from ..emulator.core import Emulator
    from ..emulator.wire import Request

    template = load_template(template_path)
    parameters: dict[str, Any] = {}
    beside = Path(template_path).with_name(Path(template_path).name[:-5] + ".parameters.json")
    for file in parameter_files or ([str(beside)] if beside.exists() else []):
        parameters.update(load_parameters(file))
    parameters.update(example_parameter_values(template, parameters))
    wrapped = {k: v if isinstance(v, dict) and "value" in v else {"value": v} for k, v in parameters.items()}

    em = Emulator()
    group = f"/subscriptions/{em.subscription_id}/resourcegroups/dsvmctl-validate"
    em.handle(Request("PUT", f"{ARM}{group}?{API}", body=b'{"location": "eastus"}'))
    body = json.dumps({"properties": {"template": template, "parameters": wrapped, "mode": "Incremental"}}).encode()
    deployment = f"{ARM}{group}/providers/Microsoft.Resources/deployments/validate"
    result: dict[str, Any] = {"errors": [], "what_if": []}
    validated = em.handle(Request("POST", f"{deployment}/validate?{API}", body=body))
    if validated.status >= 400:
        error = validated.body["error"]
        result["errors"] = [{"code": d.get("code", error["code"]), "message": d.get("message", error["message"])}
                            for d in error.get("details") or [error]]
        return result
    accepted = em.handle(Request("POST", f"{deployment}/whatIf?{API}", body=body))
    location = accepted.headers.get("Location")
    deadline = time.monotonic() + 10
    while location and time.monotonic() < deadline:
        answer = em.handle(Request("GET", location))
        if answer.status == 200:
            result["what_if"] = [{"resourceId": c["resourceId"], "changeType": c["changeType"]}
                                 for c in answer.body["properties"]["changes"]]
            break
    return result
