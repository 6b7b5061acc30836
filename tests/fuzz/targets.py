"""The fuzz targets: hypothesis strategies for each input dsvmctl accepts, and the check that
holds for every input (the invariant), shared by the suite (a bounded budget) and
benchmarks/fuzz.py (the long run).

Invariants: no traceback ever; a refusal is a dsvmctl error with an exit code (spec, CLI) or
a TemplateError with a code (ARM); the emulator's HTTPS door always answers, never with a 500,
and every refusal it sends is ARM-shaped.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import string
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from dsvmctl.arm.errors import TemplateError
from dsvmctl.arm.functions import FUNCTIONS, LAZY
from dsvmctl.errors import DsvmctlError

from .corpus import WRITES

REPO = Path(__file__).resolve().parents[2]
SPEC_EXAMPLE = (REPO / "examples" / "team-dsvm.toml").read_text()
SHIPPED_TEMPLATES = sorted((REPO / "templates").glob("*.json"))

# -- shared value strategies ------------------------------------------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
NASTY_TEXT = st.one_of(TEXT, st.sampled_from(["", " ", "none", "*", "0.0.0.0/0", "../..", "~", "/", "\x00",
                                              "a" * 300, "Standard_NC4as_T4_v3", "ubuntu-2204", "win-2022",
                                              "eastus", "19:00", "25:61", "UTC", "-1", "1e309", "'", "\"",
                                              "[concat('a')]", "$(touch x)", "é", "\u202e"]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.integers(-5, 5000),
                    st.floats(allow_nan=True, allow_infinity=True), NASTY_TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(NASTY_TEXT, inner, max_size=4)),
                           max_leaves=12)


@st.composite
def mutated(draw, seed: Any, values=JSON_VALUES) -> Any:
    """`seed` with a few of its nodes replaced, deleted or given extra keys."""
    value = json.loads(json.dumps(seed))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(value))
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        value = _edit(value, path, action, draw(values), draw(NASTY_TEXT))
    return value


def _paths(value: Any, path: tuple = ()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, path + (index,))


def _edit(value: Any, path: tuple, action: str, new: Any, key: str) -> Any:
    if not path:
        return new if action == "replace" else value
    node = value
    for step in path[:-1]:
        node = node[step]
    last = path[-1]
    if action == "replace":
        node[last] = new
    elif action == "delete":
        del node[last]
    elif isinstance(node[last], dict):
        node[last][key] = new
    elif isinstance(node[last], list):
        node[last].append(new)
    else:
        node[last] = new
    return value


# -- (a) TOML environment specs ---------------------------------------------------------------------

SPEC_KEYS = ["name", "os", "image", "size", "gpu_size", "location", "resource_group", "admin_user", "ssh_key",
             "allowed_sources", "auto_shutdown", "spot", "max_price", "os_disk_size_gb", "os_disk_type", "tags"]
TOML_SCALARS = st.one_of(st.booleans(), st.integers(-2**63, 2**63 - 1), st.integers(-5, 5000),
                         st.floats(allow_nan=True, allow_infinity=True), NASTY_TEXT,
                         st.dates(), st.datetimes(), st.times())
TOML_VALUES = st.recursive(TOML_SCALARS, lambda inner: st.lists(inner, max_size=4), max_leaves=6)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(value), repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return value.isoformat()  # dates and times are TOML literals


@st.composite
def spec_documents(draw) -> str:
    """A TOML spec: known keys with values of any TOML type, tables, unknown keys; or the example
    file with its text edited at random."""
    if draw(st.booleans()):
        text = SPEC_EXAMPLE
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(text)))
            cut = draw(st.integers(0, 8))
            text = text[:at] + draw(st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)) + text[at + cut:]
        return text
    lines = []
    keys = draw(st.lists(st.sampled_from(SPEC_KEYS + ["nme", "extra"]), max_size=10, unique=True))
    if draw(st.integers(0, 9)):
        keys = ["name"] + [k for k in keys if k != "name"]
    tables = {}
    for key in keys:
        if key in ("auto_shutdown", "tags") and draw(st.booleans()):
            tables[key] = draw(st.dictionaries(st.sampled_from(["enabled", "time", "time_zone", "team", "x", "é"])
                                               if key == "auto_shutdown" else NASTY_TEXT, TOML_VALUES, max_size=4))
            continue
        value = draw(st.one_of(TOML_VALUES, st.sampled_from(["team-dsvm", "lab", "ubuntu-2204", "Standard_D4ds_v5"])))
        lines.append(f"{key} = {_toml_value(value)}")
    for table, entries in tables.items():
        lines.append(f"[{table}]")
        lines += [f"{json.dumps(k, ensure_ascii=False)} = {_toml_value(v)}" for k, v in entries.items()]
    return "\n".join(lines) + "\n"


def check_spec(text: str, folder: Path) -> str:
    """Load the spec as `dsvmctl up -f` does and derive what provisioning needs from it."""
    from dsvmctl.spec import EnvironmentSpec

    path = folder / "spec.toml"
    path.write_text(text, encoding="utf-8")
    try:
        spec = EnvironmentSpec.load(path)
        assert spec.image_info.alias and spec.template_file
        spec.template_parameters("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk3 fuzz", "203.0.113.7/32")
    except DsvmctlError as err:
        assert err.exit_code and str(err), "a refusal without a message or exit code"
        return "refused"
    return "accepted"


# -- (b) ARM templates and expressions --------------------------------------------------------------

FUNCTION_NAMES = sorted(set(FUNCTIONS) | set(LAZY)) + ["nosuchfunction", "listKeys", "list", "a.b"]
EXPR_STRINGS = st.text(st.sampled_from(string.ascii_letters + string.digits + " '-/._[](),$"), max_size=12)


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


EXPR_ATOMS = st.one_of(st.integers(-2**40, 2**40).map(str), st.integers(-3, 30).map(str),
                       EXPR_STRINGS.map(_literal), st.sampled_from(["true", "false", "null", "'", "[", "]", "."]))


def _call(args: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda name, a, tail: f"{name}({', '.join(a)}){tail}", st.sampled_from(FUNCTION_NAMES),
                     st.lists(args, max_size=4),
                     st.sampled_from(["", "", ".name", "[0]", "['x']", ".properties.id", "[-1]", "[99]"]))


EXPRESSIONS = st.recursive(EXPR_ATOMS, _call, max_leaves=10).map(lambda body: f"[{body}]")
RAW_EXPRESSIONS = st.text(st.sampled_from(string.printable), max_size=30).map(lambda t: f"[{t}]")


def expression_template(expression: str) -> dict[str, Any]:
    """A template that evaluates `expression` in a variable, a resource property and an output."""
    return {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0",
            "parameters": {"p": {"type": "string", "defaultValue": "x"}},
            "variables": {"v": expression},
            "resources": [{"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2024-05-01", "name": "vnet",
                           "location": "eastus", "properties": {"x": expression, "y": "[variables('v')]"}}],
            "outputs": {"o": {"type": "object", "value": {"e": expression}}}}


def _load_templates() -> list[dict[str, Any]]:
    """The shipped templates, the corpus' deployment template, and the real Azure quickstarts of
    ../shared/arm-corpus when they lie beside the checkout (a fresh clone fuzzes without them)."""
    from .corpus import _template

    seeds = [json.loads(p.read_text()) for p in SHIPPED_TEMPLATES] + [_template()]
    shared = Path(os.environ.get("DSVMCTL_SHARED_DIR", REPO.parent / "shared")) / "arm-corpus"
    for path in sorted(shared.rglob("*.json")) if shared.is_dir() else []:
        try:
            data = json.loads(path.read_text())
        except ValueError:
            continue
        if isinstance(data, dict) and "resources" in data and not path.name.endswith(".parameters.json"):
            seeds.append(data)
    return seeds


TEMPLATE_SEEDS = _load_templates()
TEMPLATE_VALUES = st.one_of(JSON_VALUES, EXPRESSIONS, RAW_EXPRESSIONS)


@st.composite
def templates(draw) -> tuple[dict | Any, dict | None]:
    seed = draw(st.sampled_from(TEMPLATE_SEEDS))
    template = draw(mutated(seed, TEMPLATE_VALUES))
    parameters = draw(st.one_of(st.none(), st.dictionaries(st.sampled_from(["vmName", "adminUsername", "p", "x",
                                                                           "vmSize", "location"]),
                                                           st.one_of(JSON_VALUES, st.fixed_dictionaries(
                                                               {"value": JSON_VALUES})), max_size=3)))
    return template, parameters


def check_template(template: Any, parameters: Any) -> str:
    """Expand and lint as `dsvmctl validate` does; a refusal must be a TemplateError."""
    from dsvmctl.arm import example_parameter_values, expand, lint

    try:
        if isinstance(template, dict):
            parameters = {**example_parameter_values(template, parameters), **(parameters or {})}
        expansion = expand(template, parameters)
        lint(template, expansion, parameters)
    except TemplateError as err:
        assert err.code and err.message, "a TemplateError without a code or message"
        return "refused"
    return "accepted"


# -- (c) the emulator's HTTPS door ------------------------------------------------------------------

METHODS = st.sampled_from(["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "GET", "PUT", "OPTIONS", "TRACE", "FOO"])
SEGMENT = st.one_of(st.sampled_from(["subscriptions", "resourceGroups", "providers", "Microsoft.Compute",
                                     "virtualMachines", "vm1", "rg", "deployments", "..", ".", "%2e%2e", "%00",
                                     "00000000-0000-0000-0000-000000000001", "Microsoft.Network", "oauth2",
                                     "token", "metadata", "endpoints", "%ff", "a%2Fb", "~"]),
                    st.text(st.sampled_from(string.ascii_letters + string.digits + "-._~%!$&'()*+,;=:@"), max_size=12))
QUERY_VALUE = st.one_of(st.sampled_from(["2025-04-01", "2024-11-01", "2018-09-15", "banana", "", "2099-01-01",
                                         "2024-11-01-preview", "%ff", "a&b"]),
                        st.text(st.sampled_from(string.ascii_letters + string.digits + "-%+"), max_size=10))
HEADER_NAMES = st.one_of(st.sampled_from(["Content-Type", "Content-Length", "Transfer-Encoding", "Authorization",
                                          "Expect", "x-ms-correlation-request-id", "Accept", "Connection",
                                          "If-Match", "x-ms-client-request-id", "Host"]),
                         st.text(st.sampled_from(string.ascii_letters + string.digits + "-_!#$%&'*+.^`|~"),
                                 min_size=1, max_size=20))
HEADER_VALUES = st.one_of(st.sampled_from(["-1", "abc", "99999999999999999999", "chunked", "gzip", "close",
                                           "100-continue", "Bearer x.y.z", "Bearer", "application/json", ""]),
                          st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
                                  max_size=40))


@st.composite
def door_requests(draw) -> tuple[str, str, dict[str, str], bytes, bool]:
    """(method, request target, extra headers, body, send a valid token)."""
    if draw(st.booleans()):
        method, path, version, body = draw(st.sampled_from(WRITES))
        segments = path.strip("/").split("/")
        for _ in range(draw(st.integers(0, 2))):
            at = draw(st.integers(0, len(segments)))
            edit = draw(st.sampled_from(["replace", "insert", "delete", "case"]))
            if edit == "replace" and at < len(segments):
                segments[at] = draw(SEGMENT)
            elif edit == "insert":
                segments.insert(at, draw(SEGMENT))
            elif edit == "delete" and at < len(segments):
                del segments[at]
            elif edit == "case":
                segments = [s.upper() if draw(st.booleans()) else s.lower() for s in segments]
        method = draw(st.one_of(st.just(method), METHODS))
        data = draw(st.one_of(st.just(body), mutated(body if body is not None else {}), JSON_VALUES))
        payload = json.dumps(data, allow_nan=True).encode() if data is not None else b""
    else:
        method = draw(METHODS)
        segments = draw(st.lists(SEGMENT, max_size=8))
        version = draw(QUERY_VALUE)
        payload = draw(st.one_of(st.binary(max_size=64), JSON_VALUES.map(lambda v: json.dumps(v).encode()),
                                 st.sampled_from([b"[" * 3000, b"{\"a\":" * 100 + b"1" + b"}" * 100, b"\xff\xfe",
                                                  b"NaN", b"grant_type=client_credentials&client_id=x"])))
    query = [f"api-version={version}"] if draw(st.integers(0, 5)) else []
    query += [f"{draw(QUERY_VALUE)}={draw(QUERY_VALUE)}" for _ in range(draw(st.integers(0, 2)))]
    target = "/" + "/".join(segments) + ("?" + "&".join(query) if query else "")
    headers = {draw(HEADER_NAMES): draw(HEADER_VALUES) for _ in range(draw(st.integers(0, 3)))}
    return method, target, headers, payload, draw(st.integers(0, 9)) > 0


class DoorClient:
    """Raw HTTP/1.1 over TLS to an EmulatorServer, reconnecting whenever the server closes."""

    def __init__(self, server) -> None:
        from .corpus import ready_emulator  # noqa: F401 - the server was seeded by the caller

        self.server = server
        self.context = ssl.create_default_context(cafile=str(server.ca_path))
        self.token = server.identity.issue("https://management.azure.com")
        self.sock: ssl.SSLSocket | None = None

    def _connect(self) -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", self.server.port), timeout=30)
        return self.context.wrap_socket(raw, server_hostname="127.0.0.1")

    def send(self, method: str, target: str, headers: dict[str, str], body: bytes, auth: bool) -> HTTPResponse:
        lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
        if auth:
            lines.append(f"Authorization: Bearer {self.token}")
        names = {k.lower() for k in headers}
        if "content-length" not in names and "transfer-encoding" not in names:
            lines.append(f"Content-Length: {len(body)}")
        lines += [f"{k}: {v}" for k, v in headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        for attempt in (1, 2):  # a kept-alive connection the server closed in between: reconnect once
            if self.sock is None:
                self.sock = self._connect()
            try:
                self.sock.sendall(head + body)
                response = HTTPResponse(self.sock, method=method)
                response.begin()
                response.body = response.read()  # type: ignore[attr-defined]
                break
            except (OSError, HTTPException):
                self.close()
                if attempt == 2:
                    raise
        if response.will_close:
            self.close()
        return response

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


def check_door(client: DoorClient, method: str, target: str, headers: dict[str, str], body: bytes,
               auth: bool) -> int:
    """Send one request; a reply must come, never a 5xx, and a refusal of ARM's must be ARM-shaped."""
    response = client.send(method, target, headers, body, auth)
    payload = response.body  # type: ignore[attr-defined]
    assert response.status < 500, (response.status, payload[:500])
    assert b"Traceback" not in payload
    assert client.server.last_internal_error is None, client.server.last_internal_error
    if response.status >= 400 and method != "HEAD":
        document = json.loads(payload)
        identity = client.server.identity.is_identity_path(target.split("?", 1)[0])
        if identity and "error" in document and isinstance(document["error"], str):
            return response.status  # Entra ID's own error shape, as login.microsoftonline.com answers
        assert set(document) == {"error"} and isinstance(document["error"].get("code"), str) \
            and isinstance(document["error"].get("message"), str), document
    return response.status


# -- (d) CLI arguments ------------------------------------------------------------------------------

# Commands that fail before doing anything on an empty state directory, or only read. Excluded:
# up, quickstart and bench (they create local VMs), ssh (interactive), attach (connects to any
# host given), emulator serve (runs until stopped).
SAFE_COMMANDS = ["list", "status", "sizes", "images", "report", "prices", "down", "logs", "collect", "exec", "push", "run",
                 "stop", "start", "resume", "resize", "gc", "validate", "emulator", "--version", "--help"]
REFUSED_OPTIONS = {"--refresh", "--yes", "-y", "azure"}  # network access (Azure, prices), consent to delete
CLI_WORDS = st.one_of(NASTY_TEXT, st.sampled_from(["lab", "-o", "json", "table", "--output", "--size", "--dry-run",
                                                   "--help", "--", "-", "--cloud", "local", "--debug",
                                                   "Standard_NC4as_T4_v3", "0", "-1", "99999999999999999999",
                                                   "--gpu-only", "--plot", "--keep-disk", "--follow", "--detach",
                                                   "--workload", "cnn", "--dest", "serve", "--port", "--state-dir",
                                                   "-f", "TEMPLATE", "SPEC", "DIR"])).filter(
    lambda w: w not in REFUSED_OPTIONS)


@st.composite
def cli_arguments(draw) -> list[str]:
    command = draw(st.sampled_from(SAFE_COMMANDS))
    words = [command] + draw(st.lists(CLI_WORDS, max_size=6))
    if command == "emulator" and "serve" in words and "--help" not in words:
        words.remove("serve")  # never start a server that runs until stopped
    if command == "validate":  # it reads every template below a directory: keep it to the fuzz folder
        words = [w for w in words if w not in ("/", "~", "..", "../..") and not w.startswith(("/", "~"))]
    prefix = draw(st.sampled_from([[], ["--cloud", "local"], ["-h"], ["--cloud", "nowhere"]]))
    return prefix + words


def check_cli(runner, cli, args: list[str], folder: Path) -> int:
    """Run the CLI in-process; exit codes are 0, click's 2, or a dsvmctl error's; never 70 (a bug)."""
    from dsvmctl import failures

    args = [_fill(word, folder) for word in args]
    result = runner.invoke(cli, args, catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
    assert "Traceback" not in result.output, (args, result.output)
    assert result.exit_code != failures.UNEXPECTED_EXIT_CODE, (args, result.output)
    assert not (folder / "state" / "reports").exists(), (args, result.output)
    return result.exit_code


def _fill(word: str, folder: Path) -> str:
    """Placeholders for files that exist: a template, a spec, a directory (all inside the fuzz folder)."""
    if word == "TEMPLATE":
        path = folder / "t.json"
        path.write_text(json.dumps(TEMPLATE_SEEDS[-1]))
        return str(path)
    if word == "SPEC":
        path = folder / "s.toml"
        path.write_text(SPEC_EXAMPLE)
        return str(path)
    if word == "DIR":
        return str(folder)
    return word
