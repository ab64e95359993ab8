"""Open edX in the config: kind defaults and the example file."""

from __future__ import annotations

from pathlib import Path

from monitor.app.config import load_config, parse_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "openedx.toml"


def test_an_openedx_site_with_only_a_url_gets_heartbeat_and_pages() -> None:
    config = parse_config('[[lms]]\nname = "o"\nkind = "openedx"\n'
                          'url = "https://learn.example.edu"\n')
    assert list(config.lms[0].checks) == ["http", "tls", "openedx_heartbeat", "openedx_pages"]


def test_the_openedx_example_is_valid(tmp_path: Path) -> None:
    (tmp_path / "openedx_probe_password").write_text("example-probe-password")
    config = load_config(EXAMPLE, env={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    checks = config.lms[0].checks
    assert "example-probe-password" not in repr(checks["learner"])
    assert checks["openedx_heartbeat"].studio_url == "https://studio.learn.example.edu"
    assert {"openedx_heartbeat", "openedx_pages", "tls"} <= set(checks)
