"""Canvas in the config: kind defaults, the example file, a token that must be given."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.app.config import ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "canvas.toml"


def test_a_canvas_site_with_only_a_url_gets_canvas_health() -> None:
    config = parse_config('[[lms]]\nname = "c"\nkind = "canvas"\n'
                          'url = "https://canvas.example.edu"\n')
    assert list(config.lms[0].checks) == ["http", "tls", "canvas_health"]


def test_the_canvas_example_is_valid_and_keeps_the_token_secret(tmp_path: Path) -> None:
    (tmp_path / "canvas_token").write_text("7~example-token-value")
    (tmp_path / "canvas_probe_token").write_text("7~example-probe-token")
    config = load_config(EXAMPLE, env={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    checks = config.lms[0].checks
    assert {"canvas_health", "canvas_api", "tls", "learner"} <= set(checks)
    assert "example-token-value" not in repr(checks["canvas_api"])
    assert "example-probe-token" not in repr(checks["learner"])


def test_canvas_api_without_a_token_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config('[[lms]]\nname = "c"\nkind = "canvas"\nurl = "https://c.example.edu"\n'
                     '[lms.checks.canvas_api]\n')
    assert any("checks.canvas_api.token" in p for p in err.value.problems), err.value.problems
