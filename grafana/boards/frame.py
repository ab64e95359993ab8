"""The frame around a board's panels: layout, template variables, annotations.

Sits between the board modules (which list panels) and build_dashboards.py (which writes
JSON): ``dashboard()`` gives panels ids, grid positions and query refIds, and wraps them
with the variables, annotations and links every Vigil board shares.
"""

from __future__ import annotations

from grafana.boards.panels import DS, GRID_WIDTH, SEL

SCHEMA_VERSION = 39


def layout(items: list[dict]) -> list[dict]:
    """Give panels ids and gridPos: left to right, wrapping at the grid width."""
    panels, x, y, line_h, next_id = [], 0, 0, 0, 1
    for item in items:
        item = dict(item)
        w, h = item.pop("w"), item.pop("h")
        if item["type"] == "row" or x + w > GRID_WIDTH:
            y, x, line_h = y + line_h, 0, 0
        item["id"] = next_id
        next_id += 1
        item["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
        x += w
        line_h = max(line_h, h)
        if item["type"] == "row":
            y, x, line_h = y + h, 0, 0
        panels.append(item)
    return panels


def var_datasource() -> dict:
    return {"name": "datasource", "label": "Data source", "type": "datasource",
            "query": "prometheus", "current": {}, "hide": 0, "refresh": 1, "regex": "",
            "includeAll": False, "multi": False, "options": [], "skipUrlSync": False}


def var_query(name: str, label: str, query: str) -> dict:
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "definition": query, "query": {"query": query, "refId": f"{name}-query"},
            "refresh": 2, "regex": "", "sort": 1, "includeAll": True, "multi": True,
            "allValue": ".+", "current": {}, "hide": 0, "options": [], "skipUrlSync": False}


VAR_INSTANCE = var_query("instance", "Vigil instance", "label_values(vigil_build_info, instance)")
VAR_LMS = var_query("lms", "LMS", 'label_values(lms_check_status{instance=~"$instance"}, lms)')

ANNOTATIONS = [
    {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
     "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts",
     "type": "dashboard"},
    # Grafana turns consecutive samples of a Prometheus annotation query into one region,
    # so a window shades every time series panel from its start to its end.
    {"name": "Maintenance windows", "datasource": DS, "enable": True, "hide": False,
     "iconColor": "rgba(128, 128, 128, 0.6)", "step": "60s",
     "expr": f"vigil_maintenance_active{{{SEL}}} == 1",
     "titleFormat": "Vigil maintenance window", "textFormat": "{{lms}}",
     "tagKeys": "lms", "useValueForTime": False},
    {"name": "Alert transitions", "datasource": DS, "enable": True, "hide": False,
     "iconColor": "red", "step": "60s",
     "expr": f"changes(lms_alert_firing{{{SEL}}}[2m]) > 0",
     "titleFormat": "Vigil alert changed", "textFormat": "{{lms}} / {{check}}",
     "tagKeys": "lms,check", "useValueForTime": False},
    {"name": "Check status changes", "datasource": DS, "enable": False, "hide": False,
     "iconColor": "orange", "step": "60s",
     "expr": f"changes(lms_check_status{{{SEL}}}[2m]) > 0",
     "titleFormat": "Check status changed", "textFormat": "{{lms}} / {{check}}",
     "tagKeys": "lms,check", "useValueForTime": False},
    {"name": "Moodle maintenance mode", "datasource": DS, "enable": True, "hide": False,
     "iconColor": "blue", "step": "60s",
     "expr": f"lms_moodle_maintenance_enabled{{{SEL}}} == 1",
     "titleFormat": "Moodle maintenance mode on", "textFormat": "{{lms}} ({{mode}})",
     "tagKeys": "lms,mode", "useValueForTime": False},
]


def dashboard(uid: str, title: str, description: str, tags: list[str], items: list[dict],
              variables: list[dict]) -> dict:
    panels = layout(items)
    for p in panels:
        for i, target in enumerate(p.get("targets", [])):
            target["refId"] = chr(ord("A") + i)
    return {
        "uid": uid, "title": title, "description": description, "tags": ["vigil", *tags],
        "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": True,
        "graphTooltip": 1, "timezone": "browser", "refresh": "1m", "liveNow": False,
        "time": {"from": "now-6h", "to": "now"}, "timepicker": {},
        "fiscalYearStartMonth": 0, "weekStart": "",
        "annotations": {"list": ANNOTATIONS},
        "templating": {"list": variables},
        "links": [{"title": "Vigil", "type": "dashboards", "tags": ["vigil"],
                   "asDropdown": True, "includeVars": True, "keepTime": True}],
        "panels": panels,
    }

