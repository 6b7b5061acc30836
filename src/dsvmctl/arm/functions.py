"""The template function table: what each ARM function does, one small Python function each.

Functions take the evaluated arguments (a list) and the Scope. A few are "lazy" and take the
unevaluated argument nodes instead: `if` evaluates only the branch it takes, `and`/`or` stop
early, and `lambda` captures its body. Names are case-insensitive, as in ARM.
Deployment-dependent functions (parameters, reference, resourceId…) ask `scope.deployment`.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone
from functools import cmp_to_key
from typing import Any, Callable

from . import hashing
from .errors import TemplateError
from .evaluator import DeployTimeObject, DeployTimeValue, Lambda, Scope, evaluate_node, short, type_name
from .parse import Call, Literal, Node

Function = Callable[[Scope, list], Any]
FUNCTIONS: dict[str, tuple[Function, int, int | None]] = {}
LAZY: dict[str, tuple[Callable[[Scope, tuple[Node, ...]], Any], int, int | None]] = {}


def function(name: str, min_args: int = 0, max_args: int | None = None, *, lazy: bool = False):
    def register(fn):
        table = LAZY if lazy else FUNCTIONS
        table[name.lower()] = (fn, min_args, max_args)
        return fn

    return register


class ArgError(Exception):
    """Raised inside a function; call_function turns it into a TemplateError naming the function."""


def call_function(node: Call, scope: Scope) -> Any:
    name = node.name.lower()
    if "." in name:
        return scope.deployment.call_user_function(node.name, [evaluate_node(a, scope) for a in node.args], scope)
    entry = LAZY.get(name)
    lazy = entry is not None
    if entry is None:
        entry = FUNCTIONS.get(name)
    if entry is None:
        if name.startswith("list"):
            args = [evaluate_node(a, scope) for a in node.args]
            try:
                return _list_function(node.name, args, scope)
            except ArgError as exc:
                raise TemplateError("InvalidFunctionCall", f"{node.name}(): {exc}", scope.path) from None
        raise TemplateError(
            "UnsupportedFunction",
            f"'{node.name}' is not a template function this engine knows. Check the spelling; "
            "if it is a newer ARM function, it is not supported yet.",
            scope.path,
        )
    fn, min_args, max_args = entry
    count = len(node.args)
    if count < min_args or (max_args is not None and count > max_args):
        expected = str(min_args) if min_args == max_args else (
            f"at least {min_args}" if max_args is None else f"{min_args} to {max_args}"
        )
        raise TemplateError(
            "InvalidFunctionCall", f"{node.name}() takes {expected} argument(s) but was given {count}.", scope.path
        )
    try:
        if lazy:
            return fn(scope, node.args)
        return fn(scope, [evaluate_node(a, scope) for a in node.args])
    except ArgError as exc:
        raise TemplateError("InvalidFunctionCall", f"{node.name}(): {exc}", scope.path) from None
    except TemplateError as exc:
        raise exc.at(scope.path)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, UnicodeError) as exc:
        raise TemplateError("InvalidFunctionCall", f"{node.name}(): {exc}", scope.path) from None


# --- argument helpers -------------------------------------------------------------------


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _want(value: Any, kind: str, position: int) -> Any:
    ok = {
        "string": isinstance(value, str),
        "int": is_int(value),
        "bool": isinstance(value, bool),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }[kind]
    if not ok:
        raise ArgError(f"argument {position + 1} must be {_article(kind)}, got {type_name(value)} {short(value)}")
    return value


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def to_string(value: Any) -> str:
    """ARM's conversion to text: booleans as True/False (.NET), objects as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    raise ArgError(f"cannot convert {type_name(value)} to a string")


def json_equal(a: Any, b: Any) -> bool:
    """Deep equality where true != 1 (Python's bool is an int; JSON's is not)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b or (is_int(a) and is_int(b) and a == b)


def _same_kind(args: list, name: str) -> str:
    kinds = {type_name(a) for a in args}
    if len(kinds) != 1 or kinds.pop() not in ("array", "object", "string"):
        raise ArgError(f"all arguments must be arrays, or all objects, got {', '.join(type_name(a) for a in args)}")
    return type_name(args[0])


# --- deployment values ------------------------------------------------------------------


@function("parameters", 1, 1)
def _parameters(scope, args):
    return scope.deployment.parameter(_want(args[0], "string", 0), scope)


@function("variables", 1, 1)
def _variables(scope, args):
    return scope.deployment.variable(_want(args[0], "string", 0), scope)


@function("copyIndex", 0, 2)
def _copy_index(scope, args):
    loop, offset = "", 0
    if len(args) == 2:
        loop, offset = _want(args[0], "string", 0), _want(args[1], "int", 1)
    elif len(args) == 1:
        if is_int(args[0]):
            offset = args[0]
        else:
            loop = _want(args[0], "string", 0)
    key = loop.lower()
    if key not in scope.copy:
        where = f"a copy loop named '{loop}'" if loop else "a resource copy loop"
        raise ArgError(f"copyIndex() is only valid inside {where}; this value is not in one")
    return scope.copy[key] + offset


@function("lambdaVariables", 1, 1)
def _lambda_variables(scope, args):
    name = _want(args[0], "string", 0).lower()
    if name not in scope.lambda_vars:
        raise ArgError(f"'{args[0]}' is not a variable of an enclosing lambda")
    return scope.lambda_vars[name]


@function("resourceGroup", 0, 0)
def _resource_group(scope, args):
    return scope.deployment.resource_group_object(scope)


@function("subscription", 0, 0)
def _subscription(scope, args):
    return scope.deployment.subscription_object()


@function("tenant", 0, 0)
def _tenant(scope, args):
    tenant = scope.deployment.context.tenant_id
    return {"id": f"/tenants/{tenant}", "tenantId": tenant, "countryCode": "US", "displayName": "Default Directory"}


@function("managementGroup", 0, 1)
def _management_group(scope, args):
    raise ArgError("managementGroup() is only valid in management-group deployments, which this engine does not expand")


@function("deployment", 0, 0)
def _deployment(scope, args):
    return scope.deployment.deployment_object()


@function("environment", 0, 0)
def _environment(scope, args):
    return json.loads(json.dumps(AZURE_CLOUD))  # a copy: templates must not alter ours


def _segments(args: list) -> list[str]:
    """resourceId()-style arguments: strings, and integers as ARM converts them (copyIndex())."""
    out = []
    for i, arg in enumerate(args):
        if is_int(arg) and i > 0:
            out.append(str(arg))
        else:
            out.append(_want(arg, "string", i))
    return out


# providers() (deprecated in ARM, still in az's generated templates): a namespace's resource types
# with the regions and api-versions the engine assumes (the modelled regions, a recent version).
PROVIDER_LOCATIONS = ["East US", "East US 2", "West US", "West US 2", "West Europe", "North Europe",
                      "South Central US"]
PROVIDER_API_VERSIONS = ["2024-07-01", "2023-09-01", "2023-03-01", "2022-11-01"]


@function("providers", 1, 2)
def _providers(scope, args):
    namespace = _want(args[0], "string", 0)

    def entry(rtype: str) -> dict:
        return {"resourceType": rtype, "locations": list(PROVIDER_LOCATIONS),
                "apiVersions": list(PROVIDER_API_VERSIONS)}
    if len(args) == 2:
        return entry(_want(args[1], "string", 1))
    return {"id": f"/subscriptions/{scope.deployment.context.subscription_id}/providers/{namespace}",
            "namespace": namespace, "resourceTypes": []}


@function("resourceId", 1)
def _resource_id(scope, args):
    return scope.deployment.resource_id(_segments(args), scope)


@function("subscriptionResourceId", 1)
def _subscription_resource_id(scope, args):
    args = _segments(args)
    sub = scope.deployment.context.subscription_id
    if not _looks_like_type(args[0]):
        sub, args = args[0], args[1:]
    return f"/subscriptions/{sub}" + _provider_path(args)


@function("tenantResourceId", 1)
def _tenant_resource_id(scope, args):
    return _provider_path(_segments(args))


@function("extensionResourceId", 2)
def _extension_resource_id(scope, args):
    args = _segments(args)
    return args[0].rstrip("/") + _provider_path(args[1:])


def _looks_like_type(text: str) -> bool:
    head = text.split("/", 1)[0]
    return "/" in text and "." in head


def _provider_path(args: list[str]) -> str:
    """`type, name1, name2…` -> `/providers/ns/t1/name1/t2/name2`."""
    if not args:
        raise ArgError("a resource type such as 'Microsoft.Network/virtualNetworks' and its name(s) are required")
    rtype, names = args[0], args[1:]
    segments = [seg for seg in rtype.split("/") if seg]  # ARM tolerates 'Microsoft.X/y/'
    if len(segments) < 2:
        raise ArgError(f"'{rtype}' is not a resource type such as 'Microsoft.Network/virtualNetworks'")
    flat_names = [part for name in names for part in name.split("/")]
    if len(flat_names) != len(segments) - 1:
        raise ArgError(
            f"resource type '{rtype}' needs {len(segments) - 1} name segment(s) but got {len(flat_names)} "
            f"({', '.join(names) or 'none'})"
        )
    path = f"/providers/{segments[0]}/{segments[1]}/{flat_names[0]}"
    for seg, name in zip(segments[2:], flat_names[1:]):
        path += f"/{seg}/{name}"
    return path


@function("reference", 1, 3)
def _reference(scope, args):
    target = _want(args[0], "string", 0)
    api_version = args[1] if len(args) > 1 else None
    full = len(args) > 2 and isinstance(args[2], str) and args[2].lower() == "full"
    return scope.deployment.reference(target, api_version, full, scope)


@function("resourceInfo", 1, 1)
def _resource_info(scope, args):
    return scope.deployment.resource_info(_want(args[0], "string", 0), scope)


def _list_function(name: str, args: list, scope: Scope) -> Any:
    if not args:
        raise TemplateError("InvalidFunctionCall", f"{name}() needs a resource id or name.", scope.path)
    target = _want(args[0], "string", 0)
    api_version = args[1] if len(args) > 1 else None
    return scope.deployment.list_call(name, target, api_version, scope)


@function("pickZones", 3, 5)
def _pick_zones(scope, args):
    count = args[3] if len(args) > 3 else 1
    return [str(i) for i in range(1, min(count, 3) + 1)]


# --- logic and comparison ---------------------------------------------------------------


@function("if", 3, 3, lazy=True)
def _if(scope, nodes):
    condition = evaluate_node(nodes[0], scope)
    if not isinstance(condition, bool):
        raise ArgError(f"the condition must be a bool, got {type_name(condition)} {short(condition)}")
    return evaluate_node(nodes[1] if condition else nodes[2], scope)


@function("and", 1, lazy=True)
def _and(scope, nodes):
    for i, node in enumerate(nodes):
        if not _want(evaluate_node(node, scope), "bool", i):
            return False
    return True


@function("or", 1, lazy=True)
def _or(scope, nodes):
    for i, node in enumerate(nodes):
        if _want(evaluate_node(node, scope), "bool", i):
            return True
    return False


@function("not", 1, 1)
def _not(scope, args):
    return not _want(args[0], "bool", 0)


@function("true", 0, 0)
def _true(scope, args):
    return True


@function("false", 0, 0)
def _false(scope, args):
    return False


@function("null", 0, 0)
def _null(scope, args):
    return None


@function("equals", 2, 2)
def _equals(scope, args):
    return json_equal(args[0], args[1])


def _comparable(args: list) -> tuple:
    a, b = args
    if (is_int(a) or isinstance(a, float)) and (is_int(b) or isinstance(b, float)):
        return a, b
    if isinstance(a, str) and isinstance(b, str):
        return a, b
    raise ArgError(f"can only compare two numbers or two strings, got {type_name(a)} and {type_name(b)}")


@function("less", 2, 2)
def _less(scope, args):
    a, b = _comparable(args)
    return a < b


@function("lessOrEquals", 2, 2)
def _less_or_equals(scope, args):
    a, b = _comparable(args)
    return a <= b


@function("greater", 2, 2)
def _greater(scope, args):
    a, b = _comparable(args)
    return a > b


@function("greaterOrEquals", 2, 2)
def _greater_or_equals(scope, args):
    a, b = _comparable(args)
    return a >= b


@function("coalesce", 1)
def _coalesce(scope, args):
    return next((a for a in args if a is not None), None)


# --- numbers ------------------------------------------------------------------------------


def _ints(args: list) -> list[int]:
    return [_want(a, "int", i) for i, a in enumerate(args)]


@function("add", 2, 2)
def _add(scope, args):
    a, b = _ints(args)
    return a + b


@function("sub", 2, 2)
def _sub(scope, args):
    a, b = _ints(args)
    return a - b


@function("mul", 2, 2)
def _mul(scope, args):
    a, b = _ints(args)
    return a * b


@function("div", 2, 2)
def _div(scope, args):
    a, b = _ints(args)
    if b == 0:
        raise ArgError("division by zero")
    q = abs(a) // abs(b)  # .NET truncates toward zero
    return q if (a >= 0) == (b >= 0) else -q


@function("mod", 2, 2)
def _mod(scope, args):
    a, b = _ints(args)
    if b == 0:
        raise ArgError("division by zero")
    r = abs(a) % abs(b)  # .NET: the remainder takes the dividend's sign
    return r if a >= 0 else -r


def _numbers(args: list) -> list[int]:
    values = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    if not values:
        raise ArgError("needs at least one number")
    return _ints(values)


@function("min", 1)
def _min(scope, args):
    return min(_numbers(args))


@function("max", 1)
def _max(scope, args):
    return max(_numbers(args))


@function("range", 2, 2)
def _range(scope, args):
    start, count = _ints(args)
    if count < 0 or count > 10000:
        raise ArgError(f"count must be between 0 and 10000, got {count}")
    return list(range(start, start + count))


# --- conversions --------------------------------------------------------------------------


@function("string", 1, 1)
def _string(scope, args):
    return to_string(args[0])


@function("int", 1, 1)
def _int(scope, args):
    value = args[0]
    if is_int(value):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise ArgError(f"cannot convert {type_name(value)} {short(value)} to an integer")


@function("float", 1, 1)
def _float(scope, args):
    return float(args[0])


@function("bool", 1, 1)
def _bool(scope, args):
    value = args[0]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if is_int(value):
        return value != 0
    raise ArgError(f"cannot convert {type_name(value)} {short(value)} to a bool (use 'true'/'false' or 0/1)")


@function("json", 1, 1)
def _json(scope, args):
    text = _want(args[0], "string", 0)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ArgError(f"the argument is not valid JSON: {exc}") from None


@function("array", 1, 1)
def _array(scope, args):
    return args[0] if isinstance(args[0], list) else [args[0]]


@function("createArray", 0)
def _create_array(scope, args):
    return list(args)


@function("createObject", 0)
def _create_object(scope, args):
    if len(args) % 2:
        raise ArgError("takes key/value pairs: an even number of arguments")
    return {_want(args[i], "string", i): args[i + 1] for i in range(0, len(args), 2)}


@function("base64", 1, 1)
def _base64(scope, args):
    return base64.b64encode(_want(args[0], "string", 0).encode("utf-8")).decode("ascii")


@function("base64ToString", 1, 1)
def _base64_to_string(scope, args):
    try:
        return base64.b64decode(_want(args[0], "string", 0), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise ArgError("the argument is not base64-encoded UTF-8 text") from None


@function("base64ToJson", 1, 1)
def _base64_to_json(scope, args):
    return _json(scope, [_base64_to_string(scope, args)])


@function("dataUri", 1, 1)
def _data_uri(scope, args):
    return "data:text/plain;charset=utf8;base64," + _base64(scope, [to_string(args[0])])


@function("dataUriToString", 1, 1)
def _data_uri_to_string(scope, args):
    text = _want(args[0], "string", 0)
    header, sep, data = text.partition(",")
    if not text.startswith("data:") or not sep:
        raise ArgError("the argument is not a data URI (data:...;base64,...)")
    if header.endswith(";base64"):
        return base64.b64decode(data).decode("utf-8")
    return urllib.parse.unquote(data)


@function("uri", 2, 2)
def _uri(scope, args):
    base, relative = _want(args[0], "string", 0), _want(args[1], "string", 1)
    # ARM's documented rule: keep the base up to its last '/', then append the relative part.
    if base.endswith("/"):
        return base + relative
    scheme_end = base.find("//")
    last = base.rfind("/")
    if last <= scheme_end + 1:
        return base + "/" + relative
    return base[: last + 1] + relative


@function("uriComponent", 1, 1)
def _uri_component(scope, args):
    return urllib.parse.quote(_want(args[0], "string", 0), safe="")


@function("uriComponentToString", 1, 1)
def _uri_component_to_string(scope, args):
    return urllib.parse.unquote(_want(args[0], "string", 0))


# --- strings --------------------------------------------------------------------------------


@function("concat", 0)
def _concat(scope, args):
    if args and all(isinstance(a, list) for a in args):
        return [item for a in args for item in a]
    for i, a in enumerate(args):
        if isinstance(a, (list, dict)):
            raise ArgError(
                f"argument {i + 1} is {_article(type_name(a))}: concat joins strings or arrays, not a mix "
                "(use union() for objects)"
            )
    return "".join(to_string(a) for a in args)


@function("format", 1)
def _format(scope, args):
    return dotnet_format(_want(args[0], "string", 0), args[1:])


_FORMAT_ITEM = re.compile(r"\{\{|\}\}|\{(\d+)(?:,(-?\d+))?(?::([^}]*))?\}")


def dotnet_format(template: str, values: list) -> str:
    """.NET composite formatting, as format() uses: {0}, {1,8}, {0:N2}, {{ and }}."""

    def item(match: re.Match) -> str:
        whole = match.group(0)
        if whole in ("{{", "}}"):
            return whole[0]
        index = int(match.group(1))
        if index >= len(values):
            raise ArgError(f"the format string refers to {{{index}}} but only {len(values)} value(s) follow it")
        text = _format_value(values[index], match.group(3))
        if match.group(2):
            width = int(match.group(2))
            text = text.rjust(width) if width > 0 else text.ljust(-width)
        return text

    return _FORMAT_ITEM.sub(item, template)


def _format_value(value: Any, spec: str | None) -> str:
    if not spec or not is_int(value):
        return to_string(value)
    kind, digits = spec[0], spec[1:]
    precision = int(digits) if digits.isdigit() else None
    if kind in "Nn":
        return f"{value:,.{2 if precision is None else precision}f}"
    if kind in "Dd":
        return str(value).zfill(precision or 0) if value >= 0 else "-" + str(-value).zfill(precision or 0)
    if kind in "Xx":
        text = f"{value:{'X' if kind == 'X' else 'x'}}"
        return text.zfill(precision or 0)
    if kind in "Ff":
        return f"{value:.{2 if precision is None else precision}f}"
    if set(spec) <= {"0", "#"}:  # custom zero padding such as {0:000}
        return str(value).zfill(spec.count("0"))
    raise ArgError(f"format specifier '{spec}' is not supported")


@function("toLower", 1, 1)
def _to_lower(scope, args):
    return _want(args[0], "string", 0).lower()


@function("toUpper", 1, 1)
def _to_upper(scope, args):
    return _want(args[0], "string", 0).upper()


@function("trim", 1, 1)
def _trim(scope, args):
    return _want(args[0], "string", 0).strip()


@function("replace", 3, 3)
def _replace(scope, args):
    return _want(args[0], "string", 0).replace(_want(args[1], "string", 1), _want(args[2], "string", 2))


@function("substring", 2, 3)
def _substring(scope, args):
    text = _want(args[0], "string", 0)
    start = _want(args[1], "int", 1)
    length = _want(args[2], "int", 2) if len(args) > 2 else len(text) - start
    if start < 0 or length < 0 or start + length > len(text):
        raise ArgError(
            f"start {start} and length {length} must lie within the string (its length is {len(text)})"
        )
    return text[start : start + length]


@function("take", 2, 2)
def _take(scope, args):
    value, count = args[0], _want(args[1], "int", 1)
    if not isinstance(value, (str, list)):
        raise ArgError(f"argument 1 must be a string or an array, got {type_name(value)}")
    return value[: max(count, 0)]


@function("skip", 2, 2)
def _skip(scope, args):
    value, count = args[0], _want(args[1], "int", 1)
    if not isinstance(value, (str, list)):
        raise ArgError(f"argument 1 must be a string or an array, got {type_name(value)}")
    return value[max(count, 0) :]


@function("split", 2, 2)
def _split(scope, args):
    text = _want(args[0], "string", 0)
    delimiters = args[1] if isinstance(args[1], list) else [_want(args[1], "string", 1)]
    if not delimiters:
        return [text]
    return re.split("|".join(re.escape(_want(d, "string", 1)) for d in delimiters), text)


@function("join", 2, 2)
def _join(scope, args):
    return _want(args[1], "string", 1).join(to_string(v) for v in _want(args[0], "array", 0))


@function("startsWith", 2, 2)
def _starts_with(scope, args):
    return _want(args[0], "string", 0).lower().startswith(_want(args[1], "string", 1).lower())


@function("endsWith", 2, 2)
def _ends_with(scope, args):
    return _want(args[0], "string", 0).lower().endswith(_want(args[1], "string", 1).lower())


def _index_of(args: list, last: bool) -> int:
    container, item = args
    if isinstance(container, list):
        hits = [i for i, v in enumerate(container) if json_equal(v, item)]
        return (hits[-1] if last else hits[0]) if hits else -1
    text, sub = _want(container, "string", 0).lower(), _want(item, "string", 1).lower()  # case-insensitive
    return text.rfind(sub) if last else text.find(sub)


@function("indexOf", 2, 2)
def _index_of_fn(scope, args):
    return _index_of(args, last=False)


@function("lastIndexOf", 2, 2)
def _last_index_of(scope, args):
    return _index_of(args, last=True)


@function("padLeft", 2, 3)
def _pad_left(scope, args):
    text = to_string(args[0])
    width = _want(args[1], "int", 1)
    pad = _want(args[2], "string", 2) if len(args) > 2 else " "
    if len(pad) != 1:
        raise ArgError("the padding must be a single character")
    return text.rjust(width, pad)


@function("uniqueString", 1)
def _unique_string(scope, args):
    return hashing.unique_string(*(_want(a, "string", i) for i, a in enumerate(args)))


@function("guid", 1)
def _guid(scope, args):
    return hashing.arm_guid(*(_want(a, "string", i) for i, a in enumerate(args)))


def _only_in_parameter_defaults(scope: Scope, name: str) -> None:
    if scope.where != "parameters":
        raise ArgError(
            f"{name}() may only be used in a parameter's defaultValue (ARM would make every deployment "
            "different otherwise); move it into a parameter default and use parameters() here"
        )


@function("newGuid", 0, 0)
def _new_guid(scope, args):
    _only_in_parameter_defaults(scope, "newGuid")
    return str(uuid.uuid4())


@function("utcNow", 0, 1)
def _utc_now(scope, args):
    _only_in_parameter_defaults(scope, "utcNow")
    fmt = _want(args[0], "string", 0) if args else "yyyyMMddTHHmmssZ"
    return format_datetime(scope.deployment.now(), fmt)


_DATE_TOKENS = [("yyyy", "%Y"), ("yy", "%y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("hh", "%I"),
                ("mm", "%M"), ("ss", "%S"), ("tt", "%p")]
_STANDARD_FORMATS = {"u": "yyyy-MM-dd HH:mm:ssZ", "s": "yyyy-MM-ddTHH:mm:ss", "d": "M/d/yyyy", "o": "o", "O": "o"}


def format_datetime(moment: datetime, fmt: str) -> str:
    """A subset of .NET date format strings: the standard u, s, d, o and custom y/M/d/H/h/m/s/f."""
    fmt = _STANDARD_FORMATS.get(fmt, fmt)
    if fmt == "o":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"
    out, i = [], 0
    while i < len(fmt):
        for token, code in _DATE_TOKENS:
            if fmt.startswith(token, i):
                out.append(moment.strftime(code))
                i += len(token)
                break
        else:
            if fmt[i] == "f":
                n = len(fmt[i:]) - len(fmt[i:].lstrip("f"))
                out.append(f"{moment.microsecond:06d}0"[:n])
                i += n
            elif fmt[i] in "Md" :
                out.append(str(moment.month if fmt[i] == "M" else moment.day))
                i += 1
            else:
                out.append(fmt[i])
                i += 1
    return "".join(out)


@function("dateTimeAdd", 2, 3)
def _date_time_add(scope, args):
    base = _parse_datetime(_want(args[0], "string", 0))
    moment = base + _parse_duration(_want(args[1], "string", 1))
    if len(args) > 2:
        return format_datetime(moment, _want(args[2], "string", 2))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_datetime(text: str) -> datetime:
    text = text.strip()
    for fmt in ("%Y%m%dT%H%M%SZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%SZ", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ArgError(f"'{text}' is not a date-time ARM understands") from None


def _parse_duration(text: str) -> timedelta:
    match = re.fullmatch(r"(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", text)
    if not match or text in ("P", "-P", "PT"):
        raise ArgError(f"'{text}' is not an ISO 8601 duration such as P1D or PT8H")
    sign, days, hours, minutes, seconds = match.groups()
    delta = timedelta(days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0), seconds=int(seconds or 0))
    return -delta if sign else delta


# --- arrays and objects ---------------------------------------------------------------------


@function("length", 1, 1)
def _length(scope, args):
    value = args[0]
    if isinstance(value, (str, list, dict)):
        return len(value)
    raise ArgError(f"needs a string, array or object, got {type_name(value)}")


@function("empty", 1, 1)
def _empty(scope, args):
    value = args[0]
    if value is None:
        return True
    if isinstance(value, (str, list, dict)):
        return len(value) == 0
    raise ArgError(f"needs a string, array, object or null, got {type_name(value)}")


@function("contains", 2, 2)
def _contains(scope, args):
    container, item = args
    if isinstance(container, str):
        return to_string(item) in container  # case-sensitive, as documented
    if isinstance(container, list):
        return any(json_equal(v, item) for v in container)
    if isinstance(container, dict):
        key = _want(item, "string", 1).lower()  # object keys compare case-insensitively
        return any(k.lower() == key for k in container)
    raise ArgError(f"argument 1 must be a string, array or object, got {type_name(container)}")


@function("first", 1, 1)
def _first(scope, args):
    value = args[0]
    if isinstance(value, (str, list)):
        return value[0] if value else (None if isinstance(value, list) else "")
    raise ArgError(f"needs a string or an array, got {type_name(value)}")


@function("last", 1, 1)
def _last(scope, args):
    value = args[0]
    if isinstance(value, (str, list)):
        return value[-1] if value else (None if isinstance(value, list) else "")
    raise ArgError(f"needs a string or an array, got {type_name(value)}")


def _deep_merge(a: dict, b: dict) -> dict:
    merged = dict(a)
    for key, value in b.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@function("union", 1)
def _union(scope, args):
    if _same_kind(args, "union") == "object":
        result: dict = {}
        for obj in args:
            result = _deep_merge(result, obj)
        return result
    if isinstance(args[0], str):
        raise ArgError("needs arrays or objects, not strings")
    out: list = []
    for arr in args:
        for item in arr:
            if not any(json_equal(item, seen) for seen in out):
                out.append(item)
    return out


@function("intersection", 1)
def _intersection(scope, args):
    if _same_kind(args, "intersection") == "object":
        first, rest = args[0], args[1:]
        return {k: v for k, v in first.items() if all(k in o and json_equal(o[k], v) for o in rest)}
    if isinstance(args[0], str):
        raise ArgError("needs arrays or objects, not strings")
    out: list = []
    for item in args[0]:
        if all(any(json_equal(item, x) for x in arr) for arr in args[1:]) and not any(json_equal(item, s) for s in out):
            out.append(item)
    return out


@function("items", 1, 1)
def _items(scope, args):
    obj = _want(args[0], "object", 0)
    return [{"key": k, "value": obj[k]} for k in sorted(obj, key=str.lower)]


@function("objectKeys", 1, 1)
def _object_keys(scope, args):
    return list(_want(args[0], "object", 0))


@function("shallowMerge", 1, 1)
def _shallow_merge(scope, args):
    result: dict = {}
    for i, obj in enumerate(_want(args[0], "array", 0)):
        result.update(_want(obj, "object", i))
    return result


@function("flatten", 1, 1)
def _flatten(scope, args):
    return [item for arr in _want(args[0], "array", 0) for item in _want(arr, "array", 0)]


@function("tryGet", 2)
def _try_get(scope, args):
    value = args[0]
    for key in args[1:]:
        if isinstance(value, dict) and isinstance(key, str):
            value = next((v for k, v in value.items() if k.lower() == key.lower()), None)
        elif isinstance(value, list) and is_int(key):
            value = value[key] if 0 <= key < len(value) else None
        else:
            return None
    return value


# --- lambdas --------------------------------------------------------------------------------


@function("lambda", 2, lazy=True)
def _lambda(scope, nodes):
    params = []
    for node in nodes[:-1]:
        if not isinstance(node, Literal) or not isinstance(node.value, str):
            raise ArgError("lambda parameter names must be string literals, e.g. lambda('item', ...)")
        params.append(node.value)
    return Lambda(tuple(params), nodes[-1], scope)


def _want_lambda(value: Any, position: int, max_params: int) -> Lambda:
    if not isinstance(value, Lambda):
        raise ArgError(f"argument {position + 1} must be a lambda(...), got {type_name(value)}")
    if len(value.params) > max_params:
        raise ArgError(f"the lambda takes at most {max_params} parameter(s) here, it declares {len(value.params)}")
    return value


@function("filter", 2, 2)
def _filter(scope, args):
    fn = _want_lambda(args[1], 1, 2)
    out = []
    for i, item in enumerate(_want(args[0], "array", 0)):
        keep = fn(item, i)
        if not isinstance(keep, bool):
            raise ArgError(f"the lambda must return a bool, returned {type_name(keep)}")
        if keep:
            out.append(item)
    return out


@function("map", 2, 2)
def _map(scope, args):
    fn = _want_lambda(args[1], 1, 2)
    return [fn(item, i) for i, item in enumerate(_want(args[0], "array", 0))]


@function("reduce", 3, 3)
def _reduce(scope, args):
    fn = _want_lambda(args[2], 2, 3)
    acc = args[1]
    for i, item in enumerate(_want(args[0], "array", 0)):
        acc = fn(acc, item, i)
    return acc


@function("sort", 2, 2)
def _sort(scope, args):
    fn = _want_lambda(args[1], 1, 2)

    def compare(a, b):
        if fn(a, b) is True:
            return -1
        return 1 if fn(b, a) is True else 0

    return sorted(_want(args[0], "array", 0), key=cmp_to_key(compare))


@function("toObject", 2, 3)
def _to_object(scope, args):
    key_fn = _want_lambda(args[1], 1, 1)
    value_fn = _want_lambda(args[2], 2, 1) if len(args) > 2 else None
    out = {}
    for item in _want(args[0], "array", 0):
        key = key_fn(item)
        if not isinstance(key, str):
            raise ArgError(f"the key lambda must return a string, returned {type_name(key)}")
        out[key] = value_fn(item) if value_fn else item
    return out


# --- networking helpers -----------------------------------------------------------------------


@function("parseCidr", 1, 1)
def _parse_cidr(scope, args):
    net = ipaddress.ip_network(_want(args[0], "string", 0), strict=False)
    hosts = list(net.hosts()) if net.num_addresses <= 65536 else [net[1], net[-2]]
    info = {"network": str(net.network_address), "cidr": net.prefixlen}
    if net.version == 4:
        info.update(netmask=str(net.netmask), broadcast=str(net.broadcast_address))
    info.update(firstUsable=str(hosts[0] if hosts else net[0]), lastUsable=str(hosts[-1] if hosts else net[-1]))
    return info


@function("cidrSubnet", 3, 3)
def _cidr_subnet(scope, args):
    net = ipaddress.ip_network(_want(args[0], "string", 0), strict=False)
    new_prefix, index = _want(args[1], "int", 1), _want(args[2], "int", 2)
    step = 1 << (net.max_prefixlen - new_prefix)
    return f"{ipaddress.ip_address(int(net.network_address) + index * step)}/{new_prefix}"


@function("cidrHost", 2, 2)
def _cidr_host(scope, args):
    net = ipaddress.ip_network(_want(args[0], "string", 0), strict=False)
    offset = 1 if net.version == 4 else 0  # Azure's cidrHost skips the network address
    return str(net.network_address + _want(args[1], "int", 1) + offset)


AZURE_CLOUD = {
    "name": "AzureCloud",
    "gallery": "https://gallery.azure.com/",
    "graph": "https://graph.windows.net/",
    "portal": "https://portal.azure.com",
    "graphAudience": "https://graph.windows.net/",
    "activeDirectoryDataLake": "https://datalake.azure.net/",
    "batch": "https://batch.core.windows.net/",
    "media": "https://rest.media.azure.net",
    "sqlManagement": "https://management.core.windows.net:8443/",
    "vmImageAliasDoc": "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/master/arm-compute/quickstart-templates/aliases.json",
    "resourceManager": "https://management.azure.com/",
    "authentication": {
        "loginEndpoint": "https://login.microsoftonline.com/",
        "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
        "tenant": "common",
        "identityProvider": "AAD",
    },
    "suffixes": {
        "acrLoginServer": ".azurecr.io",
        "azureDatalakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
        "azureDatalakeStoreFileSystem": "azuredatalakestore.net",
        "azureFrontDoorEndpointSuffix": "azurefd.net",
        "keyvaultDns": ".vault.azure.net",
        "sqlServerHostname": ".database.windows.net",
        "storage": "core.windows.net",
    },
}

__all__ = ["FUNCTIONS", "LAZY", "call_function", "to_string", "json_equal", "is_int", "DeployTimeObject",
           "DeployTimeValue"]
