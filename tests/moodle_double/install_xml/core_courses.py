"""Moodle's core course tables: courses, categories, completions and enrolments.

Transcribed from Moodle's XMLDB files, whole tables (every field, key and index), by
reading the XML, not checks/moodle/schema.py. Source tree: train2023-31/moodle at commit
1545c946c07aa982696fe1f3319d91ec1df26401 = Moodle 5.1+ (Build: 20251017), $version
2025100600.02 (the code moved under public/ in 5.1). Each table names its file and lines
there; tests/moodle_double/xmldb.py explains the helpers.
"""

from __future__ import annotations

from tests.moodle_double.xmldb import IX, MULTI, NN, NULL, UNIQUE, F, K, Table, table

TABLES: dict[str, Table] = {
    # public/lib/db/install.xml:70-121
    "course": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("category", "int", 10, NN, "0"),
            F("sortorder", "int", 10, NN, "0"),
            F("fullname", "char", 1333, NN),
            F("shortname", "char", 255, NN),
            F("idnumber", "char", 100, NN),
            F("summary", "text", None, NULL),
            F("summaryformat", "int", 2, NN, "0"),
            F("format", "char", 21, NN, "topics"),
            F("showgrades", "int", 2, NN, "1"),
            F("newsitems", "int", 5, NN, "1"),
            F("startdate", "int", 10, NN, "0"),
            F("enddate", "int", 10, NN, "0"),
            F("relativedatesmode", "int", 1, NN, "0"),
            F("marker", "int", 10, NN, "0"),
            F("maxbytes", "int", 10, NN, "0"),
            F("legacyfiles", "int", 4, NN, "0"),
            F("showreports", "int", 4, NN, "0"),
            F("visible", "int", 1, NN, "1"),
            F("visibleold", "int", 1, NN, "1"),
            F("downloadcontent", "int", 1, NULL),
            F("groupmode", "int", 4, NN, "0"),
            F("groupmodeforce", "int", 4, NN, "0"),
            F("defaultgroupingid", "int", 10, NN, "0"),
            F("lang", "char", 30, NN),
            F("calendartype", "char", 30, NN),
            F("theme", "char", 50, NN),
            F("timecreated", "int", 10, NN, "0"),
            F("timemodified", "int", 10, NN, "0"),
            F("requested", "int", 1, NN, "0"),
            F("enablecompletion", "int", 1, NN, "0"),
            F("completionnotify", "int", 1, NN, "0"),
            F("cacherev", "int", 10, NN, "0"),
            F("originalcourseid", "int", 10, NULL),
            F("showactivitydates", "int", 1, NN, "0"),
            F("showcompletionconditions", "int", 1, NULL),
            F("pdfexportfont", "char", 50, NULL),
            F("enableaitools", "int", 1, NULL),
        ),
        keys=(
            K("primary", "primary", "id"),
            K("originalcourseid", "foreign", "originalcourseid", "course"),
        ),
        indexes=(
            IX("category", MULTI, "category"),
            IX("idnumber", MULTI, "idnumber"),
            IX("shortname", MULTI, "shortname"),
            IX("sortorder", MULTI, "sortorder"),
        ),
    ),
    # public/lib/db/install.xml:122-143
    "course_categories": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("name", "char", 255, NN),
            F("idnumber", "char", 100, NULL),
            F("description", "text", None, NULL),
            F("descriptionformat", "int", 2, NN, "0"),
            F("parent", "int", 10, NN, "0"),
            F("sortorder", "int", 10, NN, "0"),
            F("coursecount", "int", 10, NN, "0"),
            F("visible", "int", 1, NN, "1"),
            F("visibleold", "int", 1, NN, "1"),
            F("timemodified", "int", 10, NN, "0"),
            F("depth", "int", 10, NN, "0"),
            F("path", "char", 255, NN),
            F("theme", "char", 50, NULL),
        ),
        keys=(
            K("primary", "primary", "id"),
            K("parent", "foreign", "parent", "course_categories"),
        ),
    ),
    # public/lib/db/install.xml:202-221
    "course_completions": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("userid", "int", 10, NN, "0"),
            F("course", "int", 10, NN, "0"),
            F("timeenrolled", "int", 10, NN, "0"),
            F("timestarted", "int", 10, NN, "0"),
            F("timecompleted", "int", 10, NULL),
            F("reaggregate", "int", 10, NN, "0"),
        ),
        keys=(
            K("primary", "primary", "id"),
        ),
        indexes=(
            IX("userid", MULTI, "userid"),
            IX("course", MULTI, "course"),
            IX("timecompleted", MULTI, "timecompleted"),
            IX("useridcourse", UNIQUE, "userid, course"),
        ),
    ),
    # public/lib/db/install.xml:254-300
    "enrol": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("enrol", "char", 20, NN),
            F("status", "int", 10, NN, "0"),
            F("courseid", "int", 10, NN),
            F("sortorder", "int", 10, NN, "0"),
            F("name", "char", 255, NULL),
            F("enrolperiod", "int", 10, NULL, "0"),
            F("enrolstartdate", "int", 10, NULL, "0"),
            F("enrolenddate", "int", 10, NULL, "0"),
            F("expirynotify", "int", 1, NULL, "0"),
            F("expirythreshold", "int", 10, NULL, "0"),
            F("notifyall", "int", 1, NULL, "0"),
            F("password", "char", 50, NULL),
            F("cost", "char", 20, NULL),
            F("currency", "char", 3, NULL),
            F("roleid", "int", 10, NULL, "0"),
            F("customint1", "int", 10, NULL),
            F("customint2", "int", 10, NULL),
            F("customint3", "int", 10, NULL),
            F("customint4", "int", 10, NULL),
            F("customint5", "int", 10, NULL),
            F("customint6", "int", 10, NULL),
            F("customint7", "int", 10, NULL),
            F("customint8", "int", 10, NULL),
            F("customchar1", "char", 255, NULL),
            F("customchar2", "char", 255, NULL),
            F("customchar3", "char", 1333, NULL),
            F("customdec1", "number", 12, NULL, dec=7),
            F("customdec2", "number", 12, NULL, dec=7),
            F("customtext1", "text", None, NULL),
            F("customtext2", "text", None, NULL),
            F("customtext3", "text", None, NULL),
            F("customtext4", "text", None, NULL),
            F("timecreated", "int", 10, NN, "0"),
            F("timemodified", "int", 10, NN, "0"),
        ),
        keys=(
            K("primary", "primary", "id"),
            K("courseid", "foreign", "courseid", "course"),
            K("roleid", "foreign", "roleid", "role"),
        ),
        indexes=(
            IX("enrol", MULTI, "enrol"),
        ),
    ),
    # public/lib/db/install.xml:301-322
    "user_enrolments": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("status", "int", 10, NN, "0"),
            F("enrolid", "int", 10, NN),
            F("userid", "int", 10, NN),
            F("timestart", "int", 10, NN, "0"),
            F("timeend", "int", 10, NN, "2147483647"),
            F("modifierid", "int", 10, NN, "0"),
            F("timecreated", "int", 10, NN, "0"),
            F("timemodified", "int", 10, NN, "0"),
        ),
        keys=(
            K("primary", "primary", "id"),
            K("enrolid", "foreign", "enrolid", "enrol"),
            K("userid", "foreign", "userid", "user"),
            K("modifierid", "foreign", "modifierid", "user"),
        ),
        indexes=(
            IX("enrolid-userid", UNIQUE, "enrolid, userid"),
        ),
    ),
}
