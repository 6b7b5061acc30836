"""Errors the ARM engine raises.

Every error carries a stable `code`, a message written for the person who owns the template
(what is wrong, why, how to fix it) and the JSON path of the offending value, e.g.
`resources[2].properties.osProfile.adminUsername`.

Codes:
  InvalidJson             the file is not JSON (even allowing comments)
  InvalidTemplate         the template's structure is wrong (missing section, bad copy block…)
  InvalidExpression       a `[...]` expression does not parse
  UnsupportedFunction     a function this engine does not know (or ARM does not have)
  InvalidFunctionCall     a known function called with wrong arguments or at a wrong place
  InvalidPropertyAccess   `.x` or `[i]` on a value that lacks it
  InvalidParameter        a parameter value of the wrong type / outside its allowed values
  MissingParameter        a required parameter without a value
  UnknownParameter        a value for a parameter the template does not declare
  UnknownVariable         variables('x') where x is not declared
  UnknownResource         dependsOn/reference naming a resource the template does not define
  CircularDependency      dependsOn (or reference) forms a cycle
  UnsupportedConstruct    a template feature this engine does not implement
"""

from __future__ import annotations


class TemplateError(Exception):
    """A template cannot be evaluated. `path` locates the problem inside the template."""

    def __init__(self, code: str, message: str, path: str = ""):
        super().__init__(f"{code}: {message}" + (f" (at {path})" if path else ""))
        self.code = code
        self.message = message
        self.path = path

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "path": self.path}

    def at(self, path: str) -> "TemplateError":
        """Fill in the location when the raiser did not know it."""
        if not self.path:
            self.path = path
            self.args = (f"{self.code}: {self.message} (at {path})",)
        return self


class TemplateFileError(TemplateError):
    """A file cannot be used at all (missing, unreadable, not JSON, not a template)."""

    def __init__(self, code: str, message: str, file: str = ""):
        super().__init__(code, message, "")
        self.file = file
        if file:
            self.args = (f"{code}: {file}: {message}",)
