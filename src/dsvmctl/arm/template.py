"""Expanding an ARM template: parameters, variables, resources, copy loops, conditions,
dependencies, nested deployments and outputs, the way Azure Resource Manager would.

`expand()` returns an `Expansion`: the resources ARM would deploy, fully evaluated, in an
order that respects dependsOn, plus outputs and warnings. The same engine serves the
emulator (which deploys the expansion), `dsvmctl validate` and the lint rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from .errors import TemplateError, TemplateFileError
from .evaluator import (
    DeployTimeObject,
    DeployTimeValue,
    Scope,
    evaluate_value,
    expand_copy_block,
    join_path,
    copy_count,
    short,
    type_name,
)
from .functions import is_int, json_equal, _provider_path, ArgError, _looks_like_type
from .redact import redact, secure_values
from .source import read_json_file

FAKE_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
FAKE_TENANT = "00000000-0000-0000-0000-000000000001"

PARAMETER_TYPES = {
    "string": str, "securestring": str, "int": int, "bool": bool,
    "object": dict, "secureobject": dict, "array": list,
}
SECURE_TYPES = ("securestring", "secureobject")
# Keys of a resource declaration that are instructions to ARM rather than part of its body.
_DECLARATION_KEYS = {
    "type", "name", "condition", "copy", "dependsOn", "resources", "comments", "metadata", "existing", "scope",
}


@dataclass
class DeploymentContext:
    """Where a template is deployed. Defaults describe a harmless fake subscription."""

    subscription_id: str = FAKE_SUBSCRIPTION
    tenant_id: str = FAKE_TENANT
    resource_group: str = "rg"
    location: str = "eastus"
    deployment_name: str = "deployment"
    mode: str = "Incremental"
    template_link: str | None = None  # the URI the template was deployed from, if any
    # Where the request deploys ("resourceGroup" or "subscription"): ARM goes by the URL, whatever
    # $schema the template names. None: read the scope off the template's $schema.
    scope: str | None = None
    utc_now: datetime | None = None  # fixes utcNow() for reproducible tests


class Resolver(Protocol):
    """What the emulator offers so reference()/listKeys() can see resources that exist already.

    Return None when the resource is unknown; the engine then falls back to the template."""

    def reference(self, resource_id: str, api_version: str | None, full: bool) -> dict | None: ...

    def list_keys(self, resource_id: str, api_version: str | None) -> dict | None: ...


@dataclass
class ExpansionWarning:
    code: str
    message: str
    path: str = ""

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "path": self.path}


@dataclass
class Resource:
    """One resource ARM would deploy, with every expression evaluated."""

    type: str
    name: str
    id: str
    api_version: str | None
    location: str | None
    properties: dict
    depends_on: list[str]
    body: dict  # the whole evaluated resource (sku, tags, kind, zones, identity, properties…)
    path: str  # where it is declared, e.g. resources[2] or resources.vm
    raw: dict  # the declaration as written, for rules that need to know what was literal
    symbolic_name: str | None = None
    copy_index: int | None = None
    nested: "Expansion | None" = None  # the expanded template of an inline nested deployment

    def to_dict(self) -> dict:
        out = {"type": self.type, "name": self.name, "id": self.id, "apiVersion": self.api_version}
        if self.location is not None:
            out["location"] = self.location
        out.update({k: v for k, v in self.body.items() if k not in ("apiVersion", "location")})
        out["dependsOn"] = list(self.depends_on)
        return out


@dataclass
class Expansion:
    resources: list[Resource]
    outputs: dict[str, dict]
    warnings: list[ExpansionWarning]
    parameters: dict[str, Any]
    secure_parameters: set[str]
    scope: str  # resourceGroup | subscription
    skipped: list[str] = field(default_factory=list)  # ids of resources whose condition is false

    def all_resources(self) -> list[Resource]:
        """Every resource including those of inline nested deployments, in deployment order."""
        out: list[Resource] = []
        for res in self.resources:
            out.append(res)
            if res.nested is not None:
                out.extend(res.nested.all_resources())
        return out

    def find(self, type_: str, name: str | None = None) -> list[Resource]:
        return [
            r for r in self.all_resources()
            if r.type.lower() == type_.lower() and (name is None or r.name.lower() == name.lower())
        ]

    def to_dict(self) -> dict:
        return {
            "resources": [r.to_dict() for r in self.resources],
            "outputs": self.outputs,
            "warnings": [w.to_dict() for w in self.warnings],
        }


# --- loading ---------------------------------------------------------------------------------


def load_template(source: str | Path | dict) -> dict:
    """A template from a path or an already parsed dict, checked to look like a template."""
    template = read_json_file(source) if isinstance(source, (str, Path)) else source
    origin = str(source) if isinstance(source, (str, Path)) else "<template>"
    if not isinstance(template, dict) or "resources" not in template:
        raise TemplateFileError(
            "NotATemplate",
            "this JSON is not an ARM template: a template is an object with a 'resources' section.",
            origin,
        )
    return template


def load_parameters(source: str | Path | dict | None) -> dict[str, Any]:
    """Parameter values from a deploymentParameters file (or its parsed dict), from the
    `{"name": {"value": v}}` shape ARM's REST API takes, or from a plain `{"name": v}` dict.

    Key Vault references stay as `{"reference": {...}}` entries; expand() replaces them."""
    if source is None:
        return {}
    data = read_json_file(source) if isinstance(source, (str, Path)) else source
    if not isinstance(data, dict):
        raise TemplateFileError("InvalidParameterFile", "a parameter file must hold a JSON object.", str(source))
    schema = str(data.get("$schema", ""))
    if "deploymentParameters" in schema or ("parameters" in data and "contentVersion" in data):
        entries = data.get("parameters") or {}
        if not isinstance(entries, dict):
            raise TemplateFileError("InvalidParameterFile", "'parameters' must be an object.", str(source))
        return {name: _unwrap_entry(name, entry, str(source)) for name, entry in entries.items()}
    if data and all(_is_wrapped(v) for v in data.values()):
        return {name: _unwrap_entry(name, entry, str(source)) for name, entry in data.items()}
    return {name: {"value": value} for name, value in data.items()}


def _is_wrapped(entry: Any) -> bool:
    return isinstance(entry, dict) and bool(entry) and set(entry) <= {"value", "reference", "metadata"} and (
        "value" in entry or "reference" in entry
    )


def _unwrap_entry(name: str, entry: Any, origin: str) -> dict:
    if not _is_wrapped(entry):
        raise TemplateFileError(
            "InvalidParameterFile",
            f"parameter '{name}' must be written as {{\"value\": ...}} or a Key Vault {{\"reference\": ...}}.",
            origin,
        )
    return entry


# --- the engine ----------------------------------------------------------------------------


@dataclass
class _Decl:
    raw: dict
    path: str
    parent: "_Decl | None"
    symbolic: str | None
    instances: list["_Instance"] = field(default_factory=list)


@dataclass(eq=False)
class _Instance:
    decl: _Decl
    copy: dict[str, int]
    copy_index: int | None
    path: str
    type: str = ""
    name: str = ""
    id: str = ""
    api_version: str | None = None
    condition: bool = True
    existing: bool = False
    body: dict | None = None
    state: str = "new"  # new | evaluating | done
    deps: list["_Instance"] = field(default_factory=list)
    nested: Expansion | None = None


class _Deployment:
    def __init__(
        self,
        template: dict,
        supplied: dict[str, dict],
        context: DeploymentContext,
        resolver: Any,
        *,
        warnings: list[ExpansionWarning],
        path: str = "",
        outer: "_Deployment | None" = None,
        scope_kind: str | None = None,
    ):
        self.template = template
        self.context = context
        self.resolver = resolver
        self.warnings = warnings
        self.prefix = path  # JSON path of this template inside the outermost one
        self.outer = outer  # nested deployment with scope "outer": names resolve in the parent
        self.scope_kind = scope_kind or _template_scope(template, self._p("$schema"))
        self.symbolic = _is_symbolic(template)
        self._now: datetime | None = None
        self.param_decls = _declarations(template.get("parameters"), self._p("parameters"))
        self.supplied = supplied
        self.param_values: dict[str, Any] = {}
        self.param_state: dict[str, str] = {}
        self.var_decls: dict[str, tuple[str, Any, str, bool]] = {}
        self.var_values: dict[str, Any] = {}
        self.var_state: dict[str, str] = {}
        self.user_functions = self._read_functions(template.get("functions"))
        self.decls: list[_Decl] = []
        self.by_symbol: dict[str, _Decl] = {}
        self.instances: list[_Instance] = []
        self._warned: set[str] = set()

    def _p(self, key: str | int, base: str | None = None) -> str:
        return join_path(self.prefix if base is None else base, key)

    # --- parameters ---

    def resolve_parameters(self) -> None:
        for lowered, (name, decl, path) in self.param_decls.items():
            if not isinstance(decl, dict):
                raise TemplateError("InvalidTemplate", f"parameter '{name}' must be an object.", path)
            if "$ref" in decl:
                raise TemplateError(
                    "UnsupportedConstruct",
                    f"parameter '{name}' uses a user-defined type ($ref); this engine supports only the "
                    "built-in parameter types.",
                    join_path(path, "$ref"),
                )
            ptype = str(decl.get("type", "")).lower()
            if ptype not in PARAMETER_TYPES:
                raise TemplateError(
                    "InvalidTemplate",
                    f"parameter '{name}' has type '{decl.get('type')}'; use one of string, securestring, int, "
                    "bool, object, secureobject, array.",
                    join_path(path, "type"),
                )
        known = set(self.param_decls)
        for name in self.supplied:
            if name.lower() not in known:
                raise TemplateError(
                    "UnknownParameter",
                    f"a value was given for parameter '{name}' but the template declares no such parameter "
                    f"(it declares: {', '.join(n for n, _, _ in self.param_decls.values()) or 'none'}). "
                    "Remove it from the parameter file or fix its name.",
                    self._p("parameters"),
                )
        for lowered in self.param_decls:
            self._parameter(lowered)

    def parameter(self, name: str, scope: Scope) -> Any:
        if scope.function_params is not None:
            if name.lower() not in scope.function_params:
                raise ArgError(f"the function has no parameter '{name}'")
            return scope.function_params[name.lower()]
        if self.outer is not None:
            return self.outer.parameter(name, scope)
        if name.lower() not in self.param_decls:
            declared = ", ".join(n for n, _, _ in self.param_decls.values()) or "none"
            raise TemplateError(
                "UnknownParameter",
                f"parameters('{name}') refers to a parameter the template does not declare (declared: {declared}).",
                scope.path,
            )
        return self._parameter(name.lower())

    def _parameter(self, lowered: str) -> Any:
        if lowered in self.param_values:
            return self.param_values[lowered]
        name, decl, path = self.param_decls[lowered]
        if self.param_state.get(lowered) == "evaluating":
            raise TemplateError("CircularDependency", f"the default of parameter '{name}' refers to itself.", path)
        self.param_state[lowered] = "evaluating"
        ptype = str(decl.get("type")).lower()
        supplied = next((v for k, v in self.supplied.items() if k.lower() == lowered), None)
        if supplied is not None and "reference" in supplied:
            value = self._key_vault_placeholder(name, ptype, supplied["reference"], path)
            self.param_values[lowered] = value
            return value
        if supplied is not None:
            value, value_path = supplied["value"], path
        elif "defaultValue" in decl:
            value_path = join_path(path, "defaultValue")
            value = evaluate_value(decl["defaultValue"], Scope(self, where="parameters", path=value_path))
        elif decl.get("nullable") is True:
            value, value_path = None, path
        else:
            raise TemplateError(
                "MissingParameter",
                f"parameter '{name}' has no value and no default: supply it in the parameter file "
                f"(\"{name}\": {{\"value\": ...}}) or on the command line.",
                path,
            )
        if value is not None or decl.get("nullable") is not True:
            _check_parameter(name, decl, ptype, value, value_path)
        self.param_values[lowered] = value
        self.param_state[lowered] = "done"
        return value

    def _key_vault_placeholder(self, name: str, ptype: str, reference: Any, path: str) -> Any:
        secret = reference.get("secretName", "?") if isinstance(reference, dict) else "?"
        vault = ""
        if isinstance(reference, dict) and isinstance(reference.get("keyVault"), dict):
            vault = str(reference["keyVault"].get("id", "")).rstrip("/").rsplit("/", 1)[-1]
        self.warn(
            "KeyVaultReference",
            f"parameter '{name}' takes secret '{secret}' from Key Vault '{vault}'; offline, a placeholder "
            "stands in for it.",
            path,
        )
        if ptype in ("object", "secureobject"):
            return DeployTimeObject({}, f"keyVault {vault}/{secret}")
        if ptype == "array":
            return []
        return DeployTimeValue(f"keyVault {vault}/{secret}")

    # --- variables ---

    def read_variables(self) -> None:
        variables = self.template.get("variables") or {}
        base = self._p("variables")
        if not isinstance(variables, dict):
            raise TemplateError("InvalidTemplate", "'variables' must be an object.", base)
        for name, value in variables.items():
            if name.lower() == "copy" and isinstance(value, list):
                for i, spec in enumerate(value):
                    path = join_path(join_path(base, "copy"), i)
                    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                        raise TemplateError("InvalidTemplate", "a variable copy block needs a 'name'.", path)
                    self.var_decls[spec["name"].lower()] = (spec["name"], spec, path, True)
                continue
            self.var_decls[name.lower()] = (name, value, join_path(base, name), False)

    def variable(self, name: str, scope: Scope) -> Any:
        if scope.where in ("parameters", "function"):
            raise ArgError(f"variables() cannot be used in {'a parameter default' if scope.where == 'parameters' else 'a user-defined function'}")
        if self.outer is not None:
            return self.outer.variable(name, scope)
        lowered = name.lower()
        if lowered in self.var_values:
            return self.var_values[lowered]
        if lowered not in self.var_decls:
            declared = ", ".join(n for n, *_ in self.var_decls.values()) or "none"
            raise TemplateError(
                "UnknownVariable", f"variables('{name}') refers to an undeclared variable (declared: {declared}).",
                scope.path,
            )
        decl_name, value, path, is_copy = self.var_decls[lowered]
        if self.var_state.get(lowered) == "evaluating":
            raise TemplateError("CircularDependency", f"variable '{decl_name}' refers to itself.", path)
        self.var_state[lowered] = "evaluating"
        vscope = Scope(self, where="variables", path=path)
        result = expand_copy_block(value, vscope, loops=True) if is_copy else evaluate_value(value, vscope, loops=True)
        self.var_values[lowered] = result
        self.var_state[lowered] = "done"
        return result

    # --- user-defined functions ---

    def _read_functions(self, sections: Any) -> dict[str, tuple[list, dict, str]]:
        table: dict[str, tuple[list, dict, str]] = {}
        for i, section in enumerate(sections or []):
            path = join_path(self._p("functions"), i)
            if not isinstance(section, dict) or not isinstance(section.get("namespace"), str):
                raise TemplateError("InvalidTemplate", "a functions entry needs a 'namespace'.", path)
            for member, spec in (section.get("members") or {}).items():
                table[f"{section['namespace']}.{member}".lower()] = (
                    spec.get("parameters") or [], spec.get("output") or {}, join_path(join_path(path, "members"), member)
                )
        return table

    def call_user_function(self, name: str, args: list, scope: Scope) -> Any:
        entry = self.user_functions.get(name.lower())
        if entry is None and self.outer is not None:
            return self.outer.call_user_function(name, args, scope)
        if entry is None:
            raise TemplateError(
                "UnsupportedFunction", f"'{name}' is not a user-defined function of this template.", scope.path
            )
        params, output, path = entry
        if len(args) != len(params):
            raise TemplateError(
                "InvalidFunctionCall", f"{name}() takes {len(params)} argument(s) but was given {len(args)}.",
                scope.path,
            )
        bound = {str(p.get("name", "")).lower(): v for p, v in zip(params, args)}
        fscope = Scope(self, where="function", path=join_path(join_path(path, "output"), "value"), function_params=bound)
        return evaluate_value(output.get("value"), fscope)

    # --- context objects ---

    def now(self) -> datetime:
        if self._now is None:
            self._now = self.context.utc_now or datetime.now(timezone.utc)
        return self._now

    def resource_group_object(self, scope: Scope) -> dict:
        if self.scope_kind != "resourceGroup":
            raise ArgError(
                "resourceGroup() is not available in a subscription-scope deployment; target a resource group "
                "with a nested deployment (its 'resourceGroup' property) or use subscription()"
            )
        ctx = self.context
        return {
            "id": f"/subscriptions/{ctx.subscription_id}/resourceGroups/{ctx.resource_group}",
            "name": ctx.resource_group,
            "type": "Microsoft.Resources/resourceGroups",
            "location": ctx.location,
            "tags": {},
            "properties": {"provisioningState": "Succeeded"},
        }

    def subscription_object(self) -> dict:
        ctx = self.context
        return {
            "id": f"/subscriptions/{ctx.subscription_id}",
            "subscriptionId": ctx.subscription_id,
            "tenantId": ctx.tenant_id,
            "displayName": "dsvmctl subscription",
        }

    def deployment_object(self) -> dict:
        ctx = self.context
        properties: dict[str, Any] = {
            "template": {"contentVersion": self.template.get("contentVersion", "1.0.0.0")},
            "mode": ctx.mode,
            "provisioningState": "Accepted",
        }
        if "metadata" in self.template:
            properties["template"]["metadata"] = self.template["metadata"]
        if ctx.template_link:
            properties["templateLink"] = {"uri": ctx.template_link, "contentVersion": "1.0.0.0"}
        out: dict[str, Any] = {"name": ctx.deployment_name, "properties": properties}
        if self.scope_kind == "subscription":
            out["location"] = ctx.location
        return out

    def _scope_id(self) -> str:
        ctx = self.context
        if self.scope_kind == "subscription":
            return f"/subscriptions/{ctx.subscription_id}"
        return f"/subscriptions/{ctx.subscription_id}/resourceGroups/{ctx.resource_group}"

    def resource_id(self, args: list[str], scope: Scope) -> str:
        type_at = next((i for i, a in enumerate(args) if _looks_like_type(a)), None)
        if type_at is None or type_at > 2:
            raise ArgError(
                "expected [subscriptionId], [resourceGroupName], a resource type such as "
                "'Microsoft.Network/virtualNetworks', then the name segments"
            )
        ctx = self.context
        sub, rg = ctx.subscription_id, (ctx.resource_group if self.scope_kind == "resourceGroup" else None)
        if type_at == 1:
            rg = args[0]
        elif type_at == 2:
            sub, rg = args[0], args[1]
        base = f"/subscriptions/{sub}" + (f"/resourceGroups/{rg}" if rg else "")
        return base + _provider_path(args[type_at:])

    # --- resources ---

    def read_resources(self) -> None:
        resources = self.template.get("resources")
        base = self._p("resources")
        if self.symbolic:
            if not isinstance(resources, dict):
                raise TemplateError(
                    "InvalidTemplate", "with languageVersion 2.0, 'resources' must be an object of symbolic names.",
                    base,
                )
            items = [(join_path(base, sym), sym, raw) for sym, raw in resources.items()]
        else:
            if not isinstance(resources, list):
                raise TemplateError("InvalidTemplate", "'resources' must be an array.", base)
            items = [(join_path(base, i), None, raw) for i, raw in enumerate(resources)]
        for path, symbol, raw in items:
            self._declare(raw, path, None, symbol)

    def _declare(self, raw: Any, path: str, parent: _Decl | None, symbol: str | None) -> None:
        if not isinstance(raw, dict):
            raise TemplateError("InvalidTemplate", "a resource must be an object.", path)
        for key in ("type", "name"):
            if key not in raw:
                raise TemplateError("InvalidTemplate", f"the resource has no '{key}'.", path)
        decl = _Decl(raw, path, parent, symbol)
        self.decls.append(decl)
        if symbol:
            self.by_symbol[symbol.lower()] = decl
        children = raw.get("resources")
        if children is not None:
            if not isinstance(children, list):
                raise TemplateError("InvalidTemplate", "nested 'resources' must be an array.", join_path(path, "resources"))
            for i, child in enumerate(children):
                self._declare(child, join_path(join_path(path, "resources"), i), decl, None)

    def instantiate(self) -> None:
        """Evaluate each resource's loop, condition, type and name (bodies come later)."""
        for decl in self.decls:
            parents = decl.parent.instances if decl.parent else [None]
            for parent in parents:
                base_copy = dict(parent.copy) if parent else {}
                spec = decl.raw.get("copy")
                if spec is None:
                    self._add_instance(decl, parent, base_copy, None)
                    continue
                spec_path = join_path(decl.path, "copy")
                if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                    raise TemplateError("InvalidTemplate", "a resource copy block needs a 'name' and a 'count'.", spec_path)
                count = copy_count(spec, Scope(self, path=spec_path, copy=base_copy))
                for i in range(count):
                    copy = {**base_copy, spec["name"].lower(): i, "": i}
                    self._add_instance(decl, parent, copy, i)

    def _add_instance(self, decl: _Decl, parent: _Instance | None, copy: dict, index: int | None) -> None:
        inst = _Instance(decl, copy, index, decl.path)
        scope = Scope(self, path=decl.path, copy=copy, referrer=inst)
        raw = decl.raw
        if "condition" in raw:
            cond = evaluate_value(raw["condition"], scope.at(join_path(decl.path, "condition")))
            if not isinstance(cond, bool):
                raise TemplateError(
                    "InvalidTemplate", f"a condition must be a bool, got {type_name(cond)} {short(cond)}.",
                    join_path(decl.path, "condition"),
                )
            inst.condition = cond
        rtype = evaluate_value(raw["type"], scope.at(join_path(decl.path, "type")))
        name = evaluate_value(raw["name"], scope.at(join_path(decl.path, "name")))
        if not isinstance(rtype, str) or "/" not in rtype and parent is None:
            raise TemplateError(
                "InvalidTemplate", f"resource type {short(rtype)} is not of the form 'Namespace/type'.",
                join_path(decl.path, "type"),
            )
        if not isinstance(name, str) or not name:
            raise TemplateError("InvalidTemplate", f"resource name {short(name)} must be a non-empty string.",
                                join_path(decl.path, "name"))
        if parent is not None and not _looks_like_type(rtype):
            rtype = f"{parent.type}/{rtype}"  # nested child: type and name are relative to the parent
            if len(name.split("/")) < len(rtype.split("/")) - 1:
                name = f"{parent.name}/{name}"
        inst.type, inst.name = rtype, name
        inst.existing = raw.get("existing") is True
        api = raw.get("apiVersion")
        inst.api_version = evaluate_value(api, scope.at(join_path(decl.path, "apiVersion"))) if api is not None else None
        inst.id = self._instance_id(inst, scope)
        if parent is not None:
            inst.deps.append(parent)
        decl.instances.append(inst)
        self.instances.append(inst)

    def _instance_id(self, inst: _Instance, scope: Scope) -> str:
        raw, ctx = inst.decl.raw, self.context
        try:
            provider = _provider_path([inst.type, inst.name])
        except ArgError as exc:
            raise TemplateError("InvalidTemplate", str(exc) + ".", join_path(inst.path, "name")) from None
        if "scope" in raw:  # an extension resource (lock, role assignment, diagnostic setting…)
            target = evaluate_value(raw["scope"], scope.at(join_path(inst.path, "scope")))
            if not isinstance(target, str):
                raise TemplateError("InvalidTemplate", "'scope' must be a resource id.", join_path(inst.path, "scope"))
            if not target.startswith("/"):
                target = f"{self._scope_id()}/providers/{target}"
            return target.rstrip("/") + provider
        if inst.type.lower() == "microsoft.resources/deployments" and ("resourceGroup" in raw or "subscriptionId" in raw):
            sub = evaluate_value(raw.get("subscriptionId", ctx.subscription_id), scope)
            rg = evaluate_value(raw["resourceGroup"], scope) if "resourceGroup" in raw else (
                ctx.resource_group if self.scope_kind == "resourceGroup" else None
            )
            return f"/subscriptions/{sub}" + (f"/resourceGroups/{rg}" if rg else "") + provider
        if inst.type.lower() == "microsoft.resources/resourcegroups":
            return f"/subscriptions/{ctx.subscription_id}/resourceGroups/{inst.name}"
        return self._scope_id() + provider

    def _deployed(self) -> list[_Instance]:
        return [i for i in self.instances if i.condition and not i.existing]

    def find_instance(self, target: str, scope: Scope) -> _Instance | None:
        lowered = target.lower()
        if self.symbolic and lowered in self.by_symbol:
            decl = self.by_symbol[lowered]
            if len(decl.instances) == 1 or (decl.raw.get("copy") is None and decl.instances):
                return decl.instances[0]
            if "" in scope.copy and decl.instances and decl.raw.get("copy") is not None:
                index = scope.copy[""]
                if index < len(decl.instances):
                    return decl.instances[index]
            return None
        if lowered.startswith("/"):
            exact = [i for i in self.instances if i.id.lower() == lowered]
            if exact:
                return exact[0]
            parsed = _type_and_name(target)
            matches = [i for i in self.instances if parsed and (i.type.lower(), i.name.lower()) == parsed]
            return matches[0] if matches else None
        matches = [i for i in self.instances if i.name.lower() == lowered]
        if not matches and _looks_like_type(target):  # "Microsoft.Network/networkInterfaces/nic1"
            parsed = _type_and_name_from_short(target)
            matches = [i for i in self.instances if parsed and (i.type.lower(), i.name.lower()) == parsed]
        return matches[0] if matches else None

    def body(self, inst: _Instance) -> dict:
        if inst.state == "done":
            return inst.body  # type: ignore[return-value]
        if inst.state == "evaluating":
            raise TemplateError(
                "CircularDependency",
                f"resource '{inst.name}' ({inst.type}) refers to itself through reference().",
                inst.path,
            )
        inst.state = "evaluating"
        raw = inst.decl.raw
        scope = Scope(self, path=inst.path, copy=inst.copy, referrer=inst)
        is_deployment = inst.type.lower() == "microsoft.resources/deployments"
        body: dict[str, Any] = {}
        for key, value in raw.items():
            if key in _DECLARATION_KEYS:
                continue
            kscope = scope.at(join_path(inst.path, key))
            if is_deployment and key == "properties" and isinstance(value, dict):
                body[key] = evaluate_value({k: v for k, v in value.items() if k != "template"}, kscope, loops=True)
                if "template" in value:
                    body[key]["template"] = value["template"]
            else:
                body[key] = evaluate_value(value, kscope, loops=True)
        inst.body = body
        if is_deployment:
            inst.nested = self._expand_nested(inst, body)
        inst.state = "done"
        return body

    def _expand_nested(self, inst: _Instance, body: dict) -> Expansion | None:
        props = body.get("properties") or {}
        path = join_path(inst.path, "properties")
        if "templateLink" in props and "template" not in props:
            link = props["templateLink"]
            where = link.get("uri") or link.get("id") or link.get("relativePath") if isinstance(link, dict) else link
            self.warn(
                "TemplateLinkNotExpanded",
                f"nested deployment '{inst.name}' links to a template ({where}); linked templates are not "
                "fetched offline, so its resources are not expanded or checked.",
                join_path(path, "templateLink"),
            )
            return None
        template = props.get("template")
        if not isinstance(template, dict):
            raise TemplateError(
                "InvalidTemplate", "a nested deployment needs 'properties.template' or 'properties.templateLink'.", path
            )
        options = props.get("expressionEvaluationOptions") or {}
        inner = str(options.get("scope", "outer")).lower() == "inner" if isinstance(options, dict) else False
        raw = inst.decl.raw
        ctx = DeploymentContext(**vars(self.context))
        ctx.deployment_name = inst.name
        scope_kind = self.scope_kind
        if "subscriptionId" in raw:
            ctx.subscription_id = body.get("subscriptionId") or ctx.subscription_id
        if "resourceGroup" in raw:
            ctx.resource_group = body.get("resourceGroup") or evaluate_value(
                raw["resourceGroup"], Scope(self, path=inst.path, copy=inst.copy)
            )
            scope_kind = "resourceGroup"
        if scope_kind == "subscription" and "subscriptionDeploymentTemplate" not in str(template.get("$schema", "")):
            scope_kind = _template_scope(template, path)
        template_path = join_path(path, "template")
        if inner:
            supplied = load_parameters({"parameters": props.get("parameters") or {}, "contentVersion": "1.0.0.0"})
            child = _Deployment(template, supplied, ctx, self.resolver, warnings=self.warnings,
                                path=template_path, scope_kind=scope_kind)
        else:
            child = _Deployment(template, {}, ctx, self.resolver, warnings=self.warnings,
                                path=template_path, outer=self, scope_kind=scope_kind)
        return child.run()

    def resolve_dependencies(self) -> None:
        for inst in self._deployed():
            raw = inst.decl.raw.get("dependsOn")
            if raw is None:
                continue
            path = join_path(inst.path, "dependsOn")
            entries = evaluate_value(raw, Scope(self, path=path, copy=inst.copy))
            if not isinstance(entries, list):
                raise TemplateError("InvalidTemplate", "'dependsOn' must be an array.", path)
            for i, entry in enumerate(entries):
                if not isinstance(entry, str):
                    raise TemplateError("InvalidTemplate", "dependsOn entries must be strings.", join_path(path, i))
                inst.deps.extend(self._dependency_targets(entry, join_path(path, i), inst))

    def _dependency_targets(self, entry: str, path: str, depender: _Instance | None = None) -> list[_Instance]:
        lowered = entry.lower()
        if self.symbolic and lowered in self.by_symbol:
            return self.by_symbol[lowered].instances
        loops = [d for d in self.decls if isinstance(d.raw.get("copy"), dict)
                 and str(d.raw["copy"].get("name", "")).lower() == lowered]
        if loops:
            return [i for d in loops for i in d.instances]
        found = self.find_instance(entry, Scope(self, path=path)) or self._child_by_own_name(entry, depender)
        if found is None:
            raise TemplateError(
                "UnknownResource",
                f"dependsOn names '{entry}', which this template does not define. Depend on resources of this "
                "template only (by name, resourceId() or copy loop name); remove the entry otherwise.",
                path,
            )
        return [found]

    def _child_by_own_name(self, entry: str, depender: _Instance | None) -> _Instance | None:
        """ARM also resolves a dependsOn that names a child resource by its last name segment
        (`"[parameters('subnet1Name')]"` beside it in a VNet's `resources`); a sibling of the
        depending resource wins over a namesake elsewhere."""
        lowered = entry.lower()
        if "/" in lowered:
            return None
        matches = [i for i in self.instances if "/" in i.name and i.name.lower().rsplit("/", 1)[1] == lowered]
        if depender is not None and "/" in depender.name:
            parent = depender.name.lower().rsplit("/", 1)[0]
            siblings = [i for i in matches if i.name.lower().rsplit("/", 1)[0] == parent]
            matches = siblings or matches
        return matches[0] if matches else None

    def order(self) -> list[_Instance]:
        """Deployment order: dependencies first, otherwise declaration order (Kahn's algorithm)."""
        deployed = self._deployed()
        position = {id(i): n for n, i in enumerate(deployed)}
        pending = {id(i): {id(d) for d in i.deps if id(d) in position and d is not i} for i in deployed}
        done: list[_Instance] = []
        remaining = list(deployed)
        while remaining:
            ready = next((i for i in remaining if not pending[id(i)]), None)
            if ready is None:
                cycle = _find_cycle(remaining, pending)
                raise TemplateError(
                    "CircularDependency",
                    "circular dependency between resources: " + " -> ".join(f"'{i.name}'" for i in cycle)
                    + ". Remove one of these dependsOn entries (or the reference() that implies it).",
                    cycle[0].path,
                )
            remaining.remove(ready)
            done.append(ready)
            for other in remaining:
                pending[id(other)].discard(id(ready))
        return done

    # --- reference() and list*() ---

    def reference(self, target: str, api_version: Any, full: bool, scope: Scope) -> Any:
        self._check_runtime_allowed("reference", scope)
        inst = self.find_instance(target, scope) if self.outer is None else (
            self.find_instance(target, scope) or self.outer.find_instance(target, scope)
        )
        resource_id = inst.id if inst else (target if target.startswith("/") else None)
        if self.resolver is not None and resource_id and hasattr(self.resolver, "reference"):
            known = self.resolver.reference(resource_id, api_version, full)
            if known is not None:
                return known
        if inst is None:
            if resource_id is None:
                raise TemplateError(
                    "UnknownResource",
                    f"reference('{target}') names no resource of this template; for a resource deployed "
                    "elsewhere pass its id, e.g. reference(resourceId(...), '<api-version>').",
                    scope.path,
                )
            self.warn_once(
                f"ref:{resource_id.lower()}", "ExternalReference",
                f"reference() to '{resource_id}', which this template does not deploy; its properties are "
                "only known at deployment time (placeholders stand in).",
                scope.path,
            )
            return DeployTimeObject({}, f"reference('{resource_id}')")
        if not inst.condition:
            raise TemplateError(
                "UnknownResource",
                f"reference('{target}') names a resource whose condition is false, so it is not deployed; "
                "guard the reference with if() on the same condition.",
                scope.path,
            )
        mine = any(inst is i for i in self.instances)
        if mine and scope.referrer is not None and scope.referrer is not inst:
            scope.referrer.deps.append(inst)  # reference() implies a dependency, as ARM infers it
        body = (self if mine else self.outer).body(inst)  # type: ignore[union-attr]
        origin = f"reference('{inst.id}')"
        properties = DeployTimeObject(dict(body.get("properties") or {}), origin)
        if inst.nested is not None:
            properties["outputs"] = inst.nested.outputs
            properties.setdefault("provisioningState", "Succeeded")
        if not full:
            return properties
        full_body = DeployTimeObject({**body, "properties": properties}, origin)
        full_body.update(id=inst.id, name=inst.name, type=inst.type)
        return full_body

    def resource_info(self, symbol: str, scope: Scope) -> dict:
        inst = self.find_instance(symbol, scope)
        if inst is None:
            raise ArgError(f"'{symbol}' is not a resource of this template")
        return {"id": inst.id, "name": inst.name, "type": inst.type, "apiVersion": inst.api_version}

    def list_call(self, function: str, target: str, api_version: Any, scope: Scope) -> Any:
        self._check_runtime_allowed(function, scope)
        if target.startswith("/"):
            resource_id = target
        else:
            inst = self.find_instance(target, scope)
            if inst is None:
                raise TemplateError(
                    "UnknownResource", f"{function}('{target}') names no resource of this template; pass a resource id.",
                    scope.path,
                )
            resource_id = inst.id
        if self.resolver is not None:
            if function.lower() == "listkeys" and hasattr(self.resolver, "list_keys"):
                known = self.resolver.list_keys(resource_id, api_version)
            elif hasattr(self.resolver, "list_call"):
                known = self.resolver.list_call(function, resource_id, api_version)
            else:
                known = None
            if known is not None:
                return known
        self.warn_once(
            f"list:{function.lower()}:{resource_id.lower()}", "ListPlaceholder",
            f"{function}() on '{resource_id}' returns secrets only Azure knows; a placeholder object "
            "(\"dsvmctlPlaceholder\": true) stands in for it.",
            scope.path,
        )
        placeholder: dict[str, Any] = {"dsvmctlPlaceholder": True, "function": function, "resourceId": resource_id}
        if function.lower() == "listkeys":
            placeholder["keys"] = [
                {"keyName": f"key{n}", "value": f"<placeholder {function} key{n}>", "permissions": "FULL"}
                for n in (1, 2)
            ]
        return DeployTimeObject(placeholder, f"{function}('{resource_id}')")

    def _check_runtime_allowed(self, function: str, scope: Scope) -> None:
        if scope.where in ("parameters", "variables", "function"):
            where = {"parameters": "a parameter default", "variables": "a variable",
                     "function": "a user-defined function"}[scope.where]
            raise ArgError(
                f"{function}() cannot be used in {where}: ARM only knows deployed resources while deploying "
                "resources and outputs"
            )

    # --- warnings and the whole run ---

    def warn(self, code: str, message: str, path: str = "") -> None:
        self.warnings.append(ExpansionWarning(code, message, path))

    def warn_once(self, key: str, code: str, message: str, path: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.warn(code, message, path)

    def outputs(self) -> dict[str, dict]:
        outputs = self.template.get("outputs") or {}
        base = self._p("outputs")
        if not isinstance(outputs, dict):
            raise TemplateError("InvalidTemplate", "'outputs' must be an object of named outputs.", base)
        result: dict[str, dict] = {}
        for name, spec in outputs.items():
            path = join_path(base, name)
            if not isinstance(spec, dict):
                raise TemplateError("InvalidTemplate", "an output must be an object with 'type' and 'value'.", path)
            scope = Scope(self, where="outputs", path=path)
            if "condition" in spec and evaluate_value(spec["condition"], scope.at(join_path(path, "condition"))) is not True:
                continue
            if "copy" in spec:
                copy_spec = spec["copy"]
                copy_path = join_path(path, "copy")
                if not isinstance(copy_spec, dict) or "input" not in copy_spec:
                    raise TemplateError("InvalidTemplate", "an output copy needs 'count' and 'input'.", copy_path)
                count = copy_count(copy_spec, scope.at(copy_path))
                # copyIndex() without a loop name refers to the output loop
                value = [
                    evaluate_value(copy_spec["input"], Scope(self, where="outputs", path=join_path(copy_path, "input"),
                                                             copy={"": i}), loops=True)
                    for i in range(count)
                ]
            elif "value" in spec:
                value = evaluate_value(spec["value"], scope.at(join_path(path, "value")), loops=True)
            else:
                raise TemplateError("InvalidTemplate", "an output needs a 'value' (or a 'copy').", path)
            otype = str(spec.get("type", "")).lower()
            expected = PARAMETER_TYPES.get(otype)
            if expected is not None and value is not None and not isinstance(value, (DeployTimeValue, DeployTimeObject)):
                if not _is_type(value, otype):
                    raise TemplateError(
                        "InvalidTemplate",
                        f"output '{name}' is declared as {spec.get('type')} but its value is {type_name(value)} "
                        f"{short(value)}.",
                        join_path(path, "value"),
                    )
            result[name] = {"type": spec.get("type"), "value": value}
        return result

    def run(self) -> Expansion:
        if self.outer is None:
            self.resolve_parameters()
            self.read_variables()
            for lowered in list(self.var_decls):  # ARM evaluates every variable, used or not
                self.variable(lowered, Scope(self, where="variables"))
        self.read_resources()
        self.instantiate()
        self.resolve_dependencies()
        for inst in self._deployed():
            self.body(inst)
        ordered = self.order()
        resources = [self._resource(inst) for inst in ordered]
        outputs = self.outputs()
        secure = {name for name, decl, _ in self.param_decls.values()
                  if isinstance(decl, dict) and str(decl.get("type", "")).lower() in SECURE_TYPES}
        return Expansion(
            resources=resources,
            outputs=outputs,
            warnings=self.warnings,
            parameters={self.param_decls[k][0]: v for k, v in self.param_values.items()},
            secure_parameters=secure,
            scope=self.scope_kind,
            skipped=[i.id for i in self.instances if not i.condition],
        )

    def _resource(self, inst: _Instance) -> Resource:
        body = inst.body or {}
        seen: set[str] = set()
        depends_on = []
        for dep in inst.deps:
            if dep is inst or not dep.condition or dep.existing or dep.id in seen:
                continue
            seen.add(dep.id)
            depends_on.append(dep.id)
        location = body.get("location")
        return Resource(
            type=inst.type,
            name=inst.name,
            id=inst.id,
            api_version=inst.api_version,
            location=location if isinstance(location, str) else None,
            properties=body.get("properties") if isinstance(body.get("properties"), dict) else {},
            depends_on=depends_on,
            body=body,
            path=inst.path,
            raw=inst.decl.raw,
            symbolic_name=inst.decl.symbolic,
            copy_index=inst.copy_index,
            nested=inst.nested,
        )


# --- helpers ---------------------------------------------------------------------------------


def _declarations(section: Any, path: str) -> dict[str, tuple[str, Any, str]]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise TemplateError("InvalidTemplate", "'parameters' must be an object.", path)
    return {name.lower(): (name, decl, join_path(path, name)) for name, decl in section.items()}


def _is_symbolic(template: dict) -> bool:
    version = str(template.get("languageVersion", ""))
    return version.startswith("2.") or isinstance(template.get("resources"), dict)


def _template_scope(template: dict, path: str) -> str:
    schema = str(template.get("$schema", "")).lower()
    if "subscriptiondeploymenttemplate" in schema:
        return "subscription"
    if "managementgroupdeploymenttemplate" in schema or "tenantdeploymenttemplate" in schema:
        raise TemplateError(
            "UnsupportedConstruct",
            "management-group and tenant scope templates are not supported; use a resource group or "
            "subscription scope template.",
            path,
        )
    return "resourceGroup"


def _is_type(value: Any, ptype: str) -> bool:
    if ptype == "int":
        return is_int(value)
    if ptype == "bool":
        return isinstance(value, bool)
    return isinstance(value, PARAMETER_TYPES[ptype])


def _check_parameter(name: str, decl: dict, ptype: str, value: Any, path: str) -> None:
    declared = decl.get("type")
    if isinstance(value, (DeployTimeValue, DeployTimeObject)):
        return
    if not _is_type(value, ptype):
        raise TemplateError(
            "InvalidParameter",
            f"parameter '{name}' expects a value of type {declared} but got {type_name(value)} {short(value)}.",
            path,
        )
    allowed = decl.get("allowedValues")
    if isinstance(allowed, list):
        items = value if ptype == "array" else [value]
        for item in items:
            if not any(json_equal(item, a) for a in allowed):
                shown = ", ".join(short(a) for a in allowed)
                raise TemplateError(
                    "InvalidParameter",
                    f"parameter '{name}' is {short(item)}, which is not one of its allowed values ({shown}).",
                    path,
                )
    if ptype == "int":
        low, high = decl.get("minValue"), decl.get("maxValue")
        if is_int(low) and value < low or is_int(high) and value > high:
            raise TemplateError(
                "InvalidParameter",
                f"parameter '{name}' is {value}, outside its allowed range {low if low is not None else '-inf'}.."
                f"{high if high is not None else 'inf'}.",
                path,
            )
    if ptype in ("string", "securestring", "array"):
        low, high = decl.get("minLength"), decl.get("maxLength")
        length = len(value)
        if is_int(low) and length < low or is_int(high) and length > high:
            shown = "(secure value)" if ptype == "securestring" else short(value)
            raise TemplateError(
                "InvalidParameter",
                f"parameter '{name}' has length {length} {shown}; its length must be between "
                f"{low if low is not None else 0} and {high if high is not None else 'any'}.",
                path,
            )


_ID_PROVIDERS = re.compile(r"/providers/", re.IGNORECASE)


def _type_and_name(resource_id: str) -> tuple[str, str] | None:
    """'/subscriptions/s/resourceGroups/rg/providers/A.B/c/n1/d/n2' -> ('a.b/c/d', 'n1/n2')."""
    parts = _ID_PROVIDERS.split(resource_id)
    if len(parts) < 2:
        segs = resource_id.strip("/").split("/")
        if len(segs) == 4 and segs[2].lower() == "resourcegroups":
            return ("microsoft.resources/resourcegroups", segs[3].lower())
        return None
    segs = parts[-1].strip("/").split("/")
    if len(segs) < 3 or len(segs) % 2 == 0:
        return None
    types = [segs[0], segs[1]] + segs[3::2]
    names = segs[2::2]
    return ("/".join(types).lower(), "/".join(names).lower())


def _type_and_name_from_short(text: str) -> tuple[str, str] | None:
    """'Microsoft.Network/networkInterfaces/nic1' -> type + name, when the split is unambiguous."""
    segs = text.split("/")
    if len(segs) < 3:
        return None
    # namespace/type/name[/childType/childName...]
    types = [segs[0], segs[1]] + segs[3::2]
    names = segs[2::2]
    if len(types) - 1 != len(names):
        return None
    return ("/".join(types).lower(), "/".join(names).lower())


def _find_cycle(remaining: list[_Instance], pending: dict[int, set[int]]) -> list[_Instance]:
    by_id = {id(i): i for i in remaining}
    start = remaining[0]
    seen: list[_Instance] = []
    node = start
    while node not in seen:
        seen.append(node)
        node = by_id[next(iter(sorted(pending[id(node)], key=lambda k: remaining.index(by_id[k]))))]
    return seen[seen.index(node):] + [node]


# --- public entry point ------------------------------------------------------------------------


def expand(
    template: dict,
    parameters: dict | None = None,
    *,
    context: DeploymentContext | None = None,
    resolver: Any = None,
) -> Expansion:
    """Evaluate `template` with `parameters` (file shape, `{"x": {"value": v}}` or `{"x": v}`).

    Raises TemplateError (with code, message and JSON path) when ARM would reject the template
    or when the template uses something this engine does not implement."""
    if not isinstance(template, dict):
        raise TemplateError("InvalidTemplate", "a template must be a JSON object.")
    if "resources" not in template:
        raise TemplateError("InvalidTemplate", "the template has no 'resources' section.")
    supplied = load_parameters(parameters) if parameters else {}
    context = context or DeploymentContext()
    deployment = _Deployment(template, supplied, context, resolver, warnings=[], scope_kind=context.scope)
    secrets = secure_values(template, supplied)
    try:
        expansion = deployment.run()
    except TemplateError as err:
        raise _redacted_error(err, secrets) from None
    for warning in expansion.warnings:
        warning.message = redact(warning.message, secrets)
    return expansion


def _redacted_error(err: TemplateError, secrets: set[str]) -> TemplateError:
    """The same error, with no secure parameter value in its message (nor in its text)."""
    err.message = redact(err.message, secrets)
    err.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in err.args)
    return err


def example_parameter_values(template: dict, supplied: dict | None = None) -> dict[str, dict]:
    """Values for required parameters that have none, so a template can be expanded and
    linted before its user has chosen them. Respects allowedValues, lengths and ranges;
    secure strings get a generated password-like value. Returns `{"name": {"value": v}}`."""
    given = {k.lower() for k in load_parameters(supplied)} if supplied else set()
    out: dict[str, dict] = {}
    declared = template.get("parameters") or {}
    if not isinstance(declared, dict):
        raise TemplateError("InvalidTemplate", "'parameters' must be an object of parameter declarations.",
                            "parameters")
    for name, decl in declared.items():
        if name.lower() in given or not isinstance(decl, dict) or "defaultValue" in decl or decl.get("nullable"):
            continue
        out[name] = {"value": _example_value(name, decl)}
    return out


def _example_value(name: str, decl: dict) -> Any:
    allowed = decl.get("allowedValues")
    ptype = str(decl.get("type", "string")).lower()
    if isinstance(allowed, list) and allowed:
        return [allowed[0]] if ptype == "array" else allowed[0]
    low, high = decl.get("minLength"), decl.get("maxLength")
    if ptype in ("string", "securestring"):
        base = "Example-Secret-Passw0rd!" if ptype == "securestring" else "x" + re.sub(r"[^a-z0-9]", "", name.lower())
        if is_int(low) and len(base) < low:
            base = base + "x" * (low - len(base))
        if is_int(high) and len(base) > high:
            base = base[:high]
        return base
    if ptype == "int":
        low, high = decl.get("minValue"), decl.get("maxValue")
        return low if is_int(low) else (min(1, high) if is_int(high) else 1)
    if ptype == "bool":
        return False
    if ptype == "array":
        return ["x"] * (low if is_int(low) else 0)
    return {}
