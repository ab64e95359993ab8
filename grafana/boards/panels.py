"""Panel builders shared by every board: queries, panel kinds, thresholds and mappings.

The first stage of dashboard generation: board modules call these to declare panels as
plain dicts (with width and height); ``frame.layout`` later turns them into positioned,
numbered Grafana panels. Every panel and query uses the ``${datasource}`` variable.
"""

from __future__ import annotations

from typing import Any

DS = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24

# Selectors reused by every query.
SEL = 'instance=~"$instance", lms=~"$lms"'
ISEL = 'instance=~"$instance"'

STATUS_MAPPINGS = [{
    "type": "value",
    "options": {
        "0": {"text": "OK", "color": "green", "index": 0},
        "1": {"text": "WARNING", "color": "yellow", "index": 1},
        "2": {"text": "CRITICAL", "color": "red", "index": 2},
        "3": {"text": "UNKNOWN", "color": "purple", "index": 3},
    },
}]
UP_MAPPINGS = [{
    "type": "value",
    "options": {"0": {"text": "DOWN", "color": "red", "index": 0},
                "1": {"text": "UP", "color": "green", "index": 1}},
}]

# Shown instead of "No data" on the update panels of a site that never fetched the feed.
NO_UPDATE_DATA = ("No update data: the site has not fetched Moodle's update feed "
                  "(updateautocheck off, no Internet, feed_url not set)")


def steps(*pairs: tuple[float | None, str]) -> dict:
    """Absolute thresholds: steps((None, "green"), (1, "red"))."""
    return {"mode": "absolute",
            "steps": [{"color": color, "value": value} for value, color in pairs]}


OK_AT_ZERO = steps((None, "green"), (1, "red"))
WARN_AT_ONE = steps((None, "green"), (1, "orange"))
STATUS_STEPS = steps((None, "green"), (1, "yellow"), (2, "red"), (3, "purple"))
UP_STEPS = steps((None, "red"), (1, "green"))
NONE_STEPS = steps((None, "green"))


def q(expr: str, legend: str = "", instant: bool = False, fmt: str = "time_series") -> dict:
    target = {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto",
              "range": not instant, "instant": instant, "format": fmt}
    return target


def panel(kind: str, title: str, description: str, targets: list[dict], *, unit: str = "short",
          thresholds: dict = NONE_STEPS, w: int = 8, h: int = 8, mappings: list | None = None,
          options: dict | None = None, custom: dict | None = None,
          decimals: int | None = None, no_data: str | None = None, **extra) -> dict:
    defaults: dict[str, Any] = {"unit": unit, "thresholds": thresholds,
                                "mappings": mappings or [], "custom": custom or {}}
    if decimals is not None:
        defaults["decimals"] = decimals
    if no_data is not None:  # shown instead of "No data" where the data cannot exist
        defaults["noValue"] = no_data
    return {
        "type": kind, "title": title, "description": description, "datasource": DS,
        "targets": targets, "w": w, "h": h,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options or {}, **extra,
    }


def stat(title, description, targets, **kw):
    kw.setdefault("w", 6)
    kw.setdefault("h", 4)
    kw.setdefault("options", {"colorMode": "background", "graphMode": "none",
                              "reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                                "values": False}})
    return panel("stat", title, description, targets, **kw)


def ts(title, description, targets, **kw):
    kw.setdefault("w", 12)
    kw.setdefault("custom", {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                             "showPoints": "never", "thresholdsStyle": {"mode": "off"}})
    kw.setdefault("options", {"legend": {"displayMode": "list", "placement": "bottom",
                                         "showLegend": True},
                              "tooltip": {"mode": "multi", "sort": "desc"}})
    return panel("timeseries", title, description, targets, **kw)


def table(title, description, targets, **kw):
    kw.setdefault("w", 24)
    kw.setdefault("h", 9)
    kw.setdefault("options", {"showHeader": True, "cellHeight": "sm"})
    kw.setdefault("custom", {"align": "auto", "cellOptions": {"type": "color-background"}})
    kw.setdefault("transformations", [
        {"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True,
                                                         "job": True}}}])
    return panel("table", title, description, targets, **kw)


def bars(title, description, targets, **kw):
    kw.setdefault("options", {"displayMode": "gradient", "orientation": "horizontal",
                              "showUnfilled": True,
                              "reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                                "values": False}})
    return panel("bargauge", title, description, targets, **kw)


def row(title: str) -> dict:
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "w": GRID_WIDTH,
            "h": 1}

