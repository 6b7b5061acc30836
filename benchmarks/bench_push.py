"""Push speed against a real OpenSSH server on loopback, next to rsync, scp and per-file SFTP.

    .venv/bin/python benchmarks/bench_push.py [--repeat 3] [--big-mb 200] [--json OUT]

Three cases, each timed from process/connection start to done (every tool pays its own SSH
handshake): a first push of a 2,000-file 8 MB tree, an unchanged re-push of it, and one 200 MB
file. "dsvmctl" is the library call on a warm interpreter; "dsvmctl, new process" adds a
Python start and the imports, as a CLI invocation pays. Same server, same client key, default ciphers for the OpenSSH tools. Runs of the tools
alternate and the median is reported (scp has no "unchanged" mode; it is not timed there).
Targets: first push <= 1.0x rsync, re-push <= 0.5x rsync, 200 MB >= 0.9x scp throughput.
Needs sshd, ssh, scp and rsync (scripts/install-test-deps.sh); runs as root on loopback only.
`--user NAME` pushes as a plain user made with useradd (its shell starts like a fresh VM's);
the default, root, pays whatever this machine's root .bashrc costs on every remote command.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "remote"))

from openssh_server import OpenSSHServer, ssh_tools_available, sshd_available  # noqa: E402
from remote_helpers import make_keypair  # noqa: E402

from dsvmctl.remote import connect, push  # noqa: E402


def make_small_tree(root: Path, files: int = 2000, total_bytes: int = 8 * 2**20) -> None:
    rng = random.Random(7)
    average = total_bytes // files
    for i in range(files):
        path = root / f"pkg{i % 40:02d}" / f"sub{i % 7}" / f"file{i:04d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        size = rng.randint(average // 2, average * 3 // 2)
        path.write_bytes(rng.randbytes(size))


class Bench:
    def __init__(self, workdir: Path, server: OpenSSHServer, key: Path, host_key_line: str, user: str = "root"):
        self.workdir, self.server, self.key, self.host_key_line = workdir, server, key, host_key_line
        self.user = user
        known_hosts = workdir / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{server.port} {host_key_line}\n")
        self.ssh_options = [
            "-i", str(key), "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", "Compression=no",
        ]
        self.counter = 0

    def fresh_dest(self, clear: bool = False) -> Path:
        """A destination path nobody used; `clear` first deletes the earlier ones (big files)."""
        if clear:
            shutil.rmtree(self.workdir / "dest", ignore_errors=True)
        self.counter += 1
        (self.workdir / "dest").mkdir(exist_ok=True)
        if self.user != "root":
            shutil.chown(self.workdir / "dest", self.user)
        return self.workdir / "dest" / f"d{self.counter}"

    def dsvmctl(self, src: Path, dest: Path, cache: Path) -> None:
        with connect("127.0.0.1", self.server.port, self.user, self.key, host_key=self.host_key_line) as session:
            push(session, src, str(dest), cache_dir=cache)

    def dsvmctl_process(self, src: Path, dest: Path, cache: Path) -> None:
        """The same push from a new Python process, as a CLI call would pay (imports included)."""
        code = (
            "import sys; from pathlib import Path; from dsvmctl.remote import connect, push\n"
            "with connect('127.0.0.1', int(sys.argv[1]), sys.argv[7], sys.argv[2], host_key=sys.argv[3]) as s:\n"
            "    push(s, sys.argv[4], sys.argv[5], cache_dir=Path(sys.argv[6]))\n"
        )
        subprocess.run(
            [sys.executable, "-c", code, str(self.server.port), str(self.key), self.host_key_line, str(src), str(dest),
             str(cache), self.user],
            check=True,
        )

    def rsync(self, src: Path, dest: Path) -> None:
        ssh = " ".join(["ssh", "-p", str(self.server.port), *self.ssh_options])
        subprocess.run(["rsync", "-a", "-e", ssh, f"{src}/", f"{self.user}@127.0.0.1:{dest}/"], check=True)

    def scp(self, src: Path, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["scp", "-q", "-r", "-P", str(self.server.port), *self.ssh_options, str(src), f"{self.user}@127.0.0.1:{dest}"],
            check=True,
        )

    def sftp_per_file(self, src: Path, dest: Path) -> None:
        """The naive paramiko baseline: one SFTP put per file, no manifest."""
        with connect("127.0.0.1", self.server.port, self.user, self.key, host_key=self.host_key_line) as session:
            sftp = session.sftp()
            for directory, _, names in os.walk(src):
                remote_dir = dest / Path(directory).relative_to(src)
                try:
                    sftp.mkdir(str(remote_dir))
                except OSError:
                    pass
                for name in names:
                    sftp.put(os.path.join(directory, name), str(remote_dir / name))


def timed(func, *args) -> float:
    started = time.perf_counter()
    func(*args)
    return time.perf_counter() - started


def interleaved(repeat: int, contenders: dict) -> dict[str, float]:
    """Median seconds per contender; runs alternate (A B C A B C ...) so that load from other
    processes on the machine falls on every contender alike. `contenders` maps a name to
    (repeat count or None for `repeat`, setup returning args, func)."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for round_index in range(repeat):
        for name, (count, setup, func) in contenders.items():
            if round_index < (count or repeat):
                times[name].append(timed(func, *setup()))
    return {name: statistics.median(values) for name, values in times.items()}


def _prepare_user(user: str, workdir: Path, server: OpenSSHServer) -> None:
    """A plain login user (made once), able to read its authorized keys and write the destinations."""
    if subprocess.run(["id", user], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", user], check=True)
        # No password, but not "locked" either: sshd without PAM refuses locked accounts even with a key.
        subprocess.run(["usermod", "-p", "*", user], check=True)
    for path in (workdir, server.workdir):
        path.chmod(0o755)
    (server.workdir / "authorized_keys").chmod(0o644)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=200)
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "out" / "bench_push.json")
    parser.add_argument("--user", default="root",
                        help="remote user. Another name is created (useradd, /etc/skel files, as on a fresh "
                             "Ubuntu VM) so the remote shell starts the way a DSVM's azureuser's does.")
    args = parser.parse_args()
    if not (sshd_available() and ssh_tools_available()):
        print("bench_push: needs sshd, ssh, scp and rsync; run scripts/install-test-deps.sh as root", file=sys.stderr)
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="dsvmctl-bench-"))
    server = None
    try:
        keys = workdir / "keys"
        keys.mkdir()
        host, client = make_keypair(keys, "host"), make_keypair(keys, "client")
        server = OpenSSHServer(workdir / "sshd", host.private_path, [client.public_line])
        server.start()
        if args.user != "root":
            _prepare_user(args.user, workdir, server)
        bench = Bench(workdir, server, client.private_path, host.public_line, args.user)

        small = workdir / "small"
        make_small_tree(small)
        big = workdir / "big"
        big.mkdir()
        with open(big / "model.bin", "wb") as handle:
            for _ in range(args.big_mb):
                handle.write(os.urandom(2**20))
        big_bytes = args.big_mb * 2**20
        r = args.repeat

        def new_dest_and_cache(clear: bool = False):
            dest = bench.fresh_dest(clear)
            return dest, workdir / "cache" / dest.name

        results: dict[str, dict[str, float]] = {}

        # first push: a new destination every run (and empty caches for dsvmctl)
        results["first push (2000 files, 8 MB)"] = interleaved(r, {
            "dsvmctl": (None, lambda: (small, *new_dest_and_cache()), bench.dsvmctl),
            "rsync -a": (None, lambda: (small, bench.fresh_dest()), bench.rsync),
            "scp -r": (None, lambda: (small, bench.fresh_dest()), bench.scp),
            "paramiko sftp/file": (1, lambda: (small, bench.fresh_dest()), bench.sftp_per_file),
        })

        # unchanged re-push onto a destination that already holds the tree
        ours_dest, ours_cache = new_dest_and_cache()
        bench.dsvmctl(small, ours_dest, ours_cache)
        rsync_dest = bench.fresh_dest()
        bench.rsync(small, rsync_dest)
        results["unchanged re-push"] = interleaved(r, {
            "dsvmctl": (None, lambda: (small, ours_dest, ours_cache), bench.dsvmctl),
            "dsvmctl, new process": (None, lambda: (small, ours_dest, ours_cache), bench.dsvmctl_process),
            "rsync -a": (None, lambda: (small, rsync_dest), bench.rsync),
        })

        # one big file, to a new destination each run
        results[f"one {args.big_mb} MB file"] = interleaved(r, {
            "dsvmctl": (None, lambda: (big, *new_dest_and_cache(clear=True)), bench.dsvmctl),
            "rsync -a": (None, lambda: (big, bench.fresh_dest(clear=True)), bench.rsync),
            "scp -r": (None, lambda: (big, bench.fresh_dest(clear=True)), bench.scp),
            "paramiko sftp/file": (1, lambda: (big, bench.fresh_dest(clear=True)), bench.sftp_per_file),
        })
        first, again, large = results.values()
        shutil.rmtree(workdir / "dest", ignore_errors=True)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    tools = ["dsvmctl", "dsvmctl, new process", "rsync -a", "scp -r", "paramiko sftp/file"]
    print(f"\npush benchmark: OpenSSH on loopback, {os.cpu_count()} CPUs, median of {r} (sftp baseline: 1 run)\n")
    print(f"{'case':34}" + "".join(f"{t:>22}" for t in tools))
    for case, row in results.items():
        print(f"{case:34}" + "".join(f"{row[t]:>21.3f}s" if t in row else f"{'-':>22}" for t in tools))
    mb = big_bytes / 2**20
    print(f"{'  throughput, big file (MiB/s)':34}" + "".join(f"{mb / large[t]:>22.0f}" if t in large else f"{'-':>22}" for t in tools))

    checks = [
        ("first push <= 1.0x rsync", first["dsvmctl"] / first["rsync -a"], 1.0, "<="),
        ("re-push <= 0.5x rsync", again["dsvmctl"] / again["rsync -a"], 0.5, "<="),
        ("re-push, new process <= 0.5x rsync", again["dsvmctl, new process"] / again["rsync -a"], 0.5, "<="),
        ("big file >= 0.9x scp throughput", large["scp -r"] / large["dsvmctl"], 0.9, ">="),
    ]
    print()
    for name, value, limit, op in checks:
        ok = value <= limit if op == "<=" else value >= limit
        print(f"  {'PASS' if ok else 'MISS'}  {name:36} measured {value:.2f}x")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"seconds": results, "checks": {n: v for n, v, _, _ in checks}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
