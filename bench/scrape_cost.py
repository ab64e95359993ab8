"""The CPU cost of one /metrics scrape at a thousand sites, in-process, no network.

Builds the state ``bench/scale.py`` makes (``--sites`` LMS x 10 checks: 7 http, one of
them over HTTPS, tls, tcp, dns, with the samples those checks return) in a state file,
then ``--scrapes`` times: records ``--interval``-second checks' worth of new states for
15 s in 1 s ticks (a quarter of the checks at 60 s), with the daemon's warming step every
2 s where the tree has one, and scrapes. Prints the CPU milliseconds (process time) of
each part: warming between scrapes, the scrape on the event loop (plain body), and the
gzip of the body (``--secrets``: with two secrets registered, masked first, as in a config
with credentials). CPU seconds survive a busy machine
better than wall time; compare two trees in one sitting:

    python bench/scrape_cost.py                       # this tree
    (cd /other/tree && python bench/scrape_cost.py)   # e.g. an export of main
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import openmetrics  # noqa: E402

from monitor.app.exposition import CheckLines, render  # noqa: E402
from monitor.app.metrics import build_registry  # noqa: E402
from monitor.app.store import StateStore  # noqa: E402
from monitor.kernel.result import Result, Sample, Status  # noqa: E402

try:  # this round's warming and gzip; absent on trees before it
    from monitor.app.scrape import Gzip, Scrape
except ImportError:
    Scrape = None  # type: ignore[assignment,misc]
try:  # masking piece by piece (seventh session); absent on trees before it
    from monitor.app.scrape import Masked
except ImportError:
    Masked = None  # type: ignore[assignment,misc]
from monitor.kernel.redact import SecretRegistry  # noqa: E402

PHASES = ("resolve", "connect", "tls", "processing", "transfer")
CHECKS = [
    ("http", "http", True),
    ("tls", "tls", False),
    ("tcp", "tcp", False),
    ("dns", "dns", False),
] + [(f"page{i}", "http", False) for i in range(6)]


def result(kind: str, tls: bool, rnd: random.Random) -> Result:
    """What each check type returns (checks/http.py, tls.py, tcp.py, dns.py)."""
    if kind == "http":
        samples = [
            Sample("lms_http_duration_seconds", rnd.random() / 1000, {"phase": p}) for p in PHASES
        ]
        samples += [
            Sample("lms_http_response_time_seconds", rnd.random() / 100),
            Sample("lms_http_status_code", 200),
            Sample("lms_http_redirects", 0),
            Sample("lms_http_ssl", float(tls)),
            Sample("lms_http_uncompressed_body_bytes", 290),
            Sample("lms_http_content_length_bytes", 290),
        ]
        if tls:
            samples.append(Sample("lms_http_tls_cert_expiry_timestamp_seconds", 1.796e9))
    elif kind == "tls":
        samples = [
            Sample("lms_tls_handshake_seconds", rnd.random() / 100),
            Sample("lms_tls_cert_verified", 1.0),
            Sample("lms_tls_cert_expiry_timestamp_seconds", 1.796e9),
            Sample("lms_tls_cert_expiry_seconds", 7.7e6 + rnd.random()),
        ]
    elif kind == "tcp":
        samples = [Sample("lms_tcp_connect_seconds", rnd.random() / 1000)]
    else:
        samples = [
            Sample("lms_dns_lookup_seconds", rnd.random() / 1000),
            Sample("lms_dns_answers", 1),
        ]
    return Result(Status.OK, "ok", tuple(samples), {})


def record(
    store: StateStore, keys: list[tuple[str, tuple[str, str, bool]]], rnd: random.Random, at: float
) -> None:
    with store.database.batch():
        for lms, (name, kind, tls) in keys:
            store.record_result(lms, name, kind, result(kind, tls, rnd), at, rnd.random() / 100)


def cpu_ms(start: float) -> float:
    return (time.process_time() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--scrapes", type=int, default=6)
    parser.add_argument("--secrets", action="store_true",
                        help="register two secrets (a database password, a webhook token), "
                             "as a config with credentials does, and mask them per scrape")
    args = parser.parse_args()
    secrets = SecretRegistry(["MoodleDb-2026!", "webhook-token-0123456789"]) if args.secrets \
        else None
    rnd = random.Random(1)
    keys = [(f"site{i:04d}", check) for i in range(args.sites) for check in CHECKS]
    per_tick = round(len(keys) / args.interval)
    encoder = openmetrics.exposition.generate_latest
    with tempfile.TemporaryDirectory() as tmp:
        store = StateStore(Path(tmp) / "vigil.sqlite3")
        record(store, keys, rnd, 1.7e9)
        registry, metrics = build_registry(
            store, lambda: dict.fromkeys((f"site{i:04d}" for i in range(args.sites)), False)
        )
        assert metrics.state is not None
        scrape = Scrape(registry, metrics.state) if Scrape is not None else None
        gzip = Gzip() if Scrape is not None else None
        masked = Masked(secrets) if Masked is not None and secrets is not None else None
        lines = CheckLines()
        render(registry, metrics.state, lines, encoder, True)  # the first scrape
        if scrape is not None and gzip is not None:
            first = scrape.parts(encoder, True)
            gzip(masked(first) if masked is not None else first)
        rows: list[tuple[float, float, float]] = []
        now = 1.7e9
        for _ in range(args.scrapes):
            warm = 0.0
            for tick in range(15):
                now += 1
                record(store, rnd.sample(keys, per_tick), rnd, now)
                if scrape is not None and tick % 2 == 1:
                    start = time.process_time()
                    scrape.warm()
                    warm += cpu_ms(start)
            start = time.process_time()
            if scrape is not None and gzip is not None:
                parts = scrape.parts(encoder, True)
                body = b"".join(parts)
                loop = cpu_ms(start)
                start = time.process_time()
                if secrets is not None:  # as monitor/app/web/api.py's /metrics route
                    parts = masked(parts) if masked is not None else [
                        secrets.redact_bytes(b"".join(parts))]
                gzip(parts)
            else:
                body = render(registry, metrics.state, lines, encoder, True)
                loop = cpu_ms(start)
                start = time.process_time()
                compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
                compressor.compress(body)
                compressor.flush()
            rows.append((warm, loop, cpu_ms(start)))
        store.close()
    print(
        f"command: python bench/scrape_cost.py {' '.join(sys.argv[1:])}".rstrip()
    )
    print(
        f"scrape_cost: {args.sites} sites x {len(CHECKS)} checks, {per_tick} new states/s, "
        f"{len(body) / 2**20:.1f} MiB OpenMetrics body, tree "
        f"{'with' if scrape is not None else 'without'} warming"
    )
    for name, col in (
        ("warming in the 15 s before a scrape", 0),
        ("scrape on the event loop (plain body)", 1),
        ("gzip of the body (level 1)" + (", secrets masked first" if secrets else ""), 2),
    ):
        values = [row[col] for row in rows]
        print(
            f"  {name:40s} median {statistics.median(values):6.1f} CPU-ms "
            f"(min {min(values):.1f}, max {max(values):.1f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
