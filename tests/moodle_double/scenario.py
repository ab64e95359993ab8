"""Scenario: a fluent builder of Moodle database states, healthy and broken.

    s = Scenario(admin_engine, DoubleTables("mdl_", "postgresql"), now=NOW)
    s.healthy_site().cron_stale(7200).failing_scheduled_task(faildelay=86400)

Methods that describe a state return the Scenario (chainable); methods that create one
thing return its id (``user``, ``course``, ``quiz_open_with_attempts``). Every call commits.
Times are relative to ``self.now`` (the tests' ``now`` fixture). The methods live in one
mixin per group of tables; add yours to the matching module:
  scenario_base.py     insert(table, row|rows) -> ids (fills Moodle's '' / 0 for omitted
                       NOT NULL columns), update, delete, rows, set_config, unset_config,
                       set_plugin_config, unset_plugin_config, config_changed (config_log)
  scenario_site.py     site_version, plugin_version, cron_ran(ago, interval), cron_stale(age),
                       cron_infrequent, cron_never_ran, cron_disabled, maintenance_on(msg),
                       maintenance_off, maintenance_later(at), cli_maintenance_on(dataroot),
                       upgrade_running(since, expected_end), outageless_upgrade
  scenario_tasks.py    scheduled_tasks (core + stock plugins), scheduled_task(classname, **cols),
                       failing_scheduled_task(classname, faildelay), overdue_task(classname,
                       overdue_by), long_running_task(hours, hostname, pid, classname, adhoc),
                       adhoc_task(**cols), adhoc_backlog(classname, count, oldest_age),
                       failing_adhoc, dead_adhoc, task_runs (task_log), lock (lock_db)
  scenario_plugins.py  stock_plugins (enabled state after a stock install: auth, enrol,
                       modules, block, message_processors, repository, factor, logstore),
                       enable_plugin(component, enabled) as <type>::enable_plugin writes it
  scenario_people.py   install_basics, user(username, **cols) -> id, users(n) -> ids, admins,
                       last_access, sessions, course(**cols) -> id, courses(n), enrol(course,
                       users, status, timestart, timeend, method), course_completions
  scenario_logs.py     log_event(eventname, ...), logins(user_ids, within), failed_logins(n,
                       within, reasons, username, serialized); php_serialize()
  scenario_content.py  file(content, dataroot=...) -> contenthash, files(n), backup_status
                       (course_ids, laststatus), quiz_open_with_attempts(n, timeclose) -> id
"""

from __future__ import annotations

from typing import Self

from tests.moodle_double.scenario_base import NOW
from tests.moodle_double.scenario_content import BACKUP_OK, ContentRows
from tests.moodle_double.scenario_logs import LogRows
from tests.moodle_double.scenario_people import PeopleRows
from tests.moodle_double.scenario_plugins import PluginRows
from tests.moodle_double.scenario_site import MOODLE_51, SiteRows
from tests.moodle_double.scenario_tasks import TaskRows

__all__ = ["NOW", "Scenario"]


class Scenario(SiteRows, PluginRows, TaskRows, PeopleRows, LogRows, ContentRows):
    def healthy_site(self, version: dict[str, str] = MOODLE_51) -> Self:
        """A small, healthy Moodle 5.1 site as every probe should judge OK:

        config version/release/branch, cron_enabled 1, maintenance_enabled 0, siteguest 1,
        siteadmins '2', tool_task lastcronstart now-30 / lastcroninterval 60,
        stock plugins' enabled state (stock_plugins: logstore_standard enabled, with JSON
        ``other``); the core and stock plugin scheduled tasks, all on time except those of
        plugins a stock install disables, which never ran since the install; system
        context, roles, category, front page, guest (id 1) and admin (id 2);
        students 3..8 active in the last 10 minutes, courses 2 and 3 with enrolments, a
        few completions, logins in the last hour, automated backups OK, three files.
        No adhoc tasks, no failures, nothing running.
        """
        self.site_version(version["version"], version["release"], version["branch"])
        self.set_config("cron_enabled", 1)
        self.set_config("maintenance_enabled", 0)
        self.set_config("backup_auto_active", 1)  # stored by Moodle as backup/... too
        self.set_plugin_config("backup", "backup_auto_active", 1)
        # Moodle's default is '0000000' (no day: never runs on schedule); every day here.
        self.set_plugin_config("backup", "backup_auto_weekdays", "1111111")
        self.stock_plugins()
        self.set_plugin_config("logstore_standard", "jsonformat", 1)
        self.set_plugin_config("logstore_standard", "loglifetime", 365)
        self.cron_ran(ago=30, interval=60)
        self.scheduled_tasks()
        self.install_basics()
        students = self.users(6, lastaccess_ago=300)
        courses = self.courses(2)
        for course_id in courses:
            self.enrol(course_id, students)
        self.course_completions(courses[0], students[:2], completed_ago=2 * 3600)
        self.course_completions(courses[0], students[2:], completed_ago=None)
        self.logins([2, *students], within=3600)
        self.sessions([2, *students[:3]], idle=120)
        self.backup_status(courses, BACKUP_OK)
        self.files(3)
        return self
