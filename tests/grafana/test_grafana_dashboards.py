"""Structural checks on every committed Grafana dashboard (grafana/dashboards/*.json)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest

from monitor.app.catalogue import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
BOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
DS_REF = {"type": "prometheus", "uid": "${datasource}"}
EXPECTED = {"vigil-fleet.json", "vigil-lms-detail.json", "vigil-patch-integrity.json",
            "vigil-learning.json", "vigil-self.json"}

# Series Prometheus itself adds for every scrape target.
PROMETHEUS_BUILTINS = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                       "scrape_samples_post_metric_relabeling", "scrape_series_added"}
PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
                "group_right", "bool", "offset", "inf", "nan", "atan2"}


def load_builder():
    spec = importlib.util.spec_from_file_location("build_dashboards",
                                                  GRAFANA / "build_dashboards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def metric_names(expr: str) -> set[str]:
    """Metric names used in a PromQL expression (or a label_values() variable query)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)                      # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)                     # range / subquery windows
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\blabel_values\s*\(([^,)]*),[^)]*\)", r"\1", expr)  # label argument
    names = set()
    for match in re.finditer(r"(?<![\w$.])([A-Za-z_:][\w:]*)(\s*\()?", expr):
        word, is_call = match.group(1), match.group(2)
        if is_call or word in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def resolves(name: str) -> bool:
    """True if the series name is catalogued (histogram/counter suffixes resolved)."""
    if name in PROMETHEUS_BUILTINS or name in CATALOGUE:
        return True
    for suffix in ("_bucket", "_sum", "_count"):
        base = name.removesuffix(suffix)
        if base != name and CATALOGUE.get(base) and CATALOGUE[base].type == "histogram":
            return True
    if name.endswith("_total"):
        spec = CATALOGUE.get(name.removesuffix("_total"))
        return spec is not None and spec.type == "counter"
    return False


def all_panels(board: dict) -> list[dict]:
    out = []
    for panel in board["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def exprs(board: dict) -> list[str]:
    found = [t["expr"] for p in all_panels(board) for t in p.get("targets", [])]
    found += [a["expr"] for a in board["annotations"]["list"] if "expr" in a]
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            found.append(var["query"]["query"] if isinstance(var["query"], dict)
                         else var["query"])
    return found


boards = pytest.mark.parametrize("path", BOARD_FILES, ids=[p.name for p in BOARD_FILES])


def test_the_expected_dashboards_exist():
    assert {p.name for p in BOARD_FILES} == EXPECTED


def test_committed_json_equals_the_generator_output():
    generated = load_builder().generate()
    assert set(generated) == {p.name for p in BOARD_FILES}
    for name, text in generated.items():
        assert (GRAFANA / "dashboards" / name).read_text(encoding="utf-8") == text, (
            f"{name} is stale: run python -m grafana.build_dashboards")


@boards
def test_schema_and_unique_uid(path):
    board = load(path)
    assert board["schemaVersion"] >= 39
    assert board["uid"] == path.stem
    assert board["title"] and board["description"]


def test_dashboard_uids_are_unique():
    uids = [load(p)["uid"] for p in BOARD_FILES]
    assert len(uids) == len(set(uids))


@boards
def test_panel_ids_are_unique(path):
    ids = [p["id"] for p in all_panels(load(path))]
    assert len(ids) == len(set(ids))


@boards
def test_grid_positions_fit_and_do_not_overlap(path):
    rects = []
    for panel in all_panels(load(path)):
        g = panel["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["y"] >= 0
        assert g["x"] + g["w"] <= 24, panel["title"]
        rects.append((panel["title"], g))
    for i, (title_a, a) in enumerate(rects):
        for title_b, b in rects[i + 1:]:
            overlap = (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
                       and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])
            assert not overlap, f"{title_a!r} overlaps {title_b!r}"


@boards
def test_datasource_only_through_the_variable(path):
    board = load(path)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"instance", "lms"} <= set(variables)
    for var in variables.values():
        if var["type"] == "query":
            assert var["datasource"] == DS_REF
    for panel in all_panels(board):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DS_REF, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DS_REF, panel["title"]
    for annotation in board["annotations"]["list"]:
        if not annotation.get("builtIn"):
            assert annotation["datasource"] == DS_REF
    # no UID anywhere but the variable reference and Grafana's built-in annotation source
    text = path.read_text(encoding="utf-8")
    uids = set(re.findall(r'"uid":\s*"([^"]*)"', text))
    assert uids <= {"${datasource}", "-- Grafana --", board["uid"]}


@boards
def test_panels_have_description_unit_and_thresholds(path):
    for panel in all_panels(load(path)):
        if panel["type"] == "row":
            continue
        assert panel["description"], panel["title"]
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults["unit"], panel["title"]
        assert defaults["thresholds"]["steps"], panel["title"]
        assert defaults["thresholds"]["steps"][0]["value"] is None, panel["title"]


@boards
def test_alert_transition_and_maintenance_annotations(path):
    annotations = {a["name"]: a for a in load(path)["annotations"]["list"]}
    assert "lms_alert_firing" in annotations["Alert transitions"]["expr"]
    assert annotations["Alert transitions"]["enable"]
    window = annotations["Maintenance windows"]
    assert window["enable"] and window["expr"].startswith("vigil_maintenance_active{")
    assert window["expr"].endswith("== 1")


@boards
def test_every_metric_is_catalogued(path):
    unknown = {name for expr in exprs(load(path)) for name in metric_names(expr)
               if not resolves(name)}
    assert not unknown, f"not in monitor/app/catalogue.py: {sorted(unknown)}"


def test_metric_name_extraction():
    expr = ('histogram_quantile(0.99, sum by (le, type) (rate(vigil_check_run_duration_seconds'
            '_bucket{instance=~"$instance", type="http"}[$__rate_interval]))) / on (instance) '
            'group_left (lms) lms_check_status{lms="a b"} > bool 1 and nosuch_metric offset 5m')
    assert metric_names(expr) == {"vigil_check_run_duration_seconds_bucket",
                                  "lms_check_status", "nosuch_metric"}
    assert metric_names('label_values(lms_check_status{instance=~"$i"}, lms)') == {
        "lms_check_status"}
    assert resolves("vigil_check_run_duration_seconds_bucket")
    assert resolves("vigil_scheduler_lag_seconds_count")
    assert resolves("vigil_check_runs_total")
    assert resolves("scrape_duration_seconds") and resolves("up")
    assert not resolves("nosuch_metric")
    assert not resolves("lms_check_status_bucket")  # a gauge has no buckets
    assert not resolves("lms_check_status_total")


@pytest.mark.parametrize("rel", ["provisioning/dashboards/vigil.yaml",
                                 "provisioning/datasources/prometheus.yaml"])
def test_provisioning_yaml(rel):
    import yaml  # pyyaml: a test dependency (pyproject [test])
    doc = yaml.safe_load((GRAFANA / rel).read_text(encoding="utf-8"))
    assert doc["apiVersion"] == 1
    if "datasources" in doc:
        (ds,) = doc["datasources"]
        assert ds["type"] == "prometheus" and ds["uid"] and ds["url"] == "http://localhost:9090"
    else:
        (provider,) = doc["providers"]
        assert provider["type"] == "file"
        assert provider["options"]["path"]


def substitute(expr: str) -> str:
    """Template variables replaced the way Grafana would for 'All'."""
    return (expr.replace("$__rate_interval", "1m").replace("$instance", ".+")
            .replace("$lms", ".+"))


@pytest.mark.integration
@pytest.mark.needs("promtool")
def test_every_query_parses_with_promtool(tmp_path):
    """Every panel and annotation query is valid PromQL (promtool parses it as a rule)."""
    rules = []
    for path in BOARD_FILES:
        board = load(path)
        queries = [t["expr"] for p in all_panels(board) for t in p.get("targets", [])]
        queries += [a["expr"] for a in board["annotations"]["list"] if "expr" in a]
        rules += [{"record": f"vigil:{path.stem.replace('-', '_')}:{i}",
                   "expr": substitute(expr)} for i, expr in enumerate(queries)]
    rules_file = tmp_path / "panels.rules.json"  # JSON is YAML
    rules_file.write_text(json.dumps({"groups": [{"name": "panels", "rules": rules}]}))
    result = subprocess.run(["promtool", "check", "rules", str(rules_file)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# What issue 6 asks each board to show, as the metrics that carry it.
REQUIRED_METRICS = {
    "vigil-fleet.json": {
        "up", "lms_check_status", "lms_alert_firing", "lms_slo_availability_ratio",
        "lms_slo_error_budget_remaining_ratio", "lms_slo_burn_rate",
        "vigil_maintenance_active", "lms_moodle_update_security_pending",
        "lms_integrity_changed_files"},
    "vigil-lms-detail.json": {
        "lms_canvas_component_up", "lms_canvas_api_up", "lms_openedx_service_up",
        "lms_openedx_http_duration_seconds", "lms_a11y_violations", "lms_a11y_page_audited",
        "lms_check_status", "lms_http_duration_seconds", "lms_tls_cert_expiry_seconds",
        "lms_moodle_cron_age_seconds", "lms_moodle_scheduled_tasks_failing",
        "lms_moodle_adhoc_tasks_due", "lms_moodle_redis_up", "lms_moodle_sessions",
        "lms_system_cpu_usage_ratio", "lms_prediction_seconds_to_threshold"},
    "vigil-patch-integrity.json": {
        "lms_moodle_update_available", "lms_moodle_update_security_pending",
        "lms_os_updates_pending", "lms_moodle_branch_security_support_end_timestamp_seconds",
        "lms_integrity_changed_files", "lms_integrity_data_scripts",
        "lms_moodle_filestore_missing_blobs", "lms_moodle_filestore_orphan_blobs",
        "lms_moodle_config_settings_changed", "lms_moodle_privileged_account_changes"},
    "vigil-learning.json": {
        "lms_moodle_active_users", "lms_moodle_logins", "lms_moodle_failed_logins",
        "lms_moodle_course_completions", "lms_moodle_enrolments_created",
        "lms_moodle_quiz_attempts_in_progress"},
    "vigil-self.json": {
        "vigil_check_run_duration_seconds_bucket", "vigil_scheduler_lag_seconds_bucket",
        "vigil_outbox_notifications", "vigil_notifications_total", "vigil_receiver_up",
        "scrape_duration_seconds"},
}


@boards
def test_each_board_shows_what_the_issue_asks(path):
    board = load(path)
    panel_exprs = [t["expr"] for p in all_panels(board) for t in p.get("targets", [])]
    used = {name for expr in panel_exprs for name in metric_names(expr)}
    missing = REQUIRED_METRICS[path.name] - used
    assert not missing, f"{path.name} has no panel on {sorted(missing)}"


def test_panels_whose_data_cannot_exist_on_some_sites_say_why() -> None:
    """Redis on a file-session site, sessions on a Redis site, TLS on plain http: the
    panel says so instead of Grafana's bare "No data"."""
    board = load(GRAFANA / "dashboards" / "vigil-lms-detail.json")
    said = {p["title"]: p["fieldConfig"]["defaults"].get("noValue") for p in all_panels(board)
            if "fieldConfig" in p}
    for title in ("Redis up", "Redis ping", "Redis memory", "Redis evictions"):
        assert said[title].startswith("No Redis"), title
    assert said["Sessions"].startswith("Sessions are not in the database")
    assert said["TLS certificate expires in"] == "No TLS: the site is served over plain http"
