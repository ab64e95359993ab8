"""The http check against httpx.MockTransport: judging, assertions, secrets, redirects."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from check_helpers import make_ctx

from checks.http import HttpCheck
from checks.http_spec import HttpSpec
from monitor.kernel.result import Status

URL = "https://lms.example.org/login/index.php"


def mock(status: int = 200, body: bytes | str = b"<title>Moodle</title>",
         headers: dict[str, str] | None = None) -> httpx.MockTransport:
    content = body.encode() if isinstance(body, str) else body
    return httpx.MockTransport(lambda request: httpx.Response(status, content=content,
                                                              headers=headers))


async def run_http(probe: Any, transport: httpx.AsyncBaseTransport, url: str | None = URL,
                   **spec: Any) -> Any:
    check = HttpCheck(HttpSpec(type="http", **spec))
    return await probe(check, make_ctx(url=url, http_transport=transport))


def sample(result: Any, name: str, **labels: str) -> float:
    return next(s.value for s in result.samples if s.name == name and dict(s.labels) == labels)


async def test_http_is_ok_on_200_and_reports_status_and_size(probe: Any) -> None:
    result = await run_http(probe, mock())
    assert result.status is Status.OK
    assert result.summary.startswith("HTTP 200 in ")
    assert sample(result, "lms_http_status_code") == 200
    assert sample(result, "lms_http_uncompressed_body_bytes") == len("<title>Moodle</title>")
    assert sample(result, "lms_http_ssl") == 1
    assert sample(result, "lms_http_duration_seconds", phase="transfer") >= 0


async def test_http_fails_on_unexpected_status(probe: Any) -> None:
    result = await run_http(probe, mock(503))
    assert result.status is Status.CRITICAL
    assert result.summary == "HTTP 503 (expected 200-299)"


async def test_http_accepts_listed_codes_classes_and_ranges(probe: Any) -> None:
    codes = [401, "3xx", "500-502"]
    for status, expected in ((401, Status.OK), (302, Status.OK), (502, Status.OK),
                             (200, Status.CRITICAL), (503, Status.CRITICAL)):
        result = await run_http(probe, mock(status), valid_status_codes=codes,
                                follow_redirects=False)
        assert result.status is expected, status
    result = await run_http(probe, mock(200), valid_status_codes=[401, "3xx"])
    assert result.summary == "HTTP 200 (expected 401, 300-399)"


async def test_http_uses_the_target_url_when_the_spec_has_none(probe: Any) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200)

    result = await run_http(probe, httpx.MockTransport(handler), url=URL)
    assert result.status is Status.OK and seen == [URL]


async def test_http_without_any_url_is_unknown(probe: Any) -> None:
    result = await run_http(probe, mock(), url=None)
    assert result.status is Status.UNKNOWN
    assert "no http(s) URL" in result.summary


async def test_http_fails_when_a_keyword_is_missing_or_a_forbidden_one_present(probe: Any) -> None:
    result = await run_http(probe, mock(body="<title>Moodle</title>"), keyword="Dashboard")
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("HTTP 200 in ")
    assert result.summary.endswith(": keyword 'Dashboard' not found")
    result = await run_http(probe, mock(body="Error reading from database"),
                            forbidden_keyword=["Error reading from database"])
    assert result.status is Status.CRITICAL
    assert "forbidden keyword 'Error reading from database' found" in result.summary
    result = await run_http(probe, mock(body="<title>Moodle</title>"), keyword=["Moodle"])
    assert result.status is Status.OK


async def test_http_applies_body_regexps_like_blackbox(probe: Any) -> None:
    result = await run_http(probe, mock(body="Fatal error: Allowed memory size"),
                            fail_if_body_matches_regexp=["Fatal error"])
    assert result.status is Status.CRITICAL and "body matches 'Fatal error'" in result.summary
    result = await run_http(probe, mock(body="nothing here"),
                            fail_if_body_not_matches_regexp=[r"Moodle\s+\d"])
    assert result.status is Status.CRITICAL
    assert "body does not match" in result.summary


async def test_http_checks_json_fields_by_dotted_path(probe: Any) -> None:
    body = json.dumps({"data": [{"status": "ok", "count": 3, "up": True}]})
    good = {"data.0.status": "ok", "data.0.count": 3, "data.0.up": True}
    assert (await run_http(probe, mock(body=body), json_fields=good)).status is Status.OK
    result = await run_http(probe, mock(body=body),
                            json_fields={"data.0.status": "degraded", "data.1.status": "ok",
                                         "data.0.up": 1})
    assert result.status is Status.CRITICAL
    assert 'JSON data.0.status is "ok" (expected "degraded")' in result.summary
    assert "JSON data.1.status missing" in result.summary
    assert "JSON data.0.up is true (expected 1)" in result.summary
    result = await run_http(probe, mock(body="<html>"), json_fields={"a": 1})
    assert result.status is Status.CRITICAL and "body is not JSON" in result.summary


async def test_http_checks_headers_like_blackbox(probe: Any) -> None:
    transport = mock(headers={"Server": "Apache/2.4.1", "X-Frame-Options": "sameorigin"})
    result = await run_http(
        probe, transport,
        fail_if_header_matches=[{"header": "server", "regexp": r"\d+\.\d+"}],
        fail_if_header_not_matches=[{"header": "Strict-Transport-Security", "regexp": "max-age"}])
    assert result.status is Status.CRITICAL
    assert "header server matches" in result.summary
    assert "header Strict-Transport-Security missing" in result.summary
    result = await run_http(probe, transport, fail_if_header_not_matches=[
        {"header": "Strict-Transport-Security", "regexp": "max-age", "allow_missing": True}])
    assert result.status is Status.OK


async def test_http_warns_when_slower_than_the_latency_limit(probe: Any) -> None:
    result = await run_http(probe, mock(), latency_warning=1e-9, latency_critical=100)
    assert result.status is Status.WARNING
    assert "slow:" in result.summary
    result = await run_http(probe, mock(), latency_warning=1e-9, latency_critical=2e-9)
    assert result.status is Status.CRITICAL


async def test_http_fails_if_not_ssl_when_asked(probe: Any) -> None:
    result = await run_http(probe, mock(), url="http://lms.example.org/", fail_if_not_ssl=True)
    assert result.status is Status.CRITICAL
    assert "not served over TLS" in result.summary
    result = await run_http(probe, mock(), fail_if_ssl=True)
    assert result.status is Status.CRITICAL


async def test_http_sends_secret_headers_and_body_but_never_shows_them(probe: Any) -> None:
    received: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(500)

    spec = HttpSpec(type="http", method="post", headers={"Authorization": "Bearer s3cr3t"},
                    body="wstoken=t0k3n")
    url = "https://lms.example.org/webservice/rest/server.php?wstoken=t0k3n"
    result = await probe(HttpCheck(spec), make_ctx(url=url,
                                                   http_transport=httpx.MockTransport(handler)))
    assert received[0].method == "POST"
    assert received[0].headers["authorization"] == "Bearer s3cr3t"
    assert received[0].content == b"wstoken=t0k3n"
    shown = repr(spec) + str(spec) + result.summary + json.dumps(result.details)
    assert "s3cr3t" not in shown and "t0k3n" not in shown
    assert result.details["url"] == "https://lms.example.org/webservice/rest/server.php"


async def test_http_follows_redirects_and_counts_them(probe: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            return httpx.Response(303, headers={"Location": "/login/index.php"})
        return httpx.Response(200, text="login")

    result = await run_http(probe, httpx.MockTransport(handler), url="https://lms.example.org/")
    assert result.status is Status.OK
    assert sample(result, "lms_http_redirects") == 1
    assert result.details["url"] == "https://lms.example.org/login/index.php"


async def test_http_reports_a_redirect_loop(probe: Any) -> None:
    loop = httpx.MockTransport(lambda r: httpx.Response(302, headers={"Location": "/"}))
    result = await run_http(probe, loop, max_redirects=3)
    assert result.status is Status.CRITICAL
    assert result.summary == "too many redirects (more than 3)"


async def test_http_judges_the_redirect_itself_when_not_following(probe: Any) -> None:
    moved = mock(301, headers={"Location": "/elsewhere"})
    result = await run_http(probe, moved, follow_redirects=False)
    assert result.summary == "HTTP 301 (expected 200-299)"


async def test_http_fails_on_a_streamed_body_past_the_limit(probe: Any) -> None:
    async def chunks() -> Any:
        for _ in range(1000):
            yield b"x" * 1024

    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=chunks()))
    result = await run_http(probe, transport, body_size_limit="100KiB", keyword="x")
    assert result.status is Status.CRITICAL
    assert "body exceeds limit of 100.0 KiB" in result.summary
    assert sample(result, "lms_http_uncompressed_body_bytes") <= 101 * 1024


async def test_http_reports_malformed_compressed_body(probe: Any) -> None:
    result = await run_http(probe, mock(body=b"not gzip", headers={"Content-Encoding": "gzip"}))
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("malformed response body: ")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("url", "ftp://lms.example.org/", "is not an http:// or https:// URL"),
    ("valid_status_codes", ["20x"], "is not a status code"),
    ("valid_status_codes", [700], "is not a status code"),
    ("method", "FETCH", "Input should be"),
    ("body_size_limit", "lots", "is not a size"),
    ("fail_if_body_matches_regexp", ["("], "regular expression"),
    ("latency_critical", "0.5s", "latency_critical (0.5) must be >= latency_warning (1)"),
    ("timeout", "2m", "timeout (120s) must be <= interval (60s)"),
    ("hedaers", {}, "Extra inputs are not permitted"),
])
def test_http_spec_errors_name_the_field(field: str, value: Any, message: str) -> None:
    extra: dict[str, Any] = {"latency_warning": 1} if field == "latency_critical" else {}
    with pytest.raises(ValueError) as error:
        HttpSpec.model_validate({"type": "http", field: value, **extra})
    text = str(error.value)
    assert message in text
    if field not in ("latency_critical", "timeout"):  # model-level errors name both fields
        assert field in text


def test_http_spec_rejects_both_ssl_requirements() -> None:
    with pytest.raises(ValueError, match="fail_if_ssl and fail_if_not_ssl"):
        HttpSpec(type="http", fail_if_ssl=True, fail_if_not_ssl=True)


async def test_http_keeps_cookies_within_a_probe_but_not_between_probes(probe: Any) -> None:
    cookies_seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cookies_seen.append(request.headers.get("cookie"))
        if request.url.path == "/":
            return httpx.Response(302, headers={"Location": "/home",
                                                "Set-Cookie": "MoodleSession=abc; Path=/"})
        return httpx.Response(200)

    check = HttpCheck(HttpSpec(type="http", url="https://lms.example.org/"))
    ctx = make_ctx(http_transport=httpx.MockTransport(handler))
    assert (await probe(check, ctx)).status is Status.OK
    assert (await probe(check, ctx)).status is Status.OK
    assert cookies_seen == [None, "MoodleSession=abc", None, "MoodleSession=abc"]


async def test_http_reports_an_invalid_target_url_as_unknown(probe: Any) -> None:
    result = await run_http(probe, mock(), url="http://[::1/")
    assert result.status is Status.UNKNOWN
    assert result.summary.startswith("invalid URL")

