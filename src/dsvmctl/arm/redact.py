"""Secure parameters (securestring, secureObject) never appear in a message: every error and
warning the engine (or lint) writes has their values replaced by a placeholder."""

from __future__ import annotations

from typing import Any, Iterable

SECURE_TYPES = ("securestring", "secureobject")
PLACEHOLDER = "(secure value)"
_SHORTEST = 3  # shorter strings ("1", "ab") would blank out ordinary text, and guess nothing


def secure_values(template: Any, supplied: dict[str, Any] | None) -> set[str]:
    """Every string a secure parameter holds: its supplied value or its default, leaves of objects too."""
    found: set[str] = set()
    declared = template.get("parameters") if isinstance(template, dict) else None
    if not isinstance(declared, dict):
        return found
    given = {str(k).lower(): v for k, v in (supplied or {}).items()}
    for name, decl in declared.items():
        if not isinstance(decl, dict) or str(decl.get("type", "")).lower() not in SECURE_TYPES:
            continue
        value = given.get(str(name).lower(), decl.get("defaultValue"))
        if isinstance(value, dict) and set(value) <= {"value", "reference", "metadata"} and "value" in value:
            value = value["value"]  # the {"value": v} file shape
        found.update(_strings(value))
    return {s for s in found if len(s) >= _SHORTEST}


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):  # the longest first: no half-redacted secret
        if secret in text:
            text = text.replace(secret, PLACEHOLDER)
    return text
