"""The HTTPS door over a real socket: framing, size limit, authentication, JSON depth.

Each test talks raw HTTP/1.1 over TLS to the loopback server (no SDK in between), so what is
checked is what any client on the wire sees: a reply always comes, in ARM's error shape.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import ssl
import time
from http.client import HTTPResponse

import pytest

from dsvmctl.emulator.server import MAX_BODY_BYTES, EmulatorServer

API = "api-version=2024-11-01"


class Wire:
    """Raw HTTP/1.1 over TLS to one server, with tokens signed by its key."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.context = ssl.create_default_context(cafile=str(server.ca_path))
        self.sub = server.emulator.subscription_id
        self.token = self.sign({})

    def sign(self, overrides: dict) -> str:
        identity = self.server.identity
        now = int(time.time())
        claims = {"aud": "https://management.azure.com", "iss": f"https://sts.windows.net/{identity.tenant_id}/",
                  "iat": now, "nbf": now, "exp": now + 3600, "tid": identity.tenant_id,
                  "appid": identity.client_id, **overrides}

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).decode().rstrip("=")

        head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = b64(json.dumps(claims).encode())
        mac = hmac.new(identity.signing_key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{b64(mac)}"

    def connect(self) -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", self.server.port), timeout=20)
        return self.context.wrap_socket(raw, server_hostname="127.0.0.1")

    def send(self, head: bytes, body: bytes = b"", *, sock: ssl.SSLSocket | None = None) -> HTTPResponse:
        sock = sock or self.connect()
        sock.sendall(head + body)
        response = HTTPResponse(sock)
        response.begin()
        response.body = response.read()  # type: ignore[attr-defined]
        return response

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
                *, auth: bool = True, length: bool = True) -> HTTPResponse:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        if auth:
            lines.append(f"Authorization: Bearer {self.token}")
        if length:
            lines.append(f"Content-Length: {len(body)}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        return self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), body)

    def rg(self, name: str = "rg") -> str:
        return f"/subscriptions/{self.sub}/resourcegroups/{name}?{API}"


def arm_error(response: HTTPResponse) -> dict:
    body = json.loads(response.body)  # type: ignore[attr-defined]
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    assert b"Traceback" not in response.body  # type: ignore[attr-defined]
    return body["error"]


@pytest.fixture(scope="module")
def wire(tmp_path_factory):
    with EmulatorServer(tmp_path_factory.mktemp("door")) as server:
        yield Wire(server)


RG = json.dumps({"location": "eastus"}).encode()


# -- Content-Length -------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["PUT", "POST", "PATCH"])
def test_a_body_method_without_content_length_is_411(wire, method):
    response = wire.request(method, wire.rg(), length=False)
    assert response.status == 411 and arm_error(response)["code"] == "LengthRequired"


def test_get_and_delete_need_no_content_length(wire):
    assert wire.request("GET", f"/subscriptions/{wire.sub}/resourcegroups?{API}", length=False).status == 200
    assert wire.request("DELETE", wire.rg("never-made"), length=False).status in (200, 202, 204, 404)


@pytest.mark.parametrize("value", ["abc", "-1", "+5", "1_0", "0x10", "5 5", "1e3", "", "\u00b2"])
def test_a_content_length_that_is_not_a_whole_number_is_400(wire, value):
    head = (f"PUT {wire.rg()} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {wire.token}\r\n"
            f"Content-Length: {value}\r\n\r\n").encode("utf-8")
    response = wire.send(head, RG)
    assert response.status == 400 and arm_error(response)["code"] == "InvalidContentLength"


def test_two_different_content_lengths_are_400(wire):
    response = wire.request("PUT", wire.rg(), RG, {"Content-Length": "3"})
    assert response.status == 400 and arm_error(response)["code"] == "InvalidContentLength"


def test_a_huge_declared_length_is_413_without_a_body_sent(wire):
    for value in ("99999999999999999999999999999999", str(MAX_BODY_BYTES + 1), "9" * 5000):
        head = (f"PUT {wire.rg()} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {wire.token}\r\n"
                f"Content-Length: {value}\r\n\r\n").encode()
        response = wire.send(head)
        assert response.status == 413 and arm_error(response)["code"] == "RequestContentTooLarge"


def test_a_20_mb_body_is_refused_with_413_the_client_reads_and_nothing_is_stored(wire):
    tags = {"t": "x" * (20 * 2**20)}
    body = json.dumps({"location": "eastus", "tags": tags}).encode()
    response = wire.request("PUT", wire.rg("big"), body)
    assert response.status == 413 and arm_error(response)["code"] == "RequestContentTooLarge"
    assert response.getheader("Connection") == "close"
    assert wire.request("GET", wire.rg("big")).status == 404


def test_a_body_at_the_limit_is_read(wire):
    body = json.dumps({"location": "eastus"}).encode().ljust(MAX_BODY_BYTES)  # JSON allows trailing spaces
    assert wire.request("PUT", wire.rg("at-limit"), body).status in (200, 201)


# -- authentication before the body ---------------------------------------------------------------

def test_the_size_limit_comes_before_authentication(wire):
    body = b"{" + b" " * (MAX_BODY_BYTES + 10) + b"}"
    response = wire.request("PUT", wire.rg("big2"), body, auth=False)
    assert response.status == 413


def test_authentication_comes_before_the_body_is_parsed(wire):
    response = wire.request("PUT", wire.rg("bad"), b"{not json", auth=False)
    assert response.status == 401 and arm_error(response)["code"] == "AuthenticationFailed"
    assert wire.server.emulator.count_requests("PUT", "/resourcegroups/bad$") == 0  # the core never saw it


def test_a_client_waiting_for_100_continue_gets_the_401_and_keeps_its_body(wire):
    sock = wire.connect()
    head = (f"PUT {wire.rg('waits')} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(RG)}\r\n"
            "Expect: 100-continue\r\n\r\n").encode()
    response = wire.send(head, sock=sock)  # the body is never sent
    assert response.status == 401 and response.getheader("WWW-Authenticate", "").startswith("Bearer ")


def test_a_client_waiting_for_100_continue_with_a_token_is_told_to_continue(wire):
    sock = wire.connect()
    head = (f"PUT {wire.rg('continues')} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {wire.token}\r\n"
            f"Content-Length: {len(RG)}\r\nExpect: 100-continue\r\n\r\n").encode()
    sock.sendall(head)
    assert sock.recv(100).startswith(b"HTTP/1.1 100")
    sock.sendall(RG)
    response = HTTPResponse(sock)
    response.begin()
    assert response.status == 201


@pytest.mark.parametrize("header,code", [
    (None, "AuthenticationFailed"),
    ("Basic dXNlcjpwYXNz", "AuthenticationFailed"),
    ("Bearer", "AuthenticationFailed"),
    ("Bearer not-a-token", "InvalidAuthenticationToken"),
    ("Bearer a.b.c", "InvalidAuthenticationToken"),
    ("Bearer \u00e9.\u00e9.\u00e9", "InvalidAuthenticationToken"),
])
def test_missing_or_forged_tokens_are_401_with_arms_codes(wire, header, code):
    headers = {"Authorization": header} if header else {}
    response = wire.request("GET", wire.rg(), headers=headers, auth=False)
    assert response.status == 401 and arm_error(response)["code"] == code


def test_a_token_signed_with_another_key_is_invalid(wire):
    forged = wire.token.rsplit(".", 1)[0] + "." + base64.urlsafe_b64encode(b"x" * 32).decode().rstrip("=")
    response = wire.request("GET", wire.rg(), headers={"Authorization": f"Bearer {forged}"}, auth=False)
    assert response.status == 401 and arm_error(response)["code"] == "InvalidAuthenticationToken"


@pytest.mark.parametrize("claims,code", [
    ({"aud": "https://graph.microsoft.com"}, "InvalidAuthenticationTokenAudience"),
    ({"aud": "https://vault.azure.net"}, "InvalidAuthenticationTokenAudience"),
    ({"exp": int(time.time()) - 3600}, "ExpiredAuthenticationToken"),
    ({"nbf": int(time.time()) + 3600}, "InvalidAuthenticationToken"),
    ({"tid": "00000000-0000-0000-0000-00000000dead"}, "InvalidAuthenticationTokenTenant"),
    ({"exp": "tomorrow"}, "InvalidAuthenticationToken"),
    ({"exp": None}, "InvalidAuthenticationToken"),
])
def test_token_audience_expiry_not_before_and_tenant_are_checked(wire, claims, code):
    token = wire.sign(claims)
    response = wire.request("GET", wire.rg(), headers={"Authorization": f"Bearer {token}"}, auth=False)
    error = arm_error(response)
    assert response.status == 401 and error["code"] == code, error


def test_a_token_whose_claims_are_not_an_object_is_invalid(wire):
    identity = wire.server.identity
    head = base64.urlsafe_b64encode(b'{"alg":"HS256"}').decode().rstrip("=")
    body = base64.urlsafe_b64encode(b"[1, 2]").decode().rstrip("=")
    mac = hmac.new(identity.signing_key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    token = f"{head}.{body}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"
    response = wire.request("GET", wire.rg(), headers={"Authorization": f"Bearer {token}"}, auth=False)
    assert response.status == 401 and arm_error(response)["code"] == "InvalidAuthenticationToken"


@pytest.mark.parametrize("audience", ["https://management.azure.com/", "https://management.core.windows.net/",
                                      "https://management.core.windows.net", "SERVER"])
def test_tokens_for_arms_audiences_and_the_servers_own_url_are_accepted(wire, audience):
    token = wire.sign({"aud": wire.server.base_url if audience == "SERVER" else audience})
    response = wire.request("GET", wire.rg("x"), headers={"Authorization": f"Bearer {token}"}, auth=False)
    assert response.status == 404  # past authentication: the group just does not exist


def test_a_token_within_the_clock_skew_is_still_accepted(wire):
    token = wire.sign({"exp": int(time.time()) - 60, "nbf": int(time.time()) + 60})
    response = wire.request("GET", wire.rg("x"), headers={"Authorization": f"Bearer {token}"}, auth=False)
    assert response.status == 404


def test_identity_and_metadata_endpoints_need_no_token(wire):
    assert wire.request("GET", "/metadata/endpoints?api-version=2022-09-01", auth=False).status == 200
    form = b"grant_type=client_credentials&client_id=x&client_secret=y&scope=%20"
    response = wire.request("POST", f"/{wire.server.identity.tenant_id}/oauth2/v2.0/token", form, auth=False)
    assert response.status == 400 and json.loads(response.body)["error"] == "unauthorized_client"


def test_a_blank_scope_gets_a_token_for_arm(wire):
    identity = wire.server.identity
    form = (f"grant_type=client_credentials&client_id={identity.client_id}&client_secret={identity.client_secret}"
            "&scope=%20").encode()
    response = wire.request("POST", f"/{identity.tenant_id}/oauth2/v2.0/token", form, auth=False)
    assert response.status == 200
    token = json.loads(response.body)["access_token"]
    assert wire.request("GET", wire.rg("x"), headers={"Authorization": f"Bearer {token}"}, auth=False).status == 404


# -- JSON ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [65, 5000, 200_000])
def test_deeply_nested_json_is_400_invalid_request_content(wire, depth):
    body = b'{"location": "eastus", "tags": ' + b"[" * depth + b"]" * depth + b"}"
    response = wire.request("PUT", wire.rg("deep"), body)
    error = arm_error(response)
    assert response.status == 400 and error["code"] == "InvalidRequestContent" and "nested deeper" in error["message"]


def test_json_nested_within_the_limit_is_parsed(wire):
    body = b'{"location": "eastus", "tags": ' + b"[" * 60 + b"]" * 60 + b"}"
    response = wire.request("PUT", wire.rg("shallow"), body)
    assert response.status < 500
    assert response.status < 400 or "nested deeper" not in arm_error(response)["message"]


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_non_finite_numbers_are_400(wire, literal):
    response = wire.request("PUT", wire.rg("nan"), b'{"location": "eastus", "x": ' + literal + b"}")
    assert response.status == 400 and arm_error(response)["code"] == "InvalidRequestContent"


# -- framing the stdlib refuses, and other transfer codings -----------------------------------------

def test_an_unknown_method_is_405_in_arms_shape(wire):
    response = wire.request("OPTIONS", wire.rg())
    assert response.status == 405 and arm_error(response)["code"] == "MethodNotAllowed"


@pytest.mark.parametrize("line", [b"GET / HTTP/1.x", b"GET / HTTP/1.1 extra", b"BREW"])
def test_a_malformed_request_line_gets_an_arm_error_and_a_status_line(wire, line):
    response = wire.send(line + b"\r\nHost: x\r\n\r\n")
    assert response.status == 400 and arm_error(response)


def test_too_many_headers_is_431_in_arms_shape(wire):
    head = b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n"
    response = wire.send(head)
    assert response.status == 431 and arm_error(response)


def test_a_request_target_that_is_not_a_path_is_400(wire):
    response = wire.request("GET", f"https://example.com/subscriptions/{wire.sub}?{API}")
    assert response.status == 400 and arm_error(response)["code"] == "InvalidUri"


def test_a_chunked_body_is_accepted(wire):
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(RG[i:i + 5]), RG[i:i + 5]) for i in range(0, len(RG), 5)) + b"0\r\n\r\n"
    response = wire.request("PUT", wire.rg("chunked"), chunks, {"Transfer-Encoding": "chunked"}, length=False)
    assert response.status == 201


@pytest.mark.parametrize("headers,body,status", [
    ({"Transfer-Encoding": "chunked"}, b"zz\r\n", 400),
    ({"Transfer-Encoding": "gzip"}, b"", 400),
    ({"Transfer-Encoding": "chunked", "Content-Length": "4"}, b"0\r\n\r\n", 400),
    ({"Transfer-Encoding": "chunked"}, b"%x\r\n" % (MAX_BODY_BYTES + 1), 413),
])
def test_bad_transfer_encodings_are_refused(wire, headers, body, status):
    response = wire.request("PUT", wire.rg("te"), body, headers, length=False)
    assert response.status == status and arm_error(response)


def test_the_connection_stays_open_across_good_requests(wire):
    sock = wire.connect()
    for _ in range(3):
        head = (f"GET {wire.rg('x')} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {wire.token}\r\n\r\n").encode()
        assert wire.send(head, sock=sock).status == 404


def test_a_client_stuck_before_the_tls_handshake_does_not_stall_others(wire):
    with socket.create_connection(("127.0.0.1", wire.server.port)):  # connects, never says hello
        assert wire.request("GET", wire.rg("x")).status == 404


def test_a_correlation_id_is_echoed_without_breaking_the_headers(wire):
    head = (f"GET {wire.rg('x')} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {wire.token}\r\n"
            "x-ms-correlation-request-id: abc\r\n def\r\n\r\n").encode()
    response = wire.send(head)
    assert response.status == 404 and "\n" not in response.getheader("x-ms-correlation-request-id")


# -- the emulator's own bugs ------------------------------------------------------------------------

def test_an_emulator_bug_is_a_500_with_the_traceback_in_the_servers_log_only(tmp_path, monkeypatch):
    with EmulatorServer(tmp_path) as server:
        wire = Wire(server)

        def broken(request):
            raise KeyError("a bug")

        monkeypatch.setattr(server.emulator, "handle", broken)
        response = wire.request("GET", wire.rg())
        error = arm_error(response)
        assert response.status == 500 and error["code"] == "InternalServerError"
        assert "KeyError" not in response.body.decode()
        log = (tmp_path / "server.log").read_text()
        assert "Traceback" in log and "KeyError: 'a bug'" in log
        monkeypatch.undo()
        assert wire.request("GET", wire.rg("x")).status == 404  # the server lives on


# -- found by fuzzing (tests/fuzz) ------------------------------------------------------------------

def test_a_chunked_body_that_starts_with_garbage_is_refused_at_once(wire):
    started = time.monotonic()
    response = wire.request("HEAD", wire.rg(), b"\x11\xca\x98\x00\x07", {"Transfer-Encoding": "chunked"},
                            length=False)
    assert response.status == 400 and time.monotonic() - started < 5  # not after a read timeout


def test_a_body_that_never_arrives_is_answered_408(tmp_path, monkeypatch):
    import dsvmctl.emulator.server as server_module

    monkeypatch.setattr(server_module, "CONNECTION_TIMEOUT_S", 1.0)
    with EmulatorServer(tmp_path) as server:
        wire = Wire(server)
        head = (f"PUT {wire.rg()} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {wire.token}\r\n"
                "Content-Length: 100\r\n\r\n").encode()
        response = wire.send(head, b'{"location":')  # 12 of the 100 bytes, then silence
        assert response.status == 408 and arm_error(response)["code"] == "RequestTimeout"
