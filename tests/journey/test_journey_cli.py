"""`vigil check` runs a Moodle journey as Icinga would call it: Nagios status, the failing
step named, perfdata per step, and the probe's password (from the environment) nowhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.journey.conftest import PASSWORD
from tests.moodle_double.web import MoodleWebDouble

ROOT = Path(__file__).resolve().parents[2]


def vigil_check(config: Path, password: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROBE_PW": password}
    return subprocess.run([sys.executable, "-m", "monitor", "check", "-c", str(config),
                           "--lms", "campus", "--check", "learner"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_vigil_check_runs_the_journey_and_never_prints_the_password(
        tmp_path: Path, moodle: MoodleWebDouble) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text(f'[state]\ndir = "{tmp_path}"\n[[lms]]\nname = "campus"\nkind = "moodle"\n'
                      f'url = "{moodle.url}"\n[lms.checks.learner]\ntype = "journey"\n'
                      'journey = "moodle"\nusername = "vigil-probe"\n'
                      'password = "${PROBE_PW}"\ncourse_id = 42\n', encoding="utf-8")
    good = vigil_check(config, PASSWORD)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.startswith("VIGIL OK - campus/learner: journey OK in "), good.stdout
    assert "'campus/learner/lms_journey_step_success{step:logout}'=1" in good.stdout

    wrong = PASSWORD + "-typo"
    bad = vigil_check(config, wrong)
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert bad.stdout.startswith("VIGIL CRITICAL - campus/learner: step 'login': login "
                                 "refused: Moodle answered the login form again with "
                                 "'Invalid login, please try again'"), bad.stdout
    assert "'campus/learner/lms_journey_step_success{step:login}'=0" in bad.stdout
    for output in (good.stdout, good.stderr, bad.stdout, bad.stderr):
        assert PASSWORD not in output and "Pr0be-learner" not in output
