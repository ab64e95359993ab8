"""The dataroot_scripts check on a generated Moodle data directory: web shells and drops."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import moodle_writes as mw
from integrity_helpers import Clock, assert_catalogued, context, sample

from checks.integrity.datascripts import DatarootScriptsCheck, DatarootScriptsSpec
from checks.integrity.generated import MOODLE_GENERATED
from checks.integrity.hashing import NO_DEADLINE, default_opener
from checks.integrity.patterns import PathRules
from checks.integrity.store import IntegrityStore
from checks.integrity.webshells import (
    DEFAULT_NAMES_ONLY,
    DataRules,
    find_scripts,
)
from monitor.kernel.result import Status
from tests.moodle_double.sitedir import FakeSite

MUSTACHE_NAME, MUSTACHE = mw.mustache_template()
MOODLE_WRITES = {  # PHP and other files Moodle itself keeps in its dataroot
    "muc/config.php": mw.muc_config({}),
    "cache/core_component.php": mw.core_component(),
    "cache/bootstrap.php": mw.bootstrap(),
    "localcache/bootstrap.php": mw.bootstrap(),
    f"cache/{mw.routes_name()}": mw.routes_cache(),
    f"localcache/mustache/1700000000/boost/{MUSTACHE_NAME}": MUSTACHE,
    "localcache/di/CompiledContainer.php": mw.di_container(),
    "lang/de/moodle.php": mw.lang_pack({"yes": "Ja"}),
    "lang/de_local/moodle.php": mw.customlang({"yes": "Jawohl"}),
    "cache/cachestore_file/default_application/core_config/abc.cache": "a:1:{}",
    "localcache/theme/1700000000/boost/css/all.css": "body{}",
    "sessions/sess_abc": "USER|O:8:\"stdClass\":0:{}",
    "temp/backup/0123abcd/moodle_backup.xml": "<?xml version='1.0'?><moodle_backup/>",
}


def populate(site: FakeSite, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = site.dataroot / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)


def run(site: FakeSite, state_dir: Path, clock: Clock, **spec: object):
    check = DatarootScriptsCheck(DatarootScriptsSpec.model_validate(
        {"type": "dataroot_scripts", **spec}))
    return assert_catalogued(asyncio.run(check.run(context(site, state_dir, clock))))


def test_a_healthy_moodle_dataroot_is_ok(site, state_dir, clock) -> None:
    populate(site, MOODLE_WRITES)
    site.add_file(b"<?php a user's upload of a PHP file, stored harmlessly")
    result = run(site, state_dir, clock)
    assert result.status == Status.OK, result.summary
    assert sample(result, "lms_integrity_data_scripts") == 0
    assert sample(result, "lms_integrity_data_files") == len(MOODLE_WRITES) + 1


def test_a_dropped_php_file_in_temp_is_critical(site, state_dir, clock) -> None:
    populate(site, {**MOODLE_WRITES, "temp/x.php": "<?php system($_GET['c']);",
                    "lang/de/../../cache/y.phtml": "<?php"})
    result = run(site, state_dir, clock)
    assert result.status == Status.CRITICAL
    assert result.details["scripts"] == ["cache/y.phtml", "temp/x.php"]
    assert result.summary.startswith("2 executable script(s) in the data directory: ")


def test_a_php_tag_hidden_in_an_image_is_found_by_content(site, state_dir, clock) -> None:
    populate(site, {"localcache/theme/logo.gif": b"GIF89a;\x00<?php eval($_POST['x']); ?>"})
    result = run(site, state_dir, clock)
    assert result.status == Status.CRITICAL
    assert result.details["scripts"] == ["localcache/theme/logo.gif"]
    again = run(site, state_dir, clock)  # remembered, not read again
    assert again.status == Status.CRITICAL and sample(again, "lms_integrity_read_bytes") == 0


def test_blob_stores_are_judged_by_name_only(site, state_dir, clock) -> None:
    site.add_file(b"<?php echo 'uploaded by a student';")
    (site.dataroot / "filedir" / "ab").mkdir(parents=True, exist_ok=True)
    (site.dataroot / "filedir" / "ab" / "shell.php").write_text("<?php")
    (site.dataroot / "trashdir" / "cd" / "ef").mkdir(parents=True)
    (site.dataroot / "trashdir" / "cd" / "ef" / "x.php5").write_text("")
    result = run(site, state_dir, clock)
    assert result.details["scripts"] == ["filedir/ab/shell.php", "trashdir/cd/ef/x.php5"]
    assert sample(result, "lms_integrity_read_bytes") == 0


def test_a_script_named_like_moodles_own_elsewhere_is_not_allowed(site, state_dir,
                                                                 clock) -> None:
    populate(site, {"temp/muc/config.php": "<?php", "lang/de/sub/x.php": "<?php",
                    "localcache/mustache/x.php": "<?php"})
    result = run(site, state_dir, clock)
    assert result.details["scripts"] == ["lang/de/sub/x.php", "localcache/mustache/x.php",
                                         "temp/muc/config.php"]


def test_a_generic_lms_allows_nothing_unless_configured(site, state_dir, clock) -> None:
    populate(site, {"muc/config.php": "<?php"})
    ctx = context(site, state_dir, clock, kind="generic")
    spec = DatarootScriptsSpec.model_validate({"type": "dataroot_scripts",
                                               "path": str(site.dataroot)})
    result = asyncio.run(DatarootScriptsCheck(spec).run(ctx))
    assert result.details["scripts"] == ["muc/config.php"]
    allowed = DatarootScriptsSpec.model_validate({"type": "dataroot_scripts",
                                                  "path": str(site.dataroot),
                                                  "allow": ["/muc/config.php"]})
    assert asyncio.run(DatarootScriptsCheck(allowed).run(ctx)).status == Status.OK


def test_sniffing_stays_within_the_budget_newest_files_first(site, state_dir, clock) -> None:
    for i in range(10):
        path = site.dataroot / "cache" / f"c{i}.cache"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 4096)
        os.utime(path, ns=(i * 10**9, i * 10**9))
    (site.dataroot / "cache" / "c0.cache").write_bytes(b"<?php " + b"y" * 4090)  # newest
    result = run(site, state_dir, clock, io_budget=100, interval=123)  # 12,300 bytes a run
    assert result.status == Status.CRITICAL and result.details["scripts"] == ["cache/c0.cache"]
    assert result.details["pending"] == 7
    assert sample(result, "lms_integrity_skipped_files", reason="deferred") == 7
    for _ in range(3):
        result = run(site, state_dir, clock, io_budget=100, interval=123)
    assert "pending" not in result.details


def test_an_unreadable_data_file_is_a_warning(tmp_path, site, state_dir) -> None:
    populate(site, {"temp/a.bin": b"data"})
    denied = {"temp/a.bin"}

    def opener(path: str) -> int:
        if any(path.endswith(p) for p in denied):
            raise PermissionError(errno.EACCES, "Permission denied")
        return default_opener(path)

    rules = DataRules(PathRules(()), PathRules(DEFAULT_NAMES_ONLY), PathRules(()),
                      MOODLE_GENERATED)
    with IntegrityStore.in_state_dir(state_dir) as store:
        found = find_scripts(store, "s", str(site.dataroot), rules, budget=None,
                             deadline=NO_DEADLINE, now=0.0, opener=opener)
        assert found.unreadable == ["temp/a.bin"] and not found.scripts
        denied.clear()
        again = find_scripts(store, "s", str(site.dataroot), rules, budget=None,
                             deadline=NO_DEADLINE, now=1.0, opener=opener)
    assert again.unreadable == []
    from checks.integrity.datascripts import judge

    assert judge(found, str(site.dataroot), covered=False).status == Status.WARNING


def test_special_files_and_bad_names_in_the_dataroot_do_not_break_it(site, state_dir,
                                                                      clock) -> None:
    os.mkfifo(site.dataroot / "temp" / "fifo")
    with open(os.fsencode(str(site.dataroot / "temp")) + b"/\xff.php", "wb") as fh:
        fh.write(b"<?php")
    result = run(site, state_dir, clock)
    assert result.status == Status.CRITICAL
    assert result.details["scripts"] == ["temp/\\xff.php"]
    assert result.details["special_files"] == ["temp/fifo (fifo)"]


def test_inside_a_maintenance_window_scripts_are_a_warning(site, state_dir, clock) -> None:
    populate(site, {"temp/core_plugin/code_manager/x/version.php": "<?php"})
    check = DatarootScriptsCheck(DatarootScriptsSpec.model_validate(
        {"type": "dataroot_scripts"}))
    result = asyncio.run(check.scan(context(site, state_dir, clock),
                                    windows=[(clock.now - 1, clock.now + 1)]))
    assert result.status == Status.WARNING
