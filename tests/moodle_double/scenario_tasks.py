"""Scenario rows for the task tables: task_scheduled, task_adhoc, task_log, lock_db.

Semantics from public/lib/classes/task/manager.php (facts §3.3): classnames are stored with
a leading backslash (get_canonical_class_name); a failure sets faildelay 60 s, doubling to
86400, and nextruntime = now + faildelay; adhoc attemptsavailable defaults to 12 and 0 means
dead; running tasks have timestarted/hostname/pid set.
"""

from __future__ import annotations

from typing import Self

from tests.moodle_double.scenario_base import ScenarioBase

# (classname, minute, hour, day, month, dayofweek) from public/lib/db/tasks.php ('R' resolved
# to a fixed value, as Moodle does at install), plus a few plugin tasks every site has.
CORE_SCHEDULED_TASKS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("\\core\\task\\session_cleanup_task", "*", "*", "*", "*", "*"),
    ("\\core\\task\\delete_unconfirmed_users_task", "0", "*", "*", "*", "*"),
    ("\\core\\task\\delete_incomplete_users_task", "5", "*", "*", "*", "*"),
    ("\\core\\task\\backup_cleanup_task", "10", "*", "*", "*", "*"),
    ("\\core\\task\\tag_cron_task", "17", "3", "*", "*", "*"),
    ("\\core\\task\\context_cleanup_task", "25", "*", "*", "*", "*"),
    ("\\core\\task\\cache_cleanup_task", "30", "*", "*", "*", "*"),
    ("\\core\\task\\messaging_cleanup_task", "35", "*", "*", "*", "*"),
    ("\\core\\task\\send_new_user_passwords_task", "*", "*", "*", "*", "*"),
    ("\\core\\task\\send_failed_login_notifications_task", "*", "*", "*", "*", "*"),
    ("\\core\\task\\grade_cron_task", "*", "*", "*", "*", "*"),
    ("\\core\\task\\completion_regular_task", "*", "*", "*", "*", "*"),
    ("\\core\\task\\completion_daily_task", "42", "2", "*", "*", "*"),
    ("\\core\\task\\calendar_cron_task", "*", "*", "*", "*", "*"),
    ("\\core\\task\\check_for_updates_task", "11", "4", "*", "*", "*"),
    ("\\core\\task\\automated_backup_task", "50", "*", "*", "*", "*"),
    ("\\core\\task\\badges_cron_task", "*/5", "*", "*", "*", "*"),
    ("\\core\\task\\file_temp_cleanup_task", "55", "*/6", "*", "*", "*"),
    ("\\core\\task\\file_trash_cleanup_task", "55", "*/6", "*", "*", "*"),
    ("\\core\\task\\search_index_task", "*/30", "*", "*", "*", "*"),
    ("\\core\\task\\stats_cron_task", "0", "0", "*", "*", "*"),
    ("\\core\\task\\task_log_cleanup_task", "23", "5", "*", "*", "*"),
    ("\\core\\task\\task_lock_cleanup_task", "*/10", "*", "*", "*", "*"),
    ("\\logstore_standard\\task\\cleanup_task", "8", "4", "*", "*", "*"),
    ("\\mod_forum\\task\\cron_task", "*", "*", "*", "*", "*"),
    ("\\mod_quiz\\task\\update_overdue_attempts", "*", "*", "*", "*", "*"),
)
# Tasks of plugins a stock install enables (their db/tasks.php; 'R' resolved).
STOCK_PLUGIN_TASKS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("\\enrol_manual\\task\\sync_enrolments", "*/10", "*", "*", "*", "*"),
    ("\\enrol_manual\\task\\send_expiry_notifications", "*/10", "*", "*", "*", "*"),
    ("\\enrol_self\\task\\sync_enrolments", "*/10", "*", "*", "*", "*"),
    ("\\enrol_self\\task\\send_expiry_notifications", "*/10", "*", "*", "*", "*"),
    ("\\enrol_cohort\\task\\enrol_cohort_sync", "37", "*", "*", "*", "*"),
    ("\\message_email\\task\\send_email_task", "0", "22", "*", "*", "*"),
    ("\\customfield_number\\task\\cron", "12", "2", "*", "*", "*"),
    ("\\mod_lti\\task\\clean_access_tokens", "44", "3", "*", "*", "*"),
)
# Tasks of plugins a stock install leaves disabled (scenario_plugins.py): cron skips them
# (manager::get_next_scheduled_task), so lastruntime stays 0 and nextruntime stays at the
# first run time computed at install.
STOCK_DISABLED_PLUGIN_TASKS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("\\enrol_category\\task\\enrol_category_sync", "*", "*", "*", "*", "*"),
    ("\\enrol_paypal\\task\\process_expirations", "*", "*", "*", "*", "*"),
    ("\\enrol_flatfile\\task\\flatfile_sync_task", "15", "*", "*", "*", "*"),
    ("\\enrol_imsenterprise\\task\\cron_task", "10", "*", "*", "*", "*"),
    ("\\enrol_meta\\task\\enrol_meta_sync", "29", "*", "*", "*", "*"),
    ("\\enrol_lti\\task\\sync_grades", "*/30", "*", "*", "*", "*"),
    ("\\enrol_lti\\task\\sync_members", "*/30", "*", "*", "*", "*"),
    ("\\enrol_lti\\local\\ltiadvantage\\task\\sync_members", "*/30", "*", "*", "*", "*"),
    ("\\enrol_lti\\local\\ltiadvantage\\task\\sync_grades", "*/30", "*", "*", "*", "*"),
    ("\\repository_dropbox\\task\\cron_task", "*", "*", "*", "*", "*"),
    ("\\repository_filesystem\\task\\cron_task", "*", "*", "*", "*", "*"),
    ("\\repository_onedrive\\remove_temp_access_task", "51", "4", "*", "*", "*"),
    ("\\mod_bigbluebuttonbn\\task\\check_pending_recordings", "*/5", "*", "*", "*", "*"),
    ("\\mod_bigbluebuttonbn\\task\\check_dismissed_recordings", "*", "*", "*", "*", "*"),
    ("\\block_rss_client\\task\\refreshfeeds", "*/5", "*", "*", "*", "*"),
    ("\\factor_grace\\task\\revoke_expired_factors", "18", "0", "*", "*", "*"),
    ("\\factor_nosetup\\task\\delete_unusable_factors", "48", "0", "*", "*", "*"),
)
INSTALLED_AGO = 3 * 86400  # the double's site was installed three days before now
# Disabled in core's own definition (tasks.php 'disabled' => true).
CORE_DISABLED_TASKS = ("\\core\\task\\show_started_courses_task",
                       "\\core\\task\\hide_ended_courses_task")
ADHOC_TASKS = ("\\core\\task\\course_backup_task", "\\core\\task\\asynchronous_backup_task",
               "\\mod_forum\\task\\send_user_notifications",
               "\\core_course\\task\\course_delete_modules",
               "\\core\\task\\refresh_mod_calendar_events_task")


def component_of(classname: str) -> str:
    """'\\mod_forum\\task\\cron_task' -> 'mod_forum' (the first namespace level)."""
    first = classname.lstrip("\\").split("\\", 1)[0]
    return "moodle" if first == "core" else first


def _period(minute: str, hour: str) -> int:
    """A rough schedule period in seconds, for sane last/next run times."""
    if minute.startswith("*/"):
        return int(minute[2:]) * 60
    if minute == "*":
        return 60
    if hour == "*":
        return 3600
    return int(hour[2:]) * 3600 if hour.startswith("*/") else 86400


class TaskRows(ScenarioBase):
    # ------------------------------------------------------------------ scheduled
    def scheduled_tasks(self) -> Self:
        """Core and stock plugin tasks: those cron runs on time, those of disabled plugins
        never run since the install (nextruntime days in the past)."""
        rows = []
        for classname, minute, hour, day, month, dow in (CORE_SCHEDULED_TASKS
                                                         + STOCK_PLUGIN_TASKS):
            period = _period(minute, hour)
            rows.append(self._scheduled_row(
                classname, minute=minute, hour=hour, day=day, month=month, dayofweek=dow,
                lastruntime=self.now - min(period, 3600) // 2,
                nextruntime=self.now + min(period, 3600) // 2))
        for classname, minute, hour, day, month, dow in STOCK_DISABLED_PLUGIN_TASKS:
            rows.append(self._scheduled_row(
                classname, minute=minute, hour=hour, day=day, month=month, dayofweek=dow,
                lastruntime=0, nextruntime=self.now - INSTALLED_AGO + _period(minute, hour)))
        for classname in CORE_DISABLED_TASKS:
            rows.append(self._scheduled_row(classname, minute="00", hour="01", disabled=1,
                                            lastruntime=0, nextruntime=self.now + 3600))
        self.insert("task_scheduled", rows)
        return self

    def _scheduled_row(self, classname: str, **fields: object) -> dict[str, object]:
        row: dict[str, object] = {
            "component": component_of(classname), "classname": classname, "minute": "*",
            "hour": "*", "day": "*", "month": "*", "dayofweek": "*", "faildelay": 0,
            "customised": 0, "disabled": 0, "lastruntime": self.now - 60,
            "nextruntime": self.now + 60}
        row.update(fields)
        return row

    def scheduled_task(self, classname: str, **fields: object) -> Self:
        """Insert or replace one task_scheduled row (any column may be given)."""
        ts = self.tables.task_scheduled
        self.delete("task_scheduled", ts.c.classname == classname)
        self.insert("task_scheduled", self._scheduled_row(classname, **fields))
        return self

    def failing_scheduled_task(self, classname: str = "\\core\\task\\search_index_task",
                               faildelay: int = 480) -> Self:
        """A task whose last runs failed: faildelay > 0, next try at lastrun + faildelay."""
        return self.scheduled_task(classname, faildelay=faildelay, lastruntime=self.now - 30,
                                   nextruntime=self.now - 30 + faildelay)

    def overdue_task(self, classname: str = "\\core\\task\\automated_backup_task",
                     overdue_by: int = 3 * 3600) -> Self:
        """A healthy-looking task whose nextruntime passed ``overdue_by`` seconds ago."""
        return self.scheduled_task(classname, lastruntime=self.now - overdue_by - 3600,
                                   nextruntime=self.now - overdue_by, faildelay=0)

    def long_running_task(self, hours: float = 13, hostname: str = "web1.example.org",
                          pid: int = 4242, classname: str = "\\core\\task\\stats_cron_task",
                          adhoc: bool = False) -> Self:
        """A task marked running since ``hours`` ago on ``hostname``/``pid``."""
        started = self.now - int(hours * 3600)
        if adhoc:
            return self.adhoc_task(classname, nextruntime=started - 60, timestarted=started,
                                   hostname=hostname, pid=pid)
        return self.scheduled_task(classname, timestarted=started, hostname=hostname,
                                   pid=pid, lastruntime=started, nextruntime=started + 60)

    # ------------------------------------------------------------------ adhoc
    def adhoc_task(self, classname: str = ADHOC_TASKS[0], **fields: object) -> Self:
        row: dict[str, object] = {
            "component": component_of(classname), "classname": classname,
            "nextruntime": self.now - 10, "faildelay": 0, "customdata": '{"courseid":2}',
            "userid": None, "timecreated": self.now - 10, "attemptsavailable": 12}
        row.update(fields)
        self.insert("task_adhoc", row)
        return self

    def adhoc_backlog(self, classname: str = ADHOC_TASKS[2], count: int = 50,
                      oldest_age: int = 3600) -> Self:
        """``count`` queued tasks due between ``oldest_age`` seconds ago and now."""
        step = oldest_age / max(1, count - 1) if count > 1 else 0
        rows = []
        for i in range(count):
            due = self.now - oldest_age + int(i * step)
            rows.append({"component": component_of(classname), "classname": classname,
                         "nextruntime": due, "faildelay": 0, "timecreated": due,
                         "customdata": f'{{"n":{i}}}', "attemptsavailable": 12})
        self.insert("task_adhoc", rows)
        return self

    def failing_adhoc(self, classname: str = ADHOC_TASKS[1], faildelay: int = 3840,
                      attemptsavailable: int = 6, count: int = 1) -> Self:
        """Adhoc tasks that failed and will be retried after ``faildelay``."""
        first = self.now - 6 * 3600
        for _ in range(count):
            self.adhoc_task(classname, faildelay=faildelay, nextruntime=self.now + faildelay // 2,
                            attemptsavailable=attemptsavailable, firststartingtime=first)
        return self

    def dead_adhoc(self, classname: str = ADHOC_TASKS[1], count: int = 1,
                   first_started_ago: int = 3 * 86400) -> Self:
        """Adhoc tasks that used up their attempts (attemptsavailable = 0): never run again."""
        first = self.now - first_started_ago
        for _ in range(count):
            self.adhoc_task(classname, faildelay=86400, nextruntime=first + 86400 * 2,
                            attemptsavailable=0, firststartingtime=first, timecreated=first)
        return self

    # ------------------------------------------------------------------ task_log, locks
    def task_runs(self, classname: str, runs: int = 10, failures: int = 0,
                  adhoc: bool = False, every: int = 60, duration: float = 1.5) -> Self:
        """``runs`` task_log rows ending now, the last ``failures`` of them failed."""
        rows = []
        for i in range(runs):
            start = self.now - (runs - i) * every
            rows.append({"type": 1 if adhoc else 0, "component": component_of(classname),
                         "classname": classname, "userid": 0, "timestart": start + 0.25,
                         "timeend": start + 0.25 + duration, "dbreads": 12, "dbwrites": 2,
                         "result": 1 if i >= runs - failures else 0,
                         "output": "Execution took 1.5 seconds", "hostname": "web1", "pid": 999})
        self.insert("task_log", rows)
        return self

    def lock(self, resourcekey: str, expires: int | None = None,
             owner: str | None = "5f2b7c1e-0d6a-4c1b-9a0e-3f1d2c3b4a5e") -> Self:
        """A lock_db row (DB lock factory): held until ``expires``."""
        self.insert("lock_db", {"resourcekey": resourcekey, "owner": owner,
                                "expires": self.now + 60 if expires is None else expires})
        return self
