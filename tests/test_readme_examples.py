"""The TOML examples in the README are valid configuration (together, as one file)."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.app.config import parse_config

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_toml_examples_validate() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2, "the README lost its alerting and maintenance examples"
    # Secret references point at files and credentials this machine does not have;
    # stand-ins of the right shape keep the rest of the example honest.
    stand_ins = {"api-token": "0123456789abcdef0123", "oncall-token": "oncall-0123456789ab",
                 "ops-token": "ops-0123456789abcdef", "slack-url": "json://127.0.0.1:9/hook"}
    text = re.sub(r"\$\{(?:file|cred):[^}]*?([\w-]+)\}",
                  lambda m: stand_ins.get(m.group(1), "secret"), "\n".join(blocks))
    text += '\n[[lms]]\nname = "moodle-prod"\nurl = "https://moodle.example.edu"\n'
    config = parse_config(text, source="README.md")
    assert [r.name for r in config.alerts.receivers] == ["oncall-mail", "pager", "chat"]
    assert config.maintenance[0].rrule == "FREQ=WEEKLY;BYDAY=SU"
