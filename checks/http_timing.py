"""Per-phase timing for the `http` check, in blackbox_exporter's phases.

checks/http_direct.py calls ``started``/``completed`` around connect_tcp / start_tls /
send_request_headers / receive_response_headers; through httpx (an injected transport)
httpcore reports the same events to ``trace``. httpcore has no DNS event: the network
backend (checks/http_backend.py) resolves the host itself and books the lookup here as
``resolve``.

Phases, as in blackbox_exporter's prober/http.go, summed over redirects:
resolve (name lookup), connect (TCP handshake), tls (TLS handshake),
processing (request sent until response headers received; blackbox measures to the first
byte, httpcore reports when the headers are parsed, which differs by a few microseconds),
transfer (reading the body; measured by the caller).
"""

from __future__ import annotations

import ssl
import time
from contextvars import ContextVar
from typing import Any

PHASES = ("resolve", "connect", "tls", "processing", "transfer")

# The timer of the request in flight in this task; the backend reads it to add the
# resolve time. A context variable keeps concurrent checks sharing nothing by accident.
CURRENT_TIMER: ContextVar[PhaseTimer | None] = ContextVar("vigil_http_timer", default=None)

# What the probe was doing when an event started: used to say where a timeout hit.
_DOING = {
    "connect_tcp": "connecting",
    "start_tls": "during TLS handshake",
    "send_request_headers": "sending request",
    "send_request_body": "sending request",
    "receive_response_headers": "waiting for response headers",
    "receive_response_body": "reading body",
}


class PhaseTimer:
    """Collects one probe's phase durations and the TLS peer certificate's expiry."""

    __slots__ = ("durations", "doing", "cert_not_after", "_started", "_lookup")

    def __init__(self) -> None:
        self.durations: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self.doing = "connecting"
        self.cert_not_after: float | None = None
        self._started: dict[str, float] = {}
        self._lookup = 0.0  # resolve time inside the connect_tcp event in progress

    def add(self, phase: str, seconds: float) -> None:
        self.durations[phase] += max(seconds, 0.0)

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace callback: events look like "connection.start_tls.complete"."""
        _, name, stage = event.split(".", 2)
        if stage == "started":
            self.started(name)
        elif stage == "complete":
            self.completed(name, info.get("return_value"))

    def started(self, name: str) -> None:
        """Step ``name`` (an httpcore event name, e.g. "start_tls") begins now."""
        self._started[name] = time.perf_counter()
        self.doing = _DOING.get(name, self.doing)

    def completed(self, name: str, stream: Any = None) -> None:
        """Step ``name`` ended now; ``stream`` (after start_tls) has the peer certificate."""
        now = time.perf_counter()
        if name not in self._started:
            return
        elapsed = now - self._started[name]
        if name == "connect_tcp":
            # The backend already booked the lookup that happened inside connect_tcp.
            self.add("connect", elapsed - self._lookup)
            self._lookup = 0.0
        elif name == "start_tls":
            self.add("tls", elapsed)
            self.cert_not_after = _peer_cert_not_after(stream)
        elif name == "receive_response_headers":
            sent = self._started.get("send_request_headers", self._started[name])
            self.add("processing", now - sent)

    def booked_resolve(self, seconds: float) -> None:
        self.add("resolve", seconds)
        self._lookup += seconds


def _peer_cert_not_after(stream: Any) -> float | None:
    """Leaf certificate expiry from the TLS stream (cheap: the handshake already has it)."""
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()
    if cert and "notAfter" in cert:
        return float(ssl.cert_time_to_seconds(cert["notAfter"]))
    der = ssl_object.getpeercert(binary_form=True)  # unverified connections give no dict
    if not der:
        return None
    from cryptography import x509  # only needed when verify_tls is off

    try:
        return x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
    except ValueError:  # a certificate we cannot parse has no expiry to report
        return None
