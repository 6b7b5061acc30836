"""The ARM template expression language: tokenizer and recursive-descent parser.

A JSON string is an expression when it starts with `[` and ends with `]`; `[[` at the start
escapes that (the value is the string minus its first `[`). Grammar of the inside:

    expression := primary accessor*
    primary    := STRING | INTEGER | call
    call       := NAME ["." NAME] "(" [expression ("," expression)*] ")"
    accessor   := "." NAME | "[" expression "]"

Strings are single-quoted with `''` for a quote. Function names are case-insensitive; a dotted
name is a user-defined function (`namespace.member`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Union

from .errors import TemplateError


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class Call:
    name: str  # as written; compare with .lower()
    args: tuple["Node", ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Member:
    target: "Node"
    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class Index:
    target: "Node"
    index: "Node"
    pos: int


Node = Union[Literal, Call, Member, Index]


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "(" ")" "[" "]" "," "." STRING INTEGER NAME END
    value: Any
    pos: int


_PUNCT = "()[],."


def is_expression(value: str) -> bool:
    return len(value) >= 2 and value[0] == "[" and value[-1] == "]" and not value.startswith("[[")


def unescape_literal(value: str) -> str:
    """`[[foo]` is the literal string `[foo]`."""
    if value.startswith("[[") and value.endswith("]"):
        return value[1:]
    return value


def _error(text: str, pos: int, what: str) -> TemplateError:
    return TemplateError(
        "InvalidExpression",
        f"the template language expression '{text}' is not valid: {what} at position {pos + 1}. "
        "Check quotes (a quote inside a string is written ''), brackets and commas.",
    )


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in _PUNCT:
            tokens.append(Token(ch, ch, i))
            i += 1
        elif ch == "'":
            start = i
            i += 1
            chars: list[str] = []
            while True:
                if i >= n:
                    raise _error(text, start, "unterminated string literal")
                if text[i] == "'":
                    if i + 1 < n and text[i + 1] == "'":  # '' is one quote
                        chars.append("'")
                        i += 2
                        continue
                    i += 1
                    break
                chars.append(text[i])
                i += 1
            tokens.append(Token("STRING", "".join(chars), start))
        elif ch.isdigit() or (ch == "-" and i + 1 < n and text[i + 1].isdigit()):
            start = i
            i += 1
            while i < n and text[i].isdigit():
                i += 1
            if i < n and (text[i].isalpha() or text[i] == "_"):
                raise _error(text, i, f"unexpected character '{text[i]}' after a number")
            tokens.append(Token("INTEGER", int(text[start:i]), start))
        elif ch.isalpha() or ch in "_$":
            start = i
            while i < n and (text[i].isalnum() or text[i] in "_$"):
                i += 1
            tokens.append(Token("NAME", text[start:i], start))
        else:
            raise _error(text, i, f"unexpected character '{ch}'")
    tokens.append(Token("END", None, n))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def take(self, kind: str) -> Token:
        tok = self.peek()
        if tok.kind != kind:
            found = "the end of the expression" if tok.kind == "END" else f"'{tok.value}'"
            raise _error(self.text, tok.pos, f"expected {_describe(kind)} but found {found}")
        self.i += 1
        return tok

    def parse(self) -> Node:
        if self.peek().kind == "END":
            raise _error(self.text, 0, "the expression is empty")
        node = self.expression()
        tok = self.peek()
        if tok.kind != "END":
            raise _error(self.text, tok.pos, f"unexpected '{tok.value}' after a complete expression")
        return node

    def expression(self) -> Node:
        node = self.primary()
        while True:
            tok = self.peek()
            if tok.kind == ".":
                self.i += 1
                name = self.take("NAME")
                node = Member(node, name.value, name.pos)
            elif tok.kind == "[":
                self.i += 1
                index = self.expression()
                self.take("]")
                node = Index(node, index, tok.pos)
            else:
                return node

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind in ("STRING", "INTEGER"):
            self.i += 1
            return Literal(tok.value)
        if tok.kind == "NAME":
            self.i += 1
            name = tok.value
            # namespace.function(...) is a user-defined function call
            if self.peek().kind == "." and self.peek(1).kind == "NAME" and self.peek(2).kind == "(":
                self.i += 1
                name = f"{name}.{self.take('NAME').value}"
            if self.peek().kind != "(":
                raise _error(
                    self.text, tok.pos,
                    f"'{tok.value}' is not a function call (write true() or false() for booleans, "
                    "quote strings with single quotes)",
                )
            self.take("(")
            args: list[Node] = []
            if self.peek().kind != ")":
                args.append(self.expression())
                while self.peek().kind == ",":
                    self.i += 1
                    args.append(self.expression())
            self.take(")")
            return Call(name, tuple(args), tok.pos)
        found = "the end of the expression" if tok.kind == "END" else f"'{tok.value}'"
        raise _error(self.text, tok.pos, f"expected a function call, string or number but found {found}")


def _describe(kind: str) -> str:
    return {"NAME": "a name", "STRING": "a string", "INTEGER": "a number", "END": "the end"}.get(kind, f"'{kind}'")


@lru_cache(maxsize=4096)
def parse_expression(text: str) -> Node:
    """Parse the inside of `[...]` (without the brackets). Cached: templates repeat expressions."""
    return _Parser(text).parse()
