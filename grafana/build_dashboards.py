"""Generate Vigil's Grafana dashboards (grafana/dashboards/*.json).

Panels are declared as data in grafana/boards/ (one module per board, built with the
shared ``panels`` and ``frame`` modules) so that every board is consistent: one
datasource variable (``${datasource}``, no hard-coded UIDs), units, thresholds and
descriptions on every panel, an annotation for alert transitions. Run
``python -m grafana.build_dashboards`` from the repository root after editing and commit
the output; tests/grafana checks the committed JSON equals what this script generates.
Only metric names from monitor/app/catalogue.py (plus Prometheus' up and scrape_*) may be
used in queries.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from grafana.boards.fleet import fleet
from grafana.boards.learning import learning
from grafana.boards.lms_detail import lms_detail
from grafana.boards.patch_integrity import patch_integrity
from grafana.boards.vigil_self import vigil_self

OUT_DIR = Path(__file__).resolve().parent / "dashboards"


BOARDS = {"vigil-fleet.json": fleet, "vigil-lms-detail.json": lms_detail,
          "vigil-patch-integrity.json": patch_integrity,
          "vigil-learning.json": learning, "vigil-self.json": vigil_self}


def render(board: dict) -> str:
    return json.dumps(board, indent=2, sort_keys=False) + "\n"


def generate() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {name: render(build()) for name, build in BOARDS.items()}


def main(argv: list[str]) -> int:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in generate().items():
        (OUT_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {OUT_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
