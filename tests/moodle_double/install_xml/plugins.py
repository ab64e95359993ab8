"""Plugin tables the double creates: mod_quiz (quiz, quiz_attempts) and logstore_standard.

Transcribed from Moodle's XMLDB files, whole tables (every field, key and index), by
reading the XML, not checks/moodle/schema.py. Source tree: train2023-31/moodle at commit
1545c946c07aa982696fe1f3319d91ec1df26401 = Moodle 5.1+ (Build: 20251017), $version
2025100600.02 (the code moved under public/ in 5.1). Each table names its file and lines
there; tests/moodle_double/xmldb.py explains the helpers.
"""

from __future__ import annotations

from tests.moodle_double.xmldb import IX, MULTI, NN, NULL, UNIQUE, F, K, Table, table

TABLES: dict[str, Table] = {
    # public/mod/quiz/db/install.xml:7-59 (XMLDB VERSION 20250414). Moodle main after 5.1
    # adds duedate (install.xml 20251126); a 5.1 site has no such column, nor has the double.
    "quiz": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("course", "int", 10, NN, "0"),
            F("name", "char", 1333, NN),
            F("intro", "text", None, NN),
            F("introformat", "int", 4, NN, "0"),
            F("timeopen", "int", 10, NN, "0"),
            F("timeclose", "int", 10, NN, "0"),
            F("timelimit", "int", 10, NN, "0"),
            F("overduehandling", "char", 16, NN, "autoabandon"),
            F("graceperiod", "int", 10, NN, "0"),
            F("preferredbehaviour", "char", 32, NN),
            F("canredoquestions", "int", 4, NN, "0"),
            F("attempts", "int", 6, NN, "0"),
            F("attemptonlast", "int", 4, NN, "0"),
            F("grademethod", "int", 4, NN, "1"),
            F("decimalpoints", "int", 4, NN, "2"),
            F("questiondecimalpoints", "int", 4, NN, "-1"),
            F("reviewattempt", "int", 6, NN, "0"),
            F("reviewcorrectness", "int", 6, NN, "0"),
            F("reviewmaxmarks", "int", 6, NN, "0"),
            F("reviewmarks", "int", 6, NN, "0"),
            F("reviewspecificfeedback", "int", 6, NN, "0"),
            F("reviewgeneralfeedback", "int", 6, NN, "0"),
            F("reviewrightanswer", "int", 6, NN, "0"),
            F("reviewoverallfeedback", "int", 6, NN, "0"),
            F("questionsperpage", "int", 10, NN, "0"),
            F("navmethod", "char", 16, NN, "free"),
            F("shuffleanswers", "int", 4, NN, "0"),
            F("sumgrades", "number", 10, NN, "0", dec=5),
            F("grade", "number", 10, NN, "0", dec=5),
            F("timecreated", "int", 10, NN, "0"),
            F("timemodified", "int", 10, NN, "0"),
            F("password", "char", 255, NN),
            F("subnet", "char", 255, NN),
            F("browsersecurity", "char", 32, NN),
            F("delay1", "int", 10, NN, "0"),
            F("delay2", "int", 10, NN, "0"),
            F("showuserpicture", "int", 4, NN, "0"),
            F("showblocks", "int", 4, NN, "0"),
            F("completionattemptsexhausted", "int", 1, NULL, "0"),
            F("completionminattempts", "int", 10, NN, "0"),
            F("allowofflineattempts", "int", 1, NULL, "0"),
            F("precreateattempts", "int", 1, NULL),
        ),
        keys=(
            K("primary", "primary", "id"),
        ),
        indexes=(
            IX("course", MULTI, "course"),
        ),
    ),
    # public/mod/quiz/db/install.xml:144-173
    "quiz_attempts": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("quiz", "int", 10, NN, "0"),
            F("userid", "int", 10, NN, "0"),
            F("attempt", "int", 6, NN, "0"),
            F("uniqueid", "int", 10, NN, "0"),
            F("layout", "text", None, NN),
            F("currentpage", "int", 10, NN, "0"),
            F("preview", "int", 3, NN, "0"),
            F("state", "char", 16, NN, "inprogress"),
            F("timestart", "int", 10, NN, "0"),
            F("timefinish", "int", 10, NN, "0"),
            F("timemodified", "int", 10, NN, "0"),
            F("timemodifiedoffline", "int", 10, NN, "0"),
            F("timecheckstate", "int", 10, NULL, "0"),
            F("sumgrades", "number", 10, NULL, dec=5),
            F("gradednotificationsenttime", "int", 10, NULL),
        ),
        keys=(
            K("primary", "primary", "id"),
            K("quiz", "foreign", "quiz", "quiz"),
            K("userid", "foreign", "userid", "user"),
            K("uniqueid", "foreign-unique", "uniqueid", "question_usages"),
        ),
        indexes=(
            IX("quiz-userid-attempt", UNIQUE, "quiz, userid, attempt"),
            IX("state-timecheckstate", MULTI, "state, timecheckstate"),
        ),
    ),
    # public/admin/tool/log/store/standard/db/install.xml:7-44
    "logstore_standard_log": table(
        fields=(
            F("id", "int", 10, NN, seq=True),
            F("eventname", "char", 255, NN),
            F("component", "char", 100, NN),
            F("action", "char", 100, NN),
            F("target", "char", 100, NN),
            F("objecttable", "char", 50, NULL),
            F("objectid", "int", 10, NULL),
            F("crud", "char", 1, NN),
            F("edulevel", "int", 1, NN),
            F("contextid", "int", 10, NN),
            F("contextlevel", "int", 10, NN),
            F("contextinstanceid", "int", 10, NN),
            F("userid", "int", 10, NN),
            F("courseid", "int", 10, NULL),
            F("relateduserid", "int", 10, NULL),
            F("anonymous", "int", 1, NN, "0"),
            F("other", "text", None, NULL),
            F("timecreated", "int", 10, NN),
            F("origin", "char", 10, NULL),
            F("ip", "char", 45, NULL),
            F("realuserid", "int", 10, NULL),
        ),
        keys=(
            K("primary", "primary", "id"),
            K("contextid", "foreign", "contextid", "context"),
            K("userid", "foreign", "userid", "user"),
            K("courseid", "foreign", "courseid", "course"),
            K("realuserid", "foreign", "realuserid", "user"),
            K("relateduserid", "foreign", "relateduserid", "user"),
        ),
        indexes=(
            IX("timecreated", MULTI, "timecreated"),
            IX("course-time", MULTI, "courseid, anonymous, timecreated"),
            IX("user-module", MULTI,
               "userid, contextlevel, contextinstanceid, crud, edulevel, timecreated"),
        ),
    ),
}
