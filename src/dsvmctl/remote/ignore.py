"""`.dsvmignore`: the `.gitignore` rules, for the one file at the top of the pushed tree.

Supported as git does: comments (`#`), blank lines, `!` negation (last matching rule wins),
`\\` escapes, `*` `?` `[...]`, `**` (leading `**/`, trailing `/**`, inner `/**/`), a trailing
`/` for directories only, and anchoring: a pattern with a `/` before its end is relative to the
top of the tree, one without matches at any depth. As in git, a file inside an ignored directory
cannot be re-included (the walk never enters that directory). Nested ignore files are not read.

Written here (about 80 lines) rather than depending on pathspec; the tests check it against
pathspec's GitIgnoreSpec when that library is installed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


class IgnoreRules:
    """Compiled rules; `ignored(relpath, is_dir)` answers for a path relative to the top."""

    def __init__(self, lines: list[str] | tuple[str, ...] = ()):
        self._rules = [rule for line in lines if (rule := _compile(line)) is not None]

    @classmethod
    def from_file(cls, path: Path) -> "IgnoreRules":
        if not path.is_file():
            return cls()
        return cls(path.read_text(encoding="utf-8", errors="surrogateescape").splitlines())

    def __bool__(self) -> bool:
        return bool(self._rules)

    def ignored(self, relpath: str, is_dir: bool = False) -> bool:
        verdict = False
        for rule in self._rules:
            if rule.dir_only and not is_dir:
                continue
            if rule.regex.match(relpath):
                verdict = not rule.negate
        return verdict


def _compile(line: str) -> _Rule | None:
    if not line.strip() or line.startswith("#"):
        return None
    # Trailing spaces are dropped unless escaped with a backslash.
    pattern = re.sub(r"(?<!\\)\s+$", "", line)
    negate = pattern.startswith("!")
    if negate:
        pattern = pattern[1:]
    elif pattern.startswith("\\!") or pattern.startswith("\\#"):
        pattern = pattern[1:]
    dir_only = pattern.endswith("/")
    pattern = pattern.rstrip("/")
    if not pattern:
        return None
    anchored = "/" in pattern
    pattern = pattern.lstrip("/")
    body = _translate(pattern)
    prefix = "^" if anchored else "^(?:.*/)?"
    return _Rule(re.compile(prefix + body + "$", re.DOTALL), negate, dir_only)


def _translate(pattern: str) -> str:
    """Glob to regex over '/'-separated relative paths."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        if pattern.startswith("**", i):
            at_start = i == 0
            before_slash = i > 0 and pattern[i - 1] == "/"
            after = pattern[i + 2 : i + 3]
            if at_start and after == "/":  # "**/x": x at any depth
                out.append("(?:.*/)?")
                i += 3
                continue
            if before_slash and after == "":  # "x/**": everything inside x
                out.append(".+")
                i += 2
                continue
            if before_slash and after == "/":  # "a/**/b": zero or more directories
                out.append("(?:.*/)?")
                i += 3
                continue
            out.append("[^/]*")  # any other "**" is a plain "*"
            i += 2
            continue
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^") else i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                inner = pattern[i + 1 : end]
                if inner[:1] in ("!", "^"):
                    inner = "^" + inner[1:]
                out.append("(?!/)[" + inner + "]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)
