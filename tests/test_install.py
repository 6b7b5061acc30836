"""Installed as a user installs it: the wheel with `[workload]` only, in a clean virtual
environment outside the checkout, with no test tools (pytest) around."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The CPU build of torch; an unpinned torch would pull gigabytes of CUDA packages (see Makefile).
TORCH = os.environ.get("TORCH", "torch==2.13.0")
SOURCES = ("pyproject.toml", "README.md", "src", "templates", "workloads")

MOCK_AZURE_SCRIPT = textwrap.dedent("""
    from azure.mgmt.resource.resources import ResourceManagementClient
    from dsvmctl.testing import mock_azure

    with mock_azure() as azure:
        client = ResourceManagementClient(azure.credential, azure.subscription_id, polling_interval=0)
        client.resource_groups.create_or_update("from-a-script", {"location": "westeurope"})
        assert client.resource_groups.check_existence("from-a-script")
    print("resource group created")
""")


def _run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_wheel_installed_with_workload_only_runs_quickstart_and_a_mock_azure_script(tmp_path):
    # Build from a copy of the sources, so the checkout gets no build/ or egg-info of a second build.
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy2)(
            REPO / name, source / name, **({"ignore": shutil.ignore_patterns("*.egg-info", "__pycache__")}
                                           if (REPO / name).is_dir() else {}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "DSVMCTL_"))}
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
          "-w", str(wheels), str(source)], cwd=tmp_path, env=env)
    wheel = next(wheels.glob("dsvmctl-*.whl"))

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path, env=env)
    python, dsvmctl = venv / "bin" / "python", venv / "bin" / "dsvmctl"
    _run([str(python), "-m", "pip", "install", "--quiet", TORCH], cwd=tmp_path, env=env)
    _run([str(python), "-m", "pip", "install", "--quiet", f"{wheel}[workload]"], cwd=tmp_path, env=env)
    missing = subprocess.run([str(python), "-c", "import pytest"], capture_output=True, cwd=tmp_path, env=env)
    assert missing.returncode != 0, "pytest is in the clean environment: this test would prove nothing"

    work = tmp_path / "elsewhere"  # a cwd outside the checkout: nothing is found beside it
    work.mkdir()
    run_env = {**env, "DSVMCTL_HOME": str(tmp_path / "home"), "PATH": f"{venv / 'bin'}:{env.get('PATH', '')}"}
    try:
        quickstart = _run([str(dsvmctl), "quickstart"], cwd=work, env=run_env)
    finally:  # quickstart started the user's agent, as it would for a user: do not leave it running
        subprocess.run([str(dsvmctl), "agent", "stop"], cwd=work, env=run_env, capture_output=True, timeout=60)
    assert "Traceback" not in quickstart.stdout + quickstart.stderr

    (work / "use_mock_azure.py").write_text(MOCK_AZURE_SCRIPT)
    script = _run([str(python), "use_mock_azure.py"], cwd=work, env=run_env)
    assert "resource group created" in script.stdout
