"""validate_paths(): the report `dsvmctl validate` prints, and its exit code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dsvmctl.arm import TemplateFileError
from dsvmctl.arm.validate import EXIT_FINDINGS, EXIT_OK, exit_code, validate_paths

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def write(path: Path, data) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


TEMPLATE = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0", "parameters": {"name": {"type": "string"}},
            "resources": [{"type": "Microsoft.Network/publicIPAddresses", "apiVersion": "2024-05-01",
                           "name": "[parameters('name')]", "location": "[resourceGroup().location]",
                           "sku": {"name": "Standard"}, "properties": {}}]}


def test_shipped_templates_directory_validates_clean():
    report = validate_paths([str(TEMPLATES)])
    assert [Path(t["path"]).name for t in report["templates"]] == ["dsvm-ubuntu.json", "dsvm-windows.json"]
    assert all(t["valid"] and not t["errors"] for t in report["templates"])
    assert exit_code(report) == EXIT_OK


def test_report_has_exactly_the_documented_shape(tmp_path):
    report = validate_paths([str(write(tmp_path / "t.json", TEMPLATE))])
    entry = report["templates"][0]
    assert set(report) == {"templates"}
    assert set(entry) == {"path", "valid", "errors", "findings", "resources"}
    assert set(entry["resources"][0]) == {"type", "name", "id"}


def test_parameter_file_beside_the_template_is_used(tmp_path):
    write(tmp_path / "t.json", TEMPLATE)
    write(tmp_path / "t.parameters.json", {"$schema": "x/deploymentParameters.json#", "contentVersion": "1.0.0.0",
                                             "parameters": {"name": {"value": "from-file"}}})
    report = validate_paths([str(tmp_path)])
    assert report["templates"][0]["resources"][0]["name"] == "from-file"


def test_parameter_files_given_explicitly_win(tmp_path):
    write(tmp_path / "t.json", TEMPLATE)
    given = write(tmp_path / "other.json", {"name": "explicit"})
    report = validate_paths([str(tmp_path / "t.json")], [str(given)])
    assert report["templates"][0]["resources"][0]["name"] == "explicit"


def test_required_parameters_without_values_get_example_values(tmp_path):
    report = validate_paths([str(write(tmp_path / "t.json", TEMPLATE))])
    assert report["templates"][0]["valid"]


def test_directory_walk_skips_json_that_is_not_a_template(tmp_path):
    write(tmp_path / "t.json", TEMPLATE)
    write(tmp_path / "package.json", {"name": "x"})
    write(tmp_path / "broken-but-not-named.json", "{nope")
    assert len(validate_paths([str(tmp_path)])["templates"]) == 1


def test_template_error_makes_the_entry_invalid_with_code_and_path(tmp_path):
    bad = dict(TEMPLATE, outputs={"o": {"type": "string", "value": "[nosuchfunction()]"}})
    report = validate_paths([str(write(tmp_path / "t.json", bad))])
    entry = report["templates"][0]
    assert not entry["valid"]
    assert entry["errors"] == [{"code": "UnsupportedFunction", "message": entry["errors"][0]["message"],
                                "path": "outputs.o.value"}]
    assert exit_code(report) == EXIT_FINDINGS


def test_error_finding_gives_exit_code_1(tmp_path):
    basic = json.loads(json.dumps(TEMPLATE))
    basic["resources"][0]["sku"] = {"name": "Basic"}
    report = validate_paths([str(write(tmp_path / "t.json", basic))])
    assert report["templates"][0]["valid"] and exit_code(report) == EXIT_FINDINGS


def test_warning_findings_alone_give_exit_code_0(tmp_path):
    old = json.loads(json.dumps(TEMPLATE))
    old["resources"][0]["apiVersion"] = "2020-05-01"
    report = validate_paths([str(write(tmp_path / "t.json", old))])
    assert report["templates"][0]["findings"] and exit_code(report) == EXIT_OK


def test_missing_path_is_an_unusable_file(tmp_path):
    with pytest.raises(TemplateFileError) as err:
        validate_paths([str(tmp_path / "missing.json")])
    assert err.value.code == "FileNotFound"


def test_named_file_that_is_not_json_is_an_unusable_file(tmp_path):
    with pytest.raises(TemplateFileError) as err:
        validate_paths([str(write(tmp_path / "t.json", "{not json"))])
    assert err.value.code == "InvalidJson"


def test_directory_without_templates_is_an_unusable_path(tmp_path):
    with pytest.raises(TemplateFileError) as err:
        validate_paths([str(tmp_path)])
    assert err.value.code == "NoTemplates"


def test_copied_stale_dsvm_template_fails_validation(tmp_path):
    corpus = Path(__file__).resolve().parents[2].parent / "shared" / "arm-corpus"
    source = corpus / "application-workloads/datascience/vm-ubuntu-DSVM-GPU-or-CPU/azuredeploy.json"
    if not source.exists():
        pytest.skip("the shared ARM corpus is not beside the checkout")
    shutil.copy(source, tmp_path / "azuredeploy.json")
    report = validate_paths([str(tmp_path)])
    rules = {f["rule"] for f in report["templates"][0]["findings"]}
    assert {"DSVM006", "DSVM007", "DSVM009"} <= rules and exit_code(report) == EXIT_FINDINGS


# -- found by fuzzing (tests/fuzz) ----------------------------------------------------------------

def test_a_path_with_a_nul_character_is_a_file_error():
    from dsvmctl.arm import TemplateFileError, validate_paths

    with pytest.raises(TemplateFileError) as caught:
        validate_paths(["bad\0path"])
    assert caught.value.code == "FileNotFound"


def test_an_unreadable_directory_below_the_one_named_is_skipped(tmp_path):
    from dsvmctl.arm.validate import find_templates

    (tmp_path / "ok.json").write_text('{"resources": []}')
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "t.json").write_text('{"resources": []}')
    locked.chmod(0)
    try:
        found = find_templates(tmp_path)
    finally:
        locked.chmod(0o700)
    assert tmp_path / "ok.json" in found


def test_a_name_too_long_for_the_file_system_is_a_file_error():
    from dsvmctl.arm import TemplateFileError, validate_paths

    with pytest.raises(TemplateFileError) as caught:
        validate_paths(["a" * 300])
    assert caught.value.code == "FileNotFound" and "too long" in str(caught.value)
