"""Moodle's own PHP files in the dataroot pass by place, name and shape; look-alikes do not."""

from __future__ import annotations

from pathlib import Path

import moodle_writes as mw
import pytest

from checks.integrity.generated import MOODLE_GENERATED, WHOLE_BYTES
from checks.integrity.hashing import NO_DEADLINE
from checks.integrity.patterns import PathRules
from checks.integrity.store import IntegrityStore
from checks.integrity.webshells import DEFAULT_NAMES_ONLY, DataFindings, DataRules, find_scripts

MUSTACHE_NAME, MUSTACHE = mw.mustache_template()
MUSTACHE3_NAME, MUSTACHE3 = mw.mustache_template("{{#str}}yes{{/str}}", v3=True)
ROUTES = mw.routes_name()
GENERATED = {  # one of each, as Moodle writes them
    "muc/config.php": mw.muc_config({"default_application": {"name": "default_application",
                                                             "plugin": "file"}}),
    "cache/core_component.php": mw.core_component(),
    "cache/bootstrap.php": mw.bootstrap(),
    "localcache/bootstrap.php": mw.bootstrap(),
    f"cache/{ROUTES}": mw.routes_cache(),
    f"localcache/mustache/1761000000/boost/{MUSTACHE_NAME}": MUSTACHE,
    f"localcache/mustache/1761000000/classic/{MUSTACHE3_NAME}": MUSTACHE3,
    "localcache/di/CompiledContainer.php": mw.di_container(),
    "lang/de/moodle.php": mw.lang_pack({"yes": "Ja", "help": "Zeile 1\nZeile 'zwei'"}),
    "lang/de_local/moodle.php": mw.customlang({"yes": "Jawohl"}),
}
RULES = DataRules(PathRules(()), PathRules(DEFAULT_NAMES_ONLY), PathRules(()), MOODLE_GENERATED)


def scan(root: Path, files: dict[str, str], state_dir: Path,
         rules: DataRules = RULES) -> DataFindings:
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content)
    with IntegrityStore.in_state_dir(state_dir) as store:
        return find_scripts(store, "s", str(root), rules, budget=None, deadline=NO_DEADLINE,
                            now=0.0)


@pytest.mark.parametrize("path", sorted(GENERATED))
def test_each_file_moodle_writes_is_recognised_as_its_own(tmp_path, path) -> None:
    found = scan(tmp_path / "data", {path: GENERATED[path]}, tmp_path / "state")
    assert found.scripts == [] and found.files == 1


def test_a_large_generated_file_is_checked_by_its_ends(tmp_path) -> None:
    content = mw.core_component(classes=2000)
    assert len(content) > 2 * WHOLE_BYTES
    found = scan(tmp_path / "data", {"cache/core_component.php": content}, tmp_path / "state")
    assert found.scripts == [] and found.read_bytes < len(content) // 10


def test_a_web_shell_borrowing_a_generated_name_elsewhere_is_found(tmp_path) -> None:
    shells = {"temp/bootstrap.php": mw.bootstrap(), "cache/x/bootstrap.php": mw.bootstrap(),
              f"localcache/{ROUTES}": "<?php system($_GET['c']);",
              "localcache/mustache/1/boost/x/" + MUSTACHE_NAME: MUSTACHE,
              "muc/config.php.bak": mw.muc_config({})}
    found = scan(tmp_path / "data", shells, tmp_path / "state")
    assert found.scripts == sorted(shells)


@pytest.mark.parametrize(("path", "content"), [
    (f"cache/{ROUTES}", "<?php system($_GET['c']);"),
    ("cache/bootstrap.php", "<?php system($_GET['c']);"),
    ("cache/bootstrap.php", mw.bootstrap() + "eval($_POST['x']);\n"),
    ("muc/config.php", "<?php defined('MOODLE_INTERNAL') || die();\n $configuration = "
                       "array (\n  'x' => system('id'),\n);"),
    (f"localcache/mustache/1/boost/{MUSTACHE_NAME}",
     MUSTACHE.replace(MUSTACHE_NAME[:-4], "__Mustache_" + "0" * 32)),
    (f"localcache/mustache/1/boost/{MUSTACHE_NAME}", MUSTACHE + "<?php eval($_POST['x']);\n"),
    ("lang/de/moodle.php", mw.lang_pack({"yes": "Ja"}) + "$string['x'] = `id`;\n"),
    ("lang/de/moodle.php", mw.lang_pack({"yes": "Ja"}) + "system($_GET['c']);\n"),
    ("localcache/di/CompiledContainer.php", "<?php\npassthru($_GET['c']);\n}\n"),
])
def test_a_generated_name_with_other_content_is_found(tmp_path, path, content) -> None:
    found = scan(tmp_path / "data", {path: content}, tmp_path / "state")
    assert found.scripts == [path]


@pytest.mark.parametrize("size", [20, 2000])  # checked whole, and by its ends
def test_code_appended_after_a_var_export_array_is_found(tmp_path, size) -> None:
    for n, extra in enumerate(["system($_GET['c']);\n",
                               "$x = system('id');\n$y = array (\n);\n"]):
        content = mw.core_component(classes=size) + extra
        found = scan(tmp_path / f"data{n}", {"cache/core_component.php": content},
                     tmp_path / "state")
        assert found.scripts == ["cache/core_component.php"], extra


def test_code_injected_into_the_tail_of_a_large_array_is_found(tmp_path) -> None:
    content = mw.core_component(classes=2000).replace(
        "'version' =>", "'x' => shell_exec($_GET['c']),\n  'version' =>")
    found = scan(tmp_path / "data", {"cache/core_component.php": content}, tmp_path / "state")
    assert found.scripts == ["cache/core_component.php"]


def test_a_verdict_from_before_the_file_was_recognised_is_not_reused(tmp_path) -> None:
    root, state = tmp_path / "data", tmp_path / "state"
    files = {f"cache/{ROUTES}": mw.routes_cache()}
    plain = DataRules(PathRules(()), PathRules(DEFAULT_NAMES_ONLY), PathRules(()))
    assert scan(root, files, state, plain).scripts == [f"cache/{ROUTES}"]  # an open tag
    assert scan(root, {}, state).scripts == []  # same stat, judged by shape now
    assert scan(root, {}, state).read_bytes == 0  # and that verdict is kept


def test_a_cached_forged_verdict_is_judged_again_by_the_current_rules(tmp_path) -> None:
    # A verdict stored by older shape rules that called Moodle's own file "forged" (the
    # real site's CompiledContainer.php) must end with the rules fix, not last until
    # Moodle rewrites the file.
    root, state = tmp_path / "data", tmp_path / "state"
    path = "localcache/di/CompiledContainer.php"
    assert scan(root, {path: GENERATED[path]}, state).scripts == []
    with IntegrityStore.in_state_dir(state) as store:
        changed = store._db.execute(
            "UPDATE integrity_files SET note = 'forged' WHERE note = 'generated'").rowcount
    assert changed == 1
    found = scan(root, {}, state)
    assert found.scripts == [] and found.read_bytes > 0  # read again, passes now
    assert scan(root, {}, state).read_bytes == 0  # and the passing verdict is kept


def test_a_forged_generated_file_stays_found_run_after_run(tmp_path) -> None:
    root, state = tmp_path / "data", tmp_path / "state"
    forged = {"cache/core_component.php": "<?php system($_GET['c']);"}
    assert scan(root, forged, state).scripts == ["cache/core_component.php"]
    again = scan(root, {}, state)
    assert again.scripts == ["cache/core_component.php"] and again.read_bytes > 0
