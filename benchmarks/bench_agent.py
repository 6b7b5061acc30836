"""Whole dsvmctl commands with the agent, next to OpenSSH's tools, against one real OpenSSH server.

    .venv/bin/python benchmarks/bench_agent.py [--repeat 5] [--big-mb 200] [--json OUT]

Every figure is a whole command as a user types it (a new process each time): `dsvmctl exec
box -- true` vs `ssh HOST true`, `dsvmctl push` vs `rsync -a` and `scp`, on a machine added
with `dsvmctl attach` (host key pinned). "warm": the agent runs and holds the connection;
"cold": the agent is stopped before each run, so the command pays the agent's start (Python,
paramiko) and the SSH handshake. Same server, same client key; runs alternate and the median
is reported. Also the agent's resident memory when idle. Targets (issue 12): re-push <= 0.5x
rsync, first push <= 1.0x rsync, exec <= 1.0x ssh, 200 MB >= 1.0x scp throughput.
Needs sshd, ssh, scp and rsync (scripts/install-test-deps.sh); loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "remote"))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_push import _prepare_user, interleaved, make_small_tree  # noqa: E402
from openssh_server import OpenSSHServer, ssh_tools_available, sshd_available  # noqa: E402
from remote_helpers import make_keypair  # noqa: E402

from dsvmctl.remote.hostkeys import parse_public_key  # noqa: E402

DSVMCTL = [str(Path(sys.executable).with_name("dsvmctl"))]


class Tools:
    def __init__(self, workdir: Path, server: OpenSSHServer, key: Path, host_key_line: str, user: str = "root"):
        self.workdir, self.server, self.user = workdir, server, user
        self.home = workdir / "home"
        self.home.mkdir(mode=0o700)
        self.env = {**os.environ, "DSVMCTL_HOME": str(self.home), "DSVMCTL_AGENT": "auto",
                    "XDG_CACHE_HOME": str(workdir / "cache")}
        known_hosts = workdir / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{server.port} {host_key_line}\n")
        self.ssh_options = ["-i", str(key), "-o", f"UserKnownHostsFile={known_hosts}", "-o",
                            "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "Compression=no"]
        self.counter = 0
        # `dsvmctl push` only writes below the remote home (confined --dest): every contender's
        # destinations go there, under one directory removed at the end.
        self.remote_home = Path(os.path.expanduser(f"~{user}"))
        self.dest_root = self.remote_home / f"dsvmctl-bench-agent-{os.getpid()}"
        fingerprint = parse_public_key(host_key_line).fingerprint
        self.dsvmctl("attach", "box", "--host", "127.0.0.1", "--port", str(server.port), "--user", user,
                     "--identity", str(key), "--host-key-fingerprint", fingerprint, "--os", "linux")

    def dsvmctl(self, *args: str, env: dict | None = None) -> str:
        done = subprocess.run([*DSVMCTL, *args], env=env or self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"dsvmctl {' '.join(args)}: {done.stderr}")
        return done.stdout

    def stop_agent(self) -> None:
        self.dsvmctl("agent", "stop")

    def fresh_dest(self, clear: bool = False) -> Path:
        if clear:
            self.remove_dests()
        self.counter += 1
        self.dest_root.mkdir(exist_ok=True)
        if self.user != "root":
            shutil.chown(self.dest_root, self.user)
        return self.dest_root / f"d{self.counter}"

    def remove_dests(self) -> None:
        shutil.rmtree(self.dest_root, ignore_errors=True)

    def fresh_cache(self) -> dict:
        return {**self.env, "XDG_CACHE_HOME": str(self.workdir / "caches" / f"c{self.counter}")}

    # contenders
    def exec_true(self) -> None:
        self.dsvmctl("exec", "box", "--", "true")

    def exec_true_cold(self) -> None:
        self.stop_agent()
        self.dsvmctl("exec", "box", "--", "true")

    def ssh_true(self) -> None:
        subprocess.run(["ssh", "-p", str(self.server.port), *self.ssh_options, f"{self.user}@127.0.0.1", "true"], check=True)

    def push(self, src: Path, dest: Path, env: dict | None = None) -> None:
        self.dsvmctl("push", "box", str(src), "--dest", str(dest.relative_to(self.remote_home)), env=env)

    def push_cold(self, src: Path, dest: Path, env: dict | None = None) -> None:
        self.stop_agent()
        self.push(src, dest, env)

    def rsync(self, src: Path, dest: Path) -> None:
        ssh = " ".join(["ssh", "-p", str(self.server.port), *self.ssh_options])
        subprocess.run(["rsync", "-a", "-e", ssh, f"{src}/", f"{self.user}@127.0.0.1:{dest}/"], check=True)

    def scp(self, src: Path, dest: Path) -> None:
        subprocess.run(["scp", "-q", "-r", "-P", str(self.server.port), *self.ssh_options, str(src),
                        f"{self.user}@127.0.0.1:{dest}"], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--big-mb", type=int, default=200)
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "out" / "bench_agent.json")
    parser.add_argument("--user", default="root", help="remote user; another name is made with useradd, so its "
                        "shell starts like a fresh VM's (root's .bashrc here runs pyenv on every command)")
    args = parser.parse_args()
    if not (sshd_available() and ssh_tools_available()):
        print("bench_agent: needs sshd, ssh, scp and rsync; run scripts/install-test-deps.sh as root", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="dsvmctl-bench-agent-"))
    server = tools = None
    r = args.repeat
    try:
        keys = workdir / "keys"
        keys.mkdir()
        host, client = make_keypair(keys, "host"), make_keypair(keys, "client")
        server = OpenSSHServer(workdir / "sshd", host.private_path, [client.public_line])
        server.start()
        if args.user != "root":
            _prepare_user(args.user, workdir, server)
        tools = Tools(workdir, server, client.private_path, host.public_line, args.user)
        small, big = workdir / "small", workdir / "big"
        make_small_tree(small)
        big.mkdir()
        with open(big / "model.bin", "wb") as handle:
            for _ in range(args.big_mb):
                handle.write(os.urandom(2**20))

        results: dict[str, dict[str, float]] = {}
        tools.exec_true()  # agent up, connection open
        results["exec true"] = interleaved(r, {
            "dsvmctl (agent warm)": (None, lambda: (), tools.exec_true),
            "dsvmctl (agent cold)": (None, lambda: (), tools.exec_true_cold),
            "ssh": (None, lambda: (), tools.ssh_true),
        })

        def fresh():
            dest = tools.fresh_dest()
            return small, dest, tools.fresh_cache()

        tools.exec_true()
        results["first push (2000 files, 8 MB)"] = interleaved(r, {
            "dsvmctl (agent warm)": (None, fresh, tools.push),
            "dsvmctl (agent cold)": (None, fresh, tools.push_cold),
            "rsync -a": (None, lambda: (small, tools.fresh_dest()), tools.rsync),
            "scp -r": (None, lambda: (small, tools.fresh_dest()), tools.scp),
        })

        ours, theirs = tools.fresh_dest(), tools.fresh_dest()
        tools.push(small, ours)
        tools.rsync(small, theirs)
        tools.exec_true()
        results["unchanged re-push"] = interleaved(r, {
            "dsvmctl (agent warm)": (None, lambda: (small, ours), tools.push),
            "dsvmctl (agent cold)": (None, lambda: (small, ours), tools.push_cold),
            "rsync -a": (None, lambda: (small, theirs), tools.rsync),
        })

        def fresh_big():
            dest = tools.fresh_dest(clear=True)
            return big, dest, tools.fresh_cache()

        tools.exec_true()
        results[f"one {args.big_mb} MB file"] = interleaved(r, {
            "dsvmctl (agent warm)": (None, fresh_big, tools.push),
            "dsvmctl (agent cold)": (None, fresh_big, tools.push_cold),
            "rsync -a": (None, lambda: (big, tools.fresh_dest(clear=True)), tools.rsync),
            "scp -r": (None, lambda: (big, tools.fresh_dest(clear=True)), tools.scp),
        })
        tools.exec_true()
        idle_warm = json.loads(tools.dsvmctl("agent", "status", "-o", "json"))["rss_kib"]
        tools.stop_agent()
        subprocess.run([*DSVMCTL, "agent", "status"], env=tools.env, capture_output=True)
        from dsvmctl.agent.client import ensure

        os.environ["DSVMCTL_AGENT"] = "auto"
        idle_fresh = ensure(tools.home).ping()["rss_kib"]
    finally:
        if tools is not None:
            try:
                tools.stop_agent()
            except RuntimeError:
                pass
            tools.remove_dests()
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    columns = ["dsvmctl (agent warm)", "dsvmctl (agent cold)", "ssh", "rsync -a", "scp -r"]
    print(f"\nagent benchmark: OpenSSH on loopback, {os.cpu_count()} CPUs, user {args.user}, whole commands, median of {r}\n")
    print(f"{'case':32}" + "".join(f"{c:>22}" for c in columns))
    for case, row in results.items():
        print(f"{case:32}" + "".join(f"{row[c]:>21.3f}s" if c in row else f"{'-':>22}" for c in columns))
    exec_row, first, again, large = results.values()
    mb = args.big_mb
    print(f"{'  MiB/s, big file':32}" + "".join(f"{mb / large[c]:>22.0f}" if c in large else f"{'-':>22}" for c in columns))
    print(f"\nagent idle RSS: {idle_warm / 1024:.1f} MiB holding one connection, {idle_fresh / 1024:.1f} MiB fresh")
    checks = [
        ("re-push <= 0.5x rsync (warm)", again["dsvmctl (agent warm)"] / again["rsync -a"], 0.5, "<="),
        ("first push <= 1.0x rsync (warm)", first["dsvmctl (agent warm)"] / first["rsync -a"], 1.0, "<="),
        ("exec <= 1.0x ssh (warm)", exec_row["dsvmctl (agent warm)"] / exec_row["ssh"], 1.0, "<="),
        ("200 MB >= 1.0x scp throughput (warm)", large["scp -r"] / large["dsvmctl (agent warm)"], 1.0, ">="),
        ("re-push vs rsync (cold)", again["dsvmctl (agent cold)"] / again["rsync -a"], None, ""),
        ("first push vs rsync (cold)", first["dsvmctl (agent cold)"] / first["rsync -a"], None, ""),
        ("exec vs ssh (cold)", exec_row["dsvmctl (agent cold)"] / exec_row["ssh"], None, ""),
        ("200 MB vs scp throughput (cold)", large["scp -r"] / large["dsvmctl (agent cold)"], None, ""),
    ]
    print()
    for name, value, limit, op in checks:
        verdict = "    " if limit is None else ("PASS" if (value <= limit if op == "<=" else value >= limit) else "MISS")
        print(f"  {verdict}  {name:40} {value:.2f}x")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"seconds": results, "ratios": {n: v for n, v, _, _ in checks},
                                     "agent_idle_rss_kib": {"one_connection": idle_warm, "fresh": idle_fresh}},
                                    indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
