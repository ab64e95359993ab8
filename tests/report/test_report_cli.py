"""``vigil report`` as a user runs it: text, HTML and PDF (printed by real headless
Chromium and turned into page images with poppler's pdftoppm, kept as test artifacts),
the errors for bad options, and no secret in any format."""

from __future__ import annotations

import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from monitor.app.report.render import render
from tests.report.conftest import vigil
from tests.report.seed import SECRET, SINCE_ARG, UNTIL_ARG

PERIOD = ("--since", SINCE_ARG, "--until", UNTIL_ARG)


def _report(seeded: Path, *more: str) -> subprocess.CompletedProcess[bytes]:
    return vigil("report", "-c", str(seeded), "--lms", "prod", *PERIOD, *more)


def test_text_report_states_the_numbers_and_masks_secrets(seeded):
    done = _report(seeded, "--format", "text")
    assert done.returncode == 0, done.stderr.decode()
    text = done.stdout.decode()
    assert "Availability:              99.107% (SLO 99.00%: met)" in text
    assert "Incidents:                 6 (2 acknowledged, 3 resolved)" in text
    assert "Mean time to acknowledge:  10m" in text
    assert "Mean time to resolve:      8h 30m" in text
    assert "Maintenance windows held:  4" in text
    assert "999 of 1008 probes OK, 9 minute(s) with a failed probe" in text
    assert "apt token <redacted>" in text and SECRET not in text


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def test_html_report_has_charts_no_script_and_no_secret(seeded, tmp_path):
    out = tmp_path / "prod.html"
    done = _report(seeded, "--format", "html", "-o", str(out))
    assert done.returncode == 0, done.stderr.decode()
    html = out.read_text(encoding="utf-8")
    parser = _Collect()
    parser.feed(html)
    assert parser.tags.count("svg") == 3 and "script" not in parser.tags
    assert "99.107%" in html and "8h 30m" in html and ">4</b>" in html
    assert SECRET not in html and done.stdout == b""


def test_html_escapes_what_checks_wrote():
    report = {"lms": "prod", "since": 0.0, "until": 3600.0, "generated_at": 3600.0,
              "timezone": "UTC", "kind": "generic", "availability": None,
              "incidents": [{"check": "http", "severity": "warning", "fired_at": 10.0,
                             "acked_at": None, "acked_by": None, "resolved_at": None,
                             "time_to_ack": None, "time_to_resolve": None, "in_maintenance": False,
                             "summary": "<img src=x onerror=alert(1)>"}],
              "incident_count": 1, "acknowledged_count": 0, "resolved_count": 0,
              "mtta": None, "mttr": None, "maintenance": {"occurrences": [], "held": 0},
              "patch_level": [], "backups": [], "integrity": {"checks": [], "runs": []},
              "usage": []}
    html = render(report, "html").decode()
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def _dark_share(ppm: bytes) -> float:
    """Share of pixels that are not near-white in a binary PPM (P6) from pdftoppm."""
    parts = ppm.split(maxsplit=4)
    assert parts[0] == b"P6"
    pixels = parts[4]
    dark = sum(1 for i in range(0, len(pixels) - 2, 3) if min(pixels[i:i + 3]) < 200)
    return dark / (len(pixels) // 3)


@pytest.mark.integration
def test_pdf_is_printed_by_chromium_and_its_pages_are_not_blank(seeded, tmp_path, artifacts):
    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm (poppler-utils) is missing: scripts/test.sh installs it")
    pdf = artifacts / "prod-week.pdf"
    done = _report(seeded, "--format", "pdf", "-o", str(pdf))
    assert done.returncode == 0, done.stderr.decode()
    assert pdf.read_bytes().startswith(b"%PDF-")
    # The printed text holds the numbers and no secret (pdftotext is poppler's too).
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          check=True, timeout=120).stdout.decode()
    for expected in ("99.107%", "8h 30m", "10m", "Maintenance windows held", "<redacted>"):
        assert expected in text, expected
    assert SECRET not in text
    subprocess.run(["pdftoppm", "-png", "-r", "80", str(pdf), str(artifacts / "prod-week")],
                   check=True, timeout=120)
    pages = sorted(artifacts.glob("prod-week-*.png"))
    assert len(pages) >= 1
    assert all(page.read_bytes().startswith(b"\x89PNG") for page in pages)
    subprocess.run(["pdftoppm", "-r", "30", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "first")], check=True, timeout=120)
    [ppm] = tmp_path.glob("first*.ppm")
    share = _dark_share(ppm.read_bytes())
    assert 0.005 < share < 0.6, f"page 1 looks blank or black: {share:.3%} dark pixels"


def test_pdf_without_chromium_names_what_is_missing(seeded, tmp_path):
    # Only the interpreter's own directory on PATH: no browser to be found.
    done = vigil("report", "-c", str(seeded), "--lms", "prod", *PERIOD, "--format", "pdf",
                 "-o", str(tmp_path / "x.pdf"), env={"PATH": str(Path(sys.executable).parent)})
    assert done.returncode == 1
    assert "chromium" in done.stderr.decode() and "--format html" in done.stderr.decode()
    assert not (tmp_path / "x.pdf").exists()


@pytest.mark.parametrize(("argv", "message"), [
    (("--lms", "nope"), "--lms: no LMS named 'nope'"),
    (("--lms", "prod", "--since", "7x"), "--since: '7x' is not a duration back"),
    (("--lms", "prod", "--since", "2024-03-11", "--until", "2024-03-04"),
     "--since: must be before --until"),
    (("--lms", "prod", "--until", "2999-01-01"), "--until: is in the future"),
    (("--lms", "prod", "--timezone", "Mars/Olympus"),
     "--timezone: 'Mars/Olympus' is not an IANA timezone"),
])
def test_bad_options_exit_2_with_the_reason(seeded, argv, message):
    done = vigil("report", "-c", str(seeded), *argv)
    assert done.returncode == 2
    assert message in done.stderr.decode() and done.stdout == b""
