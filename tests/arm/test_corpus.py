"""The engine against thirty real-world templates (Azure quickstarts, copied byte for byte).

Each template is expanded with its own parameter file; required parameters the file leaves
out get example values (respecting allowedValues and lengths). Quickstarts read their
artifacts from `deployment().properties.templateLink.uri`, so the context says where they are
published, as it would when deployed from GitHub.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dsvmctl.arm import (
    DeploymentContext,
    TemplateError,
    example_parameter_values,
    expand,
    load_parameters,
    load_template,
)
from dsvmctl.arm.lint import lint

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "arm-corpus"
TEMPLATES = sorted(CORPUS.rglob("azuredeploy.json")) if CORPUS.is_dir() else []
DSVM = "application-workloads/datascience/vm-ubuntu-DSVM-GPU-or-CPU"

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not TEMPLATES, reason=f"the shared ARM corpus is not beside the checkout ({CORPUS})"),
]

# Parameter files that set parameters their template does not declare. ARM refuses such
# files ("not present in the original template"), and so does the engine; the templates
# themselves evaluate once those entries are left out.
STALE_PARAMETER_FILES = {
    "quickstarts/microsoft.compute/vm-windows-ssh": "sets 'email', which the template no longer declares",
    "quickstarts/microsoft.network/existing-vnet-to-vnet-peering": "sets vmnetName1/2 and vmnet1RG/2RG, "
    "which the template renamed to existingLocal/RemoteVirtualNetworkName(s)",
}

# Templates the engine cannot evaluate, and why.
EXPECTED_FAILURES = {
    "quickstarts/microsoft.compute/vm-multiple-data-disk": (
        "UnknownResource",
        "reference('Microsoft.Storage/storageAccounts/', variables('storageAccountName'), '2019-06-01') passes the "
        "type and the name as two arguments (the name lands in the apiVersion slot); reference() takes one "
        "resource name or id, so the engine finds no resource called 'Microsoft.Storage/storageAccounts/'",
    ),
}


def _relative(path: Path) -> str:
    return path.parent.relative_to(CORPUS).as_posix()


def _expand(path: Path, drop_undeclared: bool = False):
    template = load_template(path)
    parameter_file = path.with_name("azuredeploy.parameters.json")
    supplied = load_parameters(parameter_file) if parameter_file.exists() else {}
    if drop_undeclared:
        declared = {name.lower() for name in template.get("parameters", {})}
        supplied = {k: v for k, v in supplied.items() if k.lower() in declared}
    supplied.update(example_parameter_values(template, supplied))
    link = f"https://raw.githubusercontent.com/Azure/azure-quickstart-templates/master/{_relative(path)}/azuredeploy.json"
    return template, expand(template, supplied, context=DeploymentContext(template_link=link))


def _outcome(path: Path) -> tuple[str, str]:
    try:
        _expand(path, drop_undeclared=_relative(path) in STALE_PARAMETER_FILES)
    except TemplateError as exc:
        return exc.code, f"{exc.message} (at {exc.path})"
    return "ok", ""


def test_corpus_has_the_thirty_templates():
    assert len(TEMPLATES) == 30


@pytest.mark.parametrize("path", TEMPLATES, ids=_relative)
def test_corpus_template_evaluates_or_fails_as_listed(path):
    code, detail = _outcome(path)
    expected = EXPECTED_FAILURES.get(_relative(path))
    if expected is None:
        assert code == "ok", detail
    else:
        assert code == expected[0], f"expected to fail with {expected[0]} ({expected[1]}), got {code}: {detail}"


def test_at_least_95_percent_of_the_corpus_evaluates():
    evaluated = [p for p in TEMPLATES if _outcome(p)[0] == "ok"]
    assert len(evaluated) / len(TEMPLATES) >= 0.95, sorted(set(map(_relative, TEMPLATES)) - set(map(_relative, evaluated)))


@pytest.mark.parametrize("name", sorted(STALE_PARAMETER_FILES))
def test_stale_parameter_file_is_reported_as_unknown_parameter(name):
    with pytest.raises(TemplateError) as err:
        _expand(CORPUS / name / "azuredeploy.json")
    assert err.value.code == "UnknownParameter"


def test_block_comments_in_a_corpus_template_are_read():
    path = CORPUS / "quickstarts/microsoft.resources/deployment-script-ssh-key-gen/azuredeploy.json"
    assert "/*" in path.read_text()
    assert _expand(path)[1].resources


def test_crlf_corpus_template_is_read():
    path = CORPUS / "quickstarts/microsoft.compute/vm-windows-ssh/azuredeploy.json"
    assert b"\r\n" in path.read_bytes()
    assert _expand(path, drop_undeclared=True)[1].resources


def test_template_link_in_the_corpus_is_a_warning_not_a_failure():
    _, expansion = _expand(CORPUS / "quickstarts/microsoft.resources/templatespec-migrate-create/azuredeploy.json")
    assert "TemplateLinkNotExpanded" in [w.code for w in expansion.warnings]


def _dsvm_findings(**values):
    template, expansion = _expand(CORPUS / DSVM / "azuredeploy.json") if not values else (None, None)
    if values:
        template = load_template(CORPUS / DSVM / "azuredeploy.json")
        supplied = {k: {"value": v} for k, v in values.items()}
        supplied.update(example_parameter_values(template, supplied))
        expansion = expand(template, supplied)
    return lint(template, expansion)


def test_stale_dsvm_template_is_flagged_for_its_retired_image():
    assert any(f.rule == "DSVM009" and "ubuntu-1804" in f.message for f in _dsvm_findings())


def test_stale_dsvm_template_is_flagged_for_its_basic_public_ip():
    assert any(f.rule == "DSVM006" for f in _dsvm_findings())


def test_stale_dsvm_template_is_flagged_for_its_retired_gen1_only_size():
    assert any(f.rule == "DSVM007" and "Standard_NC6_Promo" in f.message for f in _dsvm_findings())


def test_stale_dsvm_template_choosing_the_gpu_size_gets_size_and_generation_errors():
    findings = _dsvm_findings(cpu_gpu="GPU-56GB")
    rules = {(f.rule, f.severity) for f in findings}
    assert ("DSVM007", "error") in rules and ("DSVM008", "error") in rules
