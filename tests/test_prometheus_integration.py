"""A real Prometheus scrapes a real `vigil run`; check metrics come back through its API."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.helpers import TargetServer, free_port, wait_for
from tests.test_daemon_process import Vigil

pytestmark = [
    pytest.mark.integration,
    pytest.mark.needs("prometheus", "promtool"),
]


def test_prometheus_scrapes_vigil_and_reads_check_metrics(tmp_path: Path) -> None:
    target = TargetServer()
    api_port, prom_port = free_port(), free_port()
    (tmp_path / "vigil.toml").write_text(f"""
[state]
dir = "state"
[server]
port = {api_port}
[[lms]]
name = "site"
url = "{target.url}"
[lms.checks.http]
interval = "1s"
timeout = "900ms"
[lms.checks.refused]
type = "tcp"
host = "127.0.0.1"
port = {free_port()}
interval = "1s"
timeout = "900ms"
""")
    (tmp_path / "prometheus.yml").write_text(f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: vigil
    static_configs:
      - targets: ["127.0.0.1:{api_port}"]
""")
    vigil = Vigil(tmp_path / "vigil.toml", api_port)
    prometheus = subprocess.Popen(
        ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"),
    )
    api = f"http://127.0.0.1:{prom_port}/api/v1"

    def query(expr: str) -> dict[str, float]:
        data = httpx.get(f"{api}/query", params={"query": expr}, timeout=5).json()
        assert data["status"] == "success", data
        return {r["metric"].get("check", ""): float(r["value"][1]) for r in data["data"]["result"]}

    try:
        wait_for(lambda: vigil.get("/readyz").status_code == 200, 20, "vigil ready")
        statuses = wait_for(lambda: (s := query('lms_check_status{lms="site"}')) and len(s) == 2
                            and s, 60, "check metrics in Prometheus")
        assert statuses == {"http": 0.0, "refused": 2.0}
        up = query('up{job="vigil"}')
        assert list(up.values()) == [1.0]
        phases = query('lms_http_duration_seconds{lms="site"}')
        assert phases, "per-phase HTTP timings reach Prometheus"
        runs = query("sum(vigil_check_runs_total)")
        assert sum(runs.values()) >= 2

        exposition = vigil.get("/metrics").content
        lint = subprocess.run(["promtool", "check", "metrics"], input=exposition,
                              capture_output=True, timeout=30)
        assert lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(), (
            lint.stdout + lint.stderr)
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=20)
        vigil.proc.terminate()
        vigil.proc.wait(timeout=20)
        vigil.log.close()
        target.close()
