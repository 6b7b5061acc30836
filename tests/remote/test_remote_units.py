"""Pure parts of the remote layer: fingerprints, ignore rules, manifests and plans, scripts."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from dsvmctl.paths import write_atomic
from dsvmctl.remote import manifest as manifest_mod
from dsvmctl.remote import memo
from dsvmctl.remote.hostkeys import normalize_fingerprint, parse_public_key
from dsvmctl.remote.ignore import IgnoreRules
from dsvmctl.remote.manifest import Entry, HashCache, Manifest, plan, scan
from dsvmctl.remote.posix import DestPaths
from remote_helpers import make_tree


# -- fingerprints ---------------------------------------------------------------------------


@pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="ssh-keygen not installed")
def test_fingerprint_is_printed_as_ssh_keygen_prints_it(keys):
    printed = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(keys.host.private_path) + ".pub"],
        capture_output=True, text=True, check=True,
    ).stdout.split()[1]
    assert parse_public_key(keys.host.public_line).fingerprint == printed


def test_public_key_line_whose_type_does_not_match_its_blob_is_rejected(keys):
    _, blob = keys.host.public_line.split()[:2]
    with pytest.raises(ValueError, match="blob"):
        parse_public_key(f"ssh-rsa {blob}")


def test_fingerprint_accepts_prefix_and_padding_variants(keys):
    fingerprint = parse_public_key(keys.host.public_line).fingerprint
    bare = fingerprint.removeprefix("SHA256:")
    assert normalize_fingerprint(bare + "=") == fingerprint
    assert normalize_fingerprint("sha256:" + bare) == fingerprint
    with pytest.raises(ValueError):
        normalize_fingerprint("SHA256:tooshort")


# -- .dsvmignore ----------------------------------------------------------------------------

IGNORE_LINES = [
    "# a comment",
    "",
    "*.log",
    "!keep.log",
    "build/",
    "/top-only.txt",
    "docs/*.md",
    "**/cache",
    "data/**",
    "a/**/z.txt",
    "\\#hash",
    "file[0-9].bin",
]

CASES = [
    ("x.log", False, True),
    ("deep/dir/x.log", False, True),
    ("keep.log", False, False),
    ("build", True, True),
    ("build", False, False),  # trailing slash: directories only
    ("src/build", True, True),
    ("top-only.txt", False, True),
    ("sub/top-only.txt", False, False),
    ("docs/readme.md", False, True),
    ("docs/deep/readme.md", False, False),
    ("cache", True, True),
    ("x/y/cache", False, True),
    ("data/one/two.csv", False, True),
    ("data", True, False),
    ("a/z.txt", False, True),
    ("a/b/c/z.txt", False, True),
    ("#hash", False, True),
    ("file7.bin", False, True),
    ("fileX.bin", False, False),
    ("main.py", False, False),
]


@pytest.mark.parametrize("path,is_dir,expected", CASES)
def test_dsvmignore_follows_gitignore_rules(path, is_dir, expected):
    assert IgnoreRules(IGNORE_LINES).ignored(path, is_dir) is expected


def test_dsvmignore_agrees_with_pathspec_gitignore():
    import pathspec  # a dev dependency: the reference implementation of .gitignore rules
    spec = pathspec.GitIgnoreSpec.from_lines(IGNORE_LINES)
    ours = IgnoreRules(IGNORE_LINES)
    for path, is_dir, _ in CASES:
        if (path, is_dir) == ("data", True):
            continue  # pathspec reads "data/" as "something inside data"; git keeps the directory
        probe = path + "/" if is_dir else path
        assert ours.ignored(path, is_dir) == spec.match_file(probe), path


def test_files_inside_an_ignored_directory_are_not_scanned_even_if_negated(tmp_path):
    make_tree(tmp_path, {"build/keep.txt": "x", "main.py": "y"})
    local = scan(tmp_path, IgnoreRules(["build/", "!build/keep.txt"]))
    assert set(local.entries) == {"main.py"}


# -- manifests and plans --------------------------------------------------------------------


def test_plan_sends_new_and_changed_files_and_deletes_removed_ones(tmp_path):
    make_tree(tmp_path, {"same.txt": "same", "changed.txt": "new!", "new.txt": "n"})
    local = scan(tmp_path, IgnoreRules())
    remote = Manifest({
        "same.txt": Entry("file", local.entries["same.txt"].mode, 4, 1, manifest_mod.sha256_file(tmp_path / "same.txt")),
        "changed.txt": Entry("file", local.entries["changed.txt"].mode, 4, 1, "0" * 64),
        "gone.txt": Entry("file", 0o644, 1, 1, "1" * 64),
        "gone-dir": Entry("dir", 0o755),
        "gone-dir/inner.txt": Entry("file", 0o644, 1, 1, "2" * 64),
    })
    work = plan(local, remote, tmp_path)
    assert sorted(work.send) == ["changed.txt", "new.txt"]
    assert work.delete == ["gone-dir", "gone.txt"]
    assert work.unchanged == 1


def test_a_path_whose_type_changed_is_deleted_then_sent(tmp_path):
    make_tree(tmp_path, {"thing/inside.txt": "x"})
    local = scan(tmp_path, IgnoreRules())
    remote = Manifest({"thing": Entry("file", 0o644, 3, 1, "0" * 64)})
    work = plan(local, remote, tmp_path)
    assert work.delete == ["thing"] and "thing" in work.send


def test_cached_hashes_mean_an_unchanged_tree_reads_no_file(tmp_path, monkeypatch):
    make_tree(tmp_path / "src", {f"f{i}.txt": f"content {i}" for i in range(20)})
    cache = HashCache(tmp_path / "cache.json")
    first = scan(tmp_path / "src", IgnoreRules(), cache)
    for relpath, entry in first.entries.items():
        entry.sha256 = manifest_mod.sha256_file(tmp_path / "src" / relpath)
        cache.put(relpath, entry.size, entry.mtime_ns, entry.sha256)
    cache.save(set(first.entries))

    def no_reads(path):
        raise AssertionError(f"hashed {path} although size and mtime were unchanged")

    monkeypatch.setattr(manifest_mod, "sha256_file", no_reads)
    again = scan(tmp_path / "src", IgnoreRules(), HashCache(tmp_path / "cache.json"))
    work = plan(again, first, tmp_path / "src")
    assert work.send == [] and work.unchanged == 20


def test_a_parsed_cache_file_is_reused_until_the_file_on_disk_is_replaced(tmp_path):
    path = tmp_path / "state.json"
    write_atomic(path, '{"a": 1}')
    first = memo.load(path, json.loads)
    assert first == {"a": 1} and memo.load(path, json.loads) is first  # not read again
    write_atomic(path, '{"a": 2}')  # another process's write: a new file by rename
    assert memo.load(path, json.loads) == {"a": 2}
    path.unlink()
    assert memo.load(path, json.loads) is None


def test_hash_cache_is_written_only_when_it_changed(tmp_path):
    path = tmp_path / "hashes.json"
    cache = HashCache(path)
    cache.put("a.txt", 1, 10, "0" * 64)
    cache.put("b.txt", 1, 10, "1" * 64)
    cache.save({"a.txt", "b.txt"})
    written = path.stat().st_ino
    again = HashCache(path)
    again.put("a.txt", 1, 10, "0" * 64)  # the same hash again
    again.save({"a.txt", "b.txt", "dir"})
    assert path.stat().st_ino == written
    again.save({"a.txt"})  # b.txt was deleted: its hash goes
    assert path.stat().st_ino != written and json.loads(path.read_text()) == {"a.txt": [1, 10, "0" * 64]}
    assert HashCache(path).get("b.txt", 1, 10) is None


def test_unreadable_stored_manifest_counts_as_empty():
    assert Manifest.from_bytes(b"{not json").entries == {}
    assert Manifest.from_bytes(b'{"version": 99, "entries": {}}').entries == {}


# -- remote paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("dest", ["", ".", "~", "/", "../elsewhere"])
def test_push_refuses_to_replace_home_or_root(dest):
    with pytest.raises(ValueError):
        DestPaths.of(dest, "id")


def test_dest_paths_split_parent_and_name():
    paths = DestPaths.of("~/dsvmctl/workloads/", "abc")
    assert (paths.parent, paths.name, paths.stage, paths.gen) == (
        "dsvmctl", "workloads", "workloads.staging-abc", "workloads.gen-abc",
    )


def test_importing_the_remote_package_does_not_import_paramiko():
    code = "import sys, dsvmctl.remote; assert 'paramiko' not in sys.modules, 'paramiko imported'"
    subprocess.run([__import__("sys").executable, "-c", code], check=True)
