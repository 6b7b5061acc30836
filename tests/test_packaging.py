"""The package lists every subpackage, and ships the templates and workloads as package data."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    src = REPO / "src"
    found = {".".join(p.parent.relative_to(src).parts) for p in src.rglob("__init__.py")
             if "__pycache__" not in p.parts}
    assert found | {"dsvmctl.templates", "dsvmctl.workloads"} == listed


def test_templates_and_workloads_ship_with_the_package():
    templates = {p.name for p in resources.files("dsvmctl.templates").iterdir()}
    workloads = {p.name for p in resources.files("dsvmctl.workloads").iterdir()}
    assert {"dsvm-ubuntu.json", "dsvm-ubuntu.parameters.json", "dsvm-windows.json"} <= templates
    assert "train.py" in workloads
