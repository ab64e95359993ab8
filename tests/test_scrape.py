"""The /metrics route (monitor/app/scrape.py): new states rendered between scrapes, gzip
when the scraper asks for it (Prometheus sends ``Accept-Encoding: gzip``), each family
compressed again only when its bytes changed, and secrets masked before compressing."""

from __future__ import annotations

import asyncio
import gzip
from dataclasses import dataclass, field

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from starlette.testclient import TestClient

from monitor.app import scrape as scrape_module
from monitor.app.metrics import DaemonMetrics, build_registry
from monitor.app.scrape import WARM_FOR, Gzip, Masked, Scrape, wants_gzip
from monitor.app.store import StateStore
from monitor.app.web.api import create_app
from monitor.app.web.redacting import RedactingApp
from monitor.kernel.redact import MASK, SecretRegistry
from monitor.kernel.result import Result, Sample, Status

PROMETHEUS = {  # what Prometheus 2.42 sends (captured from a real scrape)
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
}
SECRET = "s3cr3t/T0ken+value"


@dataclass
class View:
    store: StateStore
    registry: CollectorRegistry
    metrics: DaemonMetrics
    secrets: SecretRegistry = field(default_factory=SecretRegistry)

    def readiness_problems(self) -> list[str]:
        return []


def client_for(store: StateStore, secrets: SecretRegistry | None = None) -> TestClient:
    registry, metrics = build_registry(store)
    view = View(store, registry, metrics, secrets or SecretRegistry())
    return TestClient(RedactingApp(create_app(view), view.secrets))  # as the daemon does


def fill(store: StateStore, n: int = 20) -> None:
    for i in range(n):
        samples = (Sample("lms_http_status_code", 200), Sample("lms_tcp_connect_seconds", i / 7))
        store.record_result(f"site{i}", "http", "http", Result(Status.OK, "ok", samples), 1.0, 0.1)


@pytest.mark.parametrize(
    ("header", "gzip_it"),
    [
        ("gzip", True),
        ("gzip, deflate", True),
        ("deflate, gzip;q=0.5", True),
        ("*", True),
        ("", False),
        ("identity", False),
        ("deflate, br", False),
        ("gzip;q=0", False),
        ("*;q=0.5, gzip;q=0", False),
        ("GZIP;Q=1.0", True),
        ("gzip;q=zero", False),
    ],
)
def test_gzip_is_used_when_the_accept_encoding_header_takes_it(header: str, gzip_it: bool) -> None:
    assert wants_gzip(header) is gzip_it


def test_the_route_sends_gzip_to_prometheus_and_the_same_bytes_plain_to_others(
    store: StateStore,
) -> None:
    fill(store)
    client = client_for(store)
    zipped = client.get("/metrics", headers=PROMETHEUS)
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.headers["content-type"].startswith("application/openmetrics-text")
    raw = zipped.content  # httpx inflates it
    plain = client.get("/metrics", headers={**PROMETHEUS, "Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert raw == plain.content and raw.endswith(b"# EOF\n")
    assert b'lms_tcp_connect_seconds{check="http",lms="site3"} 0.42857142857142855' in raw
    assert int(zipped.headers["content-length"]) < len(raw)  # what went over the wire


def test_a_secret_in_a_label_is_masked_in_the_gzip_body_too(store: StateStore) -> None:
    disk = (Sample("lms_system_disk_read_bytes_total", 1.0, {"device": SECRET}),)
    store.record_result("moodle", "system", "system", Result(Status.OK, "ok", disk), 1.0, 0.1)
    client = client_for(store, SecretRegistry([SECRET]))
    for encoding in ("gzip", "identity"):
        body = client.get("/metrics", headers={"Accept-Encoding": encoding}).content
        assert SECRET.encode() not in body and MASK.encode() in body, encoding


def test_gzip_compresses_again_only_the_pieces_that_changed() -> None:
    pieces = [b"head\n", b"a" * 100_000, b"# HELP x y\n", b"b 1.0\n" * 5000, b"tail\n"]
    compress = Gzip()
    first = compress(pieces)
    assert gzip.decompress(first) == b"".join(pieces) and compress.compressed == 5
    pieces[3] = b"b 2.0\n" * 5000  # one family's values moved
    second = compress(pieces)
    assert gzip.decompress(second) == b"".join(pieces) and compress.compressed == 6
    assert compress(pieces) == second and compress.compressed == 6


def test_secrets_are_masked_piece_by_piece_and_only_changed_pieces_are_searched_again() -> None:
    line = f'lms_x{{device="{SECRET}"}} 1.0\n'.encode()
    pieces = [b"# HELP lms_x x\n", line * 3, b"b 1.0\n" * 5000, line, b"# EOF\n"]
    secrets = SecretRegistry([SECRET])
    masked, compress = Masked(secrets), Gzip()
    first = masked(pieces)
    assert b"".join(first) == secrets.redact_bytes(b"".join(pieces))  # as the whole body
    assert SECRET.encode() not in b"".join(first) and masked.searched == 5
    assert first[2] is pieces[2]  # nothing to mask: the piece itself
    compress(first)
    pieces[2] = b"b 2.0\n" * 5000  # one family's values moved
    second = masked(pieces)
    assert masked.searched == 6 and second[1] is first[1] and second[3] is first[3]
    assert gzip.decompress(compress(second)) == secrets.redact_bytes(b"".join(pieces))
    assert compress.compressed == 6  # the masked pieces kept: only the moved one again


def test_a_secret_registered_after_a_scrape_is_masked_in_every_piece_at_the_next() -> None:
    later = "added-by-a-reload-0123"
    pieces = [f'lms_x{{device="{later}"}} 1.0\n'.encode(), b"# EOF\n"]
    secrets = SecretRegistry([SECRET])
    masked = Masked(secrets)
    assert masked(pieces) == pieces
    secrets.add(later)
    assert later.encode() not in b"".join(masked(pieces)) and masked.searched == 4


def test_between_scrapes_new_states_are_rendered_ahead_and_the_warming_stops(
    store: StateStore,
) -> None:
    fill(store)
    registry, metrics = build_registry(store)
    assert metrics.state is not None
    now = [0.0]
    scrape = Scrape(registry, metrics.state, clock=lambda: now[0])

    async def scrape_and_tick() -> None:
        scrape.parts(generate_latest, False)  # the first scrape starts the warming
        assert scrape.warming() and scrape.lines.renders == 20
        store.record_result("site3", "http", "http", Result(Status.WARNING, "slow"), 2.0, 0.1)
        now[0] += 30
        scrape.stop()
        scrape.tick()  # one step: the new state is rendered now, not at the next scrape
        assert scrape.lines.renders == 21 and scrape.warming()
        body = b"".join(scrape.parts(generate_latest, False))
        assert scrape.lines.renders == 21 and body == generate_latest(registry)
        store.record_result("site4", "http", "http", Result(Status.WARNING, "slow"), 3.0, 0.1)
        now[0] += WARM_FOR + 1  # nobody scraped since: the step stops the warming
        scrape.stop()
        scrape.tick()
        assert not scrape.warming() and scrape.lines.renders == 21
        scrape.parts(generate_latest, False)  # the next scrape renders it, warms again
        assert scrape.lines.renders == 22 and scrape.warming()
        scrape.stop()

    asyncio.run(scrape_and_tick())


def test_the_warming_timer_renders_on_the_event_loop(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scrape_module, "WARM_EVERY", 0.01)
    fill(store)
    registry, metrics = build_registry(store)
    assert metrics.state is not None
    scrape = Scrape(registry, metrics.state)

    async def wait_for_warm_render() -> int:
        scrape.parts(generate_latest, False)
        store.record_result("site1", "http", "http", Result(Status.CRITICAL, "down"), 2.0, 0.1)
        for _ in range(500):  # the timer's step renders it; no scrape needed
            if scrape.lines.renders == 21:
                break
            await asyncio.sleep(0.01)
        scrape.stop()
        return scrape.lines.renders

    assert asyncio.run(wait_for_warm_render()) == 21


def test_a_scrape_outside_an_event_loop_does_not_start_warming(store: StateStore) -> None:
    fill(store)
    registry, metrics = build_registry(store)
    assert metrics.state is not None
    scrape = Scrape(registry, metrics.state)
    assert b"".join(scrape.parts(generate_latest, False)) == generate_latest(registry)
    assert not scrape.warming()


def test_a_failing_warming_step_is_logged_once_and_the_warming_goes_on(
    store: StateStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fill(store)
    registry, metrics = build_registry(store)
    assert metrics.state is not None
    scrape = Scrape(registry, metrics.state)

    def broken() -> list[object]:
        raise RuntimeError("database is locked")

    async def ticks() -> None:
        scrape.parts(generate_latest, False)
        monkeypatch.setattr(store, "firing_alerts", broken)
        for _ in range(3):
            scrape.stop()
            scrape.tick()
        assert scrape.warming()  # a failed step does not stop the warming
        scrape.stop()

    asyncio.run(ticks())
    assert caplog.text.count("cannot render the check states ahead") == 1
