"""The accessibility row of the LMS detail board: axe-core violations by impact.

Fed by the `a11y` check (checks/a11y/): lms_a11y_violations{impact} and
lms_a11y_violation_nodes{impact} summed over its pages, lms_a11y_page_audited{page}.
The alert for new serious or critical violations is AccessibilityViolationsNew in
grafana/rules/vigil-rules.yml.
"""

from __future__ import annotations

from grafana.boards.panels import SEL, UP_STEPS, q, row, steps, table, ts

NO_A11Y = "No a11y check here (type = \"a11y\": axe-core in headless Chromium)"
# Impact colours as axe's own reports use them, worst red.
_IMPACT_COLOURS = {"critical": "red", "serious": "orange", "moderate": "yellow",
                   "minor": "blue"}
_AUDITED = [{"type": "value",
             "options": {"0": {"text": "NOT AUDITED", "color": "red", "index": 0},
                         "1": {"text": "AUDITED", "color": "green", "index": 1}}}]
_STACKED = {"drawStyle": "bars", "lineWidth": 1, "fillOpacity": 80, "showPoints": "never",
            "stacking": {"mode": "normal", "group": "A"}, "thresholdsStyle": {"mode": "off"}}


def _impact_overrides() -> list[dict]:
    return [{"matcher": {"id": "byName", "options": impact},
             "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}]}
            for impact, colour in _IMPACT_COLOURS.items()]


def a11y_row() -> list[dict]:
    violations = ts(
        "Accessibility violations by impact",
        "axe-core rules (WCAG 2.1 AA by default) the audited pages violate, summed over the "
        "pages, by impact. A rise in serious or critical fires AccessibilityViolationsNew; "
        "the rules and the elements are in the check's details (status page, API).",
        [q(f"sum by (impact) (lms_a11y_violations{{{SEL}}})", "{{impact}}")], w=10,
        custom=_STACKED, thresholds=steps((None, "green")), decimals=0, no_data=NO_A11Y)
    violations["fieldConfig"]["overrides"] = _impact_overrides()
    nodes = ts(
        "Elements failing by impact",
        "Page elements that fail an axe-core rule, by the rule's impact: one missing alt "
        "text on a repeated image counts once per image.",
        [q(f"sum by (impact) (lms_a11y_violation_nodes{{{SEL}}})", "{{impact}}")], w=8,
        custom=_STACKED, thresholds=steps((None, "green")), decimals=0, no_data=NO_A11Y)
    nodes["fieldConfig"]["overrides"] = _impact_overrides()
    return [
        row("Accessibility"),
        violations,
        nodes,
        table("Pages audited", "1 if axe-core audited the page in the last run; 0 if it "
              "could not (a redirect to a login form, an HTTP error, a timeout): its "
              "violations are then not counted.",
              [q(f"lms_a11y_page_audited{{{SEL}}}", instant=True, fmt="table")], w=6,
              mappings=_AUDITED, thresholds=UP_STEPS, no_data=NO_A11Y),
    ]
