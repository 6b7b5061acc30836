"""The environment spec: what a team lead declares once so every member gets the same DSVM.

Loaded from TOML and validated with pydantic. Every problem is reported at once, each as
`file:line: field: what is wrong and how to fix it`, in a `UsageError`: never a pydantic
traceback. Rules that involve several fields (Windows name length, os vs image, disk size vs
OS) run once every field is valid on its own, so a file with field errors shows those first.
CLI flags override the file through `with_overrides`.

    name = "team-dsvm"
    image = "ubuntu-2204"            # alias, or a URN microsoft-dsvm:offer:sku:latest
    size = "Standard_D4ds_v5"        # CPU size the VM is created with
    gpu_size = "Standard_NC4as_T4_v3"
    nodes = 1                        # > 1: a fleet of identical VMs NAME-0 .. NAME-(N-1)
    allowed_sources = ["203.0.113.7/32"]
    [auto_shutdown]
    time = "19:00"
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from .catalog import images as image_catalog
from .catalog import sizes as size_catalog
from .errors import UsageError

DEFAULT_IMAGE = {"ubuntu": "ubuntu-2204", "windows": "win-2022"}
# The DSVM images' own OS disks: Ubuntu ships 150 GiB, Windows 127 GiB (the templates' floor is 128).
# Azure refuses an OS disk smaller than the image's.
MIN_OS_DISK_GB = {"ubuntu": 150, "windows": 128}
MAX_OS_DISK_GB = 4095
WINDOWS_COMPUTER_NAME_MAX = 15
TEMPLATE_FILE = {"ubuntu": "dsvm-ubuntu.json", "windows": "dsvm-windows.json"}

# Azure refuses these administrator names on every OS (osProfile.adminUsername).
RESERVED_ADMIN_NAMES = frozenset({
    "1", "123", "a", "actuser", "adm", "admin", "admin1", "admin2", "administrator", "aspnet",
    "backup", "console", "david", "guest", "john", "owner", "root", "server", "sql", "support",
    "support_388945a0", "sys", "test", "test1", "test2", "test3", "user", "user1", "user2", "user3",
    "user4", "user5",
})
# Words that mean "everyone" in an NSG rule. Checked case-insensitively: checkov misses "internet".
OPEN_TO_ALL = frozenset({"*", "internet", "any", "0.0.0.0/0", "0.0.0.0", "::/0", "::"})
# IANA names people type, and the Windows time-zone ids auto-shutdown schedules need.
IANA_TO_WINDOWS = {
    "utc": "UTC", "etc/utc": "UTC", "europe/london": "GMT Standard Time",
    "europe/berlin": "W. Europe Standard Time", "europe/paris": "Romance Standard Time",
    "europe/amsterdam": "W. Europe Standard Time", "america/new_york": "Eastern Standard Time",
    "america/chicago": "Central Standard Time", "america/denver": "Mountain Standard Time",
    "america/los_angeles": "Pacific Standard Time", "asia/tokyo": "Tokyo Standard Time",
    "asia/kolkata": "India Standard Time", "asia/shanghai": "China Standard Time",
    "australia/sydney": "AUS Eastern Standard Time",
}

VM_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?$")
RESOURCE_GROUP = re.compile(r"^[-\w._()]{1,90}$")
LINUX_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
WINDOWS_USER_BAD = re.compile(r'[\\/"\[\]:|<>+=;,?*@&\s]')
HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
TAG_NAME_BAD = re.compile(r"[<>%&\\?/]")


class AutoShutdown(BaseModel):
    """Daily shutdown (a DevTestLab schedule): forgotten GPU VMs are the biggest bill."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    time: str = "19:00"  # 24h HH:MM
    time_zone: str = "UTC"  # Windows time-zone id, as the schedule API wants

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        if HH_MM.match(value):
            return value
        if re.fullmatch(r"\d{4}", value) and HH_MM.match(f"{value[:2]}:{value[2:]}"):
            raise ValueError(f"{value!r} is not HH:MM; write '{value[:2]}:{value[2:]}'")
        raise ValueError(f"{value!r} is not a 24-hour time; write HH:MM, e.g. '19:00'")

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        windows_id = IANA_TO_WINDOWS.get(value.lower())
        if windows_id == "UTC":
            return "UTC"
        if "/" in value:
            hint = f"'{windows_id}'" if windows_id else "a Windows id such as 'W. Europe Standard Time'"
            raise ValueError(f"{value!r} is an IANA name; Azure's shutdown schedules take Windows "
                             f"time-zone ids: use {hint}")
        return value

    @property
    def hhmm(self) -> str:
        return self.time.replace(":", "")


class EnvironmentSpec(BaseModel):
    """One team environment. Defaults are the safe, resizable choice (see each field)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    os: Literal["ubuntu", "windows"] | None = None  # derived from the image when not given
    image: str | None = None  # alias or URN; default ubuntu-2204 (or win-2022 for os = windows)
    size: str = "Standard_D4ds_v5"  # has a temp disk, so it can move to NC sizes and back
    gpu_size: str | None = "Standard_NC4as_T4_v3"
    location: str = "eastus"
    resource_group: str | None = None  # default dsvmctl-{name}
    admin_user: str = "azureuser"
    ssh_key: Path | None = None  # private key; None: dsvmctl generates one per machine
    allowed_sources: list[str] | None = None  # None: the caller's public address /32
    auto_shutdown: AutoShutdown = Field(default_factory=AutoShutdown)
    spot: bool = False
    max_price: float = -1  # spot only; -1 = pay up to the on-demand price
    os_disk_size_gb: int | None = None  # default 150 (Ubuntu) / 128 (Windows)
    os_disk_type: Literal["Premium_LRS", "StandardSSD_LRS", "Standard_LRS"] = "Premium_LRS"
    tags: dict[str, str] = Field(default_factory=dict)
    nodes: int = 1  # > 1: a fleet NAME-0 .. NAME-(N-1) in one deployment (Linux only)

    _given: dict[str, Any] = PrivateAttr(default_factory=dict)
    _source: str = PrivateAttr(default="<flags>")
    _text: str | None = PrivateAttr(default=None)  # the file's text, to point errors at lines

    # --- loading -------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> EnvironmentSpec:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"{path}: no such spec file", fix="check the path, or start from "
                             "examples/team-dsvm.toml") from None
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"{path}: cannot read the spec file: {err}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            # tomllib names the place only inside its message: "... (at line 3, column 7)"
            at = re.search(r"at line (\d+)", str(err))
            where = f"{path}:{at.group(1)}" if at else str(path)
            raise UsageError(f"{where}: not valid TOML: {err}",
                             fix="quote strings, use key = value, one per line") from None
        if isinstance(data.get("ssh_key"), str) and data["ssh_key"]:
            # A relative key path means "beside the spec", not "wherever the command runs".
            data["ssh_key"] = str((path.parent / Path(data["ssh_key"]).expanduser()).resolve())
        return cls._validate(data, default_source=str(path), text=text)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<flags>") -> EnvironmentSpec:
        return cls._validate(dict(data), default_source=source)

    def with_overrides(self, **flags: Any) -> EnvironmentSpec:
        """CLI flags win over the file; a flag left at None was not given."""
        unknown = set(flags) - set(type(self).model_fields)
        if unknown:
            raise TypeError(f"not spec fields: {sorted(unknown)}")
        given = {k: v for k, v in flags.items() if v is not None}
        merged = dict(self._given)
        for key, value in given.items():
            if key == "auto_shutdown":
                value = {**_shutdown_dict(merged.get(key)), **_shutdown_dict(value)}
            merged[key] = value
        sources = {k: "<flags>" for k in given}
        return type(self)._validate(merged, default_source=self._source, text=self._text, field_sources=sources)

    @classmethod
    def _validate(cls, data: dict[str, Any], *, default_source: str, text: str | None = None,
                  field_sources: dict[str, str] | None = None) -> EnvironmentSpec:
        try:
            spec = cls.model_validate(data)
        except ValidationError as err:
            lines = _describe_errors(err.errors(), default_source, text, field_sources or {})
            count = f"{len(lines)} problem{'s' if len(lines) > 1 else ''}"
            raise UsageError(f"{default_source}: {count} in the environment spec:\n  " + "\n  ".join(lines)) from None
        spec._given, spec._source, spec._text = data, default_source, text
        return spec

    # --- field rules ---------------------------------------------------------------------------

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        # TOML has no null: an empty string (or "none") switches gpu_size / ssh_key off;
        # `auto_shutdown = false` or `= "18:30"` is short for the table.
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key in ("gpu_size", "ssh_key"):
            if isinstance(data.get(key), str) and data[key].strip().lower() in ("", "none"):
                data[key] = None
        if "auto_shutdown" in data and not isinstance(data["auto_shutdown"], (dict, AutoShutdown)):
            data["auto_shutdown"] = _shutdown_dict(data["auto_shutdown"])
        if isinstance(data.get("allowed_sources"), str):
            data["allowed_sources"] = [data["allowed_sources"]]
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not VM_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid VM name: use 1-64 letters, digits and hyphens, "
                             f"starting and ending with a letter or digit, e.g. {_tidy_name(value)!r}")
        return value

    @field_validator("size", "gpu_size")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is None:
            return None
        known = size_catalog.lookup(value)
        if known is not None:
            return known.name  # ARM treats size names case-insensitively; show the canonical one
        if not re.fullmatch(r"(Standard|Basic)_\w+", value, flags=re.IGNORECASE):
            close = difflib.get_close_matches(value, list(size_catalog.SIZES), n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else "sizes look like 'Standard_D4ds_v5'"
            raise ValueError(f"{value!r} is not an Azure VM size name; {hint}")
        return value  # not in the bundled snapshot; preflight checks it against the live region

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        programmatic = re.sub(r"\s+", "", value).lower()  # "East US" -> "eastus"
        if not re.fullmatch(r"[a-z0-9]+", programmatic):
            raise ValueError(f"{value!r} is not an Azure region name; use e.g. 'eastus' or 'westeurope'")
        return programmatic

    @field_validator("resource_group")
    @classmethod
    def _resource_group(cls, value: str | None) -> str | None:
        if value is not None and (not RESOURCE_GROUP.match(value) or value.endswith(".")):
            raise ValueError(f"{value!r} is not a valid resource group name: use up to 90 letters, "
                             "digits, '-', '_', '.', '(' and ')', not ending with '.'")
        return value

    @field_validator("admin_user")
    @classmethod
    def _admin_user(cls, value: str) -> str:
        if value.lower() in RESERVED_ADMIN_NAMES:
            raise ValueError(f"{value!r} is a name Azure reserves for administrators; "
                             "use another, e.g. 'azureuser'")
        return value

    @field_validator("ssh_key")
    @classmethod
    def _ssh_key(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        value = value.expanduser()
        if value.suffix == ".pub":
            raise ValueError(f"{value} is a public key; give the private key "
                             f"({value.with_suffix('')}): dsvmctl reads the .pub beside it")
        if not value.is_file():
            raise ValueError(f"{value} does not exist; give the path of an SSH private key, "
                             "or leave ssh_key out and dsvmctl generates one per machine")
        return value

    @field_validator("allowed_sources")
    @classmethod
    def _allowed_sources(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("is empty; list the address ranges allowed to reach SSH/RDP, "
                             "or leave allowed_sources out to allow only your own public address")
        networks = [_source_network(entry) for entry in value]
        if len(networks) > 1:
            # The shipped templates take one allowedSourceAddress (a single NSG rule source).
            raise ValueError(f"lists {len(networks)} ranges but the templates take one address or "
                             "range; use a single CIDR that covers them")
        return networks

    @field_validator("max_price")
    @classmethod
    def _max_price(cls, value: float) -> float:
        if value != -1 and value <= 0:
            raise ValueError(f"{value} is not a price; give US dollars per hour (e.g. 0.3), "
                             "or -1 to pay up to the on-demand price")
        return value

    @field_validator("os_disk_type", mode="before")
    @classmethod
    def _disk_type(cls, value: Any) -> Any:
        if isinstance(value, str):
            for choice in ("Premium_LRS", "StandardSSD_LRS", "Standard_LRS"):
                if value.lower() == choice.lower():
                    return choice
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tag_value in value.items():
            if key.lower().startswith("dsvmctl-"):
                raise ValueError(f"tag {key!r}: dsvmctl-* tags are set by dsvmctl itself; rename it")
            if key.lower().startswith(("microsoft", "azure", "windows")):
                raise ValueError(f"tag {key!r}: Azure reserves the prefixes microsoft, azure and windows")
            if TAG_NAME_BAD.search(key) or not 1 <= len(key) <= 512:
                raise ValueError(f"tag {key!r}: names are 1-512 characters without < > % & \\ ? /")
            if len(tag_value) > 256:
                raise ValueError(f"tag {key!r}: values are at most 256 characters")
        if len(value) > 47:  # Azure allows 50 per resource; the templates add 3 dsvmctl-* tags
            raise ValueError(f"has {len(value)} tags; Azure allows 50 per resource and dsvmctl adds 3")
        return value

    @model_validator(mode="after")
    def _derive(self) -> EnvironmentSpec:
        # Rules that need several fields. They run once every field is valid on its own, and
        # report every problem they find at once (see _CrossFieldProblems).
        problems: list[tuple[str, str]] = []
        try:
            image = self._resolve_image()
        except ValueError as err:
            raise _CrossFieldProblems([("image", str(err))]) from None
        os_name = "windows" if image.os == "windows" else "ubuntu"
        if self.os is not None and self.os != os_name:
            problems.append(("os", f"{self.os!r} does not match image {self.image!r}, which is {os_name}; "
                                   f"drop os, or use image {DEFAULT_IMAGE[self.os]!r}"))
        disk = self.os_disk_size_gb if self.os_disk_size_gb is not None else MIN_OS_DISK_GB[os_name]
        if not MIN_OS_DISK_GB[os_name] <= disk <= MAX_OS_DISK_GB:
            problems.append(("os_disk_size_gb", f"{disk} GiB does not fit: the {os_name} DSVM image needs "
                                                f"{MIN_OS_DISK_GB[os_name]} to {MAX_OS_DISK_GB} GiB"))
        if os_name == "windows":
            if len(self.name) > WINDOWS_COMPUTER_NAME_MAX:
                problems.append(("name", f"{self.name!r} has {len(self.name)} characters; a Windows computer "
                                         f"name has at most {WINDOWS_COMPUTER_NAME_MAX}: try "
                                         f"{shorter_windows_name(self.name)!r}"))
            if len(self.admin_user) > 20 or WINDOWS_USER_BAD.search(self.admin_user) or self.admin_user.endswith("."):
                problems.append(("admin_user", f"{self.admin_user!r}: Windows user names are at most 20 characters, "
                                               "without spaces or \\ / \" [ ] : | < > + = ; , ? * @ &"))
        elif not LINUX_USER.match(self.admin_user):
            problems.append(("admin_user", f"{self.admin_user!r}: Linux user names are 1-32 lowercase letters, "
                                           "digits, '_' or '-', starting with a letter or '_'"))
        if not 1 <= self.nodes <= MAX_NODES:
            problems.append(("nodes", f"{self.nodes}: a fleet has 1 to {MAX_NODES} nodes"))
        elif self.nodes > 1:
            if os_name == "windows":
                problems.append(("nodes", "fleets are Linux only (torchrun's NCCL and gloo backends need Linux "
                                          "nodes); use an Ubuntu image or nodes = 1"))
            longest = len(f"{self.name}-{self.nodes - 1}")
            if longest > 64:
                problems.append(("name", f"{self.name!r} is too long for a fleet: node name {self.name}-"
                                         f"{self.nodes - 1} has {longest} characters (at most 64)"))
        if self.max_price != -1 and not self.spot:
            problems.append(("max_price", "applies to spot VMs only; set spot = true, or drop max_price"))
        if problems:
            raise _CrossFieldProblems(problems)
        # Frozen model: fill the derived defaults once, here.
        object.__setattr__(self, "os", os_name)
        object.__setattr__(self, "image", image.alias)
        object.__setattr__(self, "os_disk_size_gb", disk)
        if self.resource_group is None:
            object.__setattr__(self, "resource_group", f"dsvmctl-{self.name}")
        return self

    def _resolve_image(self) -> image_catalog.Image:
        text = self.image if self.image is not None else DEFAULT_IMAGE[self.os or "ubuntu"]
        image = image_catalog.resolve_alias(text)
        known = ", ".join(i.alias for i in image_catalog.IMAGES if not i.retired)
        if image is None:
            raise ValueError(f"{text!r} is not a Data Science VM image dsvmctl knows; "
                             f"use one of {known} (or its URN microsoft-dsvm:offer:sku:latest)")
        parts = text.split(":")
        if len(parts) == 4 and parts[3].lower() != "latest":
            raise ValueError(f"{text!r} pins version {parts[3]}; the templates always deploy "
                             f"the latest, so write {image.urn!r}")
        if image.retired:
            current = DEFAULT_IMAGE["windows" if image.os == "windows" else "ubuntu"]
            raise ValueError(f"{text!r} ({image.description}) was retired in {image.retired} "
                             f"and can no longer be deployed; use image {current!r}")
        return image

    # --- what other parts read -----------------------------------------------------------------

    @property
    def image_info(self) -> image_catalog.Image:
        image = image_catalog.resolve_alias(self.image or "")
        assert image is not None  # _derive resolved it
        return image

    @property
    def template_file(self) -> str:
        """The shipped template under templates/ that deploys this spec."""
        return TEMPLATE_FILE[self.os or "ubuntu"]

    @property
    def source(self) -> str:
        """Where the spec came from (a file path, or '<flags>'), for messages."""
        return self._source

    def template_parameters(self, admin_public_key: str, allowed_source: str | None = None,
                            host_private_key: str = "", host_public_key: str = "") -> dict[str, Any]:
        """Plain values for the shipped template's parameters (wrap each as {"value": v} to deploy).

        Windows' adminPassword is not here: the caller generates it and passes it separately,
        so it never sits in a dict that might be logged.
        """
        source = allowed_source or (self.allowed_sources[0] if self.allowed_sources else None)
        if source is None:
            raise UsageError("no allowed source address for SSH/RDP",
                             fix="pass the caller's public address (x.x.x.x/32) or set allowed_sources")
        try:
            source = _source_network(source)
        except ValueError as err:
            raise UsageError(f"allowed source: {err}") from None
        if not float(self.max_price).is_integer():
            # The shipped templates declare spotMaxPrice as an int (ARM has no float type), so a
            # price like 0.3 cannot pass through them yet. Say so here rather than at deployment.
            raise UsageError(f"max_price {self.max_price}: the shipped templates take only whole-dollar "
                             "spot prices (their spotMaxPrice parameter is an int)",
                             fix="use max_price = -1 (pay up to the on-demand price) or a whole number")
        image = self.image_info
        return {
            "vmName": self.name,
            "location": self.location,
            "adminUsername": self.admin_user,
            "adminPublicKey": admin_public_key,
            "allowedSourceAddress": source,
            "vmSize": self.size,
            "gpuVmSize": self.gpu_size or "",  # empty: no GPU partner (the lint skips the pair check)
            "imageOffer": image.offer,
            "imageSku": image.sku,
            "osDiskSizeGB": self.os_disk_size_gb,
            "osDiskType": self.os_disk_type,
            "osDiskDeleteOption": "Detach",  # teardown deletes the disk on purpose, never by accident
            "priority": "Spot" if self.spot else "Regular",
            "spotEvictionPolicy": "Deallocate",  # eviction keeps the OS disk
            "spotMaxPrice": int(self.max_price),
            "autoShutdownEnabled": self.auto_shutdown.enabled,
            "autoShutdownTime": self.auto_shutdown.hhmm,
            "autoShutdownTimeZone": self.auto_shutdown.time_zone,
            "sshHostKey": host_private_key,
            "sshHostPublicKey": host_public_key,
            "tags": dict(self.tags),
        }


# --- helpers -------------------------------------------------------------------------------------


MAX_NODES = 100  # the shipped template's nodeCount maxValue


def shorter_windows_name(name: str) -> str:
    """A name that fits Windows' 15 characters: whole hyphen-separated words where possible."""
    kept = ""
    for word in name.split("-"):
        candidate = f"{kept}-{word}" if kept else word
        if len(candidate) > WINDOWS_COMPUTER_NAME_MAX:
            break
        kept = candidate
    return kept or name[:WINDOWS_COMPUTER_NAME_MAX].rstrip("-")


def _tidy_name(name: str) -> str:
    tidy = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")[:64].strip("-")
    return tidy or "dsvm"


def _source_network(entry: str) -> str:
    """One allowed source as the NSG rule will hold it: a CIDR, never "everyone"."""
    text = str(entry).strip()
    if text.lower() in OPEN_TO_ALL:
        raise ValueError(f"{text!r} would open SSH/RDP to the whole internet; list your own "
                         "address or range (e.g. 203.0.113.7/32), or leave allowed_sources out "
                         "to allow only your current public address")
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address or CIDR range; write e.g. 203.0.113.7/32") from None
    if network.prefixlen == 0:
        raise ValueError(f"{text!r} would open SSH/RDP to the whole internet; list your own range")
    if "/" in text and str(network) != text:
        raise ValueError(f"{text!r} has host bits set; write the range as {str(network)!r} "
                         f"or the single address as '{text.split('/')[0]}/{network.max_prefixlen}'")
    return str(network) if "/" in text else f"{network.network_address}/{network.max_prefixlen}"


def _shutdown_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, AutoShutdown):
        return value.model_dump()
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, bool):
        return {"enabled": value}
    if isinstance(value, str):
        return {"enabled": True, "time": value}
    return {"enabled": value}  # let pydantic say what is wrong with it


class _CrossFieldProblems(ValueError):
    """Several whole-spec problems from one validator; pydantic keeps one message, so they are
    packed into it and unpacked by _problems (field and message per problem)."""

    FIELD, ITEM = "\x1f", "\x1e"

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(self.ITEM.join(f"{field}{self.FIELD}{message}" for field, message in problems))


def _problems(error: dict[str, Any]) -> list[tuple[list[str], str]]:
    """(location, message) pairs for one pydantic error."""
    loc = [str(part) for part in error["loc"]]
    message = _message(error)
    if loc or _CrossFieldProblems.FIELD not in message:
        return [(loc, message)]
    pairs = (item.split(_CrossFieldProblems.FIELD, 1) for item in message.split(_CrossFieldProblems.ITEM))
    return [([field], text) for field, text in pairs]


def _describe_errors(errors: list[dict[str, Any]], default_source: str, text: str | None,
                     field_sources: dict[str, str]) -> list[str]:
    described = []
    for error in errors:
        for loc, message in _problems(error):
            source = field_sources.get(loc[0], default_source) if loc else default_source
            line = _line_of(text, loc) if text is not None and loc and source == default_source else None
            where = f"{source}:{line}" if line else source
            described.append((line or 0, f"{where}: {'.'.join(loc) or 'spec'}: {message}"))
    return [entry for _, entry in sorted(described, key=lambda pair: pair[0])]


def _message(error: dict[str, Any]) -> str:
    kind, msg = error["type"], error["msg"]
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        fields = AutoShutdown.model_fields if len(error["loc"]) > 1 else EnvironmentSpec.model_fields
        close = difflib.get_close_matches(key, list(fields), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown key; {hint}known keys: {', '.join(fields)}"
    if kind == "missing":
        return "is required"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "literal_error":
        return f"{error.get('input')!r} is not allowed; {msg[0].lower()}{msg[1:]}"
    return f"{msg} (got {error.get('input')!r})"


def _line_of(text: str, loc: list[str]) -> int | None:
    """The line where a key is set, so the error points at it (best effort: plain keys and tables)."""
    table = loc[0] if len(loc) > 1 else None
    key = loc[1] if table else loc[0]
    in_table: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = re.match(r"^\[\s*([^\]]+?)\s*\]", line)
        if header:
            in_table = header.group(1)
            if table is None and in_table == key:
                return number
            continue
        if re.match(rf"^{re.escape(key)}\s*=", line) and in_table == table:
            return number
        if table and in_table is None and re.match(rf"^{re.escape(table)}\s*=", line):
            return number
    return None
