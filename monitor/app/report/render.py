"""Turns the gathered report (gather.py) into text, HTML or PDF.

Text and HTML come from the jinja2 templates beside this module (StrictUndefined, HTML
autoescaped, so a check summary cannot inject markup); the charts are SVG that
charts.py built from numbers and are marked safe. PDF is the HTML printed by headless
Chromium (``--print-to-pdf``), the browser the web tests already use: no extra Python
dependency, and the charts print as vectors. Every output passes through the config's
secret registry last, so a secret that reached a check summary is masked here too.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup

from monitor.kernel.redact import SecretRegistry
from monitor.kernel.units import fmt_duration

TEMPLATES = Path(__file__).parent / "templates"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PDF_TIMEOUT = 120.0


class RenderError(Exception):
    """The report could not be produced in the asked format (e.g. no Chromium for PDF)."""


def _environment(zone: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html.j2"], default_for_string=False),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    tz = ZoneInfo(zone)
    env.filters["when"] = lambda ts: "-" if ts is None else datetime.fromtimestamp(
        ts, tz).strftime("%Y-%m-%d %H:%M %Z")
    env.filters["day"] = lambda ts: datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d")
    env.filters["duration"] = lambda s: "-" if s is None else fmt_duration(s)
    env.filters["percent"] = lambda r, digits=3: "-" if r is None else f"{r * 100:.{digits}f}%"
    env.filters["number"] = lambda v: "-" if v is None else f"{v:,.0f}"
    env.filters["svg"] = Markup  # built by charts.py from numbers and an escaped title
    return env


def render(report: dict[str, Any], fmt: str, secrets: SecretRegistry | None = None) -> bytes:
    """The report as bytes in ``fmt`` (text | html | pdf)."""
    if fmt == "pdf":
        return html_to_pdf(render(report, "html", secrets).decode())
    env = _environment(report["timezone"])
    name = {"text": "report.txt.j2", "html": "report.html.j2"}[fmt]
    out = env.get_template(name).render(report=report)
    if secrets is not None:
        out = secrets.redact(out)
    return out.encode()


def title(report: dict[str, Any]) -> str:
    env = _environment(report["timezone"])
    return env.from_string(
        "Vigil report for {{ r.lms }}: {{ r.since|day }} to {{ r.until|day }}").render(r=report)


def find_browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise RenderError("PDF needs headless Chromium, and none of "
                      f"{', '.join(BROWSERS)} is on PATH (Debian: apt-get install chromium); "
                      "use --format html or text instead")


def html_to_pdf(html: str) -> bytes:
    browser = find_browser()
    with tempfile.TemporaryDirectory(prefix="vigil-report-") as tmp:
        source, target = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        source.write_text(html, encoding="utf-8")
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu",
                   "--no-pdf-header-footer", f"--user-data-dir={tmp}/profile",
                   f"--print-to-pdf={target}", source.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, timeout=PDF_TIMEOUT,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise RenderError(f"{browser} did not print the PDF within "
                              f"{PDF_TIMEOUT:.0f} s") from None
        if not target.exists() or target.stat().st_size == 0:
            err = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise RenderError(f"{browser} wrote no PDF (exit {done.returncode}): "
                              + " | ".join(err))
        return target.read_bytes()
