"""A real Prometheus scraping a fleet of four ``vigil run`` (two shards x two members)
with shard and member target labels, as examples/fleet/prometheus-direct.yml does.

Shown: the fleet dashboard's queries return one series per site, not one per instance
(while the raw series are duplicated by the HA pair); Prometheus's own ``hashmod``
relabel action puts each site in the shard Vigil's ``--shard`` gives it; the example
Prometheus configs (direct, federation, remote write) pass ``promtool check config``
and the example Alertmanager config passes ``amtool check-config``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.kernel.shard import hashmod
from tests.fleet.processes import ROOT, Vigil
from tests.helpers import TargetServer, free_port, wait_for

pytestmark = pytest.mark.needs("prometheus", "promtool")

SITES = [f"site-{i}" for i in range(8)]
FAILING = {"site-2", "site-5"}
EXAMPLES = ROOT / "examples" / "fleet"
BOARD = ROOT / "grafana" / "dashboards" / "vigil-fleet.json"

VIGIL = """
[state]
dir = "{state}"
[server]
port = {port}
[fleet]
mirror_windows = false
%s
"""
SITE = """[[lms]]
name = "%s"
url = "%s"
[lms.checks.http]
interval = "1s"
timeout = "900ms"
"""


class Prometheus:
    def __init__(self, work: Path, config: str) -> None:
        (work / "prometheus.yml").write_text(config)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = (work / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            [shutil.which("prometheus") or "prometheus",
             f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=self.log)
        wait_for(lambda: httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200, 30,
                 "prometheus ready")

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        response.raise_for_status()
        return list(response.json()["data"]["result"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=15)
        self.log.close()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    work = tmp_path_factory.mktemp("prometheus-fleet")
    targets = {name: TargetServer() for name in SITES}
    for name in FAILING:
        targets[name].status = 500
    sites = "\n".join(SITE % (name, targets[name].url) for name in SITES)
    vigils: dict[tuple[int, int], Vigil] = {}
    prometheus: Prometheus | None = None
    try:
        for shard in (0, 1):
            for member in (0, 1):
                vigils[shard, member] = Vigil(work / f"vigil-{shard}-{member}", VIGIL % sites,
                                              "--shard", f"{shard}/2")
        for vigil in vigils.values():
            wait_for(vigil.ready, 40, f"vigil on {vigil.port}")
        scrape = "\n".join(
            f'      - targets: ["127.0.0.1:{vigil.port}"]\n'
            f'        labels: {{shard: "{shard}", ha_member: "{member}"}}'
            for (shard, member), vigil in vigils.items())
        # Never scraped successfully (port 1): only the labels relabelling gives them count.
        hashed = "\n".join(f'      - targets: ["127.0.0.1:1"]\n        labels: {{lms: "{name}"}}'
                           for name in SITES)
        prometheus = Prometheus(work, f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: vigil
    static_configs:
{scrape}
  - job_name: hashmod
    static_configs:
{hashed}
    relabel_configs:
      - {{source_labels: [lms], modulus: 2, target_label: shard_of_2, action: hashmod}}
      - {{source_labels: [lms], modulus: 5, target_label: shard_of_5, action: hashmod}}
""")
        # Every member reports every site of its shard, failing ones CRITICAL.
        wait_for(lambda: len(prometheus.query('lms_check_status{job="vigil"}')) == 16 and len(
            prometheus.query('lms_check_status{job="vigil"} == 2')) == 2 * len(FAILING),
            60, "16 check series, the failing ones critical")
        yield prometheus
    finally:
        if prometheus is not None:
            prometheus.stop()
        for vigil in vigils.values():
            vigil.stop()
        for target in targets.values():
            target.close()


def board_queries() -> list[str]:
    board = json.loads(BOARD.read_text())
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]


def grafana_all(expr: str) -> str:
    return expr.replace("$instance", ".*").replace("$lms", ".*")


def test_the_raw_series_are_duplicated_by_the_ha_pair(fleet: Prometheus) -> None:
    raw = fleet.query('count by (lms) (lms_check_status{job="vigil"} == 2)')
    assert {r["metric"]["lms"]: r["value"][1] for r in raw} == dict.fromkeys(FAILING, "2")


def test_every_fleet_panel_query_gives_one_series_per_site(fleet: Prometheus) -> None:
    answered = 0
    for expr in board_queries():
        if expr.startswith("up{"):
            continue  # the one panel about the instances themselves
        result = fleet.query(grafana_all(expr))
        answered += bool(result)
        label_sets = [tuple(sorted(r["metric"].items())) for r in result]
        assert len(label_sets) == len(set(label_sets)), expr
        assert all("instance" not in r["metric"] and "ha_member" not in r["metric"]
                   for r in result), (expr, result)
    assert answered >= 8  # the check, alert and status panels have data here


def test_the_status_panels_count_each_failing_site_once(fleet: Prometheus) -> None:
    [critical] = [e for e in board_queries() if e.startswith("count by (lms)") and
                  "lms_check_status" in e and e.endswith("== 2)")]
    result = fleet.query(grafana_all(critical))
    assert {r["metric"]["lms"]: r["value"][1] for r in result} == dict.fromkeys(FAILING, "1")
    [failing] = [e for e in board_queries() if "lms_check_success" in e and e.endswith("== 0)")]
    assert {r["metric"]["lms"]: r["value"][1] for r in fleet.query(grafana_all(failing))} == (
        dict.fromkeys(FAILING, "1"))


def test_prometheus_hashmod_puts_each_site_in_the_shard_vigil_gives_it(
        fleet: Prometheus) -> None:
    answer = httpx.get(f"{fleet.url}/api/v1/targets", timeout=10).json()["data"]
    labels = [t["labels"] for t in answer["activeTargets"] if t["labels"]["job"] == "hashmod"]
    assert {t["lms"]: (int(t["shard_of_2"]), int(t["shard_of_5"])) for t in labels} == {
        name: (hashmod(name, 2), hashmod(name, 5)) for name in SITES}
    # And the instances own exactly those: vigil_fleet_site_owned by shard label.
    owned = fleet.query('max by (lms, shard) (vigil_fleet_site_owned{job="vigil"})')
    assert {r["metric"]["lms"]: int(r["metric"]["shard"]) for r in owned} == {
        name: hashmod(name, 2) for name in SITES}


def test_the_example_prometheus_and_alertmanager_configs_check(tmp_path: Path) -> None:
    rules = ROOT / "grafana" / "rules" / "vigil-rules.yml"
    for name in ("prometheus-direct.yml", "prometheus-federation.yml",
                 "prometheus-remote-write.yml"):
        text = (EXAMPLES / name).read_text().replace("/etc/prometheus/vigil-rules.yml",
                                                     str(rules))
        (tmp_path / name).write_text(text)
        done = subprocess.run(["promtool", "check", "config", str(tmp_path / name)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
    amtool = shutil.which("amtool")
    if amtool is not None:  # Debian's prometheus-alertmanager ships it
        done = subprocess.run([amtool, "check-config", str(EXAMPLES / "alertmanager.yml")],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
