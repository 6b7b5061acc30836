"""The HTTPS door: `dsvmctl emulator serve`, loopback only, with its own CA.

It serves ARM (through the core), Entra ID's discovery and token endpoints and the cloud
metadata document, so unmodified clients (azure-identity, azure-mgmt-*, other languages' SDKs,
command-line tools) can talk to it. When ready it writes `endpoint.json` in the state dir.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .certs import ensure_certificates
from .core import Emulator
from .faults import ConnectionResetFault
from ..catalog.images import vm_image_alias_doc
from .identity import ALIAS_DOC_PATH, Identity, cloud_metadata
from .wire import ArmError, Request, Response

LOOPBACK = "127.0.0.1"


def load_credentials(state_dir: Path) -> dict[str, str]:
    """The emulator's service principal and signing key: made once, kept 0600 in the state dir."""
    path = state_dir / "credentials.json"
    if path.exists():
        return json.loads(path.read_text())
    creds = {"client_id": "d5f0e5b1-0000-4000-8000-00000000c11e", "client_secret": secrets.token_urlsafe(32),
             "signing_key": secrets.token_hex(32)}
    state_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(creds))
    os.chmod(path, 0o600)
    return creds


def az_commands(base_url: str, client_id: str, client_secret: str, tenant_id: str, ca_bundle: str) -> list[str]:
    """The commands that point an unmodified Azure CLI at this emulator and log it in."""
    return [
        f"export REQUESTS_CA_BUNDLE={ca_bundle}",
        f"az cloud register -n dsvmctl-emulator --endpoint-resource-manager {base_url}",
        "az cloud set -n dsvmctl-emulator",
        # MSAL would ask login.microsoftonline.com to vouch for the emulator's authority: offline, it must not.
        "az config set core.instance_discovery=false",
        f"az login --service-principal -u {client_id} -p {client_secret} --tenant {tenant_id}",
    ]


class EmulatorServer:
    """An HTTPS server on 127.0.0.1 in front of one Emulator. Use as a context manager or start/stop."""

    def __init__(self, state_dir: str | os.PathLike[str], port: int = 0, *, emulator: Emulator | None = None,
                 require_auth: bool = True, **emulator_options: Any) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.emulator = emulator or Emulator(state_dir=self.state_dir, **emulator_options)
        creds = load_credentials(self.state_dir)
        self.identity = Identity(self.emulator.tenant_id, creds["client_id"], creds["client_secret"],
                                 bytes.fromhex(creds["signing_key"]))
        self.require_auth = require_auth
        self.ca_path, cert_path, key_path = ensure_certificates(self.state_dir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        handler = _make_handler(self)
        self.httpd = ThreadingHTTPServer((LOOPBACK, port), handler)  # loopback only, never 0.0.0.0
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.base_url = f"https://{LOOPBACK}:{self.port}"
        self._thread: threading.Thread | None = None

    def endpoint(self) -> dict[str, Any]:
        return {
            "arm_endpoint": self.base_url,
            "authority_host": self.base_url,
            "metadata_endpoint": f"{self.base_url}/metadata/endpoints?api-version=2022-09-01",
            "ca_bundle": str(self.ca_path.resolve()),
            "tenant_id": self.emulator.tenant_id,
            "subscription_id": self.emulator.subscription_id,
            "client_id": self.identity.client_id,
            "client_secret": self.identity.client_secret,
            "credential_scope": "https://management.azure.com/.default",
            "pid": os.getpid(),
            # The Azure CLI, unmodified: paste these (with REQUESTS_CA_BUNDLE set to ca_bundle).
            "az_commands": az_commands(self.base_url, self.identity.client_id, self.identity.client_secret,
                                       self.emulator.tenant_id, str(self.ca_path.resolve())),
        }

    def write_endpoint(self) -> Path:
        path = self.state_dir / "endpoint.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.endpoint(), indent=2))
        os.chmod(tmp, 0o600)  # it holds the client secret
        os.replace(tmp, path)
        return path

    def start(self) -> "EmulatorServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="dsvmctl-emulator", daemon=True)
        self._thread.start()
        self.write_endpoint()
        return self

    def serve_forever(self) -> None:
        self.write_endpoint()
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        (self.state_dir / "endpoint.json").unlink(missing_ok=True)

    def __enter__(self) -> "EmulatorServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- one request -----------------------------------------------------------------------------

    def respond(self, request: Request) -> Response:
        metadata_path = "/" + request.path.lstrip("/").lower()  # `--endpoint-resource-manager URL/` adds a slash
        if metadata_path == "/metadata/endpoints":
            return Response(200, cloud_metadata(self.base_url, request.api_version))
        if metadata_path == ALIAS_DOC_PATH.lower():
            return Response(200, vm_image_alias_doc())
        identity_response = self.identity.handle(request)
        if identity_response is not None:
            return identity_response
        if self.require_auth:
            try:
                self.identity.check_bearer(request.headers.get("authorization"))
            except ArmError as err:
                return err.response()
        return self.emulator.handle(request)


def _make_handler(server: EmulatorServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in two writes: avoid 40 ms delayed-ACK stalls
        server_version = "dsvmctl-emulator"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(self.command, f"{server.base_url}{self.path}", dict(self.headers.items()), body)
            try:
                response = server.respond(request)
            except ConnectionResetFault:
                # Drop the connection with a TCP reset, the way a flaky network does.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.close_connection = True
                self.connection.close()
                return
            payload = response.content() if self.command != "HEAD" else b""
            self.send_response(response.status)
            for key, value in response.all_headers(request).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if payload:
                self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            if os.environ.get("DSVMCTL_EMULATOR_LOG"):
                super().log_message(format, *args)

    return Handler
