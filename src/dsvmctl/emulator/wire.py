"""The emulator's wire types: a request, a response, and ARM's error envelope.

Every door (responses, the azure-core transport, the HTTPS server) turns its own HTTP objects
into a `Request`, asks the core, and turns the `Response` back. Nothing here knows about doors.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        self.headers = {k.lower(): v for k, v in self.headers.items()}
        parts = urlsplit(self.url)
        self.base_url = f"{parts.scheme}://{parts.netloc}"
        self.path = parts.path.rstrip("/") or "/"
        # ARM's query parameters are case-insensitive too ($filter, api-version, ...).
        self.query = {k.lower(): v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}

    @property
    def api_version(self) -> str | None:
        return self.query.get("api-version")

    def json(self) -> Any:
        """The body as JSON; malformed JSON, NaN/Infinity and nesting deeper than
        MAX_JSON_DEPTH are client errors with ARM's code."""
        if not self.body or not self.body.strip():
            return None
        try:
            value = _loads(self.body)
        except RecursionError:
            value = None
            problem = f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels"
        except (ValueError, UnicodeDecodeError) as exc:
            problem = f"'{exc}'"
        else:
            if _depth(value) <= MAX_JSON_DEPTH:
                return value
            problem = f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels"
        raise ArmError(400, "InvalidRequestContent",
                       f"The request content was invalid and could not be deserialized: {problem}.")


MAX_JSON_DEPTH = 64  # the deepest template of the ARM corpus nests 15 levels


def _loads(body: bytes) -> Any:
    """Standard JSON first, then ARM's lenient form (comments, unquoted names, line breaks inside
    strings: a template's multi-line strings); NaN and Infinity are refused either way."""
    options = {"parse_constant": _refuse_constant, "parse_float": _finite_float}
    try:
        return json.loads(body, **options)
    except ValueError:
        pass
    return json.loads(_lenient(body.decode("utf-8-sig")), strict=False, **options)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is out of range for a number")
    return value


def _depth(value: Any) -> int:
    """How deeply objects and arrays nest (iteratively: the value itself may be deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if level <= MAX_JSON_DEPTH:  # deeper than the limit: no need to look further
            stack.extend((child, level + 1) for child in children)
    return deepest


_BARE_KEY = re.compile(r"[A-Za-z_$][\w$]*")


def _lenient(text: str) -> str:
    """ARM's JSON reader (Newtonsoft) also takes comments and unquoted property names: az sends
    `{"properties": {..., template:{...}}}` to keep a template's text as written. Quote such
    names and drop comments, outside string literals, so the standard parser can read it."""
    from ..arm.source import strip_comments

    text, out, i, last = strip_comments(text), [], 0, ""
    while i < len(text):
        char = text[i]
        if char == '"':
            end = i + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[i:end + 1])
            i, last = end + 1, '"'
            continue
        match = _BARE_KEY.match(text, i) if last in "{," else None
        if match and text[match.end():].lstrip().startswith(":"):
            out.append(f'"{match.group()}"')
            i, last = match.end(), '"'
            continue
        out.append(char)
        if not char.isspace():
            last = char
        i += 1
    return "".join(out)


@dataclass
class Response:
    status: int
    body: Any = None  # a JSON-able value, or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)

    def content(self) -> bytes:
        if self.body is None:
            return b""
        return json.dumps(self.body).encode()

    def all_headers(self, request: Request | None = None) -> dict[str, str]:
        headers = {"x-ms-request-id": str(uuid.uuid4())}
        correlation = request.headers.get("x-ms-correlation-request-id") if request else None
        headers["x-ms-correlation-request-id"] = correlation or str(uuid.uuid4())
        if self.body is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        headers.update(self.headers)
        return headers


class ArmError(Exception):
    """An error ARM would return: HTTP status plus the `{"error": {...}}` envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        target: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = details
        self.headers = headers or {}

    def envelope(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def response(self) -> Response:
        return Response(self.status, self.envelope(), dict(self.headers))


def not_found(resource_type: str, name: str, resource_group: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{resource_type}/{name}' under resource group '{resource_group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def missing_property(path: str) -> ArmError:
    return ArmError(400, "InvalidParameter", f"Required parameter '{path}' is missing (null).", target=path)
