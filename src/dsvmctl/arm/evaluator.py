"""Evaluating parsed expressions and JSON values against a deployment.

`Scope` is everything an expression can see at one place in a template: the deployment
(parameters, variables, resources, context), the copy-loop indexes in force, lambda variables,
and which section is being evaluated (some functions are only allowed in some sections).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import TemplateError
from .parse import Call, Index, Literal, Member, Node, is_expression, parse_expression, unescape_literal


class DeployTimeValue(str):
    """A string only known once Azure has deployed something (e.g. a public IP's address).

    Returned for properties of reference()/list*() results that the engine cannot know. The
    text says where it came from; further `.x` or `[i]` access extends it instead of failing.
    """

    origin: str

    def __new__(cls, origin: str) -> "DeployTimeValue":
        obj = super().__new__(cls, f"<deploy-time value: {origin}>")
        obj.origin = origin
        return obj


class DeployTimeObject(dict):
    """An object from reference()/list*() whose missing properties are deploy-time values.

    Nested objects are wrapped too: Azure adds properties at every level (ids of sub-resources,
    a public IP's dnsSettings.fqdn) that the template did not write."""

    origin: str = ""

    def __init__(self, data: dict, origin: str):
        super().__init__({k: _wrap(v, f"{origin}.{k}") for k, v in data.items()})
        self.origin = origin


def _wrap(value: Any, origin: str) -> Any:
    if isinstance(value, dict) and not isinstance(value, DeployTimeObject):
        return DeployTimeObject(value, origin)
    if isinstance(value, list):
        return [_wrap(v, f"{origin}[{i}]") for i, v in enumerate(value)]
    return value


@dataclass
class Lambda:
    params: tuple[str, ...]
    body: Node
    scope: "Scope"

    def __call__(self, *values: Any) -> Any:
        bound = dict(self.scope.lambda_vars)
        for name, value in zip(self.params, values):
            bound[name.lower()] = value
        return evaluate_node(self.body, replace(self.scope, lambda_vars=bound))


@dataclass
class Scope:
    deployment: Any  # template._Deployment (duck-typed to keep this module free of cycles)
    where: str = "resources"  # parameters | variables | resources | outputs | function
    path: str = ""
    copy: dict[str, int] = field(default_factory=dict)  # loop name (lower) -> index; "" = resource loop
    lambda_vars: dict[str, Any] = field(default_factory=dict)
    function_params: dict[str, Any] | None = None  # inside a user-defined function
    referrer: Any = None  # the resource instance being evaluated: reference() adds a dependency

    def at(self, path: str) -> "Scope":
        return replace(self, path=path)


def join_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$-]*", key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def evaluate_string(text: str, scope: Scope) -> Any:
    """A JSON string from the template: an expression, an escaped literal, or plain text."""
    if not is_expression(text):
        return unescape_literal(text)
    try:
        node = parse_expression(text[1:-1])
    except TemplateError as exc:
        raise exc.at(scope.path)
    return evaluate_node(node, scope)


def evaluate_value(value: Any, scope: Scope, *, loops: bool = False) -> Any:
    """Evaluate every expression inside a JSON value. With `loops`, objects may hold `copy`
    blocks (property iteration) that become arrays."""
    if isinstance(value, str):
        return evaluate_string(value, scope)
    if isinstance(value, list):
        return [evaluate_value(item, scope.at(join_path(scope.path, i)), loops=loops) for i, item in enumerate(value)]
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            item_scope = scope.at(join_path(scope.path, key))
            if loops and key.lower() == "copy" and _is_property_copy(item):
                for i, spec in enumerate(item):
                    spec_scope = item_scope.at(join_path(item_scope.path, i))
                    result[spec["name"]] = expand_copy_block(spec, spec_scope, loops=True)
                continue
            result[key] = evaluate_value(item, item_scope, loops=loops)
        return result
    return value


def _is_property_copy(item: Any) -> bool:
    return isinstance(item, list) and bool(item) and all(
        isinstance(spec, dict) and "name" in spec and "count" in spec and "input" in spec for spec in item
    )


def copy_count(spec: dict, scope: Scope) -> int:
    count = evaluate_value(spec.get("count"), scope.at(join_path(scope.path, "count")))
    if isinstance(count, bool) or not isinstance(count, int):
        raise TemplateError(
            "InvalidTemplate",
            f"the copy count must be an integer, got {json.dumps(count)}.",
            join_path(scope.path, "count"),
        )
    if count < 0 or count > 800:
        raise TemplateError(
            "InvalidTemplate",
            f"the copy count {count} is outside 0..800, the range ARM accepts.",
            join_path(scope.path, "count"),
        )
    return count


def expand_copy_block(spec: dict, scope: Scope, *, loops: bool) -> list:
    """`{"name", "count", "input"}` -> a list, evaluating `input` with copyIndex(name) = i."""
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise TemplateError("InvalidTemplate", "a copy block needs a non-empty 'name'.", scope.path)
    count = copy_count(spec, scope)
    items = []
    input_path = join_path(scope.path, "input")
    for i in range(count):
        inner = replace(scope, copy={**scope.copy, name.lower(): i}, path=input_path)
        items.append(evaluate_value(spec["input"], inner, loops=loops))
    return items


def evaluate_node(node: Node, scope: Scope) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Call):
        from .functions import call_function  # late: functions imports this module

        return call_function(node, scope)
    if isinstance(node, Member):
        return get_member(evaluate_node(node.target, scope), node.name, scope)
    if isinstance(node, Index):
        target = evaluate_node(node.target, scope)
        index = evaluate_node(node.index, scope)
        return get_index(target, index, scope)
    raise AssertionError(f"unknown node {node!r}")


def get_member(target: Any, name: str, scope: Scope) -> Any:
    if isinstance(target, DeployTimeValue):
        return DeployTimeValue(f"{target.origin}.{name}")
    if isinstance(target, dict):
        if name in target:
            return target[name]
        lowered = name.lower()
        for key, value in target.items():  # ARM property names are case-insensitive
            if key.lower() == lowered:
                return value
        if isinstance(target, DeployTimeObject):
            return DeployTimeValue(f"{target.origin}.{name}")
        available = ", ".join(target) or "none"
        hint = ""
        if lowered == "templatelink" and "provisioningState" in target and "template" in target:
            # deployment().properties: ARM sets templateLink only for a deployment made from a URI.
            hint = (" ARM sets deployment().properties.templateLink only when the template is deployed from a "
                    "URI (a linked deployment); validate it as one with --template-uri URI.")
        raise TemplateError(
            "InvalidPropertyAccess",
            f"the property '{name}' doesn't exist; available properties are: {available}.{hint}",
            scope.path,
        )
    raise TemplateError(
        "InvalidPropertyAccess",
        f"cannot read property '{name}' of {type_name(target)} {short(target)}: only objects have properties.",
        scope.path,
    )


def get_index(target: Any, index: Any, scope: Scope) -> Any:
    if isinstance(target, DeployTimeValue):
        return DeployTimeValue(f"{target.origin}[{json.dumps(index)}]")
    if isinstance(target, list):
        if isinstance(index, bool) or not isinstance(index, int):
            raise TemplateError(
                "InvalidPropertyAccess", f"an array index must be an integer, got {short(index)}.", scope.path
            )
        if not 0 <= index < len(target):
            raise TemplateError(
                "InvalidPropertyAccess",
                f"index {index} is out of range: the array has {len(target)} element(s).",
                scope.path,
            )
        return target[index]
    if isinstance(target, dict):
        if not isinstance(index, str):
            raise TemplateError(
                "InvalidPropertyAccess", f"an object is indexed by a string, got {short(index)}.", scope.path
            )
        return get_member(target, index, scope)
    raise TemplateError(
        "InvalidPropertyAccess", f"cannot index {type_name(target)} {short(target)} with [{short(index)}].", scope.path
    )


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, Lambda):
        return "lambda"
    return type(value).__name__


def short(value: Any, limit: int = 60) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
