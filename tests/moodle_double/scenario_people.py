"""Scenario rows for people and courses: user, context, role, role_assignments, sessions,
user_lastaccess, course_categories, course, enrol, user_enrolments, course_completions.

As a fresh install makes them (public/lib/db/install.php, admin/cli/install.php): the system
context id 1, the front-page course id 1 (format 'site'), guest user id 1 (config.siteguest)
and admin id 2 (config.siteadmins, a comma-separated id list), mnethostid 1.
Enrolment semantics: public/lib/enrollib.php (ENROL_USER_ACTIVE 0 / SUSPENDED 1,
ENROL_INSTANCE_ENABLED 0 / DISABLED 1); user_enrolments.timeend 0 = no end.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Self

from tests.moodle_double.scenario_base import ScenarioBase

CONTEXT_SYSTEM, CONTEXT_USER, CONTEXT_COURSECAT, CONTEXT_COURSE = 10, 30, 40, 50
# Standard roles with their install ids (public/lib/accesslib.php get_role_archetypes).
STANDARD_ROLES = ("manager", "coursecreator", "editingteacher", "teacher", "student", "guest",
                  "user", "frontpage")
STUDENT_ROLE = 5


class PeopleRows(ScenarioBase):
    # ------------------------------------------------------------------ install basics
    def install_basics(self) -> Self:
        """System context, roles, the default category, the front page, guest and admin."""
        self.insert("context", {"contextlevel": CONTEXT_SYSTEM, "instanceid": 0,
                                "path": "/1", "depth": 1})
        self.insert("role", [{"name": "", "shortname": name, "description": "",
                              "sortorder": i, "archetype": name}
                             for i, name in enumerate(STANDARD_ROLES, start=1)])
        self.insert("course_categories", {"name": "Category 1", "sortorder": 10000,
                                          "depth": 1, "path": "/1", "timemodified": self.now})
        self._course_row(fullname="Vigil Test Site", shortname="vigil", category=0,
                         format="site", sortorder=1)
        self.user("guest", auth="manual", firstname="Guest user", lastname=" ",
                  email="root@localhost", confirmed=1, lastaccess=0)
        self.user("admin", firstname="Admin", lastname="User", email="admin@example.org",
                  lastaccess=self.now - 120, lastlogin=self.now - 86400,
                  currentlogin=self.now - 3600)
        self.set_config("siteguest", 1)
        self.set_config("siteadmins", "2")
        return self

    # ------------------------------------------------------------------ users
    def user(self, username: str | None = None, **fields: object) -> int:
        """One user (id returned). Defaults: confirmed, mnethostid 1, not deleted."""
        seq = getattr(self, "_user_seq", 0) + 1
        self._user_seq = seq  # generated usernames: student1, student2, ...
        name = username or f"student{seq}"
        row: dict[str, object] = {
            "auth": "manual", "confirmed": 1, "mnethostid": 1, "username": name,
            "password": "$6$rounds=10000$x$y", "firstname": name.capitalize(), "lastname": "Test",
            "email": f"{name}@example.org", "lang": "en", "timecreated": self.now - 30 * 86400,
            "timemodified": self.now - 30 * 86400, "city": "Perth", "country": "AU"}
        row.update(fields)
        user_id = self.insert("user", row)[0]
        self.insert("context", {"contextlevel": CONTEXT_USER, "instanceid": user_id,
                                "path": None, "depth": 2})
        return user_id

    def users(self, count: int, *, lastaccess_ago: int | None = 600, **fields: Any
              ) -> list[int]:
        """``count`` users; lastaccess ``lastaccess_ago`` seconds before now (None: never)."""
        last = 0 if lastaccess_ago is None else self.now - lastaccess_ago
        return [self.user(lastaccess=last, firstaccess=last and last - 86400,
                          lastlogin=last and last - 3600, currentlogin=last and last - 60,
                          **fields) for _ in range(count)]

    def admins(self, user_ids: Iterable[int]) -> Self:
        """config.siteadmins = the given ids (Site administration > Users > Site admins)."""
        self.set_config("siteadmins", ",".join(str(i) for i in user_ids))
        return self

    def last_access(self, user_ids: Iterable[int], ago: int,
                    course_id: int | None = None) -> Self:
        """user.lastaccess (and user_lastaccess for a course) ``ago`` seconds before now."""
        ids = list(user_ids)
        user = self.tables.user
        self.update("user", {"lastaccess": self.now - ago}, user.c.id.in_(ids))
        if course_id is not None:
            self.insert("user_lastaccess", [{"userid": u, "courseid": course_id,
                                             "timeaccess": self.now - ago} for u in ids])
        return self

    def sessions(self, user_ids: Iterable[int], idle: int = 60) -> Self:
        """Database sessions (\\core\\session\\database), last touched ``idle`` s ago."""
        self.insert("sessions", [{
            "state": 0, "sid": f"{uid:08d}{self.now:x}".ljust(26, "0"), "userid": uid,
            "sessdata": None, "timecreated": self.now - 3600, "timemodified": self.now - idle,
            "firstip": "192.0.2.10", "lastip": "192.0.2.10"} for uid in user_ids])
        return self

    # ------------------------------------------------------------------ courses
    def _course_row(self, **fields: object) -> int:
        row: dict[str, object] = {
            "category": 1, "fullname": "Course", "shortname": "C", "idnumber": "",
            "summary": "", "format": "topics", "startdate": self.now - 30 * 86400,
            "timecreated": self.now - 60 * 86400, "timemodified": self.now - 60 * 86400,
            "enablecompletion": 1, "visible": 1}
        row.update(fields)
        course_id = self.insert("course", row)[0]
        self.insert("context", {"contextlevel": CONTEXT_COURSE, "instanceid": course_id,
                                "path": None, "depth": 3})
        return course_id

    def course(self, shortname: str | None = None, **fields: object) -> int:
        """A course with its context and a manual enrolment instance; returns its id."""
        count = len(self.rows("course")) + 1
        course_id = self._course_row(shortname=shortname or f"C{count}",
                                     fullname=f"Course {count}", sortorder=10000 + count,
                                     **fields)
        self.insert("enrol", {"enrol": "manual", "status": 0, "courseid": course_id,
                              "sortorder": 0, "roleid": STUDENT_ROLE,
                              "timecreated": self.now - 60 * 86400,
                              "timemodified": self.now - 60 * 86400})
        return course_id

    def courses(self, count: int, **fields: Any) -> list[int]:
        return [self.course(**fields) for _ in range(count)]

    def enrol(self, course_id: int, user_ids: Sequence[int], *, status: int = 0,
              timestart: int = 0, timeend: int = 0, created_ago: int = 7 * 86400,
              method: str = "manual", instance_status: int = 0) -> Self:
        """Enrol users in a course through its ``method`` instance (created if missing)."""
        enrol = self.tables.enrol
        found = self.rows("enrol", enrol.c.courseid == course_id, enrol.c.enrol == method)
        if found:
            instance = found[0].id
            self.update("enrol", {"status": instance_status}, enrol.c.id == instance)
        else:
            instance = self.insert("enrol", {"enrol": method, "status": instance_status,
                                             "courseid": course_id, "roleid": STUDENT_ROLE})[0]
        self.insert("user_enrolments", [{
            "status": status, "enrolid": instance, "userid": uid, "timestart": timestart,
            "timeend": timeend, "modifierid": 2, "timecreated": self.now - created_ago,
            "timemodified": self.now - created_ago} for uid in user_ids])
        return self

    def course_completions(self, course_id: int, user_ids: Iterable[int], *,
                           completed_ago: int | None = 3600, reaggregate: int = 0
                           ) -> Self:
        """course_completions rows; completed_ago None = not completed yet."""
        done = None if completed_ago is None else self.now - completed_ago
        self.insert("course_completions", [{
            "userid": uid, "course": course_id, "timeenrolled": self.now - 30 * 86400,
            "timestarted": self.now - 20 * 86400, "timecompleted": done,
            "reaggregate": reaggregate} for uid in user_ids])
        return self
