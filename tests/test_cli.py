"""The command line: fast start-up, clean errors, validate's exit codes and JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from dsvmctl.cli import cli

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("azure.mgmt", "azure.identity", "paramiko", "asyncssh", "torch", "matplotlib", "requests")


def test_importing_the_cli_loads_no_heavy_module():
    code = "import sys, dsvmctl.cli; print('\\n'.join(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    offenders = sorted({m for m in loaded for heavy in HEAVY if m == heavy or m.startswith(heavy + ".")})
    assert offenders == []


def test_help_teaches_the_first_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "dsvmctl quickstart" in result.output and "--cloud" in result.output


def test_validate_shipped_templates_passes(monkeypatch):
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(cli, ["validate", "templates", "-o", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    paths = sorted(Path(t["path"]).name for t in report["templates"])
    assert paths == ["dsvm-ubuntu.json", "dsvm-windows.json"]
    for entry in report["templates"]:
        assert set(entry) >= {"path", "valid", "errors", "findings", "resources"}
        assert entry["valid"] and not [f for f in entry["findings"] if f["severity"] == "error"]


def test_validate_reports_an_unsafe_template_with_exit_1(tmp_path):
    template = json.loads((REPO / "templates" / "dsvm-ubuntu.json").read_text())
    params = json.loads((REPO / "templates" / "dsvm-ubuntu.parameters.json").read_text())
    params["parameters"]["allowedSourceAddress"] = {"value": "internet"}
    (tmp_path / "t.json").write_text(json.dumps(template))
    (tmp_path / "t.parameters.json").write_text(json.dumps(params))
    result = CliRunner().invoke(cli, ["validate", str(tmp_path), "-o", "json"])
    assert result.exit_code == 1
    findings = json.loads(result.output)["templates"][0]["findings"]
    assert any(f["severity"] == "error" and "22" in f["message"] for f in findings)


def test_validate_unusable_file_exits_2_with_a_message(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{ not json")
    result = CliRunner().invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "broken.json" in result.output


def test_validate_walks_directories_given_with_dot_dot(tmp_path, monkeypatch):
    inner = tmp_path / "team" / "envs"
    inner.mkdir(parents=True)
    (inner / "vm.json").write_text((REPO / "templates" / "dsvm-ubuntu.json").read_text())
    (inner / "vm.parameters.json").write_text((REPO / "templates" / "dsvm-ubuntu.parameters.json").read_text())
    monkeypatch.chdir(inner)
    result = CliRunner().invoke(cli, ["validate", "../envs", "-o", "json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["templates"]) == 1


def test_validate_against_emulator_runs_what_if(monkeypatch):
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(cli, ["validate", "templates/dsvm-ubuntu.json", "--against-emulator", "-o", "json"])
    assert result.exit_code == 0, result.output
    emulated = json.loads(result.output)["templates"][0]["emulator"]
    assert emulated["errors"] == []
    assert {c["changeType"] for c in emulated["what_if"]} == {"Create"}
    assert any(c["resourceId"].endswith("/virtualMachines/dsvm") for c in emulated["what_if"])
