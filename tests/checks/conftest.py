"""Fixtures for the check tests (plain helpers are in check_helpers.py).

The ``probe`` fixture runs a check and asserts that every sample it returns is in the
metric catalogue with the catalogued labels (tests/checks/test_catalogue_coverage.py
covers the declared names statically; this covers what the code actually emits).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trustme
from check_helpers import server_context

from checks.base import Check, CheckContext
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result


@pytest.fixture
def probe() -> Callable[[Check, CheckContext], Awaitable[Result]]:
    async def run(check: Check, ctx: CheckContext) -> Result:
        result = await check.run(ctx)
        for sample in result.samples:
            assert sample.name in CATALOGUE, f"{sample.name} is not catalogued"
            assert set(sample.labels) == set(CATALOGUE[sample.name].labels), sample
            assert sample.value == sample.value, f"{sample.name} is NaN"
        assert "\n" not in result.summary
        return result

    return run


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="session")
def good_tls(ca: trustme.CA) -> ssl.SSLContext:
    return server_context(ca.issue_cert("localhost", "127.0.0.1"))
