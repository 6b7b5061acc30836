"""What the local VM sandbox costs: making one, and starting a command in it vs unconfined.

    .venv/bin/python benchmarks/bench_sandbox.py [--runs 20]

Measured per backend (bwrap, unshare): the time to make a VM's sandbox (VMSandbox.ensure on a
fresh disk, until its init says it is up), and the time of `true` over SSH through LocalVMHost
(connection open, exec, exit status) sandboxed and with sandbox=False, and of `true` spawned
directly (the nsenter + setpriv + setsid prefix vs a plain bash). Medians over --runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def _key(directory: Path, name: str) -> tuple[Path, str, str]:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                            serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    path = directory / name
    path.write_text(pem)
    path.chmod(0o600)
    return path, pem, public


def _median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ms (min {min(samples) * 1000:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    from dsvmctl.emulator import sandbox
    from dsvmctl.emulator.vmhost import LocalVMHost
    from dsvmctl.remote import connect

    work = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
    _, host_pem, host_public = _key(work, "host")
    client_path, _, client_public = _key(work, "client")
    for kind in sandbox.BACKENDS:
        os.environ[sandbox.BACKEND_ENV] = kind
        try:
            sandbox.backend()
        except sandbox.SandboxUnavailable as err:
            print(f"{kind}: unavailable ({err.message})")
            continue
        made = []
        for i in range(args.runs):
            box = sandbox.VMSandbox(work / f"{kind}-disk-{i}")
            started = time.perf_counter()
            box.ensure()
            made.append(time.perf_counter() - started)
            box.stop()
        print(f"{kind}: make a VM sandbox: {_median_ms(made)}")

        box = sandbox.VMSandbox(work / f"{kind}-disk")
        direct, entered = [], []
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run(["bash", "-c", "true"], check=True)
            direct.append(time.perf_counter() - started)
            started = time.perf_counter()
            with box.entering("/") as (prefix, fds):
                subprocess.run([*prefix, "bash", "-c", "true"], check=True, pass_fds=fds)
            entered.append(time.perf_counter() - started)
        box.stop()
        print(f"{kind}: spawn `bash -c true`: direct {_median_ms(direct)}, in the sandbox {_median_ms(entered)}")

        for label, confined in (("unsandboxed", False), ("sandboxed", True)):
            host = LocalVMHost(work / f"{kind}-{label}", host_pem, [client_public], "azureuser", sandbox=confined)
            host.start()
            try:
                with connect("127.0.0.1", host.port, "azureuser", client_path, host_key=host_public) as session:
                    session.run("true")  # the first one makes the sandbox
                    runs = []
                    for _ in range(args.runs):
                        started = time.perf_counter()
                        code = session.exec("true")
                        runs.append(time.perf_counter() - started)
                        assert code == 0
            finally:
                host.stop()
            print(f"{kind}: exec `true` over SSH ({label}): {_median_ms(runs)}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
