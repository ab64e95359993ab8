"""The daemon's /metrics scrape: the per-check lines kept warm between scrapes.

With ten thousand checks every 60 s and a scrape every 15 s, a quarter of the checks
have a new state at each scrape; rendering them (~20 us each) made most of a scrape's
time (bench/scale.py). While someone scrapes, ``Scrape`` renders the new states every
``WARM_EVERY`` seconds on the event loop, a few milliseconds at a time, so a scrape only
renders the last second's states and joins the kept blocks. The work is the same (each
state is rendered once either way, unless checks run more often than Prometheus
scrapes); it is spread out instead of blocking the loop for ~0.1 s at each scrape. When
no scrape came for ``WARM_FOR`` seconds, the warming stops until the next one.

The body is ~13 MB of text; Prometheus asks for gzip, and over a network the compressed
~1.4 MB is what keeps a 15 s scrape cheap. ``Gzip`` compresses only the family blocks
whose bytes changed since the last scrape.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
import time
import zlib
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry

from monitor.app.exposition import CheckLines, render_parts
from monitor.app.metrics import StateCollector
from monitor.kernel.redact import SecretRegistry

log = logging.getLogger(__name__)
WARM_EVERY = 2.0  # seconds between two warming steps (each ~4 ms + ~20 us a new state)
WARM_FOR = 300.0  # keep warming this long after the last scrape (5 Prometheus intervals)
# zlib level 1: 13 MB of exposition become ~1.6 MB for ~30 ms of CPU; level 6 saves
# another ~15 % of the bytes for 3.5 times the CPU.
GZIP_LEVEL = 1


class Scrape:
    """The /metrics body of one daemon, in the format an encoder writes."""

    def __init__(
        self,
        registry: CollectorRegistry,
        collector: StateCollector,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.collector = collector
        self.lines = CheckLines()
        self._clock = clock
        self._last_scrape = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._failing = False

    def parts(
        self, encoder: Callable[[CollectorRegistry], bytes], openmetrics: bool
    ) -> list[bytes]:
        """The body as pieces (``b"".join`` them, or ``gzip_parts``)."""
        self._last_scrape = self._clock()
        parts = render_parts(self.registry, self.collector, self.lines, encoder, openmetrics)
        self._arm()
        return parts

    def warm(self) -> None:
        """One step between scrapes: render the states recorded since the last one."""
        store = self.collector.store
        self.lines.update(store.states(), {(a.lms, a.check) for a in store.firing_alerts()})

    def warming(self) -> bool:
        return self._timer is not None

    def _arm(self) -> None:
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the event loop (tests, tools): no warming
            return
        self._timer = loop.call_later(WARM_EVERY, self.tick)

    def tick(self) -> None:
        """The timer's step: warm and re-arm, or stop once nobody scraped for WARM_FOR."""
        self._timer = None
        if self._clock() - self._last_scrape > WARM_FOR:
            return  # nobody scrapes: the next scrape starts warming again
        try:
            self.warm()
            self._failing = False
        except Exception:  # a failed step only costs the next scrape the rendering
            if not self._failing:  # once per run of failures, not every WARM_EVERY
                log.exception("cannot render the check states ahead of the next scrape")
            self._failing = True
        self._arm()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def wants_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header takes gzip (Prometheus sends ``gzip``); an
    explicit ``gzip`` entry wins over ``*``, and ``q=0`` refuses."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, *params = (piece.strip().lower() for piece in item.split(";"))
        weight = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    weight = float(param[2:])
                except ValueError:
                    weight = 0.0
        weights.setdefault(coding, weight)
    return weights.get("gzip", weights.get("*", 0.0)) > 0


class Kept:
    """``make(piece)`` for each piece of a body, kept while the piece is the same object
    (monitor/app/exposition.py keeps a family's block while none of its lines change), so
    only the pieces that changed since the last call are worked on again."""

    def __init__(self, make: Callable[[bytes], bytes]) -> None:
        self.make = make
        self._kept: dict[int, tuple[bytes, bytes]] = {}  # id(piece) -> (piece, made)
        self.made = 0  # pieces worked on so far (tests count them)

    def __call__(self, parts: Sequence[bytes]) -> list[bytes]:
        kept: dict[int, tuple[bytes, bytes]] = {}
        for part in parts:
            entry = self._kept.get(id(part))
            if entry is None or entry[0] is not part:
                entry = (part, self.make(part))
                self.made += 1
            kept[id(part)] = entry
        self._kept = kept  # pieces gone from the body drop out here
        return [kept[id(part)][1] for part in parts]

    def forget(self) -> None:
        self._kept = {}


class Masked:
    """The pieces of a body with every secret masked, each piece searched once.

    An unchanged piece is not searched again and comes back as the same object, which
    ``Gzip`` then does not compress again. At 1,000 sites (13 MB) masking the joined body
    took ~65 CPU-ms a scrape and made the whole body one new piece to compress (~40 ms).
    A piece holds whole lines and the exposition escapes newlines, so no secret spans two
    pieces: masking piece by piece masks what masking the joined body did. A secret added
    since (a reload) searches them all again. Called on the event loop.
    """

    def __init__(self, secrets: SecretRegistry) -> None:
        self.secrets = secrets
        self._masked = Kept(secrets.redact_bytes)
        self._generation = secrets.generation

    @property
    def searched(self) -> int:  # pieces searched so far (tests count them)
        return self._masked.made

    def __call__(self, parts: Sequence[bytes]) -> list[bytes]:
        if self._generation != self.secrets.generation:
            self._masked.forget()
            self._generation = self.secrets.generation
        return self._masked(parts)


class Gzip:
    """One gzip member of a body's pieces, each compressed on its own and kept.

    A piece is a family's block (monitor/app/exposition.py keeps the same bytes object
    while none of its lines change), so only the families whose values moved since the
    last scrape (durations, run timestamps) are compressed again; status, codes and
    certificate dates are not. Each piece is a raw deflate stream ending in a sync
    flush (byte-aligned, not final), so the pieces concatenate into one valid stream,
    closed by an empty final block; the CRC-32 runs over the whole body (~2 ms for
    13 MB). Called on the event loop (~20 ms at 1,000 sites): a worker thread measured
    no faster in bench/scale.py (129 against 127 ms) and would share the daemon's
    default executor with getaddrinfo. The lock is for a caller that does use threads.
    """

    def __init__(self) -> None:
        self._deflated = Kept(_deflate)
        self._lock = threading.Lock()

    @property
    def compressed(self) -> int:  # pieces compressed so far (tests count them)
        return self._deflated.made

    def __call__(self, parts: Sequence[bytes]) -> bytes:
        with self._lock:
            out = [_GZIP_HEADER, *self._deflated(parts)]
            crc = 0
            for part in parts:
                crc = zlib.crc32(part, crc)
            size = sum(len(part) for part in parts)
            out += (_FINAL_BLOCK, struct.pack("<II", crc, size & 0xFFFFFFFF))
            return b"".join(out)


def _deflate(piece: bytes) -> bytes:
    """A raw deflate stream of ``piece`` ending in a sync flush (byte-aligned, not final)."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH)


# gzip header (RFC 1952): magic, deflate, no flags, no mtime, no extra flags, OS unknown.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_FINAL_BLOCK = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS).flush()
