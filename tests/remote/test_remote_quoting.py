"""Remote commands are built from quoted values only: the remote side sees exactly the strings given.

POSIX: each built command runs through a real `sh` (dash here) and `bash`, over arbitrary strings
(hypothesis). PowerShell: there is no pwsh on this machine, so the rule is checked against a model
of PowerShell's verbatim (single-quoted) string grammar, itself tested on the specification's cases.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dsvmctl.remote import posix, windows

SHELLS = [s for s in ("sh", "bash") if shutil.which(s)]
# What an argv can hold: any text but NUL (and no lone surrogates: not encodable as UTF-8).
ARG = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"))
# A path component (no `/`, not `.`/`..`, at most 200 bytes: file systems take 255), so a test
# never makes directories outside its tmp dir.
NAME = ARG.filter(lambda s: s not in ("", ".", "..") and "/" not in s and len(s.encode()) <= 200)
NASTY = ["x$(touch MARKER)", "`touch MARKER`", "a'b", "'; touch MARKER; '", "$HOME", "-n", "*", "a\nb", "\\", "~"]
SHELL_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def shell(which: str, command: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([which, "-c", command], cwd=cwd, capture_output=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "LC_ALL": "C.UTF-8"})


def words(out: bytes) -> list[str]:
    return [w.decode("utf-8", "surrogateescape") for w in out.split(b"\0")[:-1]]


@pytest.mark.parametrize("which", SHELLS)
@SHELL_SETTINGS
@given(args=st.lists(ARG, max_size=6))
@example(args=NASTY)
def test_a_joined_command_line_reaches_the_program_as_exactly_the_given_argv(which, args, tmp_path):
    done = shell(which, "printf '%s\\0' " + posix.join(args) + " && :", tmp_path)
    assert done.returncode == 0, done.stderr
    assert words(done.stdout) == (args or [""])  # printf prints its format once when given no argument
    assert not (tmp_path / "MARKER").exists()


@pytest.mark.parametrize("which", SHELLS)
@SHELL_SETTINGS
@given(args=st.lists(ARG, min_size=1, max_size=5), run_dir=NAME, workdir=NAME)
@example(args=NASTY, run_dir="x$(touch MARKER)", workdir="w'd")
def test_the_run_command_makes_the_run_dir_and_execs_exactly_the_argv(which, args, run_dir, workdir, tmp_path):
    area = tmp_path / "home"
    shutil.rmtree(area, ignore_errors=True)
    (area / workdir).mkdir(parents=True)
    done = shell(which, posix.run_command(["printf", "%s\\0", *args], workdir, run_dir), area)
    assert done.returncode == 0, done.stderr
    assert words(done.stdout) == args
    assert sorted(p.name for p in area.iterdir()) == sorted({workdir, run_dir})
    assert not (area / "MARKER").exists() and not (area / workdir / "MARKER").exists()


@pytest.mark.parametrize("which", SHELLS)
@SHELL_SETTINGS
@given(run_id=ARG.filter(lambda s: "\n" not in s))
@example(run_id="x$(touch MARKER)")
@example(run_id="x'; touch MARKER; echo '")
def test_the_logs_command_names_any_run_id_literally_and_runs_nothing(which, run_id, tmp_path):
    done = shell(which, posix.logs_command(f"dsvmctl/runs/{run_id}", run_id, None, False), tmp_path)
    assert done.returncode == 4
    assert done.stderr.decode("utf-8", "surrogateescape") == f"no log for run {run_id} on this VM\n"
    assert not (tmp_path / "MARKER").exists()


@pytest.mark.parametrize("which", SHELLS)
@settings(SHELL_SETTINGS, max_examples=25)
@given(run_dir=NAME)
def test_the_exit_code_command_reads_exactly_that_run_dir(which, run_dir, tmp_path):
    area = tmp_path / "home"
    shutil.rmtree(area, ignore_errors=True)
    (area / run_dir).mkdir(parents=True)
    (area / run_dir / "exit_code").write_text("7\n")
    done = shell(which, posix.exit_code_command(run_dir), area)
    assert done.stdout == b"7\n"


# -- PowerShell: a model of its verbatim string literal ------------------------------------------


def parse_verbatim(source: str, start: int = 0) -> tuple[str, int]:
    """PowerShell's verbatim-string-literal (language specification 2.3.5.2): a single-quote
    character, then any characters where two single-quote characters stand for one, up to the
    next lone single-quote character. Single-quote characters: ' ‘ ’ ‚ ‛ (U+0027, U+2018-U+201B).
    Returns the value and the index just past the closing quote."""
    quotes = "'\u2018\u2019\u201a\u201b"
    if start >= len(source) or source[start] not in quotes:
        raise ValueError("not a verbatim string")
    value, i = [], start + 1
    while i < len(source):
        if source[i] in quotes:
            if i + 1 < len(source) and source[i + 1] in quotes:
                value.append(source[i])  # the pair stands for its first character
                i += 2
                continue
            return "".join(value), i + 1
        value.append(source[i])
        i += 1
    raise ValueError("unterminated verbatim string")


@pytest.mark.parametrize("source, value, end", [
    ("'abc'", "abc", 5),
    ("'It''s'", "It's", 7),
    ("''", "", 2),
    ("'a$b`c\"d'", "a$b`c\"d", 9),      # nothing is expanded inside: $, backtick, double quote
    ("'a\u2019b' rest", "a", 3),         # a typographic quote ends the string too...
    ("'a\u2019\u2019b'", "a\u2019b", 6),  # ...and doubles like '
    ("\u2018x'", "x", 3),                # any single-quote character opens and closes
])
def test_the_powershell_string_model_follows_the_specification(source, value, end):
    assert parse_verbatim(source) == (value, end)


def test_the_model_rejects_what_is_not_one_string():
    for source in ("abc", "'abc", "'a''"):
        with pytest.raises(ValueError):
            parse_verbatim(source)


@settings(max_examples=2000, deadline=None)
@given(value=st.text())
@example(value="'; Remove-Item -Recurse C:\\; '")
@example(value="\u2019; calc; \u2019")
def test_ps_quote_is_one_powershell_string_that_is_exactly_the_value(value):
    quoted = windows.ps_quote(value)
    assert parse_verbatim(quoted) == (value, len(quoted))


def test_the_old_quote_rule_was_broken_by_a_typographic_quote():
    naive = "'" + "a\u2019; calc".replace("'", "''") + "'"
    assert parse_verbatim(naive)[1] < len(naive)  # the string ended early: `; calc` would run


@settings(max_examples=500, deadline=None)
@given(values=st.lists(st.text(), min_size=1, max_size=6))
def test_ps_array_is_exactly_those_arguments(values):
    line, seen, i = windows.ps_array(values), [], 0
    while i < len(line):
        value, i = parse_verbatim(line, i)
        seen.append(value)
        if i < len(line):
            assert line[i] == " "
            i += 1
    assert seen == values


@settings(max_examples=500, deadline=None)
@given(run_id=st.text(), pid=st.none() | st.integers(1, 2**31), follow=st.booleans())
def test_every_value_in_the_windows_run_scripts_is_a_verbatim_string(run_id, pid, follow):
    run_dir = "dsvmctl\\runs\\" + run_id
    script = windows.decode_powershell(windows.logs_command(run_dir, run_id, pid, follow))
    message = windows.ps_quote(f"no log for run {run_id} on this VM")
    assert f"[Console]::Error.WriteLine({message})" in script
    assert "$log = " + windows.ps_quote(windows.win_join(run_dir, "run.log")) in script


def test_cmd_lines_refuse_what_cmd_exe_would_expand_or_split():
    for path in ('a"b', "a%PATH%b", "a\r\nb", "a\0b"):
        with pytest.raises(ValueError):
            windows.cmd_quote(path)
    assert windows.cmd_quote("C:\\a b&c") == '"C:\\a b&c"'


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAME.filter(lambda s: s.strip() == s and len(s.encode()) < 100))  # room for .gen-<id>
@example(name="x$(touch MARKER)")
@example(name="-")
@example(name="0\r0")
def test_a_push_lands_at_exactly_the_destination_named(vmhost, keys, name):
    from dsvmctl.remote import connect, push

    area = vmhost.home / "quoting"
    shutil.rmtree(area, ignore_errors=True)
    source = area.parent / "quoting-src"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir()
    (source / "f.txt").write_text(name)
    with connect("127.0.0.1", vmhost.port, "azureuser", keys.client.private_path, host_key=keys.host.public_line,
                 timeout=5.0) as session:
        push(session, source, f"quoting/{name}", cache_dir=False, confined=True)
    assert (area / name / "f.txt").read_bytes().decode() == name  # not read_text: it turns a "\r" into "\n"
    assert {p.name for p in area.iterdir()} == {name, f"{name}.gen-" + (area / name).readlink().name.split(".gen-")[-1]}
    assert not list(vmhost.home.rglob("MARKER"))
