"""The code_integrity check on a generated Moodle code tree: baseline, the changes it
catches and how bad each one is, accept, maintenance windows."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from integrity_helpers import Clock, assert_catalogued, context, sample

from checks.base import CheckContext, CheckUnavailable
from checks.integrity.accept import accept
from checks.integrity.baseline import Tree
from checks.integrity.codetree import CodeIntegrityCheck, CodeIntegritySpec
from checks.integrity.store import IntegrityStore
from monitor.kernel.result import Status
from monitor.kernel.target import Target
from tests.moodle_double.sitedir import FakeSite


def spec(**extra: object) -> CodeIntegritySpec:
    return CodeIntegritySpec.model_validate({"type": "code_integrity", **extra})


async def run(site: FakeSite, state_dir: Path, clock: Clock, check_spec=None, windows=()):
    check = CodeIntegrityCheck(check_spec or spec())
    result = await check.verify(context(site, state_dir, clock), windows=windows)
    return assert_catalogued(result)


async def test_first_run_creates_the_baseline(site, state_dir, clock) -> None:
    result = await run(site, state_dir, clock)
    assert result.status == Status.OK
    assert result.summary.startswith("baseline created: ")
    files = sample(result, "lms_integrity_files")
    assert files and files > 20
    assert sample(result, "lms_integrity_baseline_timestamp_seconds") == clock.now


async def test_an_unchanged_tree_is_ok_and_reports_the_rehash_period(site, state_dir,
                                                                     clock) -> None:
    await run(site, state_dir, clock)
    clock.advance(300)
    result = await run(site, state_dir, clock)
    assert result.status == Status.OK, result.summary
    assert "matches its baseline" in result.summary and "full re-hash every ~5m" in result.summary
    assert sample(result, "lms_integrity_changed_files", change="added") == 0
    assert sample(result, "lms_integrity_rehash_period_seconds") == 300


async def test_a_dropped_php_file_is_critical_with_its_path(site, state_dir, clock) -> None:
    await run(site, state_dir, clock)
    (site.root / "mod" / "quiz" / "x.php").write_text("<?php system($_GET['c']);\n")
    result = await run(site, state_dir, clock)
    assert result.status == Status.CRITICAL
    assert "1 new script(s) in the code tree: mod/quiz/x.php" in result.summary
    assert result.details["new_scripts"] == ["mod/quiz/x.php"]
    assert sample(result, "lms_integrity_new_scripts") == 1
    assert sample(result, "lms_integrity_changed_files", change="added") == 1


async def test_a_new_file_with_a_php_tag_but_another_name_is_a_script(site, state_dir,
                                                                      clock) -> None:
    await run(site, state_dir, clock)
    (site.root / "theme" / "boost" / "pix" / "x.gif").write_bytes(b"GIF89a;<?php eval($_POST[1]);")
    (site.root / "theme" / "boost" / "pix" / "ok.gif").write_bytes(b"GIF89a; plain")
    result = await run(site, state_dir, clock)
    assert result.status == Status.CRITICAL
    assert result.details["new_scripts"] == ["theme/boost/pix/x.gif"]
    assert sorted(result.details["added"]) == ["theme/boost/pix/ok.gif", "theme/boost/pix/x.gif"]


async def test_a_modified_core_php_file_is_critical(site, state_dir, clock) -> None:
    await run(site, state_dir, clock)
    weblib = site.root / "lib" / "weblib.php"
    weblib.write_text(weblib.read_text() + "@eval(base64_decode('ZWNobyAxOw=='));\n")
    result = await run(site, state_dir, clock)
    assert result.status == Status.CRITICAL
    assert "1 core or script file(s) modified: lib/weblib.php" in result.summary
    assert result.details["modified"] == {"lib/weblib.php": ["content", "mtime"]}


async def test_other_changes_are_warnings(site, state_dir, clock) -> None:
    await run(site, state_dir, clock)
    (site.root / "README.txt").unlink()
    (site.root / "theme" / "boost" / "style" / "moodle.css").write_text("body{}\n/* x */")
    (site.root / "mod" / "quiz" / "lib.php").chmod(0o666)
    (site.root / "docs.txt").write_text("notes")
    result = await run(site, state_dir, clock)
    assert result.status == Status.WARNING, result.summary
    assert "1 added, 1 removed, 2 modified" in result.summary
    assert result.details["removed"] == ["README.txt"]
    assert result.details["modified"]["mod/quiz/lib.php"] == ["mode"]


async def test_a_touched_file_with_the_same_content_is_not_a_change(site, state_dir,
                                                                    clock) -> None:
    await run(site, state_dir, clock)
    os.utime(site.root / "lib" / "weblib.php", ns=(1, 1_000_000_000))
    result = await run(site, state_dir, clock)
    assert result.status == Status.OK, result.summary
    assert result.details["touched"] == 1


async def test_accepting_a_change_clears_it_and_records_who(site, state_dir, clock) -> None:
    await run(site, state_dir, clock)
    (site.root / "local" / "hack.php").parent.mkdir(parents=True, exist_ok=True)
    (site.root / "local" / "hack.php").write_text("<?php // approved local plugin\n")
    assert (await run(site, state_dir, clock)).status == Status.CRITICAL
    with IntegrityStore.in_state_dir(state_dir) as store:
        tree = Tree("moodle-test", str(site.root))
        accepted, removed = accept(store, tree, ["local"], clock.now, "alice")
        row = store.load("moodle-test", str(site.root), "baseline")["local/hack.php"]
        run_record = store.last_run("moodle-test", str(site.root), "accept")
    assert accepted == ["local/hack.php"] and removed == []
    assert row.accepted_by == "alice" and row.accepted_at == clock.now
    assert run_record is not None and run_record.actor == "alice"
    assert (await run(site, state_dir, clock)).status == Status.OK


async def test_require_baseline_refuses_to_create_one(site, state_dir, clock) -> None:
    with pytest.raises(CheckUnavailable, match="vigil integrity baseline"):
        await run(site, state_dir, clock, spec(require_baseline=True))


async def test_without_a_code_directory_the_check_cannot_judge(site, state_dir, clock) -> None:
    ctx = context(site, state_dir, clock)
    ctx.site = None
    with pytest.raises(CheckUnavailable, match="no code directory"):
        await CodeIntegrityCheck(spec()).run(ctx)


async def test_a_generic_lms_uses_the_path_of_the_spec(tmp_path, state_dir, clock) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "index.php").write_text("<?php echo 1;")
    ctx = CheckContext(Target("canvas", "generic"), 60, clock, asyncio.to_thread,
                       state_dir=state_dir)
    result = await CodeIntegrityCheck(spec(path=str(tmp_path / "app"))).run(ctx)
    assert result.status == Status.OK and "baseline created: 1 files" in result.summary


async def test_changes_in_a_maintenance_window_are_accepted_and_listed(site, state_dir,
                                                                       clock) -> None:
    await run(site, state_dir, clock)
    (site.root / "mod" / "quiz" / "new.php").write_text("<?php // upgrade\n")
    window = [(clock.now - 60, clock.now + 3600)]
    result = await run(site, state_dir, clock, windows=window)
    assert result.status == Status.OK
    assert result.summary.startswith("1 change(s) accepted in a maintenance window")
    assert result.details["accepted_in_window"] == ["mod/quiz/new.php"]
    clock.advance(7200)
    assert (await run(site, state_dir, clock)).status == Status.OK


async def test_inside_a_window_without_auto_accept_changes_are_at_most_warnings(
        site, state_dir, clock) -> None:
    await run(site, state_dir, clock)
    (site.root / "mod" / "quiz" / "new.php").write_text("<?php // upgrade\n")
    window = [(clock.now - 60, clock.now + 3600)]
    result = await run(site, state_dir, clock, spec(accept_in_window=False), windows=window)
    assert result.status == Status.WARNING
    clock.advance(7200)
    assert (await run(site, state_dir, clock)).status == Status.CRITICAL


async def test_ignore_patterns_keep_paths_out(site, state_dir, clock) -> None:
    check_spec = spec(ignore=[".fake/", "*.log", "/theme/"])
    await run(site, state_dir, clock, check_spec)
    (site.root / "error.log").write_text("x")
    (site.root / "theme" / "evil.php").write_text("<?php")
    (site.root / ".fake" / "state.json").write_text("{}")
    result = await run(site, state_dir, clock, check_spec)
    assert result.status == Status.OK, result.summary


async def test_moodle_51_layout_is_watched_from_the_root(tmp_path, state_dir, clock) -> None:
    from integrity_helpers import code_site

    site = code_site(tmp_path, "5.1")
    await run(site, state_dir, clock)
    (site.webroot / "shell.php").write_text("<?php")
    result = await run(site, state_dir, clock)
    assert result.details["new_scripts"] == ["public/shell.php"]
