"""The `journey` check: a learner's way through the LMS, step by step.

Data flow: scheduler -> JourneyCheck.run(ctx) -> one httpx client per run (its cookie
jar is the learner's browser session) -> each step: request, judge (steps.py), extract
values for later steps -> Result naming the failing step and why, with
lms_journey_* samples per step.

The password and token are secrets: they leave only in the form or header a step puts
them in, and every text this check emits is scrubbed of them and of the session values
it extracted (login tokens, session keys). Results show step paths as written in the
config (``/login/logout.php?sesskey={sesskey}``), never as sent.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from checks.base import CheckContext
from checks.common import describe_os_error
from checks.journey.builtin import builtin_steps
from checks.journey.spec import JourneySpec, StepSpec
from checks.journey.steps import judge
from checks.journey.values import StepAnswer, extract, render
from checks.json_endpoint import MAX_REDIRECTS, USER_AGENT
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.redact import SecretRegistry
from monitor.kernel.result import Result, Sample, Status, threshold_status
from monitor.kernel.units import fmt_seconds

METRICS = declare(
    MetricSpec("lms_journey_success", "gauge",
               "1 if every step of the synthetic learner journey passed, else 0."),
    MetricSpec("lms_journey_seconds", "gauge",
               "Time the journey took, from its first step to its last or failing one."),
    MetricSpec("lms_journey_step_success", "gauge",
               "1 if the journey step passed, 0 if it failed; absent for steps not reached.",
               ("step",)),
    MetricSpec("lms_journey_step_seconds", "gauge",
               "Time of one journey step, redirects included.", ("step",)),
    MetricSpec("lms_journey_step_status_code", "gauge",
               "HTTP status of the journey step's final answer (after redirects).", ("step",)),
)
BODY_LIMIT = 2 * 1024 * 1024  # a Moodle dashboard is ~200 KiB; more is not a page we judge
_MARGIN = 0.25  # seconds kept back from the check's timeout to build the result
_PATH_SAFE = "/:+@-._~!$&'()*,;=?"  # values filled into a path stay readable, not encoded


@dataclass(frozen=True, slots=True)
class Outcome:
    step: StepSpec
    answer: StepAnswer
    seconds: float
    reason: str | None  # None: the step passed


class JourneyCheck:
    def __init__(self, spec: JourneySpec) -> None:
        self.spec = spec
        self.steps = builtin_steps(spec.journey) if spec.journey else list(spec.steps or [])
        self._verify: ssl.SSLContext | bool | None = None  # made by the first run

    def _tls(self) -> ssl.SSLContext | bool:
        """Built once: loading the CA bundle costs CPU on the event loop; the client (and
        its cookie jar) is made fresh for every run."""
        if self._verify is None:
            spec = self.spec
            self._verify = False if not spec.verify_tls else (
                ssl.create_default_context(cafile=str(spec.ca_file)) if spec.ca_file
                else httpx.create_ssl_context(trust_env=False))
        return self._verify

    async def aclose(self) -> None:
        """Nothing kept between runs: each run starts a fresh session."""

    async def run(self, ctx: CheckContext) -> Result:
        root = (self.spec.url or ctx.target.url or "").rstrip("/")
        if not root.lower().startswith(("http://", "https://")):
            return Result(Status.UNKNOWN, f"no http(s) URL for the journey (url={root!r})")
        values = self._given(root)
        deadline = time.perf_counter() + max(ctx.timeout - _MARGIN, ctx.timeout * 0.9)
        outcomes: list[Outcome] = []
        try:
            verify = self._tls() if ctx.http_transport is None else False
        except (ssl.SSLError, OSError) as exc:
            return Result(Status.UNKNOWN, f"cannot use ca_file {self.spec.ca_file}: "
                                          f"{describe_os_error(exc)}")
        client = httpx.AsyncClient(
            transport=ctx.http_transport or httpx.AsyncHTTPTransport(
                verify=verify, retries=0, limits=httpx.Limits(max_keepalive_connections=0)),
            headers={"User-Agent": USER_AGENT}, max_redirects=MAX_REDIRECTS, trust_env=False)
        try:
            for step in self.steps:
                outcome = await self._step(client, step, root, values, deadline, ctx.timeout)
                outcomes.append(outcome)
                if outcome.reason is not None:
                    break
        finally:
            await client.aclose()
        hidden = {"password", "token"} | {e.name for s in self.steps for e in s.extract
                                          if e.secret}
        return _scrub(self._result(outcomes), [v for k, v in values.items() if k in hidden])

    def _given(self, root: str) -> dict[str, str]:
        spec = self.spec
        given = {"site_url": root, "username": spec.username, "course_id": spec.course_id,
                 "password": spec.password.get_secret_value() if spec.password else None,
                 "token": spec.token.get_secret_value() if spec.token else None}
        return {k: v for k, v in given.items() if v is not None}

    async def _step(self, client: httpx.AsyncClient, step: StepSpec, root: str,
                    values: dict[str, str], deadline: float, timeout: float) -> Outcome:
        left = deadline - time.perf_counter()
        budget = min(step.timeout, left) if step.timeout is not None else left
        if budget <= 0:
            return Outcome(step, StepAnswer(error="no time left of the journey's timeout"),
                           0.0, "no time left of the journey's timeout")
        path_values = {k: quote(v, safe=_PATH_SAFE) for k, v in values.items()}
        url = root + render(step.path, path_values)
        headers = {k: render(v, values) for k, v in step.headers.items()}
        form = {k: render(v, values) for k, v in step.form.items()} if step.form else None
        start = time.perf_counter()
        # The journey's timeout by its configured length, not the seconds left of it: the
        # summary of a slow page stays the same from run to run.
        within = f"{budget:g}s (the step's timeout)" if budget == step.timeout \
            else f"the journey's {timeout:g}s timeout"
        answer = await _send(client, step, url, headers, form, budget, within)
        seconds = time.perf_counter() - start
        reason = judge(step, answer)
        if reason is None:
            for item in step.extract:
                value = extract(item, answer, client.cookies)
                if value is None:
                    reason = (f"extraction {item.name!r} ({item.describe()}) matched nothing "
                              f"(HTTP {answer.status_code})")
                    break
                values[item.name] = value
        return Outcome(step, answer, seconds, reason)

    def _result(self, outcomes: list[Outcome]) -> Result:
        total = sum(o.seconds for o in outcomes)
        failed = next((o for o in outcomes if o.reason is not None), None)
        samples = [Sample("lms_journey_success", 0.0 if failed else 1.0),
                   Sample("lms_journey_seconds", total)]
        for o in outcomes:
            labels = {"step": o.step.name}
            samples += [Sample("lms_journey_step_success", 0.0 if o.reason else 1.0, labels),
                        Sample("lms_journey_step_seconds", o.seconds, labels)]
            if o.answer.status_code:
                samples.append(Sample("lms_journey_step_status_code", o.answer.status_code,
                                      labels))
        details: dict[str, Any] = {
            "journey": self.spec.journey or "custom",
            "steps": [{"step": o.step.name, "path": o.step.path, "ok": o.reason is None,
                       "status_code": o.answer.status_code or None,
                       "seconds": round(o.seconds, 4)} for o in outcomes],
            "not_reached": [s.name for s in self.steps[len(outcomes):]],
        }
        if failed is not None:
            details |= {"failed_step": failed.step.name, "reason": failed.reason}
            return Result(Status.CRITICAL, f"step {failed.step.name!r}: {failed.reason}",
                          tuple(samples), details)
        slowest = max(outcomes, key=lambda o: o.seconds)
        status = threshold_status(total, self.spec.latency_warning, self.spec.latency_critical)
        text = (f"journey OK in {fmt_seconds(total)}: {len(outcomes)} steps, slowest "
                f"{slowest.step.name!r} {fmt_seconds(slowest.seconds)}")
        if status is not Status.OK:
            limit = self.spec.latency_critical if status is Status.CRITICAL \
                else self.spec.latency_warning
            text = f"journey took {fmt_seconds(total)} (limit {limit:g}s); " + text[11:]
        return Result(status, text, tuple(samples), details)


async def _send(client: httpx.AsyncClient, step: StepSpec, url: str, headers: dict[str, str],
                form: dict[str, str] | None, budget: float, within: str) -> StepAnswer:
    """One request (following redirects if the step does), within ``budget`` seconds."""
    try:
        async with asyncio.timeout(budget):
            request = client.build_request(step.kind.upper(), url, headers=headers, data=form,
                                           timeout=budget)
            response = await client.send(request, stream=True,
                                         follow_redirects=step.follow_redirects)
            try:
                body = await _read_capped(response)
            finally:
                await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        return StepAnswer(error=f"no answer within {within}")
    except httpx.TooManyRedirects:
        return StepAnswer(error=f"more than {MAX_REDIRECTS} redirects")
    except httpx.HTTPError as exc:
        return StepAnswer(error=describe_os_error(exc))
    text = body.decode(response.encoding or "utf-8", "replace")
    return StepAnswer(response.status_code, str(response.url), response.headers, text)


async def _read_capped(response: httpx.Response) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > BODY_LIMIT:
            break  # judged on what arrived
        chunks.append(chunk)
    return b"".join(chunks)


def _scrub(result: Result, secrets: list[str]) -> Result:
    """Nothing the LMS echoes back may carry a credential or session value into an alert,
    in any form it takes on the wire (URL-encoded in a form, base64, JSON-escaped)."""
    registry = SecretRegistry(secrets)
    if not len(registry):
        return result
    return Result(result.status, registry.redact(result.summary), result.samples,
                  registry.redact_value(dict(result.details)))
