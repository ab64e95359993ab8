"""Moodle's core site tables the double creates: config, tasks, locks, plugin enabled state.

Transcribed from Moodle's XMLDB files, whole tables (every field, key and index), by
reading the XML, not checks/moodle/schema.py. Source tree: train2023-31/moodle at commit
1545c946c07aa982696fe1f3319d91ec1df26401 = Moodle 5.1+ (Build: 20251017), $version
2025100600.02 (the code moved under public/ in 5.1). Each table names its file and lines
there; tests/moodle_double/xmldb.py explains the helpers.
"""

from __future__ import annotations

from tests.moodle_double.xmldb import IX, MULTI, NN, NULL, UNIQUE, F, K, Table, table

TABLES: dict[str, Table] = {
    # public/lib/db/install.xml:7-17
    "config": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("name", "char", 255, NN),
            F("value", "text", None, NN),
        ),
        keys=(
            K("primary", "primary", "id"),
            K("name", "unique", "name"),
        ),
    ),
    # public/lib/db/install.xml:18-29
    "config_plugins": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("plugin", "char", 100, NN, "core"),
            F("name", "char", 100, NN),
            F("value", "text", None, NN),
        ),
        keys=(
            K("primary", "primary", "id"),
            K("plugin_name", "unique", "plugin, name"),
        ),
    ),
    # public/lib/db/install.xml:30-47
    "config_log": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("userid", "int", 10, NN),
            F("timemodified", "int", 10, NN),
            F("plugin", "char", 100, NULL),
            F("name", "char", 100, NN),
            F("value", "text", None, NULL),
            F("oldvalue", "text", None, NULL),
        ),
        keys=(
            K("primary", "primary", "id"),
            K("userid", "foreign", "userid", "user"),
        ),
        indexes=(
            IX("timemodified", MULTI, "timemodified"),
        ),
    ),
    # public/lib/db/install.xml:3473-3498
    "task_scheduled": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("component", "char", 255, NN),
            F("classname", "char", 255, NN),
            F("lastruntime", "int", 10, NULL),
            F("nextruntime", "int", 10, NULL),
            F("minute", "char", 200, NN),
            F("hour", "char", 70, NN),
            F("day", "char", 90, NN),
            F("month", "char", 30, NN),
            F("dayofweek", "char", 25, NN),
            F("faildelay", "int", 10, NULL),
            F("customised", "int", 2, NN, "0"),
            F("disabled", "int", 1, NN, "0"),
            F("timestarted", "int", 10, NULL),
            F("hostname", "char", 255, NULL),
            F("pid", "int", 10, NULL),
        ),
        keys=(
            K("primary", "primary", "id"),
        ),
        indexes=(
            IX("classname_uniq", UNIQUE, "classname"),
        ),
    ),
    # public/lib/db/install.xml:3499-3523
    "task_adhoc": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("component", "char", 255, NN),
            F("classname", "char", 255, NN),
            F("nextruntime", "int", 10, NN),
            F("faildelay", "int", 10, NULL),
            F("customdata", "text", None, NULL),
            F("userid", "int", 10, NULL),
            F("timecreated", "int", 10, NN, "0"),
            F("timestarted", "int", 10, NULL),
            F("hostname", "char", 255, NULL),
            F("pid", "int", 10, NULL),
            F("attemptsavailable", "int", 2, NULL),
            F("firststartingtime", "int", 10, NULL),
        ),
        keys=(
            K("primary", "primary", "id"),
            K("useriduser", "foreign", "userid", "user"),
        ),
        indexes=(
            IX("nextruntime_idx", MULTI, "nextruntime"),
            IX("timestarted_idx", MULTI, "timestarted"),
        ),
    ),
    # public/lib/db/install.xml:3524-3548
    "task_log": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("type", "int", 4, NN),
            F("component", "char", 255, NN),
            F("classname", "char", 255, NN),
            F("userid", "int", 10, NN),
            F("timestart", "number", 20, NN, dec=10),
            F("timeend", "number", 20, NN, dec=10),
            F("dbreads", "int", 10, NN),
            F("dbwrites", "int", 10, NN),
            F("result", "int", 2, NN),
            F("output", "text", None, NN),
            F("hostname", "char", 255, NULL),
            F("pid", "int", 10, NULL),
        ),
        keys=(
            K("primary", "primary", "id"),
            K("userid", "foreign", "userid", "user"),
        ),
        indexes=(
            IX("classname", MULTI, "classname"),
            IX("timestart", MULTI, "timestart"),
        ),
    ),
    # public/lib/db/install.xml:3457-3472
    "lock_db": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("resourcekey", "char", 255, NN),
            F("expires", "int", 10, NULL),
            F("owner", "char", 36, NULL),
        ),
        keys=(
            K("primary", "primary", "id"),
        ),
        indexes=(
            IX("resourcekey_uniq", UNIQUE, "resourcekey"),
            IX("expires_idx", MULTI, "expires"),
            IX("owner_idx", MULTI, "owner"),
        ),
    ),
    # ---------------------------------------------------------- plugin enabled state
    # The tables core_plugin_manager reads for a plugin's enabled state (plugininfo
    # get_enabled_plugins of mod, message, repository and block).
    # public/lib/db/install.xml:815-830
    "modules": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("name", "char", 20, NN),
            F("cron", "int", 10, NN, "0"),
            F("lastcron", "int", 10, NN, "0"),
            F("search", "char", 255, NN),
            F("visible", "int", 1, NN, "1"),
        ),
        keys=(
            K("primary", "primary", "id"),
        ),
        indexes=(
            IX("name", MULTI, "name"),
        ),
    ),
    # public/lib/db/install.xml:2618-2627
    "message_processors": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("name", "char", 166, NN),
            F("enabled", "int", 1, NN, "1"),
        ),
        keys=(
            K("primary", "primary", "id"),
        ),
    ),
    # public/lib/db/install.xml:2702-2712
    "repository": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("type", "char", 255, NN),
            F("visible", "int", 1, NULL, "1"),
            F("sortorder", "int", 10, NN, "0"),
        ),
        keys=(
            K("primary", "primary", "id"),
        ),
    ),
    # public/lib/db/install.xml:2757-2771
    "block": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("name", "char", 40, NN),
            F("cron", "int", 10, NN, "0"),
            F("lastcron", "int", 10, NN, "0"),
            F("visible", "int", 1, NN, "1"),
        ),
        keys=(
            K("primary", "primary", "id"),
        ),
        indexes=(
            IX("name", UNIQUE, "name"),
        ),
    ),
}
