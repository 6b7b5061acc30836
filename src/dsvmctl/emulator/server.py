"""The HTTPS door: `dsvmctl emulator serve`, loopback only, with its own CA.

It serves ARM (through the core), Entra ID's discovery and token endpoints and the cloud
metadata document, so unmodified clients (azure-identity, azure-mgmt-*, other languages' SDKs,
command-line tools) can talk to it. When ready it writes `endpoint.json` in the state dir.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import socket
import ssl
import sys
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ..paths import write_atomic
from .certs import ensure_certificates
from .core import Emulator
from .faults import ConnectionResetFault
from ..catalog.images import vm_image_alias_doc
from .identity import ALIAS_DOC_PATH, ARM_AUDIENCES, Identity, cloud_metadata
from .wire import ArmError, Request, Response

LOOPBACK = "127.0.0.1"
MAX_BODY_BYTES = 4 * 2**20  # ARM refuses request bodies over 4 MB
BODY_METHODS = frozenset({"PUT", "POST", "PATCH"})
DRAIN_LIMIT_BYTES = 64 * 2**20  # a refused body is read and dropped up to this much, then the line is cut
DRAIN_SECONDS = 5.0
CONNECTION_TIMEOUT_S = 60.0
_DIGITS = re.compile(r"[0-9]+")

logger = logging.getLogger(__name__)


def load_credentials(state_dir: Path) -> dict[str, str]:
    """The emulator's service principal and signing key: made once, kept 0600 in the state dir."""
    path = state_dir / "credentials.json"
    if path.exists():
        return json.loads(path.read_text())
    creds = {"client_id": "d5f0e5b1-0000-4000-8000-00000000c11e", "client_secret": secrets.token_urlsafe(32),
             "signing_key": secrets.token_hex(32)}
    write_atomic(path, json.dumps(creds), private=True)
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
        self.httpd = _Server((LOOPBACK, port), handler)  # loopback only, never 0.0.0.0
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.last_internal_error: str | None = None
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
        write_atomic(path, json.dumps(self.endpoint(), indent=2), private=True)  # it holds the client secret
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

    def audiences(self) -> tuple[str, ...]:
        """ARM's audiences, plus this server's URL (what a client set up from /metadata/endpoints asks for)."""
        return (*ARM_AUDIENCES, self.base_url)

    def refusal_before_body(self, request: Request) -> Response | None:
        """What to answer before the body is read: a 401 for an ARM request without a valid token."""
        if not self.require_auth or _is_open_path(request, self.identity):
            return None
        try:
            self.identity.check_bearer(request.headers.get("authorization"), self.audiences())
        except ArmError as err:
            return err.response()
        return None

    def respond(self, request: Request) -> Response:
        """Answer a request whose headers passed `refusal_before_body` and whose body is read."""
        metadata_path = _metadata_path(request)
        if metadata_path == "/metadata/endpoints":
            return Response(200, cloud_metadata(self.base_url, request.api_version))
        if metadata_path == ALIAS_DOC_PATH.lower():
            return Response(200, vm_image_alias_doc())
        identity_response = self.identity.handle(request)
        if identity_response is not None:
            return identity_response
        return self.emulator.handle(request)

    def internal_error(self, method: str, path: str) -> Response:
        """A bug in the emulator: the traceback goes to the server's log, the client gets a plain 500."""
        report = traceback.format_exc()
        self.last_internal_error = report
        log_path = self.state_dir / "server.log"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"{stamp} {method} {path}: internal error\n{report}\n")
        logger.error("internal error answering %s %s; traceback in %s", method, path, log_path)
        return ArmError(500, "InternalServerError", "The emulator hit an internal error; the traceback is in "
                        "its log (server.log in its state directory).").response()


def _metadata_path(request: Request) -> str:
    return "/" + request.path.lstrip("/").lower()  # `--endpoint-resource-manager URL/` adds a slash


def _is_open_path(request: Request, identity: Identity) -> bool:
    """Paths a client reads before it has a token: cloud metadata, the image alias document and
    Entra ID's endpoints."""
    return (_metadata_path(request) in ("/metadata/endpoints", ALIAS_DOC_PATH.lower())
            or identity.is_identity_path(request.path))


class _BadBody(Exception):
    """The body cannot be read as framed (a broken chunked encoding, a body over the limit)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _door_error(status: int, code: str, message: str) -> Response:
    return ArmError(status, code, message).response()


def _too_large(size: int | str) -> Response:
    return _door_error(413, "RequestContentTooLarge", f"The request content size '{size}' bytes exceeds the "
                       f"maximum size of '{MAX_BODY_BYTES}' bytes ({MAX_BODY_BYTES // 2**20} MB).")


def _header_value(value: str) -> str:
    # Echoed request values (the correlation id) must never break a response's header framing.
    return value.replace("\r", "").replace("\n", "")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up, times out or fails the TLS handshake is no server error.
        if isinstance(sys.exc_info()[1], (OSError, ssl.SSLError)):
            logger.debug("connection from %s ended: %s", client_address, sys.exc_info()[1])
            return
        logger.exception("unexpected error on a connection from %s", client_address)


def _make_handler(server: EmulatorServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in two writes: avoid 40 ms delayed-ACK stalls
        server_version = "dsvmctl-emulator"
        timeout = CONNECTION_TIMEOUT_S  # a stalled client never holds a thread for ever

        def setup(self) -> None:
            # The TLS handshake runs here, in the connection's own thread: a client that never
            # completes it must not stall the accept loop for everyone else.
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
            super().setup()

        # -- framing: what is checked before the body is read ------------------------------------

        def _admit(self) -> tuple[Request, Response | None, int | None]:
            """The request without its body, a refusal (or None) and the body's length (None: chunked).

            Order: the framing and the size limit first, then authentication; the body is read
            only after both, so an unauthenticated or oversized body is never held in memory."""
            request = Request(self.command, f"{server.base_url}{self.path}", dict(self.headers.items()))
            lengths = self.headers.get_all("Content-Length") or []
            codings = self.headers.get_all("Transfer-Encoding") or []
            length: int | None = 0
            if not self.path.startswith("/"):
                return request, _door_error(400, "InvalidUri", f"The request URI '{self.path}' is not an "
                                            "absolute path."), 0
            if codings:
                if lengths:  # both framings at once is how requests are smuggled: refuse
                    return request, _door_error(400, "InvalidHeader", "A request must not carry both "
                                                "Content-Length and Transfer-Encoding."), 0
                if [c.strip().lower() for c in ",".join(codings).split(",")] != ["chunked"]:
                    return request, _door_error(400, "InvalidHeader", f"The Transfer-Encoding "
                                                f"'{','.join(codings)}' is not supported; use chunked or a "
                                                "Content-Length."), 0
                length = None
            elif lengths:
                values = {v.strip() for v in ",".join(lengths).split(",")}
                value = values.pop() if len(values) == 1 else ",".join(lengths)
                if values or not _DIGITS.fullmatch(value):
                    return request, _door_error(400, "InvalidContentLength", f"The Content-Length header "
                                                f"'{','.join(lengths)}' is not a non-negative whole number."), 0
                length = int(value) if len(value) <= 18 else MAX_BODY_BYTES + 1  # a long number is huge
                if length > MAX_BODY_BYTES:
                    return request, _too_large(value if len(value) <= 40 else value[:40] + "..."), length
            elif self.command in BODY_METHODS:
                return request, _door_error(411, "LengthRequired", f"A {self.command} request must be chunked "
                                            "or have a Content-Length header."), 0
            return request, server.refusal_before_body(request), length

        def handle_expect_100(self) -> bool:
            # A client that waits for "100 Continue" gets the refusal instead and keeps its body.
            _, refusal, _ = self._admit()
            if refusal is not None:
                self._send(refusal, None, close=True)
                return False
            return super().handle_expect_100()

        def _read_body(self, length: int | None) -> bytes:
            try:
                if length is not None:
                    body = self.rfile.read(length) if length else b""
                    if len(body) < length:
                        raise ConnectionResetError("the client closed the connection inside the body")
                    return body
                return self._read_chunked()
            except TimeoutError:
                raise _BadBody(_door_error(408, "RequestTimeout", f"The request body did not arrive within "
                                           f"{self.timeout:g} seconds.")) from None

        def _read_chunked(self) -> bytes:
            body = bytearray()
            while True:  # chunked: hex size line, data, CRLF; a zero size ends it (trailers skipped)
                size = int(self._chunk_size_line(), 16)
                if size == 0:
                    while self.rfile.readline(1024).strip():
                        pass
                    return bytes(body)
                if len(body) + size > MAX_BODY_BYTES:
                    raise _BadBody(_too_large(f"more than {MAX_BODY_BYTES}"))
                body += self.rfile.read(size)
                self.rfile.readline(1024)

        def _chunk_size_line(self) -> bytes:
            """The hex size of the next chunk, refused at its first byte that cannot belong to one
            (not when a line that never ends times out)."""
            digits = bytearray()
            while True:
                byte = self.rfile.read(1)
                if byte in (b";", b"\r", b"\n", b" ", b"\t") and digits:
                    rest = b"" if byte == b"\n" else self.rfile.readline(1024)  # extensions, then CRLF
                    if byte == b"\n" or rest.endswith(b"\n"):
                        return bytes(digits)
                elif byte and byte in b"0123456789abcdefABCDEF" and len(digits) < 16:
                    digits += byte
                    continue
                raise _BadBody(_door_error(400, "InvalidChunkedEncoding", "The chunked request body is malformed: "
                                           "a chunk must start with its size in hexadecimal."))

        def _drain(self, length: int | None) -> None:
            """Read and drop a refused body (bounded), so the client, still sending, reads our reply
            instead of a connection reset."""
            remaining = min(length or 0, DRAIN_LIMIT_BYTES)
            deadline = time.monotonic() + DRAIN_SECONDS
            try:
                self.connection.settimeout(DRAIN_SECONDS)  # a client that declared more than it sends
                while remaining > 0 and time.monotonic() < deadline:
                    chunk = self.rfile.read1(min(remaining, 65536))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            except OSError:
                pass

        # -- one request -----------------------------------------------------------------------

        def _serve(self) -> None:
            request: Request | None = None
            try:
                request, refusal, length = self._admit()
                if refusal is not None:
                    self._send(refusal, request, close=True)
                    self._drain(length)
                    return
                try:
                    request.body = self._read_body(length)
                except _BadBody as bad:
                    self._send(bad.response, request, close=True)
                    return
                response = server.respond(request)
            except ConnectionResetFault:
                # Drop the connection with a TCP reset, the way a flaky network does.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.close_connection = True
                self.connection.close()
                return
            except (OSError, ssl.SSLError):
                self.close_connection = True  # the client went away mid-request: nobody to answer
                return
            except Exception:
                response = server.internal_error(self.command, self.path)
            self._send(response, request)

        def _send(self, response: Response, request: Request | None, *, close: bool = False) -> None:
            payload = response.content() if self.command != "HEAD" else b""
            self.send_response(response.status)
            for key, value in response.all_headers(request).items():
                self.send_header(key, _header_value(value))
            self.send_header("Content-Length", str(len(payload)))
            if close:
                self.send_header("Connection", "close")
            self.end_headers()
            if payload:
                self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = _serve

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """The stdlib's own refusals (a malformed request line, too long or too many headers,
            an unknown method) in ARM's error shape instead of an HTML page."""
            if code == HTTPStatus.NOT_IMPLEMENTED:  # the stdlib's answer to a method it has no do_ for
                response = _door_error(405, "MethodNotAllowed", f"The requested resource does not support "
                                       f"http method '{self.command}'.")
            else:
                phrase = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "Bad Request"
                response = _door_error(code, phrase.title().replace(" ", "").replace("-", ""), message or phrase)
            self.log_error("code %d, message %s", code, message)
            self.request_version = "HTTP/1.1"  # a status line even when the request line was unreadable
            self._send(response, None, close=True)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            if os.environ.get("DSVMCTL_EMULATOR_LOG"):
                super().log_message(format, *args)

    return Handler
