"""The database side of the Moodle test double, tested: the schema matches install.xml on
both servers, the probes' account is read-only, and MoodleDatabase turns every failure
(timeout, refused login, missing table, dead server) into CheckUnavailable with its cause.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from checks.base import CheckContext, CheckUnavailable
from checks.moodle.db import MoodleDatabase
from checks.moodle.schema import moodle_tables
from checks.moodle.site import site_database
from tests.moodle_double.ddl import install_ddl
from tests.moodle_double.double import MoodleDouble
from tests.moodle_double.scenario_content import EMPTY_SHA1
from tests.moodle_double.scenario_logs import php_serialize
from tests.moodle_double.scenario_tasks import STOCK_DISABLED_PLUGIN_TASKS


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _columns(double: MoodleDouble, table: str) -> dict[str, dict[str, Any]]:
    inspector = sa.inspect(double.admin_engine)
    return {c["name"]: dict(c) for c in inspector.get_columns(double.prefix + table)}


def _type_name(column: dict[str, Any]) -> str:
    return type(column["type"]).__name__.upper()


def test_tables_carry_the_prefix_and_moodles_column_types(moodle_db: MoodleDouble) -> None:
    names = set(sa.inspect(moodle_db.admin_engine).get_table_names())
    assert {moodle_db.prefix + n for n in moodle_tables(moodle_db.prefix).names()} <= names
    sched = _columns(moodle_db, "task_scheduled")
    assert _type_name(sched["faildelay"]) == "BIGINT" and sched["faildelay"]["nullable"]
    assert sched["classname"]["type"].length == 255 and not sched["classname"]["nullable"]
    adhoc = _columns(moodle_db, "task_adhoc")
    # int(2): SMALLINT on PostgreSQL, TINYINT on MySQL/MariaDB (XMLDB generators).
    small = "SMALLINT" if moodle_db.backend == "postgresql" else "TINYINT"
    assert _type_name(adhoc["attemptsavailable"]) == small
    log = _columns(moodle_db, "task_log")
    assert (log["timestart"]["type"].precision, log["timestart"]["type"].scale) == (20, 10)
    other = _columns(moodle_db, "logstore_standard_log")["other"]["type"]
    assert isinstance(other, mysql.LONGTEXT if moodle_db.backend == "mariadb" else sa.Text)
    status = _columns(moodle_db, "backup_courses")["laststatus"]
    assert status["type"].length == 1 and "5" in str(status["default"])


def test_unique_indexes_match_install_xml(moodle_db_fast: MoodleDouble) -> None:
    inspector = sa.inspect(moodle_db_fast.admin_engine)
    prefix = moodle_db_fast.prefix

    def unique(table: str) -> set[tuple[str | None, ...]]:
        return {tuple(ix["column_names"]) for ix in inspector.get_indexes(prefix + table)
                if ix["unique"]}

    assert ("classname",) in unique("task_scheduled")
    assert ("mnethostid", "username") in unique("user")
    assert ("pathnamehash",) in unique("files")
    assert ("quiz", "userid", "attempt") in unique("quiz_attempts")
    assert ("plugin", "name") in unique("config_plugins")


def test_the_servers_hold_every_index_of_the_transcription_with_moodles_names(
        moodle_db_fast: MoodleDouble) -> None:
    inspector = sa.inspect(moodle_db_fast.admin_engine)
    for name, table in install_ddl(moodle_db_fast.prefix, moodle_db_fast.backend).items():
        on_server = {ix["name"]: (tuple(ix["column_names"]), bool(ix["unique"]))
                     for ix in inspector.get_indexes(table.name)}
        for ix in table.indexes:
            assert on_server.get(ix.name) == (ix.fields, ix.unique), (name, ix.name)
    log = {tuple(ix["column_names"]) for ix in
           inspector.get_indexes(moodle_db_fast.prefix + "logstore_standard_log")}
    assert {("userid",), ("courseid",), ("realuserid",), ("relateduserid",)} <= log


def test_not_null_chars_default_to_empty_and_showactivitydates_to_zero(
        moodle_db_fast: MoodleDouble) -> None:
    s = moodle_db_fast.scenario
    with moodle_db_fast.admin_engine.begin() as conn:  # no value for name / fullname / ...
        conn.execute(moodle_db_fast.tables.course.insert().values(category=1))
    course = s.rows("course")[0]
    assert (course.fullname, course.shortname, course.showactivitydates) == ("", "", 0)


def test_read_only_account_cannot_insert(moodle_db: MoodleDouble) -> None:
    database = MoodleDatabase(moodle_db.settings)
    try:
        insert = moodle_db.tables.config.insert().values(name="x", value="y")
        with pytest.raises(CheckUnavailable) as caught:
            database.run_sync(lambda conn: conn.execute(insert))
        assert any(word in str(caught.value) for word in ("denied", "read-only"))
    finally:
        database.dispose()
    with moodle_db.admin_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(
            moodle_db.tables.config)).scalar() == 0


async def test_probe_context_reads_the_scenario_through_the_read_only_account(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    moodle_db.scenario.healthy_site()
    tables = moodle_tables(moodle_db.prefix)
    query = sa.select(tables.user.c.username).where(tables.user.c.id.in_([1, 2]))
    rows = await site_database(moodle_ctx).run(
        moodle_ctx, lambda conn: conn.execute(query.order_by(tables.user.c.id)).all())
    assert [r.username for r in rows] == ["guest", "admin"]


async def test_a_query_past_the_statement_timeout_is_unavailable_naming_the_timeout(
        moodle_db_fast: MoodleDouble) -> None:
    database = MoodleDatabase(moodle_db_fast.settings_with(statement_timeout=1.0))
    sleep = "SELECT pg_sleep(3)" if moodle_db_fast.backend == "postgresql" else "SELECT SLEEP(3)"
    try:
        with pytest.raises(CheckUnavailable, match="exceeded the 1s statement timeout"):
            database.run_sync(lambda conn: conn.execute(sa.text(sleep)).all())
        # The pooled connection is still usable after the cancel.
        assert database.run_sync(lambda conn: conn.execute(sa.text("SELECT 1")).scalar()) == 1
    finally:
        database.dispose()


def test_a_refused_login_is_unavailable_naming_the_account(
        moodle_db_fast: MoodleDouble) -> None:
    # PostgreSQL here trusts 127.0.0.1, so a wrong password would pass: use a missing role.
    overrides = ({"user": "vigil_no_such_role"} if moodle_db_fast.backend == "postgresql"
                 else {"password": "wrong-password"})
    database = MoodleDatabase(moodle_db_fast.settings_with(**overrides))
    try:
        with pytest.raises(CheckUnavailable) as caught:
            database.run_sync(lambda conn: conn.execute(sa.text("SELECT 1")).scalar())
    finally:
        database.dispose()
    message = str(caught.value)
    assert message.startswith("cannot query")
    assert any(w in message for w in ("Access denied", "does not exist", "authentication"))
    assert "wrong-password" not in message


def test_a_missing_table_is_unavailable_as_plugin_not_installed_until_restored(
        moodle_db: MoodleDouble) -> None:
    moodle_db.drop_table("quiz")
    database = MoodleDatabase(moodle_db.settings)
    try:
        query = sa.select(sa.func.count()).select_from(moodle_db.tables.quiz)
        with pytest.raises(CheckUnavailable, match=r"table missing .*\(plugin not installed\?\)"):
            database.run_sync(lambda conn: conn.execute(query).scalar())
        moodle_db.database.reset()  # recreated, and readable by the read-only account again
        assert database.run_sync(lambda conn: conn.execute(query).scalar()) == 0
    finally:
        database.dispose()


def test_a_server_that_is_down_is_unavailable_naming_host_and_port(
        moodle_db_fast: MoodleDouble) -> None:
    port = unused_port()
    database = MoodleDatabase(moodle_db_fast.settings_with(port=port, connect_timeout=2.0))
    try:
        with pytest.raises(CheckUnavailable) as caught:
            database.run_sync(lambda conn: conn.execute(sa.text("SELECT 1")).scalar())
    finally:
        database.dispose()
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "refused" in str(caught.value).lower()


def test_reset_empties_tables_and_restores_a_dropped_one(moodle_db_fast: MoodleDouble) -> None:
    moodle_db_fast.scenario.set_config("version", "1")
    moodle_db_fast.drop_table("files")
    moodle_db_fast.database.reset()
    assert moodle_db_fast.scenario.rows("config") == []
    assert moodle_db_fast.scenario.rows("files") == []
    # ids restart at 1 after a reset
    assert moodle_db_fast.scenario.insert("config", {"name": "a", "value": "b"}) == [1]


def test_healthy_site_looks_like_a_fresh_moodle(moodle_db_fast: MoodleDouble, now: float) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    config = {r.name: r.value for r in s.rows("config")}
    assert config["siteguest"] == "1" and config["siteadmins"] == "2"
    assert config["cron_enabled"] == "1" and config["maintenance_enabled"] == "0"
    users = s.rows("user")
    assert (users[0].id, users[0].username, users[1].username) == (1, "guest", "admin")
    tasks = s.rows("task_scheduled")
    assert len(tasks) >= 20 and all(t.classname.startswith("\\") for t in tasks)
    assert all(t.faildelay == 0 and t.timestarted is None for t in tasks)
    never_run = {c for c, *_ in STOCK_DISABLED_PLUGIN_TASKS}  # plugins disabled at install
    assert all(t.nextruntime > now - 60 for t in tasks
               if not t.disabled and t.classname not in never_run)
    assert {t.classname for t in tasks if t.lastruntime == 0 and not t.disabled} == never_run
    assert all(t.nextruntime < now - 86400 for t in tasks if t.classname in never_run)
    plugin_cfg = {(r.plugin, r.name): r.value for r in s.rows("config_plugins")}
    assert int(plugin_cfg[("tool_task", "lastcronstart")]) == now - 30
    assert any(f.contenthash == EMPTY_SHA1 and f.filename == "." for f in s.rows("files"))


def test_stock_plugins_are_enabled_and_disabled_as_a_fresh_install_leaves_them(
        moodle_db_fast: MoodleDouble) -> None:
    s = moodle_db_fast.scenario.stock_plugins()
    config = {r.name: r.value for r in s.rows("config")}
    assert (config["auth"], config["enrol_plugins_enabled"], config["antiviruses"]) == (
        "email", "manual,guest,self,cohort", "")
    hidden_mods = {r.name for r in s.rows("modules") if not r.visible}
    hidden_blocks = {r.name for r in s.rows("block") if not r.visible}
    assert hidden_mods == {"bigbluebuttonbn"}
    assert {"rss_client", "tag_youtube"} <= hidden_blocks and "html" not in hidden_blocks
    assert {r.name: r.enabled for r in s.rows("message_processors")}["sms"] == 0
    repositories = {r.type for r in s.rows("repository")}
    assert "upload" in repositories and "dropbox" not in repositories
    s.enable_plugin("enrol_meta").enable_plugin("enrol_self", 0).enable_plugin("auth_db")
    config = {r.name: r.value for r in s.rows("config")}
    assert config["enrol_plugins_enabled"] == "manual,guest,cohort,meta"
    assert config["auth"] == "email,db"
    s.enable_plugin("repository_dropbox", 0).enable_plugin("customfield_number", 0)
    assert {r.type: r.visible for r in s.rows("repository")}["dropbox"] == 0
    assert [(r.plugin, r.value) for r in s.rows("config_plugins") if r.name == "disabled"] == [
        ("customfield_number", "1")]
    with pytest.raises(ValueError, match="qtype"):
        s.enable_plugin("qtype_essay")


def test_failed_logins_store_other_as_json_or_php_serialized(
        moodle_db_fast: MoodleDouble) -> None:
    s = moodle_db_fast.scenario
    s.failed_logins(2, reasons=(3,)).failed_logins(1, reasons=(1,), serialized=True)
    others = [r.other for r in s.rows("logstore_standard_log")]
    assert others[0] == '{"username": "admin", "reason": 3}'
    assert others[2] == 'a:2:{s:8:"username";s:5:"admin";s:6:"reason";i:1;}'
    row = s.rows("logstore_standard_log")[0]
    assert (row.eventname, row.target, row.action) == (
        "\\core\\event\\user_login_failed", "user_login", "failed")


def test_php_serialize_matches_php() -> None:
    assert php_serialize({"a": [1, "é"], "b": None, "c": True}) == (
        'a:3:{s:1:"a";a:2:{i:0;i:1;i:1;s:2:"é";}s:1:"b";N;s:1:"c";b:1;}')


def test_every_failure_builder_writes_moodle_shaped_rows(
        moodle_db_fast: MoodleDouble, now: float, tmp_path: Path) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    (s.cron_stale(7200).cron_disabled().maintenance_on("Back soon").maintenance_later(int(now))
     .upgrade_running(since=900).failing_scheduled_task(faildelay=86400).overdue_task()
     .long_running_task(hours=30, hostname="cron2", pid=77)
     .adhoc_backlog(count=40, oldest_age=7200).failing_adhoc().dead_adhoc(count=2)
     .task_runs("\\core\\task\\search_index_task", runs=5, failures=2)
     .lock("\\core\\task\\stats_cron_task").admins([2, 3]).config_changed("debug", 32767, 0))
    quiz = s.quiz_open_with_attempts(12, int(now) + 1800, n_finished=3)
    digest = s.file(b"pdf bytes", dataroot=tmp_path)
    s.backup_status([1], "0")
    tables = moodle_db_fast.tables
    adhoc = s.rows("task_adhoc")
    assert len(adhoc) == 40 + 1 + 2 and sum(a.attemptsavailable == 0 for a in adhoc) == 2
    backlog = [a for a in adhoc if a.classname == "\\mod_forum\\task\\send_user_notifications"]
    assert min(a.nextruntime for a in backlog) == now - 7200
    running = s.rows("task_scheduled", tables.task_scheduled.c.timestarted.is_not(None))
    assert [(r.hostname, r.pid, r.timestarted) for r in running] == [("cron2", 77, now - 108000)]
    attempts = s.rows("quiz_attempts", tables.quiz_attempts.c.quiz == quiz)
    assert sum(a.state == "inprogress" for a in attempts) == 12
    assert (tmp_path / "filedir" / digest[:2] / digest[2:4] / digest).read_bytes() == b"pdf bytes"
    config = {r.name: r.value for r in s.rows("config")}
    assert config["upgraderunning"] == str(int(now) - 900 + 300)
    assert config["siteadmins"] == "2,3" and config["cron_enabled"] == "0"
