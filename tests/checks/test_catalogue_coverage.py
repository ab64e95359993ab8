"""Every sample a check module can emit is catalogued; the registry builds every type.

The ``probe`` fixture (conftest.py) checks the samples each test actually produced; this
file checks the names each module declares in its METRICS tuple, so a sample that no
test happens to produce is still covered.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest

from checks import dns, http, os_updates, process, system, tcp, tls
from checks.a11y import check as a11y
from checks.canvas import api as canvas_api
from checks.canvas import health as canvas_health
from checks.integrity import codetree, datascripts
from checks.journey import run as journey_run
from checks.openedx import heartbeat as openedx_heartbeat
from checks.openedx import pages as openedx_pages
from checks.registry import CHECK_METRICS, CHECK_TYPES, build_check
from monitor.kernel.spec import CheckSpec

MODULES = (http, tls, tcp, dns, system, process, os_updates, codetree, datascripts,
           canvas_health, canvas_api, openedx_heartbeat, openedx_pages, journey_run, a11y)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_declared_sample_name_is_catalogued(module: ModuleType) -> None:
    missing = [name for name in module.METRICS if name not in CHECK_METRICS]
    assert not missing, f"{module.__name__} emits uncatalogued samples: {missing}"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_sample_name_in_the_source_is_declared(module: ModuleType) -> None:
    source = Path(module.__file__ or "").read_text(encoding="utf-8")
    used = set(re.findall(r'"(lms_[a-z0-9_]+)"', source))
    assert used <= set(module.METRICS), used - set(module.METRICS)


def test_catalogued_check_metrics_follow_the_naming_rules() -> None:
    for spec in CHECK_METRICS.values():
        assert spec.name.startswith("lms_") and spec.help and spec.help.endswith(".")
        assert spec.name.endswith("_total") == (spec.type == "counter"), spec.name


def test_the_registry_maps_each_type_to_its_spec_and_check() -> None:
    generic = {"http", "tls", "tcp", "dns", "system", "process", "os_updates",
               "code_integrity", "dataroot_scripts", "journey", "a11y"}
    assert generic <= set(CHECK_TYPES)
    assert set(CHECK_TYPES) - generic == {
        n for n in CHECK_TYPES if n.startswith(("moodle_", "canvas_", "openedx_"))}
    minimal = {"tcp": {"port": 25}, "process": {"processes": ["cron"]},
               "canvas_api": {"token": "a-canvas-token"},
               "journey": {"steps": [{"name": "home", "path": "/"}]}}
    for name, (spec_cls, check_cls) in CHECK_TYPES.items():
        assert issubclass(spec_cls, CheckSpec)
        assert spec_cls.model_fields["type"].annotation.__args__ == (name,)  # type: ignore[union-attr]
        spec = spec_cls.model_validate({"type": name, **minimal.get(name, {})})
        assert isinstance(build_check(spec), check_cls)


def test_build_check_rejects_a_spec_of_the_wrong_class() -> None:
    class Odd(CheckSpec):
        type: str = "http"

    with pytest.raises(TypeError, match="needs a HttpSpec"):
        build_check(Odd())
    with pytest.raises(ValueError, match="unknown check type 'nope'"):
        build_check(CheckSpec(type="nope"))
