"""Every dashboard query and every recording rule, run by a real Prometheus over real data.

A real Prometheus scrapes a running `vigil run` that watches the demo LMS and a Moodle
double (tests/grafana/live_env.py). Then every panel target, template variable and
annotation of every board in grafana/dashboards/, and every recording rule expression of
grafana/rules/, goes through Prometheus' HTTP API with Grafana's variables substituted by
real values; each must be valid PromQL and return at least one series. The recording rules
are also loaded into that Prometheus and their recorded series queried, and /metrics is
checked: every exported metric catalogued, `promtool check metrics` clean.

A query may come back empty only when it reads a metric of ``ALLOWED_EMPTY`` AND that metric
has no series at all in Prometheus: the entry says why the setup cannot produce it. A
filter that empties a query over exported metrics is always a failure.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitor.app.catalogue import CATALOGUE
from monitor.kernel.metric import MetricSpec
from tests.grafana.live_env import LMS_EDGE, LMS_MIRROR, LMS_MOODLE, RULES, LiveSetup
from tests.grafana.test_grafana_dashboards import BOARD_FILES, all_panels, load, metric_names
from tests.helpers import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.needs("prometheus", "promtool", "redis-server"),
]

# Metrics a query may legitimately find without any series in this setup, and why.
ALLOWED_EMPTY: dict[str, str] = {
    "vigil_check_skipped_total": (
        "counts runs the scheduler skipped because the previous run was still in flight or "
        "could not start in time; the setup gives every check time to spare, so a skip only "
        "happens when the machine is busy and the labelled counter usually has no child"),
}

# Grafana's built-in interval variables, with the values Grafana would use for a 1 s scrape
# interval and a short time range ($__rate_interval >= 4 scrape intervals).
BUILTINS = {"$__rate_interval": "15s", "$__interval_ms": "2000", "$__interval": "2s",
            "$__range_s": "120", "$__range_ms": "120000", "$__range": "2m"}


class Prometheus:
    def __init__(self, url: str) -> None:
        self.api = f"{url}/api/v1"

    def _get(self, path: str, **params: Any) -> Any:
        answer = httpx.get(f"{self.api}/{path}", params=params, timeout=10).json()
        if answer["status"] != "success":
            raise AssertionError(f"{answer.get('errorType')}: {answer.get('error')}")
        return answer["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self._get("query", query=expr)
        return data["result"] if data["resultType"] in ("vector", "matrix") else [data]

    def query_range(self, expr: str, start: float, end: float, step: str = "1s"
                    ) -> list[dict[str, Any]]:
        return list(self._get("query_range", query=expr, start=start, end=end, step=step)
                    ["result"])

    def label_values(self, label: str, match: str) -> list[str]:
        return list(self._get(f"label/{label}/values", **{"match[]": match}))

    def has_series(self, metric: str) -> bool:
        return bool(self.query(f'count({{__name__="{metric}"}})'))


def regex_of(values: list[str]) -> str:
    """A multi-value variable as Grafana formats it for =~: (a|b), regex-escaped, inside a
    PromQL double-quoted string (so each backslash doubled)."""
    return "(" + "|".join(re.escape(v).replace("\\", "\\\\") for v in values) + ")"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSetup]:
    setup = LiveSetup(tmp_path_factory.mktemp("live"))
    try:
        setup.start()
        prom = Prometheus(setup.prometheus_url)

        expected = setup.configured_checks()
        missing: set[tuple[str, str]] = set()

        def reported() -> bool:
            seen = {(r["metric"]["lms"], r["metric"]["check"])
                    for r in prom.query("lms_check_status")}
            missing.clear()
            missing.update(expected - seen)
            return not missing

        # os_updates runs first somewhere in its 40 s interval (first runs are spread).
        wait_for(reported, 90, f"every configured check in Prometheus (missing {missing})", 1)
        # Moodle's maintenance mode was on from the start (the Moodle maintenance
        # annotation); turn it off, and break the healthy "flapping" target so an alert
        # fires while Prometheus watches (the alert-transition annotations).
        wait_for(lambda: prom.query("lms_moodle_maintenance_enabled == 1"), 30,
                 "Moodle maintenance mode seen", 1)
        assert setup.flapping is not None and setup.scenario is not None
        setup.scenario.maintenance_off()
        setup.flapping.status = 500
        changed = time.time()
        wait_for(lambda: prom.query(f'lms_alert_firing{{lms="{LMS_EDGE}", check="flapping"}}'
                                    " == 1"), 30, "the flapping alert fires", 1)
        wait_for(lambda: setup.hook and setup.hook.requests and prom.query(
            "vigil_notifications_total"), 60, "a notification delivered to the webhook", 1)
        # Every check has run again since (os_updates' interval is 40 s).
        wait_for(lambda: prom.query(f"min(lms_check_last_run_timestamp_seconds) > {changed}"),
                 60, "every check run after the changes", 1)
        wait_for(lambda: prom.query("count_over_time(up[1m]) >= 10"), 30, "ten scrapes", 1)
        wait_for(lambda: prom.query("vigil:check_run_duration_seconds:p99"), 30,
                 "recording rules evaluated", 1)
        yield setup
    except BaseException:
        print(setup.log("vigil.log"), setup.log("prometheus.log"))
        raise
    finally:
        setup.close()


@pytest.fixture(scope="module")
def prom(live: LiveSetup) -> Prometheus:
    return Prometheus(live.prometheus_url)


@pytest.fixture(scope="module")
def variables(live: LiveSetup, prom: Prometheus) -> dict[str, str]:
    """$instance and $lms as Grafana fills them with every value selected ("All")."""
    instances = prom.label_values("instance", "vigil_build_info")
    assert instances == [live.instance]
    lms = prom.label_values("lms", f'lms_check_status{{instance=~"{regex_of(instances)}"}}')
    assert set(lms) == {LMS_MOODLE, LMS_EDGE, LMS_MIRROR, "canvas-live", "openedx-live",
                        "a11y-live"}
    return {"$instance": regex_of(instances), "$lms": regex_of(lms)}


def substitute(expr: str, variables: dict[str, str]) -> str:
    for name, value in [*BUILTINS.items(), *variables.items()]:
        expr = expr.replace("${" + name[1:] + "}", value).replace(name, value)
    assert "$" not in expr, f"a template variable is left in {expr!r}"
    return expr


def explained_by_absence(prom: Prometheus, expr: str) -> str | None:
    """Why an empty result is allowed (an ALLOWED_EMPTY metric with no series), or None."""
    for name in sorted(metric_names(expr)):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        for candidate in (name, base):
            if candidate in ALLOWED_EMPTY and not prom.has_series(name):
                return ALLOWED_EMPTY[candidate]
    return None


def run_all(prom: Prometheus, queries: list[tuple[str, str]], variables: dict[str, str],
            runner: Any = None) -> list[str]:
    """Run each (where, expr); return the failures as readable lines."""
    failures = []
    for where, raw in queries:
        expr = substitute(raw, variables)
        try:
            result = (runner or prom.query)(expr)
        except AssertionError as exc:
            failures.append(f"{where}: invalid: {exc}\n    {expr}")
            continue
        if not result and explained_by_absence(prom, expr) is None:
            failures.append(f"{where}: no series\n    {expr}")
    return failures


boards = pytest.mark.parametrize("path", BOARD_FILES, ids=[p.name for p in BOARD_FILES])


def test_the_allow_list_names_catalogued_metrics_some_board_reads() -> None:
    read = {name for path in BOARD_FILES for p in all_panels(load(path))
            for t in p.get("targets", []) for name in metric_names(t["expr"])}
    for name, reason in ALLOWED_EMPTY.items():
        assert name in CATALOGUE and name in read and len(reason) > 40, name


def not_ok_checks(live: LiveSetup) -> str:
    """Vigil's own view of the checks that are not OK: why a sample may be missing."""
    checks = httpx.get(f"{live.vigil_url}/api/v1/checks", timeout=10).json()["checks"]
    return "\n".join(f"  {c['lms']}/{c['check']}: {c['status']} {c['summary']}"
                     for c in checks if c["status"] != "OK")


@boards
def test_every_panel_query_returns_series(path: Path, live: LiveSetup, prom: Prometheus,
                                          variables: dict[str, str]) -> None:
    board = load(path)
    queries = [(f"{p['title']!r} target {t['refId']}", t["expr"])
               for p in all_panels(board) for t in p.get("targets", [])]
    assert queries
    failures = run_all(prom, queries, variables)
    assert not failures, "\n".join([*failures, "checks not OK:", not_ok_checks(live)])


@boards
def test_every_variable_query_finds_values(path: Path, prom: Prometheus,
                                           variables: dict[str, str]) -> None:
    for var in load(path)["templating"]["list"]:
        if var["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", var["query"]["query"])
        assert match, var["query"]
        selector, label = substitute(match.group(1), variables), match.group(2)
        assert prom.label_values(label, selector), f"${var['name']}: no values"


@boards
def test_every_annotation_query_finds_events(path: Path, live: LiveSetup, prom: Prometheus,
                                             variables: dict[str, str]) -> None:
    """Grafana runs annotation queries over the dashboard's time range: so does this."""
    queries = [(f"annotation {a['name']!r}", a["expr"])
               for a in load(path)["annotations"]["list"] if "expr" in a]
    assert queries
    start, end = live.started, time.time()
    failures = run_all(prom, queries, variables,
                       runner=lambda expr: prom.query_range(expr, start, end))
    assert not failures, "\n".join(failures)


def _recording_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"] if "record" in rule]


def test_every_recording_rule_expression_returns_series(prom: Prometheus,
                                                        variables: dict[str, str]) -> None:
    rules = _recording_rules()
    assert rules
    failures = run_all(prom, [(r["record"], r["expr"]) for r in rules], variables)
    assert not failures, "\n".join(failures)


def test_recorded_series_exist_in_prometheus(prom: Prometheus) -> None:
    groups = prom._get("rules")["groups"]
    loaded = {rule["name"]: rule for group in groups for rule in group["rules"]}
    for rule in _recording_rules():
        assert loaded[rule["record"]]["health"] == "ok", loaded[rule["record"]]
        assert prom.query(rule["record"]), f"{rule['record']}: nothing recorded"
    bad = [r for r in loaded.values() if r["health"] != "ok"]
    assert not bad, f"rules Prometheus could not evaluate: {bad}"


def _exposition(live: LiveSetup) -> str:
    return httpx.get(f"{live.vigil_url}/metrics", timeout=10).text


spec_none = MetricSpec("", "", "")


def _created_of(name: str) -> bool:
    """True if ``name`` is the ``_created`` series of a catalogued counter or histogram."""
    base = name.removesuffix("_created")
    spec = CATALOGUE.get(base) or CATALOGUE.get(base + "_total")
    return spec is not None and spec.type in ("counter", "histogram")


def test_every_exported_metric_is_catalogued(live: LiveSetup) -> None:
    families = list(text_string_to_metric_families(_exposition(live)))
    assert len(families) > 50
    unknown = []
    for family in families:
        name = family.name + ("_info" if family.type == "info" else "")
        if name.endswith("_info") and CATALOGUE.get(name, spec_none).type == "info":
            continue  # an Info is exposed as a gauge named *_info in the text format
        if family.type == "counter" and name + "_total" in CATALOGUE:
            name += "_total"  # the client strips _total from a counter family's name
        if family.type == "gauge" and name.endswith("_created") and _created_of(name):
            continue  # the creation time client_python adds to each counter and histogram
        spec = CATALOGUE.get(name)
        if spec is None or spec.type != family.type:
            unknown.append(f"{name} ({family.type})")
            continue
        labels = {k for s in family.samples for k in s.labels} - {"le", "lms", "check"}
        extra = labels - set(spec.labels)
        if extra:
            unknown.append(f"{name}: labels {sorted(extra)} not catalogued")
    assert not unknown, "exported but not in monitor/app/catalogue.py: " + ", ".join(unknown)


def test_promtool_check_metrics_reports_no_problems(live: LiveSetup) -> None:
    lint = subprocess.run(["promtool", "check", "metrics"], input=_exposition(live),
                          capture_output=True, text=True, timeout=30)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert not (lint.stdout + lint.stderr).strip(), lint.stdout + lint.stderr
