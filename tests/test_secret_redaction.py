"""The secret registry (monitor/kernel/redact.py) and where the shell applies it (#11)."""

from __future__ import annotations

import base64
import io
import json
import logging
from urllib.parse import quote, quote_plus

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from alerts.notifiers.base import NotifyError
from alerts.notifiers.http import JsonPoster
from alerts.notifiers.redact import Redactor
from monitor.app.config import ConfigError, parse_config
from monitor.app.runner import redact_result
from monitor.app.web.redacting import RedactingApp
from monitor.kernel.redact import MASK, LogRedactor, SecretRegistry
from monitor.kernel.result import Result, Sample, Status

SECRET = "s3cr3t/T0ken+value"


def test_every_wire_form_of_a_secret_is_masked() -> None:
    secrets = SecretRegistry([SECRET])
    secrets.add_basic_auth("bob", "pa55word!")
    forms = [SECRET, quote(SECRET, safe=""), quote(SECRET), quote_plus(SECRET),
             base64.b64encode(SECRET.encode()).decode(),
             base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("="),
             json.dumps(SECRET)[1:-1], base64.b64encode(b"bob:pa55word!").decode()]
    for form in forms:
        assert secrets.redact(f"before {form} after") == f"before {MASK} after", form


def test_values_shorter_than_the_minimum_are_not_secrets() -> None:
    secrets = SecretRegistry(["on", "abc", ""])
    assert not secrets
    assert secrets.redact("on abc") == "on abc"


def test_a_url_password_is_registered_with_its_basic_credentials() -> None:
    secrets = SecretRegistry()
    secrets.add_url("https://alert:hunter22@am.example.org/")
    header = base64.b64encode(b"alert:hunter22").decode()
    assert secrets.redact(f"Authorization: Basic {header}; hunter22") == (
        f"Authorization: Basic {MASK}; {MASK}")


def test_truncate_redacts_before_cutting_and_masks_a_cut_off_start() -> None:
    secrets = SecretRegistry([SECRET])
    text = "x" * 189 + SECRET + " and more"
    cut = secrets.truncate(text, 200)
    assert SECRET[:6] not in cut and MASK in cut
    # A cut somebody else made (a check's own [:160]) is caught at the end, before "...".
    assert secrets.redact("error: " + SECRET[:11]) == "error: " + MASK
    assert secrets.redact("error: " + SECRET[:11] + "...") == "error: " + MASK + "..."
    # Fewer than six characters are left alone: too common to mean anything.
    assert secrets.redact("error: " + SECRET[:5]) == "error: " + SECRET[:5]


def test_truncate_never_leaves_half_a_mask() -> None:
    secrets = SecretRegistry([SECRET])
    assert secrets.truncate("abc " + SECRET + " tail", 7) == "abc " + MASK


def test_values_are_redacted_inside_nested_details() -> None:
    secrets = SecretRegistry([SECRET])
    value = {"url": f"https://h/{SECRET}", "list": [SECRET, 3], SECRET: ("x", SECRET)}
    assert secrets.redact_value(value) == {"url": f"https://h/{MASK}", "list": [MASK, 3],
                                           MASK: ("x", MASK)}


def test_a_handler_filter_redacts_records_of_any_library_and_their_tracebacks() -> None:
    secrets = SecretRegistry([SECRET])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LogRedactor(secrets))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        logging.getLogger("some.library").warning("POST https://h/%s", SECRET)
        try:
            raise ValueError(f"bad token {SECRET}")
        except ValueError:
            logging.getLogger("vigil").exception("failed")
    finally:
        root.removeHandler(handler)
    assert SECRET not in stream.getvalue()
    assert stream.getvalue().count(MASK) == 2


def test_load_config_registers_each_resolved_value_and_url_passwords() -> None:
    secrets = SecretRegistry()
    parse_config('[[lms]]\nname = "a"\nurl = "https://lms.example.org"\n'
                 '[lms.checks.http]\nurl = "https://lms.example.org/${TOKEN}"\n'
                 '[[alerts.receivers]]\nname = "h"\ntype = "webhook"\n'
                 'url = "https://u:inline-pass@hook.example.org/"\n',
                 env={"TOKEN": SECRET}, secrets=secrets)
    assert SECRET in secrets and "inline-pass" in secrets


def test_config_errors_name_the_path_never_the_resolved_value() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('[[lms]]\nname = "${NAME}"\nurl = "https://lms.example.org"\n',
                     env={"NAME": "bad name with spaces!"})
    [problem] = caught.value.problems
    assert problem.startswith("lms[0].name: ") and "bad name" not in problem


def test_the_runner_redacts_a_result_before_anyone_sees_it() -> None:
    secrets = SecretRegistry([SECRET])
    result = Result(Status.CRITICAL, f"GET /{SECRET}: refused",
                    (Sample("up", 0.0, {"url": f"/{SECRET}"}),), {"why": [SECRET[:12]]})
    redacted = redact_result(result, secrets)
    assert SECRET not in repr(redacted) and SECRET[:12] not in repr(redacted)
    assert redacted.status is Status.CRITICAL
    assert redact_result(result, None) is result


async def test_an_error_snippet_is_redacted_before_the_200_character_cut() -> None:
    key = "R0utingKey0123456789abcdef012345"
    body = json.dumps({"message": "x" * 157, "routing_key": key})  # 11 chars before the cut

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text=body)

    poster = JsonPoster("pagerduty", timeout=1.0, redact=Redactor([key]),
                        transport=httpx.MockTransport(answer))
    try:
        with pytest.raises(NotifyError) as caught:
            await poster.post("https://events.example.org/", {"routing_key": key})
    finally:
        await poster.aclose()
    assert key[:6] not in caught.value.reason and MASK in caught.value.reason


async def test_every_response_body_is_redacted_and_its_length_set_again() -> None:
    secrets = SecretRegistry([SECRET])
    app = Starlette(routes=[
        Route("/json", lambda request: JSONResponse({"url": f"https://h/{SECRET}"})),
        Route("/text", lambda request: PlainTextResponse(f'x{{url="{SECRET}"}} 1\n')),
    ])
    transport = httpx.ASGITransport(app=RedactingApp(app, secrets))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for path in ("/json", "/text"):
            response = await client.get(path)
            assert SECRET not in response.text and MASK in response.text
            assert int(response.headers["content-length"]) == len(response.content)
