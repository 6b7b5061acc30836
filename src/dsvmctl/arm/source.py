"""Reading template and parameter files the way ARM does.

ARM's JSON reader is more lenient than the standard: it accepts `//` and `/* */` comments,
CRLF line ends, a UTF-8 byte-order mark and duplicated keys (the last one wins). Python's json
already takes CRLF and keeps the last duplicate, so only comments and the BOM need work here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import TemplateFileError


def strip_comments(text: str) -> str:
    """Blank out comments outside string literals, keeping line numbers intact for errors."""
    if "/" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        ch = text[i]
        if in_string:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                in_string = False
            i += 1
        elif ch == '"':
            in_string = True
            out.append(ch)
            i += 1
        elif ch == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            i = end  # the newline itself is kept
        elif ch == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ValueError("unterminated /* comment")
            # keep newlines so json's line numbers still match the file
            out.append("".join(c if c == "\n" else " " for c in text[i : end + 2]))
            i = end + 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def parse_json_text(text: str, origin: str = "<string>") -> Any:
    """Parse ARM-flavoured JSON text (comments, BOM, duplicate keys)."""
    text = text.lstrip("\ufeff")
    try:
        return json.loads(strip_comments(text))
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise TemplateFileError(
            "InvalidJson",
            f"not valid JSON ({exc}). ARM accepts comments and trailing CRLF but the rest must be "
            "standard JSON: check for missing commas, quotes or brackets near that position.",
            origin,
        ) from None


def read_json_file(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise TemplateFileError("FileNotFound", "no such file; check the path.", str(path)) from None
    except UnicodeDecodeError:
        raise TemplateFileError("InvalidJson", "the file is not UTF-8 text.", str(path)) from None
    except OSError as exc:
        raise TemplateFileError("FileUnreadable", f"cannot read the file: {exc.strerror}.", str(path)) from None
    return parse_json_text(text, str(path))
