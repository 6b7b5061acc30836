"""Windows command builders: what a Windows DSVM's OpenSSH (cmd.exe) is asked to run."""

from __future__ import annotations

import pytest

from dsvmctl.remote import windows


def test_powershell_is_sent_encoded_so_no_quoting_can_break_it():
    line = windows.mkdir("C:\\Users\\azureuser\\it's here")
    assert line.startswith("powershell.exe ") and "-EncodedCommand" in line
    script = windows.decode_powershell(line)
    assert "New-Item -ItemType Directory -Force -Path 'C:\\Users\\azureuser\\it''s here'" in script
    assert script.startswith("$ErrorActionPreference = 'Stop'")


def test_single_quotes_double_in_powershell_literals():
    assert windows.ps_quote("a'b$c") == "'a''b$c'"


def test_cmd_quote_rejects_impossible_windows_paths():
    assert windows.cmd_quote("C:\\a b") == '"C:\\a b"'
    with pytest.raises(ValueError):
        windows.cmd_quote('C:\\a"b')


def test_tar_extraction_goes_to_staging_then_swaps_only_after_success():
    line = windows.extract_tar("C:\\work\\wl", "abc")
    first, _, second = line.partition(" && ")
    assert first == 'tar.exe -x -f - -C "C:\\work\\wl.staging-abc"'
    swap = windows.decode_powershell(second)
    assert "$stage = 'C:\\work\\wl.staging-abc'" in swap
    # the manifest sentinel is checked before anything is renamed
    assert swap.index(".dsvmctl-manifest.json.new") < swap.index("Rename-Item")
    assert swap.index("Rename-Item -LiteralPath $dest") < swap.index("Rename-Item -LiteralPath $stage")


def test_prepare_restores_a_tree_left_mid_swap_and_reads_deletions_from_stdin():
    script = windows.decode_powershell(windows.prepare_push("C:\\work\\wl", "abc"))
    assert 'if (-not (Test-Path -LiteralPath $dest) -and $olds.Count -gt 0)' in script
    assert "robocopy $dest $stage /MIR" in script and "$LASTEXITCODE -ge 8" in script
    assert "[Console]::In.ReadToEnd()" in script and "Split([char]0)" in script


def test_run_python_quotes_arguments_and_keeps_the_exit_code():
    script = windows.decode_powershell(windows.run_python("train.py", ["--out", "C:\\r s\\m.json"], cwd="C:\\work"))
    assert "Set-Location -LiteralPath 'C:\\work'" in script
    assert "& 'python' 'train.py' '--out' 'C:\\r s\\m.json'" in script
    assert script.rstrip().endswith("exit $LASTEXITCODE")


def test_fetch_and_stop_lines():
    assert windows.fetch_tar(["C:\\work\\out\\", "C:/work/m.json"]) == (
        'tar.exe -c -f - -C "C:\\work" "out" -C "C:\\work" "m.json"'
    )
    assert windows.stop_process_tree(42) == "taskkill /T /F /PID 42"
    assert "tar=1" in windows.decode_powershell(windows.read_manifest("C:\\work\\wl"))
