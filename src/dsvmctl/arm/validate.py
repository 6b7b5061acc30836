"""`dsvmctl validate`: expand and lint template files, report in one JSON-ready document.

    validate_paths(["templates/"], None) ->
      {"templates": [{"path", "valid", "errors": [{"code","message","path"}],
                      "findings": [{"rule","severity","message","path"}],
                      "resources": [{"type","name","id"}]}]}

Directories are searched for *.json files that look like templates ($schema naming a
deploymentTemplate, or a top-level `resources`). A template's parameters come from the files
given with `parameters` (all of them, later ones winning), else from `<name>.parameters.json`
beside it; required parameters still without a value get example values, so the rest of the
template can be checked before a user has chosen them. A file that cannot be used at all
(missing, not JSON, not a template) raises TemplateFileError: exit code 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import TemplateError, TemplateFileError
from .lint import lint
from .redact import redact, secure_values
from .source import read_json_file
from .template import DeploymentContext, example_parameter_values, expand, load_parameters, load_template

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_UNUSABLE = 2


def looks_like_template(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    return "deploymenttemplate" in str(data.get("$schema", "")).lower() or "resources" in data


def find_templates(path: Path) -> list[Path]:
    """Template files under a directory (parameter files and other JSON are skipped)."""
    found = []
    candidates = []
    # os.walk, not rglob: a directory that vanishes or cannot be read mid-walk is skipped, not fatal.
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # .git, .venv
        candidates += [Path(folder, f) for f in files if f.endswith(".json") and not f.startswith(".")]
    for candidate in sorted(candidates):
        if candidate.name.endswith(".parameters.json"):
            continue
        try:
            data = read_json_file(candidate)
        except TemplateFileError:
            continue  # only files named on the command line must be usable
        if looks_like_template(data):
            found.append(candidate)
    return found


def _parameter_file_beside(template: Path) -> Path | None:
    stem = template.name[: -len(".json")]
    candidate = template.with_name(f"{stem}.parameters.json")
    return candidate if candidate.exists() else None


def validate_template(path: Path, parameter_files: list[str] | None = None, template_uri: str | None = None) -> dict:
    template = load_template(path)
    supplied: dict = {}
    files = [Path(p) for p in parameter_files] if parameter_files else []
    if not files and (beside := _parameter_file_beside(path)) is not None:
        files = [beside]
    for file in files:
        supplied.update(load_parameters(file))
    supplied.update(example_parameter_values(template, supplied))
    report: dict[str, Any] = {"path": str(path), "valid": True, "errors": [], "findings": [], "resources": []}
    try:
        context = DeploymentContext(template_link=template_uri) if template_uri else None
        expansion = expand(template, supplied, context=context)
        findings = lint(template, expansion)
    except TemplateError as exc:
        report["valid"] = False
        report["errors"].append(exc.to_dict())
        return report
    secrets = secure_values(template, supplied)  # lint quotes values; never a secure one
    report["findings"] = [{**f.to_dict(), "message": redact(f.message, secrets)} for f in findings]
    report["resources"] = [{"type": r.type, "name": r.name, "id": r.id} for r in expansion.all_resources()]
    return report


def validate_paths(paths: list[str], parameters: list[str] | None = None, template_uri: str | None = None) -> dict:
    """Validate templates given as files or directories. Raises TemplateFileError for a file
    (or a directory without templates) that cannot be used."""
    templates: list[Path] = []
    for raw in paths:
        path = Path(raw)
        try:
            is_dir, exists = path.is_dir(), path.exists()
        except (OSError, ValueError) as err:  # a NUL character, a name too long for the file system
            reason = getattr(err, "strerror", None) or str(err)
            raise TemplateFileError("FileNotFound", f"cannot use this path ({reason}); check the path.",
                                    repr(raw) if "\0" in str(raw) else str(raw)[:200]) from None
        if is_dir:
            found = find_templates(path)
            if not found:
                raise TemplateFileError("NoTemplates", "the directory holds no ARM template (*.json with "
                                        "'resources').", str(path))
            templates.extend(found)
        elif exists:
            templates.append(path)
        else:
            raise TemplateFileError("FileNotFound", "no such file or directory; check the path.", str(path))
    return {"templates": [validate_template(t, parameters, template_uri) for t in templates]}


def exit_code(report: dict) -> int:
    """0: every template valid without error findings; 1: errors or error findings.
    (2, for unusable files, comes from TemplateFileError before there is a report.)"""
    for entry in report.get("templates", []):
        if not entry["valid"] or entry["errors"]:
            return EXIT_FINDINGS
        if any(f["severity"] == "error" for f in entry["findings"]):
            return EXIT_FINDINGS
    return EXIT_OK
