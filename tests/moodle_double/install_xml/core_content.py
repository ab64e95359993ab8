"""Moodle's core content tables the double creates: files, backup status, calendar events.

Transcribed from Moodle's XMLDB files, whole tables (every field, key and index), by
reading the XML, not checks/moodle/schema.py. Source tree: train2023-31/moodle at commit
1545c946c07aa982696fe1f3319d91ec1df26401 = Moodle 5.1+ (Build: 20251017), $version
2025100600.02 (the code moved under public/ in 5.1). Each table names its file and lines
there; tests/moodle_double/xmldb.py explains the helpers.
"""

from __future__ import annotations

from tests.moodle_double.xmldb import IX, MULTI, NN, NULL, UNIQUE, F, K, Table, table

TABLES: dict[str, Table] = {
    # public/lib/db/install.xml:2628-2664
    "files": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("contenthash", "char", 40, NN),
            F("pathnamehash", "char", 40, NN),
            F("contextid", "int", 10, NN),
            F("component", "char", 100, NN),
            F("filearea", "char", 50, NN),
            F("itemid", "int", 10, NN),
            F("filepath", "char", 255, NN),
            F("filename", "char", 255, NN),
            F("userid", "int", 10, NULL),
            F("filesize", "int", 10, NN),
            F("mimetype", "char", 100, NULL),
            F("status", "int", 10, NN, "0"),
            F("source", "text", None, NULL),
            F("author", "char", 255, NULL),
            F("license", "char", 255, NULL),
            F("timecreated", "int", 10, NN),
            F("timemodified", "int", 10, NN),
            F("sortorder", "int", 10, NN, "0"),
            F("referencefileid", "int", 10, NULL),
        ),
        keys=(
            K("primary", "primary", "id"),
            K("contextid", "foreign", "contextid", "context"),
            K("userid", "foreign", "userid", "user"),
            K("referencefileid", "foreign", "referencefileid", "files_reference"),
        ),
        indexes=(
            IX("component-filearea-contextid-itemid", MULTI,
               "component, filearea, contextid, itemid"),
            IX("contenthash", MULTI, "contenthash"),
            IX("pathnamehash", UNIQUE, "pathnamehash"),
            IX("license", MULTI, "license"),
            IX("filename", MULTI, "filename"),
        ),
    ),
    # public/lib/db/install.xml:2743-2756
    "backup_courses": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("courseid", "int", 10, NN, "0"),
            F("laststarttime", "int", 10, NN, "0"),
            F("lastendtime", "int", 10, NN, "0"),
            F("laststatus", "char", 1, NN, "5"),
            F("nextstarttime", "int", 10, NN, "0"),
        ),
        keys=(
            K("primary", "primary", "id"),
            K("courseid", "unique", "courseid"),
        ),
    ),
    # public/lib/db/install.xml:472-516
    "event": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("name", "text", None, NN),
            F("description", "text", None, NN),
            F("format", "int", 4, NN, "0"),
            F("categoryid", "int", 10, NN, "0"),
            F("courseid", "int", 10, NN, "0"),
            F("groupid", "int", 10, NN, "0"),
            F("userid", "int", 10, NN, "0"),
            F("repeatid", "int", 10, NN, "0"),
            F("component", "char", 100, NULL),
            F("modulename", "char", 20, NN),
            F("instance", "int", 10, NN, "0"),
            F("type", "int", 4, NN, "0"),
            F("eventtype", "char", 20, NN),
            F("timestart", "int", 10, NN, "0"),
            F("timeduration", "int", 10, NN, "0"),
            F("timesort", "int", 10, NULL),
            F("visible", "int", 4, NN, "1"),
            F("uuid", "char", 255, NN),
            F("sequence", "int", 10, NN, "1"),
            F("timemodified", "int", 10, NN, "0"),
            F("subscriptionid", "int", 10, NULL),
            F("priority", "int", 10, NULL),
            F("location", "text", None, NULL),
        ),
        keys=(
            K("primary", "primary", "id"),
            K("categoryid", "foreign", "categoryid", "course_categories"),
            K("subscriptionid", "foreign", "subscriptionid", "event_subscriptions"),
        ),
        indexes=(
            IX("courseid", MULTI, "courseid"),
            IX("userid", MULTI, "userid"),
            IX("timestart", MULTI, "timestart"),
            IX("timeduration", MULTI, "timeduration"),
            IX("uuid", MULTI, "uuid"),
            IX("type-timesort", MULTI, "type, timesort"),
            IX("groupid-courseid-categoryid-visible-userid", MULTI,
               "groupid, courseid, categoryid, visible, userid"),
            IX("eventtype", MULTI, "eventtype"),
            IX("component", MULTI, "component, eventtype, instance"),
            IX("modulename-instance-eventtype", MULTI, "modulename, instance, eventtype"),
        ),
    ),
}
