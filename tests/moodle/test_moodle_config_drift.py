"""The moodle_config_drift probe on PostgreSQL and MariaDB: config.php and database settings
fingerprinted against a baseline kept in the state directory; changes named with old -> new
(never for secrets), who changed database settings (config_log), CRITICAL settings, the hold,
and a config.php that cannot be read or parsed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from checks.base import CheckContext, CheckUnavailable
from checks.moodle.config_drift import ConfigDriftCheck, ConfigDriftSpec
from checks.moodle.config_fingerprint import (
    DEFAULT_PUBLIC_NAMES,
    DEFAULT_SECRET_NAMES,
    DEFAULT_SECRET_PATTERNS,
    SecretRule,
    flatten,
    shown,
)
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result, Status
from tests.moodle.conftest import MoodleDouble, make_moodle_ctx
from tests.moodle_double.sitedir import config_php_text

DB = {"dbtype": "pgsql", "dbhost": "db.example", "dbname": "moodle", "dbuser": "moodle",
      "dbpass": "Tr0ub4dor&3", "prefix": "mdl_", "dbport": 5432}
Runner = Callable[..., Awaitable[Result]]


def spec(**fields: object) -> ConfigDriftSpec:
    return ConfigDriftSpec.model_validate({"type": "moodle_config_drift", **fields})


class Site:
    """config.php in the code directory, the database, and a state directory."""

    def __init__(self, db: MoodleDouble, dirroot: Path, dataroot: Path, state: Path) -> None:
        self.db, self.dirroot, self.dataroot, self.state = db, dirroot, dataroot, state
        self.contexts: list[CheckContext] = []
        self.write_config()

    def write_config(self, extra: str = "", **db: object) -> None:
        text = config_php_text({**DB, **db}, "https://lms.example", self.dataroot, extra)
        (self.dirroot / "config.php").write_text(text)

    async def run(self, at: float = 0, **fields: object) -> Result:
        """A new check object each run, as after a restart: the baseline is on disk."""
        ctx = make_moodle_ctx(self.db.settings, self.db.now + at, self.dirroot, self.dataroot)
        ctx.state_dir = self.state
        self.contexts.append(ctx)
        result = await ConfigDriftCheck(spec(**fields)).run(ctx)
        for sample in result.samples:
            assert sample.name in CATALOGUE
            assert set(sample.labels) == set(CATALOGUE[sample.name].labels)
        assert "\n" not in result.summary
        return result

    def state_text(self) -> str:
        return "".join(p.read_text() for p in self.state.rglob("*.json"))


@pytest.fixture
async def site(moodle_db_fast: MoodleDouble, moodle_dirroot: Path, moodle_dataroot: Path,
               tmp_path: Path) -> AsyncIterator[Site]:
    moodle_db_fast.scenario.healthy_site().set_config("forcelogin", 0).set_config(
        "smtppass", "hunter2-smtp").set_config("debug", 0)
    built = Site(moodle_db_fast, moodle_dirroot, moodle_dataroot, tmp_path / "state")
    yield built
    for ctx in built.contexts:
        ctx.site.close()


# ------------------------------------------------------------------ spec and helpers
def test_defaults_watch_security_settings_and_hold_a_change_for_a_day() -> None:
    s = spec()
    assert (s.interval, s.change_hold, s.change_status, s.config_php) == (
        300, 86400, "WARNING", True)
    assert {"forcelogin", "passwordpolicy", "enablewebservices", "debugdisplay",
            "smtppass"} <= set(s.database_settings)
    assert {"dbhost", "wwwroot", "dataroot", "dbpass"} <= set(s.critical_settings)


@pytest.mark.parametrize(("fields", "message"), [
    ({"database_settings": ["forcelogin", "bad name"]}, "not a setting name"),
    ({"secret_patterns": ["(unclosed"]}, "not a regular expression"),
    ({"change_status": "OK"}, "WARNING"), ({"change_hold": -1}, "greater than or equal")])
def test_bad_settings_are_rejected_naming_the_field(fields: dict[str, object],
                                                     message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(**fields)


@pytest.mark.parametrize(("key", "secret"), [
    ("config.php:dbpass", True), ("config.php:passwordsaltmain", True),
    ("config.php:session_redis_auth", True), ("config_plugins:auth_ldap/bind_pw", True),
    ("config.php:dboptions.dbport", False), ("config:smtppass", True), ("config:smtpuser", True),
    ("config:recaptchaprivatekey", True), ("config_plugins:tool_x/apitoken", True),
    ("config:passwordpolicy", False), ("config:forcelogin", False), ("config.php:wwwroot", False),
    ("config.php:forced_plugin_settings.auth_ldap.bind_pw", True)])
def test_secret_names_follow_the_patterns_and_moodles_sensible_settings(
        key: str, secret: bool) -> None:
    rule = SecretRule(DEFAULT_SECRET_PATTERNS, DEFAULT_SECRET_NAMES, DEFAULT_PUBLIC_NAMES)
    assert rule(key) is secret


def test_arrays_are_flattened_and_long_values_shortened() -> None:
    assert flatten("dboptions", {"dbport": 5432, "opts": {"a": 1}}) == {
        "dboptions.dbport": 5432, "dboptions.opts.a": 1}
    assert flatten("list", [1, 2]) == {"list": [1, 2]}
    assert shown("x" * 100).endswith("…") and len(shown("x" * 100)) == 60
    assert shown("a\nb") == "a b" and shown("") == "''" and shown(True) == "true"


# ------------------------------------------------------------------ the baseline
async def test_the_first_run_records_a_baseline_and_the_next_finds_no_drift(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext, moodle_dirroot: Path,
        moodle_dataroot: Path, tmp_path: Path) -> None:
    moodle_db.scenario.healthy_site().set_config("forcelogin", 1)
    (moodle_dirroot / "config.php").write_text(config_php_text(DB, "https://x", moodle_dataroot,
                                                               ""))
    moodle_ctx.state_dir = tmp_path / "state"
    first = await ConfigDriftCheck(spec()).run(moodle_ctx)
    assert first.status == Status.OK
    # forcelogin, and auth and antiviruses as a stock install writes them (install.php)
    assert first.summary == ("baseline recorded: 18 settings fingerprinted (15 in config.php, "
                             "3 in the database)")
    again = await ConfigDriftCheck(spec()).run(moodle_ctx)
    assert again.summary == "18 settings match the baseline (15 in config.php, 3 in the database)"
    assert {(s.labels.get("source"), s.value) for s in again.samples} == {
        ("config_php", 15), ("database", 3), (None, 0)}


async def test_a_database_setting_change_names_old_new_and_who(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext, moodle_dirroot: Path,
        moodle_dataroot: Path, tmp_path: Path, now: float) -> None:
    s = moodle_db.scenario.healthy_site().set_config("forcelogin", 0)
    (moodle_dirroot / "config.php").write_text(config_php_text(DB, "https://x", moodle_dataroot,
                                                               ""))
    moodle_ctx.state_dir = tmp_path / "state"
    await ConfigDriftCheck(spec()).run(moodle_ctx)
    s.set_config("forcelogin", 1).config_changed("forcelogin", 1, 0, userid=2, at=int(now) - 5)
    result = await ConfigDriftCheck(spec()).run(moodle_ctx)
    assert result.status == Status.WARNING
    assert result.summary == ("1 setting drifted from the baseline 0s ago: config forcelogin "
                              "0 -> 1 by admin (id 2) (becomes the baseline in 1d unless it "
                              "changes again)")
    assert result.details["changes"] == [{
        "setting": "config forcelogin", "change": "changed", "old": "0", "new": "1",
        "by": {"id": 2, "username": "admin", "at": int(now) - 5}}]


async def test_secret_values_never_appear_in_results_or_the_stored_baseline(
        site: Site) -> None:
    await site.run(0)
    site.db.scenario.set_config("smtppass", "n3w-smtp-secret")
    site.write_config(dbpass="An0ther-db-pass")
    result = await site.run(60)
    assert result.status == Status.CRITICAL  # dbpass is a critical setting
    assert "config smtppass (secret changed)" in result.summary
    assert "config.php dbpass (secret changed)" in result.summary
    for secret in ("hunter2", "n3w-smtp", "Tr0ub4dor", "An0ther"):
        assert secret not in repr(result) and secret not in site.state_text()
    assert {"setting": "config smtppass", "change": "changed", "secret": True} in (
        result.details["changes"])


async def test_a_moved_database_host_is_critical_and_added_or_removed_settings_named(
        site: Site) -> None:
    await site.run(0)
    site.write_config("$CFG->debug = 32767;\n", dbhost="db2.example")
    result = await site.run(60)
    assert result.status == Status.CRITICAL
    assert ("2 settings drifted from the baseline 0s ago: config.php dbhost db.example -> "
            "db2.example; config.php debug added = 32767") in result.summary
    site.write_config("", dbhost="db2.example")
    removed = await site.run(120)
    assert "config.php dbhost db.example -> db2.example" in removed.summary
    assert "debug added" not in removed.summary  # back as it was: only dbhost differs


async def test_a_change_alerts_for_the_hold_and_a_further_change_restarts_it(
        site: Site) -> None:
    statuses = []
    for at in (0, 60, 3000, 3500, 7000, 7200):
        if at == 60:
            site.db.scenario.set_config("debug", 32767)
        if at == 3500:
            site.db.scenario.set_config("debugdisplay", 1)
        statuses.append((await site.run(at, change_hold="1h")).status)
    assert statuses == [Status.OK, Status.WARNING, Status.WARNING, Status.WARNING,
                        Status.WARNING, Status.OK]


async def test_an_edit_that_changes_no_readable_setting_is_still_reported(site: Site) -> None:
    await site.run(0)
    site.write_config("// tuned by ops\nif (getenv('X')) { $CFG->debug = 1; }\n")
    result = await site.run(60)
    assert result.status == Status.WARNING
    assert "config.php edited (no setting Vigil can read changed)" in result.summary


async def test_a_config_php_that_does_not_parse_is_a_warning_not_a_mass_removal(
        site: Site) -> None:
    await site.run(0)
    (site.dirroot / "config.php").write_text("<?php\n$CFG->wwwroot = 'https://x\n")
    result = await site.run(60)
    assert result.status == Status.WARNING
    assert "removed" not in result.summary
    assert "config.php could not be parsed" in result.summary
    (site.dirroot / "config.php").unlink()
    gone = await site.run(120)
    assert gone.status == Status.WARNING and "removed" not in gone.summary
    assert "config.php not read: no such file or directory" in gone.summary


async def test_watching_more_settings_is_not_a_drift(site: Site) -> None:
    await site.run(0)
    result = await site.run(60, database_settings=["forcelogin", "debug", "theme"])
    assert result.status == Status.OK, result.summary
    site.db.scenario.set_config("theme", "classic")
    changed = await site.run(120, database_settings=["forcelogin", "debug", "theme"])
    assert "config theme added = classic" in changed.summary


async def test_without_a_code_directory_or_database_there_is_nothing_to_fingerprint(
        now: float) -> None:
    ctx = make_moodle_ctx(None, now, None, None)
    with pytest.raises(CheckUnavailable, match="nothing to fingerprint"):
        await ConfigDriftCheck(spec()).run(ctx)


async def test_plugin_settings_are_read_from_config_plugins_and_secrets_stay_hidden(
        site: Site) -> None:
    watch = {"database_settings": ["forcelogin", "auth_ldap/bind_pw", "auth_ldap/host_url"]}
    s = site.db.scenario
    s.set_plugin_config("auth_ldap", "bind_pw", "ldap-s3cret").set_plugin_config(
        "auth_ldap", "host_url", "ldaps://ldap1.example")
    await site.run(0, **watch)
    s.set_plugin_config("auth_ldap", "bind_pw", "ldap-n3w").set_plugin_config(
        "auth_ldap", "host_url", "ldaps://evil.example")
    s.config_changed("host_url", "ldaps://evil.example", "ldaps://ldap1.example",
                     plugin="auth_ldap", at=s.now + 50)
    result = await site.run(60, **watch)
    assert result.summary.startswith(
        "2 settings drifted from the baseline 0s ago: config_plugins auth_ldap/bind_pw (secret "
        "changed); config_plugins auth_ldap/host_url ldaps://ldap1.example -> "
        "ldaps://evil.example by admin (id 2)")
    assert "s3cret" not in repr(result) + site.state_text()
    assert "n3w" not in repr(result) + site.state_text()

