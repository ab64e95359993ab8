"""The `http` check: fetch a URL the way a user's browser would and judge the answer.

Data flow: scheduler -> HttpCheck.run(ctx) (spec in checks/http_spec.py) -> one
fresh-connection request per hop through checks/http_direct.py (h11 over asyncio; network
layer in checks/http_backend.py), or through httpx.AsyncClient when the context injects
an httpx transport (tests) -> phase timings from checks/http_timing.py, body assertions
from checks/http_assert.py -> Result with lms_http_* samples -> state store.
Options and metric semantics follow blackbox_exporter's http prober.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from checks.base import CheckContext
from checks.common import describe_os_error
from checks.http_assert import Observed, judge
from checks.http_backend import ResolveError, install_backend
from checks.http_body import ACCEPT_ENCODING, read_bounded, read_stream
from checks.http_direct import DirectClient
from checks.http_spec import HttpSpec
from checks.http_timing import CURRENT_TIMER, PHASES, PhaseTimer
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.units import fmt_seconds

# Every metric this module emits, declared here once (checks/registry.py collects them).
# Names and semantics after blackbox_exporter's probe_http_*.
METRICS = declare(
    MetricSpec("lms_http_duration_seconds", "gauge",
               "Duration of each phase of the last HTTP probe (resolve, connect, tls, "
               "processing, transfer), summed over redirects.", ("phase",)),
    MetricSpec("lms_http_response_time_seconds", "gauge",
               "Total time of the last HTTP probe, from lookup to the end of the body."),
    MetricSpec("lms_http_status_code", "gauge", "HTTP status code of the final response."),
    MetricSpec("lms_http_content_length_bytes", "gauge",
               "Content-Length announced by the final response, when it had one."),
    MetricSpec("lms_http_uncompressed_body_bytes", "gauge",
               "Body bytes read after decompression (stops past the body size limit)."),
    MetricSpec("lms_http_redirects", "gauge", "Redirects followed by the last HTTP probe."),
    MetricSpec("lms_http_ssl", "gauge", "1 if the final response came over TLS, else 0."),
    MetricSpec("lms_http_tls_cert_expiry_timestamp_seconds", "gauge",
               "Expiry of the certificate the HTTPS server presented, as a Unix time."),
)
USER_AGENT = "Vigil/0.1 (lms-vigil health check)"
_FAMILY = {"any": socket.AF_UNSPEC, "ip4": socket.AF_INET, "ip6": socket.AF_INET6}


class HttpCheck:
    """One DirectClient (or AsyncClient, for an injected transport) per check, keep-alive
    off: each run measures a fresh connection."""

    def __init__(self, spec: HttpSpec) -> None:
        self.spec = spec
        # Only codings checks/http_body.py can inflate in bounded steps (a user's own
        # Accept-Encoding header still wins).
        own = {name: value.get_secret_value() for name, value in spec.headers.items()}
        self._headers = {"User-Agent": USER_AGENT} | own
        if not any(name.lower() == "accept-encoding" for name in own):
            self._headers["Accept-Encoding"] = ACCEPT_ENCODING
        self._content = spec.body.get_secret_value().encode() if spec.body else None
        self._keep_body = bool(spec.fail_if_body_matches_regexp or spec.keyword
                               or spec.fail_if_body_not_matches_regexp
                               or spec.forbidden_keyword or spec.json_fields)
        self._extensions: dict[str, Any] = {}
        if spec.server_name:
            self._extensions["sni_hostname"] = spec.server_name
        self._client: httpx.AsyncClient | None = None
        self._client_transport: httpx.AsyncBaseTransport | None = None
        self._direct: DirectClient | None = None

    def _direct_client(self) -> DirectClient:
        if self._direct is None:  # built once: the SSLContext load is the costly part
            self._direct = DirectClient(
                ssl_context=self._ssl_context(), family=_FAMILY[self.spec.ip_protocol],
                method=self.spec.method, headers=self._headers, content=self._content,
                sni_hostname=self.spec.server_name,
                follow_redirects=self.spec.follow_redirects,
                max_redirects=self.spec.max_redirects)
        return self._direct

    def _client_for(self, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
        # Built once (the SSLContext load is the costly part), rebuilt only if the
        # context hands us a different transport (tests pass httpx.MockTransport).
        if self._client is None or transport is not self._client_transport:
            self._client_transport = transport
            self._client = httpx.AsyncClient(
                transport=transport or self._own_transport(),
                follow_redirects=self.spec.follow_redirects,
                max_redirects=self.spec.max_redirects,
                timeout=httpx.Timeout(self.spec.timeout),
                trust_env=False,  # measure the site, not the environment's proxy or netrc
            )
        return self._client

    def _ssl_context(self) -> ssl.SSLContext:
        if self.spec.verify_tls and self.spec.ca_file:
            return ssl.create_default_context(cafile=str(self.spec.ca_file))
        return _shared_ssl_context(self.spec.verify_tls)

    def _own_transport(self) -> httpx.AsyncHTTPTransport:
        transport = httpx.AsyncHTTPTransport(
            verify=self._ssl_context(), retries=0,
            limits=httpx.Limits(max_keepalive_connections=0))
        install_backend(transport, _FAMILY[self.spec.ip_protocol])
        return transport

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def run(self, ctx: CheckContext) -> Result:
        url = self.spec.url or ctx.target.url
        if not url or not url.lower().startswith(("http://", "https://")):
            return Result(Status.UNKNOWN, f"no http(s) URL to probe (url={url!r})")
        timer = PhaseTimer()
        token = CURRENT_TIMER.set(timer)
        # Give up just before the runner's own asyncio.timeout so we can say which phase hung.
        budget = ctx.timeout - min(ctx.timeout * 0.1, 0.25)
        start = time.perf_counter()
        try:
            if ctx.http_transport is None:
                # One deadline for the whole probe (httpx gave each step the spec's
                # timeout; the runner's ctx.timeout is that same timeout).
                async with asyncio.timeout(min(budget, self.spec.timeout)):
                    return await self._probe_direct(url, timer, start, ctx)
            client = self._client_for(ctx.http_transport)
            # Cookies live for one probe (redirect chains need them), like blackbox's
            # per-probe jar: a session cookie kept from the last run would hide a broken
            # login page. (The direct path keeps them for one probe by construction.)
            client.cookies.clear()
            async with asyncio.timeout(budget):
                return await self._probe(client, url, timer, start, ctx)
        except (TimeoutError, httpx.TimeoutException):
            failure = f"timeout after {ctx.timeout:g}s {timer.doing}"
        except httpx.InvalidURL as exc:
            return Result(Status.UNKNOWN, f"invalid URL: {exc}")
        except httpx.UnsupportedProtocol as exc:
            failure = f"unsupported URL: {exc}"  # e.g. a redirect to ftp://
        except httpx.TooManyRedirects:
            failure = f"too many redirects (more than {self.spec.max_redirects})"
        except httpx.ConnectError as exc:
            failure = self._connect_failure(exc, url)
        except httpx.DecodingError as exc:
            failure = f"malformed response body: {describe_os_error(exc)}"
        except httpx.RemoteProtocolError as exc:
            failure = f"malformed response {timer.doing}: {describe_os_error(exc)}"
        except httpx.TransportError as exc:
            failure = f"{describe_os_error(exc)} {timer.doing}"
        finally:
            CURRENT_TIMER.reset(token)
        elapsed = time.perf_counter() - start
        return Result(Status.CRITICAL, failure, tuple(_timing_samples(timer, elapsed)),
                      {"url": redact_url(url), "phases": _rounded(timer)})

    def _connect_failure(self, exc: httpx.ConnectError, url: str) -> str:
        if isinstance(exc.__cause__, ResolveError):
            return str(exc.__cause__)
        cause = describe_os_error(exc)
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        return f"{cause} ({parts.hostname}:{port})" if cause.startswith("TLS") else \
            f"{cause} to {parts.hostname}:{port}"

    async def _probe(self, client: httpx.AsyncClient, url: str, timer: PhaseTimer,
                     start: float, ctx: CheckContext) -> Result:
        request = client.build_request(
            self.spec.method, url, headers=self._headers, content=self._content,
            extensions={"trace": timer.trace, **self._extensions})
        response = await client.send(request, stream=True)
        try:
            size, body, too_large = await self._read_body(
                timer, response.headers,
                lambda: read_bounded(response, self.spec.body_size_limit, self._keep_body))
        finally:
            await response.aclose()
        return self._judged(response.status_code, response.headers, str(response.url),
                            len(response.history), response.encoding or "utf-8",
                            (size, body, too_large), timer, start, ctx)

    async def _probe_direct(self, url: str, timer: PhaseTimer, start: float,
                            ctx: CheckContext) -> Result:
        reply = await self._direct_client().send(url, timer)
        try:
            size, body, too_large = await self._read_body(
                timer, reply.headers,
                lambda: read_stream(reply.aiter_raw(), reply.headers.get("content-encoding", ""),
                                    self.spec.body_size_limit, self._keep_body))
        finally:
            reply.aclose()
        return self._judged(reply.status_code, reply.headers, str(reply.url), reply.redirects,
                            reply.encoding if body is not None else "utf-8",
                            (size, body, too_large), timer, start, ctx)

    def _judged(self, status_code: int, headers: httpx.Headers, final_url: str,
                redirects: int, encoding: str, read: tuple[int, bytes | None, bool],
                timer: PhaseTimer, start: float, ctx: CheckContext) -> Result:
        size, body, too_large = read
        elapsed = time.perf_counter() - start
        is_tls = final_url.startswith("https:")  # httpx.URL writes the scheme lower-case
        seen = Observed(
            status_code=status_code, is_tls=is_tls, headers=headers,
            body=body, encoding=encoding, too_large=too_large,
            elapsed=elapsed, cert_not_after=timer.cert_not_after, now=ctx.now())
        problems = judge(self.spec, seen)
        status = Status.worst(s for s, _ in problems)
        summary = f"HTTP {status_code} in {fmt_seconds(elapsed)}"
        if problems:
            reasons = "; ".join(reason for s, reason in problems if s is status)
            summary = reasons if reasons.startswith("HTTP ") else f"{summary}: {reasons}"
        samples = [*_timing_samples(timer, elapsed),
                   Sample("lms_http_status_code", status_code),
                   Sample("lms_http_redirects", redirects),
                   Sample("lms_http_ssl", 1.0 if is_tls else 0.0),
                   Sample("lms_http_uncompressed_body_bytes", size)]
        length = headers.get("content-length", "")
        if length.isdigit():
            samples.append(Sample("lms_http_content_length_bytes", int(length)))
        if timer.cert_not_after is not None:
            samples.append(Sample("lms_http_tls_cert_expiry_timestamp_seconds",
                                  timer.cert_not_after))
        details = {"url": redact_url(final_url), "status_code": status_code,
                   "redirects": redirects, "body_bytes": size,
                   "phases": _rounded(timer)}
        return Result(status, summary, tuple(samples), details)

    async def _read_body(
        self, timer: PhaseTimer, headers: httpx.Headers,
        read: Callable[[], Awaitable[tuple[int, bytes | None, bool]]],
    ) -> tuple[int, bytes | None, bool]:
        """Stream the body, keeping it only if an assertion needs it; stop past the limit;
        its time is the "transfer" phase. ``read`` streams it (the httpx response's or the
        direct path's reply), decompressed in bounded steps (checks/http_body.py): a gzip
        bomb stops at the limit instead of inflating a whole network chunk first."""
        timer.doing = "reading body"
        body_start = time.perf_counter()
        if self._announced_too_large(headers):
            read_out: tuple[int, bytes | None, bool] = (0, None, True)  # no need to download
        else:
            read_out = await read()
        timer.add("transfer", time.perf_counter() - body_start)
        return read_out

    def _announced_too_large(self, headers: httpx.Headers) -> bool:
        declared = headers.get("content-length", "")
        return (declared.isdigit() and int(declared) > self.spec.body_size_limit
                and "content-encoding" not in headers)


@functools.cache
def _shared_ssl_context(verify: bool) -> ssl.SSLContext:
    """The default (verifying) or non-verifying client context, built once per process.

    Loading the CA bundle costs about 20 ms of CPU and 0.8 MB per context: one context
    per check made 2,000 checks cost 40 s of event-loop time at start-up and 1.6 GB of
    memory (bench/probe_throughput.py). An SSLContext is meant to be shared; a check
    with its own ca_file still gets its own context (re-read when the check is rebuilt).
    """
    return httpx.create_ssl_context(verify=verify)


def _timing_samples(timer: PhaseTimer, elapsed: float) -> list[Sample]:
    samples = [Sample("lms_http_duration_seconds", timer.durations[phase], {"phase": phase})
               for phase in PHASES]
    samples.append(Sample("lms_http_response_time_seconds", elapsed))
    return samples


def _rounded(timer: PhaseTimer) -> dict[str, float]:
    return {phase: round(seconds, 4) for phase, seconds in timer.durations.items()}


def redact_url(url: str) -> str:
    """The URL without credentials or query: Moodle web-service tokens travel in the query."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:  # unparseable (bad port, unclosed IPv6 bracket): show nothing of it
        return "(unparseable URL)"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
