"""connect / exec / run against both SSH servers (LocalVMHost and OpenSSH on loopback)."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest

from dsvmctl.remote import AuthError, CommandTimeout, HostKeyMismatch, HostUnreachable
from dsvmctl.remote.hostkeys import parse_public_key


def _wait_gone(server, pgid: int, seconds: float = 3.0) -> bool:
    """No process of the group is left, as the remote side sees it (a local VM's pids are its own)."""
    with server.connect() as session:
        code, out, _ = session.run(f"i=0; while kill -0 -- -{pgid} 2>/dev/null && [ $i -lt {int(seconds * 20)} ]; "
                                   f"do sleep 0.05; i=$((i+1)); done; kill -0 -- -{pgid} 2>/dev/null || echo gone")
    return out.strip() == "gone"


def test_run_returns_exit_code_stdout_and_stderr(server):
    with server.connect() as session:
        code, out, err = session.run("echo out; echo err >&2; exit 3")
    assert (code, out, err) == (3, "out\n", "err\n")


def test_command_not_found_exits_127_with_the_shell_message(server):
    with server.connect() as session:
        code, out, err = session.run("no-such-command-dsvmctl --flag")
    assert code == 127
    assert "no-such-command-dsvmctl" in err and "not found" in err


def test_stdin_reaches_the_remote_command(server):
    with server.connect() as session:
        assert session.run("wc -c", stdin=b"x" * 100_000).out.strip() == "100000"


def test_output_streams_live_before_the_command_ends(server):
    seen: list[tuple[float, bytes]] = []
    with server.connect() as session:
        started = time.monotonic()
        code = session.exec("echo first; sleep 1; echo second", stdout=lambda b: seen.append((time.monotonic() - started, b)))
    assert code == 0
    first_at = next(t for t, chunk in seen if b"first" in chunk)
    assert first_at < 0.8, f"first line arrived only after {first_at:.2f}s"
    assert b"".join(chunk for _, chunk in seen) == b"first\nsecond\n"


def test_timeout_stops_the_whole_remote_process_group(server):
    marker, marker_here = server.area()
    with server.connect() as session:
        started = time.monotonic()
        with pytest.raises(CommandTimeout) as caught:
            session.exec(f"echo $$ > {marker}; sleep 60 & sleep 60", timeout=1.0)
        assert time.monotonic() - started < 5
        assert caught.value.killed
        # the session is still usable afterwards
        assert session.run("echo ok").out == "ok\n"
    pgid = int(marker_here.read_text())
    assert _wait_gone(server, pgid), "a process of the timed-out command is still running"


def test_ctrl_c_stops_the_remote_command_and_propagates(server):
    marker, marker_here = server.area()

    def interrupt_when_started(chunk: bytes) -> None:
        if b"started" in chunk:
            raise KeyboardInterrupt

    with server.connect() as session:
        with pytest.raises(KeyboardInterrupt):
            session.exec(f"echo $$ > {marker}; echo started; sleep 60", stdout=interrupt_when_started)
    assert _wait_gone(server, int(marker_here.read_text()))


def test_one_connection_serves_many_commands_concurrently(server):
    results: list[str] = []
    with server.connect() as session:
        threads = [threading.Thread(target=lambda i=i: results.append(session.run(f"echo {i}").out)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(results) == sorted(f"{i}\n" for i in range(8))


def test_host_key_pinned_by_fingerprint_is_accepted(server, keys):
    fingerprint = parse_public_key(keys.host.public_line).fingerprint
    with server.connect(host_key=None, host_key_fingerprint=fingerprint) as session:
        assert session.run("true").code == 0


def test_other_host_key_is_refused_naming_both_fingerprints(server, keys):
    expected = parse_public_key(keys.other.public_line).fingerprint
    presented = parse_public_key(keys.host.public_line).fingerprint
    with pytest.raises(HostKeyMismatch) as caught:
        server.connect(host_key=keys.other.public_line)
    assert expected in str(caught.value) and presented in str(caught.value)
    assert caught.value.exit_code == HostKeyMismatch.exit_code


def test_wrong_fingerprint_is_refused(server, keys):
    wrong = parse_public_key(keys.other.public_line).fingerprint
    with pytest.raises(HostKeyMismatch, match=re.escape(wrong)):
        server.connect(host_key=None, host_key_fingerprint=wrong)


def test_wrong_client_key_gets_a_clear_auth_error(server, keys):
    with pytest.raises(AuthError) as caught:
        server.connect(key=keys.other.private_path)
    message = str(caught.value)
    assert "refused the SSH key" in message and server.user in message
    assert parse_public_key(keys.other.public_line).fingerprint in message


def test_nothing_listening_is_host_unreachable_quickly(keys):
    from dsvmctl.remote import connect

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(HostUnreachable, match="is the VM running|Is the VM running") as caught:
        connect("127.0.0.1", port, "azureuser", keys.client.private_path,
                host_key=keys.host.public_line, retries=2, backoff=0.05)
    assert time.monotonic() - started < 2
    assert caught.value.attempts == 3 and "refused" in str(caught.value)
