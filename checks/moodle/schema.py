"""Moodle's tables as SQLAlchemy Core, built per table prefix, for the probes.

Probes build queries with ``tables = moodle_tables(db.prefix)`` and
``select(tables.task_scheduled.c.faildelay)`` instead of pasting the prefix into SQL. The
test double does NOT use this module: it keeps its own transcription of install.xml
(tests/moodle_double/install_xml/), and tests/moodle/test_schema_crosscheck.py checks every
table, column, default and index declared here against it, so a mistake on either side shows.

Columns, types, defaults, keys and indexes are transcribed from Moodle's XMLDB files:
  public/lib/db/install.xml (5.1; lib/db/install.xml before 5.1)       core tables
  admin/tool/log/store/standard/db/install.xml (5.1; 5 foreign keys = 5 more indexes)
  public/mod/quiz/db/install.xml                                       quiz, quiz_attempts
Type mapping follows Moodle's generators (lib/ddl/postgres_sql_generator.php and
mysql_sql_generator.php ``getTypeSQL``): int(10) BIGINT; int(5..9) INTEGER (MySQL: INT or
MEDIUMINT); int(1..4) SMALLINT (MySQL: SMALLINT or TINYINT); char(n) VARCHAR(n); text TEXT
(MySQL: LONGTEXT); number(x,y) NUMERIC(x,y). Moodle creates no FOREIGN KEY constraints: a
foreign key is an ordinary index and a unique key a unique index, and so it is here.

To add a column a probe needs, copy its FIELD line from install.xml into the table below.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.lazy import lazy_import

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

NN = True  # NOTNULL="true"


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    kind: str  # int | char | text | number
    length: int = 10
    notnull: bool = False
    default: str | int | float | None = None
    decimals: int = 0


def I(name: str, length: int = 10, notnull: bool = False,  # noqa: E743 - XMLDB type letter
      default: int | None = None) -> _Field:
    return _Field(name, "int", length, notnull, default)


def C(name: str, length: int, notnull: bool = False, default: str | None = None) -> _Field:
    return _Field(name, "char", length, notnull, default)


def T(name: str, notnull: bool = False) -> _Field:
    return _Field(name, "text", 0, notnull)


def N(name: str, length: int, decimals: int, notnull: bool = False,
      default: float | None = None) -> _Field:
    return _Field(name, "number", length, notnull, default, decimals)


# (label, unique, fields): INDEXES plus the unique and foreign KEYS, which Moodle creates as
# indexes too.
_Index = tuple[str, bool, tuple[str, ...]]


def U(*fields: str) -> _Index:
    return ("_".join(fields), True, fields)


def X(*fields: str) -> _Index:
    return ("_".join(fields), False, fields)


_ID = I("id", 10, NN)

# ---------------------------------------------------------------- core: config and tasks
_TABLES: dict[str, tuple[tuple[_Field, ...], tuple[_Index, ...]]] = {
    "config": ((_ID, C("name", 255, NN), T("value", NN)), (U("name"),)),
    "config_plugins": (
        (_ID, C("plugin", 100, NN, "core"), C("name", 100, NN), T("value", NN)),
        (U("plugin", "name"),)),
    "config_log": (
        (_ID, I("userid", 10, NN), I("timemodified", 10, NN), C("plugin", 100),
         C("name", 100, NN), T("value"), T("oldvalue")),
        (X("userid"), X("timemodified"))),
    "task_scheduled": (
        (_ID, C("component", 255, NN), C("classname", 255, NN), I("lastruntime"),
         I("nextruntime"), C("minute", 200, NN), C("hour", 70, NN), C("day", 90, NN),
         C("month", 30, NN), C("dayofweek", 25, NN), I("faildelay"),
         I("customised", 2, NN, 0), I("disabled", 1, NN, 0), I("timestarted"),
         C("hostname", 255), I("pid")),
        (U("classname"),)),
    "task_adhoc": (
        (_ID, C("component", 255, NN), C("classname", 255, NN), I("nextruntime", 10, NN),
         I("faildelay"), T("customdata"), I("userid"), I("timecreated", 10, NN, 0),
         I("timestarted"), C("hostname", 255), I("pid"), I("attemptsavailable", 2),
         I("firststartingtime")),
        (X("userid"), X("nextruntime"), X("timestarted"))),
    "task_log": (
        (_ID, I("type", 4, NN), C("component", 255, NN), C("classname", 255, NN),
         I("userid", 10, NN), N("timestart", 20, 10, NN), N("timeend", 20, 10, NN),
         I("dbreads", 10, NN), I("dbwrites", 10, NN), I("result", 2, NN), T("output", NN),
         C("hostname", 255), I("pid")),
        (X("userid"), X("classname"), X("timestart"))),
    "lock_db": (
        (_ID, C("resourcekey", 255, NN), I("expires"), C("owner", 36)),
        (U("resourcekey"), X("expires"), X("owner"))),
    # ------------------------------------------------ plugin enabled state (plugininfo)
    "modules": (
        (_ID, C("name", 20, NN), I("cron", 10, NN, 0), I("lastcron", 10, NN, 0),
         C("search", 255, NN), I("visible", 1, NN, 1)),
        (X("name"),)),
    "message_processors": ((_ID, C("name", 166, NN), I("enabled", 1, NN, 1)), ()),
    "repository": (
        (_ID, C("type", 255, NN), I("visible", 1, False, 1), I("sortorder", 10, NN, 0)), ()),
    "block": (
        (_ID, C("name", 40, NN), I("cron", 10, NN, 0), I("lastcron", 10, NN, 0),
         I("visible", 1, NN, 1)),
        (U("name"),)),
    # ------------------------------------------------------------ users and sessions
    "user": (
        (_ID, C("auth", 20, NN, "manual"), I("confirmed", 1, NN, 0),
         I("policyagreed", 1, NN, 0), I("deleted", 1, NN, 0), I("suspended", 1, NN, 0),
         I("mnethostid", 10, NN, 0), C("username", 100, NN), C("password", 255, NN),
         C("idnumber", 255, NN), C("firstname", 100, NN), C("lastname", 100, NN),
         C("email", 100, NN), I("emailstop", 1, NN, 0), C("phone1", 20, NN),
         C("phone2", 20, NN), C("institution", 255, NN), C("department", 255, NN),
         C("address", 255, NN), C("city", 120, NN), C("country", 2, NN),
         C("lang", 30, NN, "en"), C("calendartype", 30, NN, "gregorian"),
         C("theme", 50, NN), C("timezone", 100, NN, "99"), I("firstaccess", 10, NN, 0),
         I("lastaccess", 10, NN, 0), I("lastlogin", 10, NN, 0),
         I("currentlogin", 10, NN, 0), C("lastip", 45, NN), C("secret", 15, NN),
         I("picture", 10, NN, 0), T("description"), I("descriptionformat", 2, NN, 1),
         I("mailformat", 1, NN, 1), I("maildigest", 1, NN, 0), I("maildisplay", 2, NN, 2),
         I("autosubscribe", 1, NN, 1), I("trackforums", 1, NN, 0),
         I("timecreated", 10, NN, 0), I("timemodified", 10, NN, 0),
         I("trustbitmask", 10, NN, 0), C("imagealt", 255), C("lastnamephonetic", 255),
         C("firstnamephonetic", 255), C("middlename", 255), C("alternatename", 255),
         C("moodlenetprofile", 255)),
        (U("mnethostid", "username"), X("deleted"), X("confirmed"), X("firstname"),
         X("lastname"), X("city"), X("country"), X("lastaccess"), X("email"), X("auth"),
         X("idnumber"), X("firstnamephonetic"), X("lastnamephonetic"), X("middlename"),
         X("alternatename"))),
    # value TYPE="text" as in 5.1 (char(1333) in older releases); the name index serves
    # lookups by preference name (e.g. login_lockout).
    "user_preferences": (
        (_ID, I("userid", 10, NN, 0), C("name", 255, NN), T("value", NN)),
        (U("userid", "name"), X("name"))),
    "user_lastaccess": (
        (_ID, I("userid", 10, NN, 0), I("courseid", 10, NN, 0), I("timeaccess", 10, NN, 0)),
        (U("userid", "courseid"), X("userid"), X("courseid"))),
    "sessions": (
        (_ID, I("state", 10, NN, 0), C("sid", 128, NN), I("userid", 10, NN), T("sessdata"),
         I("timecreated", 10, NN), I("timemodified", 10, NN), C("firstip", 45),
         C("lastip", 45)),
        (X("userid"), X("state"), U("sid"), X("timecreated"), X("timemodified"))),
    # ------------------------------------------------------------ courses and enrolment
    "course": (
        (_ID, I("category", 10, NN, 0), I("sortorder", 10, NN, 0), C("fullname", 1333, NN),
         C("shortname", 255, NN), C("idnumber", 100, NN), T("summary"),
         I("summaryformat", 2, NN, 0), C("format", 21, NN, "topics"),
         I("showgrades", 2, NN, 1), I("newsitems", 5, NN, 1), I("startdate", 10, NN, 0),
         I("enddate", 10, NN, 0), I("relativedatesmode", 1, NN, 0), I("marker", 10, NN, 0),
         I("maxbytes", 10, NN, 0), I("legacyfiles", 4, NN, 0), I("showreports", 4, NN, 0),
         I("visible", 1, NN, 1), I("visibleold", 1, NN, 1), I("downloadcontent", 1),
         I("groupmode", 4, NN, 0), I("groupmodeforce", 4, NN, 0),
         I("defaultgroupingid", 10, NN, 0), C("lang", 30, NN), C("calendartype", 30, NN),
         C("theme", 50, NN), I("timecreated", 10, NN, 0), I("timemodified", 10, NN, 0),
         I("requested", 1, NN, 0), I("enablecompletion", 1, NN, 0),
         I("completionnotify", 1, NN, 0), I("cacherev", 10, NN, 0), I("originalcourseid"),
         I("showactivitydates", 1, NN, 0), I("showcompletionconditions", 1),
         C("pdfexportfont", 50), I("enableaitools", 1)),
        (X("originalcourseid"), X("category"), X("idnumber"), X("shortname"),
         X("sortorder"))),
    "course_categories": (
        (_ID, C("name", 255, NN), C("idnumber", 100), T("description"),
         I("descriptionformat", 2, NN, 0), I("parent", 10, NN, 0), I("sortorder", 10, NN, 0),
         I("coursecount", 10, NN, 0), I("visible", 1, NN, 1), I("visibleold", 1, NN, 1),
         I("timemodified", 10, NN, 0), I("depth", 10, NN, 0), C("path", 255, NN),
         C("theme", 50)),
        (X("parent"),)),
    "course_completions": (
        (_ID, I("userid", 10, NN, 0), I("course", 10, NN, 0), I("timeenrolled", 10, NN, 0),
         I("timestarted", 10, NN, 0), I("timecompleted"), I("reaggregate", 10, NN, 0)),
        (X("userid"), X("course"), X("timecompleted"), U("userid", "course"))),
    "enrol": (
        (_ID, C("enrol", 20, NN), I("status", 10, NN, 0), I("courseid", 10, NN),
         I("sortorder", 10, NN, 0), C("name", 255), I("enrolperiod", 10, False, 0),
         I("enrolstartdate", 10, False, 0), I("enrolenddate", 10, False, 0),
         I("expirynotify", 1, False, 0), I("expirythreshold", 10, False, 0),
         I("notifyall", 1, False, 0), C("password", 50), C("cost", 20), C("currency", 3),
         I("roleid", 10, False, 0), *(I(f"customint{n}") for n in range(1, 9)),
         C("customchar1", 255), C("customchar2", 255), C("customchar3", 1333),
         N("customdec1", 12, 7), N("customdec2", 12, 7),
         *(T(f"customtext{n}") for n in range(1, 5)),
         I("timecreated", 10, NN, 0), I("timemodified", 10, NN, 0)),
        (X("courseid"), X("roleid"), X("enrol"))),
    "user_enrolments": (
        (_ID, I("status", 10, NN, 0), I("enrolid", 10, NN), I("userid", 10, NN),
         I("timestart", 10, NN, 0), I("timeend", 10, NN, 2147483647),
         I("modifierid", 10, NN, 0), I("timecreated", 10, NN, 0),
         I("timemodified", 10, NN, 0)),
        (X("enrolid"), X("userid"), X("modifierid"), U("enrolid", "userid"))),
    # ------------------------------------------------------------ roles and contexts
    "role": (
        (_ID, C("name", 255, NN), C("shortname", 100, NN), T("description", NN),
         I("sortorder", 10, NN, 0), C("archetype", 30, NN)),
        (U("sortorder"), U("shortname"))),
    "context": (
        (_ID, I("contextlevel", 10, NN, 0), I("instanceid", 10, NN, 0), C("path", 255),
         I("depth", 2, NN, 0), I("locked", 2, NN, 0)),
        (U("contextlevel", "instanceid"), X("instanceid"), X("path"))),
    "role_assignments": (
        (_ID, I("roleid", 10, NN, 0), I("contextid", 10, NN, 0), I("userid", 10, NN, 0),
         I("timemodified", 10, NN, 0), I("modifierid", 10, NN, 0), C("component", 100, NN),
         I("itemid", 10, NN, 0), I("sortorder", 10, NN, 0)),
        (X("roleid"), X("contextid"), X("userid"), X("sortorder"), X("roleid", "contextid"),
         X("userid", "contextid", "roleid"), X("component", "itemid", "userid"))),
    # ------------------------------------------------------------ files, backups, calendar
    "files": (
        (_ID, C("contenthash", 40, NN), C("pathnamehash", 40, NN), I("contextid", 10, NN),
         C("component", 100, NN), C("filearea", 50, NN), I("itemid", 10, NN),
         C("filepath", 255, NN), C("filename", 255, NN), I("userid"), I("filesize", 10, NN),
         C("mimetype", 100), I("status", 10, NN, 0), T("source"), C("author", 255),
         C("license", 255), I("timecreated", 10, NN), I("timemodified", 10, NN),
         I("sortorder", 10, NN, 0), I("referencefileid")),
        (X("contextid"), X("userid"), X("referencefileid"),
         X("component", "filearea", "contextid", "itemid"), X("contenthash"),
         U("pathnamehash"), X("license"), X("filename"))),
    "backup_courses": (
        (_ID, I("courseid", 10, NN, 0), I("laststarttime", 10, NN, 0),
         I("lastendtime", 10, NN, 0), C("laststatus", 1, NN, "5"),
         I("nextstarttime", 10, NN, 0)),
        (U("courseid"),)),
    "event": (
        (_ID, T("name", NN), T("description", NN), I("format", 4, NN, 0),
         I("categoryid", 10, NN, 0), I("courseid", 10, NN, 0), I("groupid", 10, NN, 0),
         I("userid", 10, NN, 0), I("repeatid", 10, NN, 0), C("component", 100),
         C("modulename", 20, NN), I("instance", 10, NN, 0), I("type", 4, NN, 0),
         C("eventtype", 20, NN), I("timestart", 10, NN, 0), I("timeduration", 10, NN, 0),
         I("timesort"), I("visible", 4, NN, 1), C("uuid", 255, NN), I("sequence", 10, NN, 1),
         I("timemodified", 10, NN, 0), I("subscriptionid"), I("priority"), T("location")),
        (X("categoryid"), X("subscriptionid"), X("courseid"), X("userid"), X("timestart"),
         X("timeduration"), X("uuid"), X("type", "timesort"),
         X("groupid", "courseid", "categoryid", "visible", "userid"), X("eventtype"),
         X("component", "eventtype", "instance"), X("modulename", "instance", "eventtype"))),
    # ------------------------------------------------------------ logstore_standard
    "logstore_standard_log": (
        (_ID, C("eventname", 255, NN), C("component", 100, NN), C("action", 100, NN),
         C("target", 100, NN), C("objecttable", 50), I("objectid"), C("crud", 1, NN),
         I("edulevel", 1, NN), I("contextid", 10, NN), I("contextlevel", 10, NN),
         I("contextinstanceid", 10, NN), I("userid", 10, NN), I("courseid"),
         I("relateduserid"), I("anonymous", 1, NN, 0), T("other"),
         I("timecreated", 10, NN), C("origin", 10), C("ip", 45), I("realuserid")),
        # The five foreign keys (contextid, userid, courseid, realuserid, relateduserid)
        # are indexes too, as Moodle creates them; the planner may pick them for the log.
        (X("timecreated"), X("courseid", "anonymous", "timecreated"),
         X("userid", "contextlevel", "contextinstanceid", "crud", "edulevel", "timecreated"),
         X("contextid"), X("userid"), X("courseid"), X("realuserid"), X("relateduserid"))),
}

# ---------------------------------------------------------------- mod_quiz
_TABLES |= {
    # No duedate: Moodle 5.1 has none. Moodle main (5.2dev, quiz install.xml 20251126) adds
    # duedate int(10) NOT NULL DEFAULT 0; declaring it would break SELECTs on 5.1 sites.
    "quiz": (
        (_ID, I("course", 10, NN, 0), C("name", 1333, NN), T("intro", NN),
         I("introformat", 4, NN, 0), I("timeopen", 10, NN, 0), I("timeclose", 10, NN, 0),
         I("timelimit", 10, NN, 0), C("overduehandling", 16, NN, "autoabandon"),
         I("graceperiod", 10, NN, 0), C("preferredbehaviour", 32, NN),
         I("canredoquestions", 4, NN, 0), I("attempts", 6, NN, 0),
         I("attemptonlast", 4, NN, 0), I("grademethod", 4, NN, 1),
         I("decimalpoints", 4, NN, 2), I("questiondecimalpoints", 4, NN, -1),
         *(I(f"review{what}", 6, NN, 0) for what in (
             "attempt", "correctness", "maxmarks", "marks", "specificfeedback",
             "generalfeedback", "rightanswer", "overallfeedback")),
         I("questionsperpage", 10, NN, 0), C("navmethod", 16, NN, "free"),
         I("shuffleanswers", 4, NN, 0), N("sumgrades", 10, 5, NN, 0),
         N("grade", 10, 5, NN, 0), I("timecreated", 10, NN, 0), I("timemodified", 10, NN, 0),
         C("password", 255, NN), C("subnet", 255, NN), C("browsersecurity", 32, NN),
         I("delay1", 10, NN, 0), I("delay2", 10, NN, 0), I("showuserpicture", 4, NN, 0),
         I("showblocks", 4, NN, 0), I("completionattemptsexhausted", 1, False, 0),
         I("completionminattempts", 10, NN, 0), I("allowofflineattempts", 1, False, 0),
         I("precreateattempts", 1)),
        (X("course"),)),
    "quiz_attempts": (
        (_ID, I("quiz", 10, NN, 0), I("userid", 10, NN, 0), I("attempt", 6, NN, 0),
         I("uniqueid", 10, NN, 0), T("layout", NN), I("currentpage", 10, NN, 0),
         I("preview", 3, NN, 0), C("state", 16, NN, "inprogress"), I("timestart", 10, NN, 0),
         I("timefinish", 10, NN, 0), I("timemodified", 10, NN, 0),
         I("timemodifiedoffline", 10, NN, 0), I("timecheckstate", 10, False, 0),
         N("sumgrades", 10, 5), I("gradednotificationsenttime")),
        (X("quiz"), X("userid"), U("uniqueid"), U("quiz", "userid", "attempt"),
         X("state", "timecheckstate"))),
}

@functools.cache
def _mysql_types() -> tuple[type[sa.types.TypeEngine], ...]:
    """LONGTEXT, MEDIUMINT and TINYINT as generic types that MySQL and MariaDB spell so
    (``sqlalchemy.ext.compiler``) and every other dialect as their base type: the same
    DDL and queries as ``with_variant(mysql.LONGTEXT(), ...)`` without importing the
    MySQL dialect (20 modules, ~1 MB RSS) into a daemon that watches a PostgreSQL site.
    Made on first use, as SQLAlchemy itself is."""
    from sqlalchemy.ext.compiler import compiles

    class LongText(sa.Text):
        pass

    class MediumInt(sa.Integer):
        pass

    class TinyInt(sa.SmallInteger):
        pass

    for cls, mysql_name in ((LongText, "LONGTEXT"), (MediumInt, "MEDIUMINT"),
                            (TinyInt, "TINYINT")):
        def spell(type_: object, compiler: object, _name: str = mysql_name,
                  **kw: object) -> str:
            return _name

        compiles(cls, "mysql", "mariadb")(spell)
    return LongText, MediumInt, TinyInt


def _column_type(field: _Field) -> sa.types.TypeEngine:
    long_text, medium_int, tiny_int = _mysql_types()
    if field.kind == "char":
        return sa.String(field.length)
    if field.kind == "text":
        return long_text()
    if field.kind == "number":
        return sa.Numeric(field.length, field.decimals)
    if field.length > 9:
        return sa.BigInteger()
    if field.length > 4:
        return sa.Integer() if field.length > 6 else medium_int()
    return sa.SmallInteger() if field.length > 2 else tiny_int()


def _column(field: _Field) -> sa.Column:
    if field.name == "id":  # SEQUENCE="true": BIGSERIAL / BIGINT AUTO_INCREMENT
        return sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True)
    default: sa.TextClause | str | None = None
    if field.default is not None:
        default = str(field.default) if field.kind == "char" else sa.text(str(field.default))
    return sa.Column(field.name, _column_type(field), nullable=not field.notnull,
                     server_default=default)


def _index_name(prefix: str, table: str, fields: tuple[str, ...], unique: bool) -> str:
    # Moodle's sql_generator::getNameForObject: 4 letters per table word, 3 per field.
    short = "".join(word[:4] for word in table.split("_"))
    cols = "".join(field[:3] for field in fields)
    return f"{prefix}{short}_{cols}_{'uix' if unique else 'ix'}"[:60]


def _build_table(metadata: sa.MetaData, prefix: str, name: str, used: set[str]) -> sa.Table:
    fields, indexes = _TABLES[name]
    # Moodle's MySQL tables are InnoDB, utf8mb4, ROW_FORMAT=Dynamic, and its INDEX HINTS
    # give context.path a varchar_pattern_ops twin on PostgreSQL (tests/moodle_double/
    # ddl.py creates them so). Neither is said here as mysql_* or postgresql_ops options:
    # nothing creates tables from this metadata, and any dialect keyword makes SQLAlchemy
    # import that dialect to check it, 1-1.5 MB in a daemon watching the other kind.
    table = sa.Table(prefix + name, metadata, *(_column(f) for f in fields),
                     comment=f"Moodle table {name}")
    for _label, unique, cols in indexes:
        index_name = _index_name(prefix, name, cols, unique)
        base, n = index_name, 1
        while index_name in used:  # Moodle also appends a number on a clash
            index_name, n = f"{base[:58]}{n}", n + 1
        used.add(index_name)
        sa.Index(index_name, *(table.c[c] for c in cols), unique=unique)
    return table


class MoodleTables:
    """One ``Table`` per Moodle table for one prefix: ``tables.user``, ``tables["user"]``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.metadata = sa.MetaData()
        used: set[str] = set()
        self._tables = {name: _build_table(self.metadata, prefix, name, used)
                        for name in _TABLES}

    def __getattr__(self, name: str) -> sa.Table:
        try:
            return self.__dict__["_tables"][name]
        except KeyError:
            raise AttributeError(f"no Moodle table {name!r} in checks.moodle.schema") from None

    def __getitem__(self, name: str) -> sa.Table:
        return self._tables[name]

    def __iter__(self) -> Iterator[sa.Table]:
        return iter(self._tables.values())

    def names(self) -> list[str]:
        """Moodle's names without the prefix (``"task_adhoc"``), in definition order."""
        return list(self._tables)


@functools.cache
def moodle_tables(prefix: str) -> MoodleTables:
    """The tables for ``prefix`` (``$CFG->prefix``), built once per prefix."""
    return MoodleTables(prefix)
