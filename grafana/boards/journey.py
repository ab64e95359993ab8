"""The synthetic learner journey row of the LMS detail board (lms_detail.py places it).

Per step: did it pass, and how long did it take (lms_journey_step_*); the failing step's
reason is in the check's result, which Vigil's status page and alerts show.
"""

from __future__ import annotations

from grafana.boards.panels import SEL, UP_MAPPINGS, UP_STEPS, q, row, stat, steps, table, ts

NO_JOURNEY = "No journey check here (type = \"journey\", with a dedicated probe account)"


def journey_row() -> list[dict]:
    return [
        row("Learner journey"),
        stat("Journey", "1 if the last synthetic learner journey passed every step.",
             [q(f"lms_journey_success{{{SEL}}}", "{{lms}} {{check}}")], w=4, h=8,
             mappings=UP_MAPPINGS, thresholds=UP_STEPS, no_data=NO_JOURNEY),
        table("Journey steps", "Each step of the last journey: 1 passed, 0 failed (the "
              "check's result says why); steps after a failure are not run and not shown.",
              [q(f"lms_journey_step_success{{{SEL}}}", instant=True, fmt="table")], w=8,
              mappings=UP_MAPPINGS, thresholds=UP_STEPS, no_data=NO_JOURNEY),
        ts("Journey step timing", "Time of each journey step (redirects included), stacked: "
           "the top line is the whole journey.",
           [q(f"lms_journey_step_seconds{{{SEL}}}", "{{lms}} {{check}} {{step}}")], unit="s",
           w=12, thresholds=steps((None, "green"), (2, "orange"), (5, "red")),
           no_data=NO_JOURNEY,
           custom={"drawStyle": "line", "lineWidth": 1, "fillOpacity": 30,
                   "showPoints": "never", "stacking": {"mode": "normal", "group": "A"},
                   "thresholdsStyle": {"mode": "off"}}),
    ]
