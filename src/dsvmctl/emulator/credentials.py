"""The token credential the emulator's in-process doors use: any token is accepted there, so
a fixed one does (the local cloud and `mock_azure`). Not for real Azure."""

from __future__ import annotations

import time
from typing import Any


class StaticTokenCredential:
    """A TokenCredential (sync and async) that hands out a fixed token: for tests only."""

    def __init__(self, token: str = "dsvmctl-emulator-token") -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None):
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(self.token, int(time.time()) + 3600)

    def close(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *args: Any) -> None: ...


class AsyncStaticTokenCredential(StaticTokenCredential):
    async def get_token(self, *scopes: str, **kwargs: Any):  # type: ignore[override]
        return StaticTokenCredential.get_token(self, *scopes)

    async def get_token_info(self, *scopes: str, options: Any = None):  # type: ignore[override]
        return StaticTokenCredential.get_token_info(self, *scopes)

    async def close(self) -> None:  # type: ignore[override]
        ...

    async def __aenter__(self):
        return self

    async def __aexit__(self, *args: Any) -> None: ...
