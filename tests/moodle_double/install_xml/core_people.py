"""Moodle's core tables about people: users, preferences, sessions, roles and contexts.

Transcribed from Moodle's XMLDB files, whole tables (every field, key and index), by
reading the XML, not checks/moodle/schema.py. Source tree: train2023-31/moodle at commit
1545c946c07aa982696fe1f3319d91ec1df26401 = Moodle 5.1+ (Build: 20251017), $version
2025100600.02 (the code moved under public/ in 5.1). Each table names its file and lines
there; tests/moodle_double/xmldb.py explains the helpers.
"""

from __future__ import annotations

from tests.moodle_double.xmldb import IX, MULTI, NN, NULL, UNIQUE, F, K, Table, table

TABLES: dict[str, Table] = {
    # public/lib/db/install.xml:869-940
    "user": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("auth", "char", 20, NN, "manual"),
            F("confirmed", "int", 1, NN, "0"),
            F("policyagreed", "int", 1, NN, "0"),
            F("deleted", "int", 1, NN, "0"),
            F("suspended", "int", 1, NN, "0"),
            F("mnethostid", "int", 10, NN, "0"),
            F("username", "char", 100, NN),
            F("password", "char", 255, NN),
            F("idnumber", "char", 255, NN),
            F("firstname", "char", 100, NN),
            F("lastname", "char", 100, NN),
            F("email", "char", 100, NN),
            F("emailstop", "int", 1, NN, "0"),
            F("phone1", "char", 20, NN),
            F("phone2", "char", 20, NN),
            F("institution", "char", 255, NN),
            F("department", "char", 255, NN),
            F("address", "char", 255, NN),
            F("city", "char", 120, NN),
            F("country", "char", 2, NN),
            F("lang", "char", 30, NN, "en"),
            F("calendartype", "char", 30, NN, "gregorian"),
            F("theme", "char", 50, NN),
            F("timezone", "char", 100, NN, "99"),
            F("firstaccess", "int", 10, NN, "0"),
            F("lastaccess", "int", 10, NN, "0"),
            F("lastlogin", "int", 10, NN, "0"),
            F("currentlogin", "int", 10, NN, "0"),
            F("lastip", "char", 45, NN),
            F("secret", "char", 15, NN),
            F("picture", "int", 10, NN, "0"),
            F("description", "text", None, NULL),
            F("descriptionformat", "int", 2, NN, "1"),
            F("mailformat", "int", 1, NN, "1"),
            F("maildigest", "int", 1, NN, "0"),
            F("maildisplay", "int", 2, NN, "2"),
            F("autosubscribe", "int", 1, NN, "1"),
            F("trackforums", "int", 1, NN, "0"),
            F("timecreated", "int", 10, NN, "0"),
            F("timemodified", "int", 10, NN, "0"),
            F("trustbitmask", "int", 10, NN, "0"),
            F("imagealt", "char", 255, NULL),
            F("lastnamephonetic", "char", 255, NULL),
            F("firstnamephonetic", "char", 255, NULL),
            F("middlename", "char", 255, NULL),
            F("alternatename", "char", 255, NULL),
            F("moodlenetprofile", "char", 255, NULL),
        ),
        keys=(
            K("primary", "primary", "id"),
        ),
        indexes=(
            IX("username", UNIQUE, "mnethostid, username"),
            IX("deleted", MULTI, "deleted"),
            IX("confirmed", MULTI, "confirmed"),
            IX("firstname", MULTI, "firstname"),
            IX("lastname", MULTI, "lastname"),
            IX("city", MULTI, "city"),
            IX("country", MULTI, "country"),
            IX("lastaccess", MULTI, "lastaccess"),
            IX("email", MULTI, "email"),
            IX("auth", MULTI, "auth"),
            IX("idnumber", MULTI, "idnumber"),
            IX("firstnamephonetic", MULTI, "firstnamephonetic"),
            IX("lastnamephonetic", MULTI, "lastnamephonetic"),
            IX("middlename", MULTI, "middlename"),
            IX("alternatename", MULTI, "alternatename"),
        ),
    ),
    # public/lib/db/install.xml:941-955
    "user_preferences": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("userid", "int", 10, NN, "0"),
            F("name", "char", 255, NN),
            F("value", "text", None, NN),
        ),
        keys=(
            K("primary", "primary", "id"),
        ),
        indexes=(
            IX("userid-name", UNIQUE, "userid, name"),
            IX("name", MULTI, "name"),
        ),
    ),
    # public/lib/db/install.xml:956-971
    "user_lastaccess": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("userid", "int", 10, NN, "0"),
            F("courseid", "int", 10, NN, "0"),
            F("timeaccess", "int", 10, NN, "0"),
        ),
        keys=(
            K("primary", "primary", "id"),
        ),
        indexes=(
            IX("userid-courseid", UNIQUE, "userid, courseid"),
            IX("userid", MULTI, "userid"),
            IX("courseid", MULTI, "courseid"),
        ),
    ),
    # public/lib/db/install.xml:846-868
    "sessions": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("state", "int", 10, NN, "0"),
            F("sid", "char", 128, NN),
            F("userid", "int", 10, NN),
            F("sessdata", "text", None, NULL),
            F("timecreated", "int", 10, NN),
            F("timemodified", "int", 10, NN),
            F("firstip", "char", 45, NULL),
            F("lastip", "char", 45, NULL),
        ),
        keys=(
            K("primary", "primary", "id"),
            K("userid", "foreign", "userid", "user"),
        ),
        indexes=(
            IX("state", MULTI, "state"),
            IX("sid", UNIQUE, "sid"),
            IX("timecreated", MULTI, "timecreated"),
            IX("timemodified", MULTI, "timemodified"),
        ),
    ),
    # public/lib/db/install.xml:1184-1200
    "role": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("name", "char", 255, NN),
            F("shortname", "char", 100, NN),
            F("description", "text", None, NN),
            F("sortorder", "int", 10, NN, "0"),
            F("archetype", "char", 30, NN),
        ),
        keys=(
            K("primary", "primary", "id"),
        ),
        indexes=(
            IX("sortorder", UNIQUE, "sortorder"),
            IX("shortname", UNIQUE, "shortname"),
        ),
    ),
    # public/lib/db/install.xml:1201-1218
    "context": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("contextlevel", "int", 10, NN, "0"),
            F("instanceid", "int", 10, NN, "0"),
            F("path", "char", 255, NULL),
            F("depth", "int", 2, NN, "0"),
            F("locked", "int", 2, NN, "0"),
        ),
        keys=(
            K("primary", "primary", "id"),
        ),
        indexes=(
            IX("contextlevel-instanceid", UNIQUE, "contextlevel, instanceid"),
            IX("instanceid", MULTI, "instanceid"),
            IX("path", MULTI, "path", hints="varchar_pattern_ops"),
        ),
    ),
    # public/lib/db/install.xml:1304-1328
    "role_assignments": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("roleid", "int", 10, NN, "0"),
            F("contextid", "int", 10, NN, "0"),
            F("userid", "int", 10, NN, "0"),
            F("timemodified", "int", 10, NN, "0"),
            F("modifierid", "int", 10, NN, "0"),
            F("component", "char", 100, NN),
            F("itemid", "int", 10, NN, "0"),
            F("sortorder", "int", 10, NN, "0"),
        ),
        keys=(
            K("primary", "primary", "id"),
            K("roleid", "foreign", "roleid", "role"),
            K("contextid", "foreign", "contextid", "context"),
            K("userid", "foreign", "userid", "user"),
        ),
        indexes=(
            IX("sortorder", MULTI, "sortorder"),
            IX("rolecontext", MULTI, "roleid, contextid"),
            IX("usercontextrole", MULTI, "userid, contextid, roleid"),
            IX("component-itemid-userid", MULTI, "component, itemid, userid"),
        ),
    ),
}
