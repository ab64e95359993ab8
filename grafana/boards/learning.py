"""The learning analytics board, for stakeholders: who is online, logins, exams.

Declares panels with ``panels`` and frames them with ``frame``; build_dashboards.py
writes the result to grafana/dashboards/vigil-learning.json.
"""

from __future__ import annotations

from grafana.boards.frame import VAR_INSTANCE, VAR_LMS, dashboard, var_datasource
from grafana.boards.panels import (
    SEL,
    WARN_AT_ONE,
    bars,
    q,
    row,
    stat,
    ts,
)


def learning() -> dict:
    items = [
        row("Now"),
        stat("Online now", "Users active in the last 5 minutes.",
             [q(f'sum(lms_moodle_active_users{{{SEL}, window="5m"}})', "online")]),
        stat("Quiz attempts in progress", "Quiz attempts in progress (previews excluded).",
             [q(f"sum(lms_moodle_quiz_attempts_in_progress{{{SEL}}})", "attempts")]),
        stat("Exam in progress", "1 when an open quiz has enough active attempts to be "
             "treated as an exam (change freezes, careful maintenance).",
             [q(f"max(lms_moodle_exam_in_progress{{{SEL}}})", "exam")],
             thresholds=WARN_AT_ONE,
             mappings=[{"type": "value", "options": {
                 "0": {"text": "no", "color": "green", "index": 0},
                 "1": {"text": "EXAM", "color": "orange", "index": 1}}}]),
        stat("Quizzes closing soon", "Quizzes whose close time is within the horizon.",
             [q(f"sum(lms_moodle_quizzes_closing_soon{{{SEL}}})", "closing")]),
        row("Activity"),
        ts("Active users", "Users whose last access is within each window.",
           [q(f"lms_moodle_active_users{{{SEL}}}", "{{lms}} {{window}}")]),
        ts("Logins and failed logins", "Logins and failed logins in each check's window.",
           [q(f"lms_moodle_logins{{{SEL}}}", "{{lms}} logins"),
            q(f"lms_moodle_failed_logins{{{SEL}}}", "{{lms}} failed")]),
        ts("Completions and enrolments", "Course completions and new enrolments in the "
           "count window.",
           [q(f"lms_moodle_course_completions{{{SEL}}}", "{{lms}} completions"),
            q(f"lms_moodle_enrolments_created{{{SEL}}}", "{{lms}} enrolments")]),
        ts("Exam signal", "Active attempts on open quizzes and the quizzes they are on.",
           [q(f"lms_moodle_exam_attempts_in_progress{{{SEL}}}", "{{lms}} attempts"),
            q(f"lms_moodle_exam_quizzes_in_progress{{{SEL}}}", "{{lms}} quizzes")]),
        bars("Users by state", "User accounts by state (guest excluded).",
             [q(f"sum by (lms, state) (lms_moodle_users{{{SEL}}})", "{{lms}} {{state}}")],
             w=12),
        bars("Courses by state", "Courses by visibility (front page excluded).",
             [q(f"sum by (lms, state) (lms_moodle_courses{{{SEL}}})", "{{lms}} {{state}}")],
             w=12),
    ]
    return dashboard("vigil-learning", "Vigil / Learning analytics",
                     "For stakeholders: who is online, logins, completions, enrolments and "
                     "exams.", ["learning"], items, [var_datasource(), VAR_INSTANCE, VAR_LMS])

