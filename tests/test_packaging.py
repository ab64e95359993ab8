"""`pip install .` (the systemd install path) must ship every subpackage and data file."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parent.parent


def test_every_code_directory_is_a_package_the_build_includes() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    packaged = set(find_packages(where=str(ROOT), include=include))
    code_dirs = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for top in ("monitor", "checks", "alerts")
        for path in (ROOT / top).rglob("*.py")
    }
    assert code_dirs <= packaged, f"not packaged: {sorted(code_dirs - packaged)}"


def test_package_data_globs_cover_the_runtime_files() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]
    assert "pages/*" in data["monitor.app.demo"] and "templates/*" in data["monitor.app.web"]
    assert "templates/*" in data["alerts"]
    for needed in ("monitor/app/demo/pages/demo.toml", "monitor/app/web/templates/base.html.j2",
                   "alerts/templates/message.txt.j2"):
        assert (ROOT / needed).is_file()
