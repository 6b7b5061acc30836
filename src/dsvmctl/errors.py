"""User-facing errors: each says what went wrong, why, and how to fix it, and carries an exit code.

The CLI prints them without a traceback (`--debug` shows one).
"""

from __future__ import annotations


class DsvmctlError(Exception):
    exit_code = 1

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message


class UsageError(DsvmctlError):
    """Bad input from the user: a flag, a file, a name."""

    exit_code = 2


class CloudError(DsvmctlError):
    """Azure (real or emulated) refused or failed an operation."""


class NotLoggedIn(DsvmctlError):
    exit_code = 3
