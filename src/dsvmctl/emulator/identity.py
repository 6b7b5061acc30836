"""Entra ID, emulated: the OpenID discovery document and the client-credentials token endpoint,
plus the cloud-metadata document clients read to set up a custom cloud.

Tokens are HMAC-signed with a key kept in the emulator's state, so the HTTPS door can refuse
requests that carry no token, or one it did not issue.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

from .wire import ArmError, Request, Response

TOKEN_LIFETIME_S = 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class Identity:
    def __init__(self, tenant_id: str, client_id: str, client_secret: str, signing_key: bytes, *,
                 accept_any_client: bool = False) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.signing_key = signing_key
        self.accept_any_client = accept_any_client  # in-process: tests bring their own app ids

    # -- tokens ----------------------------------------------------------------------------------

    def issue(self, audience: str) -> str:
        now = int(time.time())
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps({
            "aud": audience, "iss": f"https://sts.windows.net/{self.tenant_id}/", "iat": now, "nbf": now,
            "exp": now + TOKEN_LIFETIME_S, "tid": self.tenant_id, "appid": self.client_id,
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, self.client_id)), "sub": self.client_id,
        }).encode())
        signature = hmac.new(self.signing_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}"

    def check_bearer(self, authorization: str | None) -> None:
        """Refuse a request without a valid token we issued, as ARM does (401)."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is "
                           "missing.", headers={"WWW-Authenticate": self._challenge()})
        token = authorization.split(" ", 1)[1].strip()
        try:
            header, payload, signature = token.split(".")
            expected = hmac.new(self.signing_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
            valid = hmac.compare_digest(_b64(expected), signature)
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (ValueError, TypeError):
            valid, claims = False, {}
        if not valid:
            raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.",
                           headers={"WWW-Authenticate": self._challenge()})
        if claims.get("exp", 0) < time.time():
            raise ArmError(401, "ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than "
                           "current UTC time.", headers={"WWW-Authenticate": self._challenge()})

    def _challenge(self) -> str:
        return f'Bearer authorization_uri="https://login.microsoftonline.com/{self.tenant_id}", error="invalid_token"'

    # -- endpoints -------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response | None:
        """Answer identity requests; None when the path is not an identity path."""
        parts = [p for p in request.path.split("/") if p]
        if len(parts) >= 2 and parts[-2:] == [".well-known", "openid-configuration"]:
            return Response(200, self.openid_configuration(request.base_url, parts[0]))
        if len(parts) >= 3 and parts[-2:] == ["oauth2", "token"] or parts[-3:] == ["oauth2", "v2.0", "token"]:
            return self.token(request)
        if parts[-2:] == ["discovery", "instance"]:
            authority = f"{request.base_url}/{self.tenant_id}"
            return Response(200, {"tenant_discovery_endpoint": f"{authority}/v2.0/.well-known/openid-configuration",
                                  "api-version": "1.1", "metadata": []})
        return None

    def openid_configuration(self, base_url: str, tenant: str) -> dict[str, Any]:
        tenant = self.tenant_id if tenant in ("common", "organizations") else tenant
        root = f"{base_url}/{tenant}"
        return {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "issuer": f"{root}/v2.0",
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "tenant_region_scope": "NA",
            "cloud_instance_name": "dsvmctl.local",
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
        }

    def token(self, request: Request) -> Response:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return _aad_error(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant "
                              "type. The emulator supports client_credentials only.")
        if not self.accept_any_client:
            if form.get("client_id") != self.client_id:
                return _aad_error(400, "unauthorized_client", f"AADSTS700016: Application with identifier "
                                  f"'{form.get('client_id')}' was not found in the directory.")
            if not hmac.compare_digest(form.get("client_secret", ""), self.client_secret):
                return _aad_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided. Ensure "
                                  "the secret being sent in the request is the client secret value.")
        scope = form.get("scope", "")
        audience = scope.split()[0].rsplit("/.default", 1)[0] if scope else "https://management.azure.com"
        return Response(200, {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME_S,
                              "ext_expires_in": TOKEN_LIFETIME_S, "access_token": self.issue(audience)})


def _aad_error(status: int, error: str, description: str) -> Response:
    return Response(status, {"error": error, "error_description": description, "error_codes": [],
                             "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
                             "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4())})


CLOUD_NAME = "DsvmctlEmulator"
ALIAS_DOC_PATH = "/metadata/vmImageAliasDoc"
# Real ARM answers one cloud object from 2022-09-01 on, the list of every cloud from 2019-05-01
# (what ARM_CLOUD_METADATA_URL names), and the old flat document before that (2015-01-01).
_ONE_CLOUD_FROM = "2022-09-01"
_CLOUD_LIST_FROM = "2019-05-01"


def cloud_metadata(base_url: str, api_version: str | None) -> Any:
    """/metadata/endpoints: what `az cloud register --endpoint-resource-manager` and SDKs read,
    in the shape real ARM gives for the api-version asked."""
    version = (api_version or "")[:10]
    authentication = {"loginEndpoint": base_url, "audiences": [base_url, f"{base_url}/"],
                      "tenant": "common", "identityProvider": "AAD"}
    if version < _CLOUD_LIST_FROM:
        return {"galleryEndpoint": base_url, "graphEndpoint": base_url, "portalEndpoint": base_url,
                "authentication": authentication}
    cloud = {
        "portal": base_url, "authentication": authentication, "media": base_url, "graphAudience": base_url,
        "graph": base_url, "name": CLOUD_NAME,
        "suffixes": {"azureDataLakeStoreFileSystem": "azuredatalakestore.net", "acrLoginServer": "azurecr.io",
                     "sqlServerHostname": "database.windows.net",
                     "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
                     "keyVaultDns": "vault.azure.net", "storage": "core.windows.net",
                     "azureFrontDoorEndpointSuffix": "azurefd.net", "storageSyncEndpointSuffix": "afs.azure.net",
                     "mhsmDns": "managedhsm.azure.net", "mysqlServerEndpoint": "mysql.database.azure.com",
                     "postgresqlServerEndpoint": "postgres.database.azure.com",
                     "mariadbServerEndpoint": "mariadb.database.azure.com", "synapseAnalytics": "dev.azuresynapse.net",
                     "attestationEndpoint": "attest.azure.net"},
        "batch": base_url, "resourceManager": base_url, "vmImageAliasDoc": f"{base_url}{ALIAS_DOC_PATH}",
        "activeDirectoryDataLake": base_url, "sqlManagement": base_url, "microsoftGraphResourceId": base_url,
        "appInsightsResourceId": base_url, "appInsightsTelemetryChannelResourceId": base_url,
        "attestationResourceId": base_url, "synapseAnalyticsResourceId": base_url,
        "logAnalyticsResourceId": base_url, "ossrDbmsResourceId": base_url, "gallery": base_url,
    }
    if version >= _ONE_CLOUD_FROM:
        return cloud
    return [cloud]
