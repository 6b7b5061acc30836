"""Fidelity: replay real recorded Azure traffic against the emulator and score what matches.

    .venv/bin/python benchmarks/fidelity.py [--door serve|inprocess] [--verbose] [--as-recorded] [RECORDING ...]

Reads every recording under ../shared/recordings/ and ../shared/recordings-more/ (vcrpy YAML,
Azure test-proxy JSON, Java track-1 session records), replays each one in order against a fresh
emulator and reports, per recorded interaction in scope:

- the same HTTP status (and, for errors, the same ARM error code), and
- the same response field set: every key path of the recorded JSON body (recursively, list items
  merged) is present in the emulator's body. Fields the emulator adds are not misses: Azure's
  own field sets grow with the api-version, and the emulator answers one shape.

How a recording is mapped onto the emulator:
- the recorded subscription becomes the emulator's default one (in URLs and bodies);
- resource groups a recording uses without creating them (its test framework made them before
  recording started) are created first, and so are groups no URL names but a successful answer
  shows resources in (a nested deployment's other group); resource names are kept as recorded;
- a location the emulator does not offer becomes its first offered location;
- retired since the recording: Azure stopped creating Basic SKU public IPs on 30 September 2025
  (and a Standard one must be Static), so a request that Azure accepted then for a Basic or a
  Dynamic public IP (a PUT of the public IP, or a public IP resource of a deployment's template)
  is replayed as its successor, sku Standard with Static allocation. The emulator refuses the
  retired form as Azure does today. The output counts the interactions so mapped, and
  `--as-recorded` replays them unmapped;
- retired since the recording, too: Azure retired the Basic A and Standard A0-A7 sizes on
  31 August 2024 and names the Av2 size to move each to (Basic_A0/A1 and Standard_A0/A1 ->
  Standard_A1_v2, A2 -> A2_v2, A3 -> A4_v2, A4 -> A8_v2, A5 -> A2m_v2, A6 -> A4m_v2,
  A7 -> A8m_v2). A VM or scale set write (or such a resource of a deployment's template) that
  Azure accepted with a retired size is replayed with its successor; the emulator refuses the
  retired size (409 SkuNotAvailable) as Azure does today. Counted and turned off like the above;
- long-running operations: the emulator runs with `finish_on_poll`, so a write's operation is
  still running while the client sends other requests, as it was on Azure (a NIC delete refused
  while its VM's delete runs). At the recording's first poll of a write, or its next request to
  the written resource, the harness follows the *emulator's own* Azure-AsyncOperation / Location
  URL to the end; a write the recording never polls (--no-wait) is followed before the first
  request that is not about it (its cancel is). A recorded
  chain of polls is scored once, its last poll against the emulator's final poll of the same kind
  (status URL or result URL). The intermediate polls are not scored: how many "InProgress"
  answers Azure gave is timing.
  Compute's status and result URLs differ only by `monitor=true`, which tells them apart;
- Java records keep no request body; the PUT/PATCH body is rebuilt from the recorded response
  (read-only fields dropped; a `type` under properties or identity is the client's and kept),
  which is what the SDK sent plus what Azure computed, and a VM without SSH keys gets a
  placeholder admin password (Azure never returns the one sent); a write
  answered without a body (202) is rebuilt from the next recorded 200 GET of the same resource;
- the az CLI splices a deployment's template into the request as written (an unquoted
  `template` key, the template's own comments), which ARM reads: such bodies are replayed as
  recorded. The azure-cli recorder renames deployments in URLs to `mock-deployment` but not in
  bodies: the recorded body's name is put back into the URL;
- a resource group the recording first finds missing (404 ResourceGroupNotFound) is not made
  beforehand.

In scope: Microsoft.Compute, Microsoft.Network, Microsoft.Resources (subscriptions, resource
groups, deployments, providers, resources) and the Microsoft.Storage control plane, at
subscription or resource-group scope. Out of scope, with the reason printed: other namespaces
(Authorization locks, Management groups, Insights, ...), tenant and management-group scope
deployments, and requests to hosts other than ARM (GitHub-hosted templates, Entra ID).
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
RECORDING_DIRS = ("recordings", "recordings-more")
IN_SCOPE = {"microsoft.compute", "microsoft.network", "microsoft.resources", "microsoft.storage"}
ARM_HOSTS = {"management.azure.com", "localhost:1234", "localhost"}
POLL = re.compile(r"/(operations|operationresults|operationstatuses|asyncoperations|diskoperations|"
                  r"nfvoperations)/[^/]+$", re.IGNORECASE)
SCRUBBED_DEPLOYMENT = re.compile(r"/deployments/(mock-deployment)(?=/|\?|$)", re.IGNORECASE)
SUBSCRIPTION = re.compile(r"(/subscriptions/)([^/?]+)", re.IGNORECASE)
# Key paths whose presence depends on data, not on the API's shape: paging, user maps.
UNSCORED_KEYS = {"nextLink", "tags", "outputs", "parameters", "template", "userData", "customData"}
# ... and keys whose very presence is data: paging, and tags (Azure Policy adds its own, e.g. azsecpack).
UNSCORED_PRESENCE = {"nextLink", "tags"}
READ_ONLY = {"id", "etag", "type", "provisioningState", "resourceGuid"}
JAVA_PLACEHOLDER_PASSWORD = "Rebuilt-Body-Pa55!"  # meets Azure's complexity rule


# -- recordings ----------------------------------------------------------------------------------------

@dataclass
class Interaction:
    method: str
    url: str
    request_body: bytes
    status: int
    body: Any  # parsed JSON, or None
    headers: dict[str, str]  # lower-case names


@dataclass
class Recording:
    path: Path
    name: str
    interactions: list[Interaction]
    java: bool = False  # track-1 session records: request bodies rebuilt from responses


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict) and "string" in value:
        value = value["string"]
    if isinstance(value, bytes):
        try:
            value = gzip.decompress(value)
        except OSError:
            pass
        value = value.decode("utf-8", "replace")
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    text = str(value)
    # Old vcrpy files keep Python's repr of bytes, sometimes twice: b'b\'{...}\''.
    while len(text) > 3 and text[:2] in ("b'", 'b"') and text[-1] == text[1]:
        try:
            text = ast.literal_eval(text).decode("utf-8", "replace")
        except (ValueError, SyntaxError):
            break
    return text


def _json(value: Any) -> Any:
    if isinstance(value, (dict, list)) and not (isinstance(value, dict) and "string" in value):
        return value
    text = _text(value)
    if not text or not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _headers(raw: dict[str, Any] | None) -> dict[str, str]:
    out = {}
    for key, value in (raw or {}).items():
        if isinstance(value, list):
            value = value[0] if value else ""
        out[key.lower()] = str(value)
    return out


def load(path: Path) -> Recording:
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(path.read_text())
        items = [Interaction(i["request"]["method"].upper(), i["request"]["uri"],
                             (_text(i["request"].get("body")) or "").encode(), int(i["response"]["status"]["code"]),
                             _json(i["response"].get("body")), _headers(i["response"].get("headers")))
                 for i in data.get("interactions") or []]
    else:
        data = json.loads(path.read_text())
        if "Entries" in data:  # Azure test-proxy
            items = [Interaction(e["RequestMethod"].upper(), e["RequestUri"], (_text(e.get("RequestBody")) or "").encode(),
                                 int(e["StatusCode"]), _json(e.get("ResponseBody")), _headers(e.get("ResponseHeaders")))
                     for e in data["Entries"]]
        else:  # Java track-1 session records: no request body kept
            items = []
            for e in data.get("networkCallRecords") or []:
                response = e.get("Response") or {}
                body = _json(response.get("Body"))
                items.append(Interaction(e["Method"].upper(), e["Uri"], _java_request_body(e["Method"], body),
                                         int(response.get("StatusCode", 0)), body,
                                         _headers({k: v for k, v in response.items() if k not in ("Body", "StatusCode")})))
            _rebuild_from_next_get(items)
    return Recording(path, path.name, items, java="networkCallRecords" in data)


def _java_request_body(method: str, response_body: Any) -> bytes:
    if method.upper() not in ("PUT", "PATCH") or not isinstance(response_body, dict):
        return b""

    def strip(value: Any, parent: str = "") -> Any:
        if isinstance(value, dict):
            # A `type` under properties or identity is the client's (an extension's type), not ARM's.
            kept = {"type"} if parent in ("properties", "identity") else set()
            return {k: strip(v, k) for k, v in value.items()
                    if k not in READ_ONLY or k in kept or k == "id" and "name" not in value}
        if isinstance(value, list):
            return [strip(v, parent) for v in value]
        return value

    body = strip({k: v for k, v in response_body.items() if k not in READ_ONLY})
    # Azure never returns a VM's admin password, but the SDK sent one: give the rebuilt body a
    # placeholder where the recorded VM had no SSH keys to log in with instead.
    os_profile = (body.get("properties") or {}).get("osProfile") if isinstance(body.get("properties"), dict) else None
    if isinstance(os_profile, dict) and "adminUsername" in os_profile and "adminPassword" not in os_profile:
        ssh_keys = ((os_profile.get("linuxConfiguration") or {}).get("ssh") or {}).get("publicKeys")
        if not ssh_keys:
            os_profile["adminPassword"] = JAVA_PLACEHOLDER_PASSWORD
    return json.dumps(body).encode()


def _rebuild_from_next_get(items: list[Interaction]) -> None:
    """A Java write whose response has no body (202 Accepted) is rebuilt from the next recorded
    200 GET of the same resource: what the SDK wrote, as Azure showed it once written."""
    for index, item in enumerate(items):
        if item.method not in ("PUT", "PATCH") or item.request_body or item.status >= 400:
            continue
        path = urlsplit(item.url).path.lower()
        shown = next((later for later in items[index + 1:] if later.method == "GET" and later.status == 200
                      and urlsplit(later.url).path.lower() == path and isinstance(later.body, dict)), None)
        if shown is not None:
            item.request_body = _java_request_body(item.method, shown.body)


def find_recordings(shared: Path) -> list[Path]:
    found = []
    for folder in RECORDING_DIRS:
        base = shared / folder
        if base.is_dir():
            found += sorted(p for p in base.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
    return found


# -- scope and operation names ---------------------------------------------------------------------------

def operation_key(method: str, path: str) -> str:
    """`PUT Microsoft.Compute/virtualMachines/{}`: the operation, without names."""
    segs = [s for s in path.split("/") if s]
    low = [s.lower() for s in segs]
    out: list[str] = []
    i = 0
    if low[:1] == ["subscriptions"]:
        i = 2
        if low[2:3] == ["resourcegroups"]:
            i = 4
            if len(segs) == 4:
                return f"{method} resourceGroups/{{}}"
    if i < len(segs) and low[i] == "providers" and i + 1 < len(segs):
        namespace, i = segs[i + 1], i + 2
        out.append(namespace)
    else:
        out.append("Microsoft.Resources")
    rest = segs[i:]
    for index, seg in enumerate(rest):
        out.append(seg if index % 2 == 0 else "{}")
    if len(segs) > 2 and low[0] == "subscriptions" and not rest and len(out) == 1:
        out.append(segs[-1] if low[-1] != low[1] else "subscriptions/{}")
    return f"{method} " + "/".join(out)


def scope_of(item: Interaction) -> str | None:
    """None when in scope, else why not."""
    parts = urlsplit(item.url)
    if parts.netloc.lower() not in ARM_HOSTS:
        return f"not ARM ({parts.netloc})"
    low = parts.path.lower()
    if not low.startswith("/subscriptions/"):
        return "tenant or management-group scope"
    match = re.search(r"/providers/([^/]+)", low)
    namespace = match.group(1) if match else "microsoft.resources"
    if namespace not in IN_SCOPE:
        return f"namespace {match.group(1) if match else namespace}"
    return None


# -- doors -------------------------------------------------------------------------------------------------

@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class InProcessDoor:
    """The emulator core called directly: the same Request/Response the HTTPS door uses."""

    base_url = "https://management.azure.com"

    def __init__(self) -> None:
        from dsvmctl.emulator.core import Emulator

        self.em = Emulator(finish_on_poll=True)
        self.subscription_id = self.em.subscription_id

    def send(self, method: str, url: str, body: bytes) -> Reply:
        from dsvmctl.emulator.wire import Request

        headers = {"Content-Type": "application/json"} if body else {}
        response = self.em.handle(Request(method, url, headers, body))
        return Reply(response.status, _json(response.content()) if response.body is not None else None,
                     {k.lower(): v for k, v in response.headers.items()})

    def close(self) -> None:
        pass


class ServeDoor:
    """`dsvmctl emulator serve` in its own process, over HTTPS with its own token."""

    def __init__(self) -> None:
        import requests

        self._tmp = tempfile.TemporaryDirectory(prefix="dsvmctl-fidelity-")
        state = Path(self._tmp.name)
        exe = Path(sys.executable).with_name("dsvmctl")
        command = [str(exe)] if exe.exists() else [sys.executable, "-m", "dsvmctl"]
        env = {**os.environ, "DSVMCTL_HOME": str(state / "home")}
        serve = ["emulator", "serve", "--port", "0", "--finish-on-poll", "--state-dir", str(state)]
        self.proc = subprocess.Popen(command + serve,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        endpoint_file = state / "endpoint.json"
        deadline = time.monotonic() + 30
        while not endpoint_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("emulator serve did not start: " + (self.proc.stderr.read() or b"").decode())
            time.sleep(0.05)
        endpoint = json.loads(endpoint_file.read_text())
        self.base_url = endpoint["arm_endpoint"]
        self.subscription_id = endpoint["subscription_id"]
        self.session = requests.Session()
        self.session.verify = endpoint["ca_bundle"]
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the emulator's CA
        token = self.session.post(f"{self.base_url}/{endpoint['tenant_id']}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": endpoint["client_id"],
            "client_secret": endpoint["client_secret"], "scope": endpoint["credential_scope"]}).json()
        self.session.headers["Authorization"] = f"Bearer {token['access_token']}"

    def send(self, method: str, url: str, body: bytes) -> Reply:
        headers = {"Content-Type": "application/json"} if body else {}
        response = self.session.request(method, url, data=body or None, headers=headers)
        return Reply(response.status_code, _json(response.content), {k.lower(): v for k, v in response.headers.items()})

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self._tmp.cleanup()


# -- scoring -----------------------------------------------------------------------------------------------

def key_paths(value: Any, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(value, dict):
        for key, child in value.items():
            if key in UNSCORED_PRESENCE:
                continue
            path = f"{prefix}.{key}" if prefix else key
            out.add(path)
            if key not in UNSCORED_KEYS:
                out |= key_paths(child, path)
    elif isinstance(value, list):
        for child in value:
            out |= key_paths(child, prefix + "[]")
    return {p for p in out if p.split(".")[-1].split("[")[0] not in UNSCORED_KEYS or "." not in p}


def _error_code(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("code")
    return None


@dataclass
class Outcome:
    recording: str
    operation: str
    ok: bool
    cause: str = ""
    detail: str = ""


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    out_of_scope: Counter = field(default_factory=Counter)
    unscored_polls: int = 0
    mapped: Counter = field(default_factory=Counter)  # the documented mappings, per kind
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def scored(self) -> int:
        return len(self.outcomes)

    @property
    def matched(self) -> int:
        return sum(o.ok for o in self.outcomes)

    @property
    def rate(self) -> float:
        return self.matched / self.scored if self.scored else 0.0

    def per_recording(self) -> dict[str, tuple[int, int]]:
        table: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for o in self.outcomes:
            table[o.recording][0] += o.ok
            table[o.recording][1] += 1
        return {k: (v[0], v[1]) for k, v in table.items()}

    def misses_by_cause(self) -> dict[str, Counter]:
        grouped: dict[str, Counter] = defaultdict(Counter)
        for o in self.outcomes:
            if not o.ok:
                grouped[o.cause][f"{o.operation}{(' ' + o.detail) if o.detail else ''}"] += 1
        return grouped


def compare(recorded: Interaction, got: Reply) -> tuple[bool, str, str]:
    if recorded.status != got.status:
        code = _error_code(got.body)
        return False, f"status {recorded.status} -> {got.status}", code or ""
    want_code, got_code = _error_code(recorded.body), _error_code(got.body)
    if recorded.status >= 400 and want_code and (got_code or "").lower() != want_code.lower():
        return False, "same status, different error code", f"{want_code} != {got_code}"
    if recorded.status >= 400:
        return True, "", ""
    missing = sorted(key_paths(recorded.body) - key_paths(got.body))
    if missing:
        return False, "missing response fields", ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else "")
    return True, "", ""


RETIRED_PUBLIC_IP = "retired Basic / Dynamic public IP replayed as Standard / Static"


def successor_public_ips(method: str, url: str, body: bytes) -> bytes | None:
    """The request with each retired Basic or Dynamic public IP made Standard and Static; None if none."""
    if method != "PUT" or not body.strip():
        return None
    data = _json(body)
    path = urlsplit(url).path.lower()
    if not isinstance(data, dict):
        return None
    if re.search(r"/providers/microsoft\.network/publicipaddresses/[^/]+$", path):
        changed = _make_successor(data)
    elif re.search(r"/providers/microsoft\.resources/deployments/[^/]+$", path):
        template = (data.get("properties") or {}).get("template") or {}
        changed = False
        for resource in _template_resources(template.get("resources")):
            if str(resource.get("type", "")).lower() == "microsoft.network/publicipaddresses":
                changed = _make_successor(resource) or changed
    else:
        return None
    return json.dumps(data).encode() if changed else None


def _template_resources(resources: Any):
    for resource in resources if isinstance(resources, list) else []:
        if isinstance(resource, dict):
            yield resource
            yield from _template_resources(resource.get("resources"))


def _make_successor(public_ip: dict[str, Any]) -> bool:
    changed = False
    sku = public_ip.get("sku")
    if isinstance(sku, dict) and str(sku.get("name", "")).lower() == "basic":
        public_ip["sku"] = {**sku, "name": "Standard"}
        changed = True
    props = public_ip.get("properties")
    if isinstance(props, dict) and str(props.get("publicIPAllocationMethod", "")).lower() == "dynamic":
        props["publicIPAllocationMethod"] = "Static"
        changed = True
    return changed


RETIRED_SIZE = "retired A-series size replayed as its named Av2 successor"
# Azure's migration table for the A-series retirement (31 August 2024).
SIZE_SUCCESSORS = {
    "basic_a0": "Standard_A1_v2", "basic_a1": "Standard_A1_v2", "basic_a2": "Standard_A2_v2",
    "basic_a3": "Standard_A4_v2", "basic_a4": "Standard_A8_v2",
    "standard_a0": "Standard_A1_v2", "standard_a1": "Standard_A1_v2", "standard_a2": "Standard_A2_v2",
    "standard_a3": "Standard_A4_v2", "standard_a4": "Standard_A8_v2", "standard_a5": "Standard_A2m_v2",
    "standard_a6": "Standard_A4m_v2", "standard_a7": "Standard_A8m_v2",
}
VM_WRITE = re.compile(r"/providers/microsoft\.compute/virtualmachines/[^/]+$")
VMSS_WRITE = re.compile(r"/providers/microsoft\.compute/virtualmachinescalesets/[^/]+$")


def successor_sizes(method: str, url: str, body: bytes) -> bytes | None:
    """The request with each retired A-series size replaced by its successor; None if none."""
    if method not in ("PUT", "PATCH") or not body.strip():
        return None
    data = _json(body)
    path = urlsplit(url).path.lower()
    if not isinstance(data, dict):
        return None
    if VM_WRITE.search(path):
        changed = _successor_vm_size(data)
    elif VMSS_WRITE.search(path):
        changed = _successor_vmss_size(data)
    elif re.search(r"/providers/microsoft\.resources/deployments/[^/]+$", path):
        template = (data.get("properties") or {}).get("template") or {}
        changed = False
        for resource in _template_resources(template.get("resources")):
            kind = str(resource.get("type", "")).lower()
            if kind == "microsoft.compute/virtualmachines":
                changed = _successor_vm_size(resource) or changed
            elif kind == "microsoft.compute/virtualmachinescalesets":
                changed = _successor_vmss_size(resource) or changed
    else:
        return None
    return json.dumps(data).encode() if changed else None


def _successor_vm_size(vm: dict[str, Any]) -> bool:
    hardware = (vm.get("properties") or {}).get("hardwareProfile") if isinstance(vm.get("properties"), dict) else None
    if not isinstance(hardware, dict):
        return False
    successor = SIZE_SUCCESSORS.get(str(hardware.get("vmSize", "")).lower())
    if successor:
        hardware["vmSize"] = successor
    return successor is not None


def _successor_vmss_size(scale_set: dict[str, Any]) -> bool:
    sku = scale_set.get("sku")
    successor = SIZE_SUCCESSORS.get(str(sku.get("name", "")).lower()) if isinstance(sku, dict) else None
    if successor:
        # The Av2 sizes are all Standard tier; a Basic-tier scale set names its tier too.
        scale_set["sku"] = {**sku, "name": successor, **({"tier": "Standard"} if "tier" in sku else {})}
    return successor is not None


@dataclass
class Pending:
    """A write's LRO in the emulator, followed when the recording first polls it: until then the
    emulator (finish_on_poll) keeps it running, as Azure did while the client sent other requests."""

    path: str  # the written resource's path, as replayed
    reply: Reply
    final: dict[str, Reply] | None = None
    unpolled: bool = False  # the recording never polls it


class Replayer:
    def __init__(self, door, recording: Recording, report: Report, as_recorded: bool = False) -> None:
        self.door = door
        self.rec = recording
        self.report = report
        self.as_recorded = as_recorded
        # The recording's own poll URLs (by kind and id) -> (kind, the write, its Pending LRO):
        # clients interleave polls of several writes, so every write's LRO is kept, not the last one.
        self.lros: dict[str, tuple[str, str, Pending]] = {}
        self.locations: set[str] | None = None
        self.deployment_name: str | None = None  # the real name behind the recorder's mock-deployment
        self.recorded_subs = {m.group(2) for i in recording.interactions for m in SUBSCRIPTION.finditer(i.url)}

    # URL and body mapping -------------------------------------------------------------------

    def map_url(self, url: str) -> str:
        parts = urlsplit(url)
        path = SUBSCRIPTION.sub(lambda m: m.group(1) + self.door.subscription_id, parts.path)
        path = self._map_locations(path)
        query = parts.query
        for sub in self.recorded_subs:  # ids in a $filter name the recorded subscription too
            query = query.replace(sub, self.door.subscription_id)
        return f"{self.door.base_url}{path}" + (f"?{query}" if query else "")

    def map_body(self, body: bytes) -> bytes:
        if not body:
            return body
        text = body.decode("utf-8", "replace")
        for sub in self.recorded_subs:
            text = text.replace(sub, self.door.subscription_id)
        return self._map_locations(text).encode()

    def _offered(self) -> set[str]:
        if self.locations is None:
            reply = self.door.send("GET", f"{self.door.base_url}/subscriptions/{self.door.subscription_id}/locations"
                                   "?api-version=2022-12-01", b"")
            self.locations = {loc["name"] for loc in (reply.body or {}).get("value", [])}
        return self.locations

    def _map_locations(self, text: str) -> str:
        offered = self._offered()
        if not offered:
            return text
        first = sorted(offered)[0]

        def swap(match: re.Match) -> str:
            name = match.group(2).replace(" ", "").lower()
            return match.group(0) if name in offered or name == "global" else match.group(1) + first + match.group(3)

        text = re.sub(r'("location"\s*:\s*")([^"]+)(")', swap, text, flags=re.IGNORECASE)
        return re.sub(r"(/locations/)([^/?]+)(/|$|\?)", swap, text, flags=re.IGNORECASE)

    def _unscrub_deployment(self, item: Interaction) -> str:
        """The URL with the deployment name the recorder replaced by `mock-deployment` put back
        from the recorded body (its `name`), or the name last put back when the body has none."""
        match = SCRUBBED_DEPLOYMENT.search(item.url)
        if not match:
            return item.url
        body = item.body if isinstance(item.body, dict) else {}
        name = body.get("name")
        if isinstance(name, str) and str(body.get("id", "")).lower().endswith(f"/deployments/{name.lower()}"):
            self.deployment_name = name
        if self.deployment_name is None:
            return item.url
        return item.url[:match.start(1)] + self.deployment_name + item.url[match.end(1):]

    def request_body(self, item: Interaction) -> bytes:
        body = self.map_body(item.request_body)
        # Only what Azure accepted then: a request it refused is replayed as recorded.
        if self.as_recorded or item.status >= 400:
            return body
        for kind, successor_of in ((RETIRED_PUBLIC_IP, successor_public_ips), (RETIRED_SIZE, successor_sizes)):
            successor = successor_of(item.method, item.url, body)
            if successor is not None:
                self.report.mapped[kind] += 1
                body = successor
        return body

    # replay --------------------------------------------------------------------------------------

    def prepare_groups(self) -> None:
        created = set()
        for item in self.rec.interactions:
            match = re.search(r"/subscriptions/[^/]+/resourcegroups/([^/?]+)", urlsplit(item.url).path, re.IGNORECASE)
            if not match:
                continue
            group = match.group(1).lower()
            is_create = item.method == "PUT" and urlsplit(item.url).path.rstrip("/").lower().endswith(
                f"resourcegroups/{group}")
            if group not in created and not is_create and not _group_missing_in(item):
                self.door.send("PUT", self.map_url(f"https://x/subscriptions/s/resourcegroups/{match.group(1)}"
                                                   "?api-version=2022-09-01"),
                               self.map_body(json.dumps(self._recorded_group(group)).encode()))
            created.add(group)
        # A group no URL names but a successful answer shows resources in (a nested deployment's
        # other group) was made by the test framework too.
        for group in sorted(self._groups_in_answers() - created):
            self.door.send("PUT", self.map_url(f"https://x/subscriptions/s/resourcegroups/{group}"
                                               "?api-version=2022-09-01"),
                           self.map_body(json.dumps(self._recorded_group(group)).encode()))

    def _groups_in_answers(self) -> set[str]:
        found = set()
        for item in self.rec.interactions:
            if 200 <= item.status < 300 and item.body is not None:
                text = json.dumps(item.body)
                found |= {m.lower() for m in re.findall(r"/resourceGroups/([-\w._()]+)/providers/", text, re.I)}
        return found

    def _recorded_group(self, group: str) -> dict[str, Any]:
        """The group as the recording shows it (location, tags), for groups made before recording."""
        for item in self.rec.interactions:
            body = item.body
            if isinstance(body, dict) and str(body.get("id", "")).lower().endswith(f"/resourcegroups/{group}") \
                    and body.get("location"):
                return {k: body[k] for k in ("location", "tags") if k in body}
        return {"location": "westus"}

    def follow(self, reply: Reply) -> dict[str, Reply]:
        """Drive the emulator's own LRO to its end; the final answer of each poll URL."""
        final: dict[str, Reply] = {}
        urls = {kind: reply.headers[h] for kind, h in (("status", "azure-asyncoperation"), ("result", "location"))
                if h in reply.headers}
        for kind, url in urls.items():
            for _ in range(50):
                poll = self.door.send("GET", url, b"")
                status = (poll.body or {}).get("status") if isinstance(poll.body, dict) else None
                if poll.status != 202 and status not in ("InProgress", "Accepted", "Running", "Updating"):
                    break
            final[kind] = poll
        return final

    def run(self) -> None:
        self.prepare_groups()
        items = self.rec.interactions
        last_poll = {_lro_key(i.url): n for n, i in enumerate(items) if i.method == "GET"}
        for index, item in enumerate(items):
            reason = scope_of(item)
            if reason:
                self.report.out_of_scope[reason] += 1
                continue
            path = urlsplit(item.url).path
            op = operation_key(item.method, path)
            key = _lro_key(item.url)
            self._settle_writes_to(path)
            if item.method == "GET" and POLL.search(path) and key in self.lros:
                kind, write, pending = self.lros[key]
                final = self._settle(pending)  # the client's first poll: the emulator's LRO runs to its end
                if last_poll[key] != index:  # an intermediate poll: how many there are is Azure's timing
                    self.report.unscored_polls += 1
                    continue
                got = final.get(kind)
                if got is None:
                    self.report.outcomes.append(Outcome(self.rec.name, f"poll {kind} after {write}", False,
                                                        "no emulator LRO to poll (answered synchronously)"))
                    continue
                ok, cause, detail = compare(item, got)
                self.report.outcomes.append(Outcome(self.rec.name, f"poll {kind} after {write}", ok, cause, detail))
                continue
            if item.method in ("PUT", "PATCH") and not item.request_body.strip() and self.rec.java:
                self.report.out_of_scope["Java record of a write without a body to rebuild it from"] += 1
                continue
            got = self.door.send(item.method, self.map_url(self._unscrub_deployment(item)), self.request_body(item))
            ok, cause, detail = compare(item, got)
            self.report.outcomes.append(Outcome(self.rec.name, op, ok, cause, detail))
            # One URL in both headers (DiskOperations) is a status URL: "status" is written last.
            recorded = {_lro_key(item.headers[h]): kind for kind, h in (("result", "location"),
                                                                        ("status", "azure-asyncoperation"))
                        if h in item.headers}
            if recorded:
                pending = Pending(urlsplit(self.map_url(item.url)).path.lower(), got)
                for poll_key, kind in recorded.items():
                    self.lros[poll_key] = (kind, op, pending)
                pending.unpolled = not any(last_poll.get(k, -1) > index for k in recorded)

    def _settle(self, pending: Pending) -> dict[str, Reply]:
        if pending.final is None:
            pending.final = self.follow(pending.reply)
        return pending.final

    def _settle_writes_to(self, path: str) -> None:
        """A request to a resource with a write still running (a client waiting on its state, or
        writing it again) comes after that write's LRO in the client's eyes: it is run to its end.
        A write the recording never polls (--no-wait) ran on while the client went on with other
        resources: it is run to its end before any request not about it (its cancel is about it)."""
        target = urlsplit(self.map_url(f"https://x{path}")).path.lower()
        for _kind, _write, pending in self.lros.values():
            about_it = target == pending.path or target.startswith(pending.path + "/")
            if pending.final is None and (target == pending.path or (pending.unpolled and not about_it)):
                self._settle(pending)

def _group_missing_in(item: Interaction) -> bool:
    """The recording's first use of a group found no such group: it was not made beforehand."""
    return item.status == 404 and (_error_code(item.body) or "").lower() == "resourcegroupnotfound"


def _lro_key(url: str) -> str:
    # The operation kind and id: recorders scrub names in URLs but not always in headers.
    # Compute's status and result URLs differ only by `monitor=true` (the result's).
    parts = urlsplit(url)
    key = "/".join(parts.path.rstrip("/").split("/")[-2:]).lower()
    return key + "?monitor" if "monitor=true" in parts.query.lower() else key


# Test-proxy suites record one file per test but run them in order against one subscription
# (create, get, list, update, delete): such files are replayed in that order on one emulator.
SUITE_FILE = re.compile(r"^recording_(?P<family>[a-z]+)_(?P<step>[a-z]+)_test\.json$")
SUITE_ORDER = ("create", "get", "list", "update", "updatetags", "begindeleteandwait", "delete")


# Within a step, what others depend on first (a subnet's VNet); deletes go the other way.
FAMILY_ORDER = ("resourcegroups", "virtualnetworks", "availabilitysets", "subnets", "ipgroups", "virtualmachines",
                "tagsoperations")


def _suite_position(path: Path) -> tuple[int, int]:
    match = SUITE_FILE.match(path.name)
    step = SUITE_ORDER.index(match.group("step"))
    family = FAMILY_ORDER.index(match.group("family")) if match.group("family") in FAMILY_ORDER else len(FAMILY_ORDER)
    return step, -family if "delete" in match.group("step") else family


def sessions(paths: list[Path]) -> list[list[Path]]:
    grouped: dict[Path, list[Path]] = defaultdict(list)
    alone = []
    for path in paths:
        match = SUITE_FILE.match(path.name)
        if match and match.group("step") in SUITE_ORDER:
            grouped[path.parent].append(path)
        else:
            alone.append([path])
    for files in grouped.values():
        files.sort(key=_suite_position)
    return alone + list(grouped.values())


def replay_all(paths: list[Path], door_kind: str = "inprocess", as_recorded: bool = False) -> Report:
    report = Report()
    for session in sessions(paths):
        door = ServeDoor() if door_kind == "serve" else InProcessDoor()
        try:
            for path in session:
                recording = load(path)
                try:
                    Replayer(door, recording, report, as_recorded).run()
                except Exception as exc:  # a harness bug must not hide the other recordings
                    report.errors[recording.name] = f"{type(exc).__name__}: {exc}"
        finally:
            door.close()
    return report


def render(report: Report, verbose: bool = False) -> str:
    lines = [f"fidelity: {report.matched}/{report.scored} in-scope interactions match "
             f"({100 * report.rate:.1f}%); {report.unscored_polls} intermediate polls not scored", "",
             "per recording (matched/scored):"]
    for name, (ok, total) in sorted(report.per_recording().items()):
        lines.append(f"  {ok:4d}/{total:<4d} {100 * ok / total:5.1f}%  {name}")
    lines += ["", "requests mapped onto today's Azure (scored as replayed):"]
    for kind, count in report.mapped.most_common():
        lines.append(f"  {count:5d}  {kind}")
    if not report.mapped:
        lines.append("      0  (none)")
    lines += ["", "out of scope (not scored):"]
    for reason, count in report.out_of_scope.most_common():
        lines.append(f"  {count:5d}  {reason}")
    lines += ["", "misses by cause:"]
    for cause, ops in sorted(report.misses_by_cause().items(), key=lambda kv: -sum(kv[1].values())):
        lines.append(f"  {sum(ops.values()):5d}  {cause}")
        for op, count in ops.most_common(None if verbose else 12):
            lines.append(f"         {count:4d}  {op}")
    if report.errors:
        lines += ["", "harness errors:"] + [f"  {k}: {v}" for k, v in report.errors.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recordings", nargs="*", type=Path)
    parser.add_argument("--door", choices=("inprocess", "serve"), default="serve")
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("DSVMCTL_SHARED_DIR", REPO.parent / "shared")))
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--as-recorded", action="store_true",
                        help="replay retired Basic / Dynamic public IPs and A-series sizes unmapped "
                             "(the emulator refuses them)")
    args = parser.parse_args(argv)
    paths = args.recordings or find_recordings(args.shared)
    if not paths:
        print(f"no recordings found under {args.shared} (recordings/, recordings-more/)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    report = replay_all(paths, args.door, args.as_recorded)
    print(render(report, args.verbose))
    print(f"\n{len(paths)} recordings through the {args.door} door in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
