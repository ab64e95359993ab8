"""The demo LMS over real sockets: Moodle's markers, every fault, schedule, certificate."""

from __future__ import annotations

import json
import logging
import re
import ssl
import stat
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from monitor.app.demo.faults import FAULTS, FaultController, FaultSchedule
from monitor.app.demo.lms import DemoSite
from monitor.app.demo.server import DemoServer
from monitor.app.demo.tls import write_demo_certificate

SITE_INFO = {"wsfunction": "core_webservice_get_site_info", "moodlewsrestformat": "json"}
PUBLIC_CONFIG_CALL = [{"index": 0, "methodname": "tool_mobile_get_public_config", "args": {}}]


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[DemoServer]:
    server = DemoServer(faults=FaultController(slow_seconds=0.3), tls_dir=tmp_path / "tls")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5, follow_redirects=False) as http:
        yield http


def mcfg(page: str) -> dict[str, object]:
    match = re.search(r"^M\.cfg = (\{.*\});$", page, re.MULTILINE)
    assert match, "no M.cfg line"
    value: dict[str, object] = json.loads(match.group(1))
    return value


# --- Moodle's surfaces --------------------------------------------------------------

async def test_login_page_carries_moodles_login_markers(
    demo: DemoServer, client: httpx.AsyncClient
) -> None:
    response = await client.get(f"{demo.url}/login/index.php")

    assert response.status_code == 200
    page = response.text
    assert f'action="{demo.url}/login/index.php" method="post" id="login"' in page
    assert re.search(r'<input type="hidden" name="logintoken" value="[0-9a-f]{32}">', page)
    assert 'id="username"' in page and 'id="password"' in page and 'id="loginbtn"' in page
    assert '<body id="page-login-index"' in page
    assert response.cookies.get("MoodleSession")
    assert "HttpOnly" in response.headers["set-cookie"]
    config = mcfg(page)
    assert config["wwwroot"] == demo.url
    assert re.fullmatch(r"[0-9a-f]{10}", str(config["sesskey"]))
    assert "developerdebug" not in config  # Moodle adds it only with debugdeveloper on
    assert '"wwwroot":"http:\\/\\/' in page  # PHP's json_encode escapes slashes


async def test_developer_debugging_shows_in_mcfg(client: httpx.AsyncClient) -> None:
    async with DemoServer(DemoSite(developer_debug=True)) as server:
        response = await client.get(f"{server.url}/login/index.php")

    assert mcfg(response.text)["developerdebug"] is True


async def test_front_page_is_the_site_home(demo: DemoServer, client: httpx.AsyncClient) -> None:
    response = await client.get(f"{demo.url}/")

    assert response.status_code == 200
    assert '<body id="page-site-index"' in response.text
    assert "Vigil Demo University" in response.text
    assert response.cookies.get("MoodleSession")


async def test_appsitecheck_answers_like_token_php(
    demo: DemoServer, client: httpx.AsyncClient
) -> None:
    response = await client.get(f"{demo.url}/login/token.php", params={"appsitecheck": 1})

    assert response.status_code == 200
    assert response.text == '{"appsitecheck":"ok"}'
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["access-control-allow-origin"] == "*"
    assert "set-cookie" not in response.headers  # NO_MOODLE_COOKIES


@pytest.mark.parametrize("how", ["post-body", "get-args"])
async def test_public_config_comes_back_as_an_array_of_results(
    demo: DemoServer, client: httpx.AsyncClient, how: str
) -> None:
    url = f"{demo.url}/lib/ajax/service-nologin.php"
    if how == "post-body":
        response = await client.post(url, content=json.dumps(PUBLIC_CONFIG_CALL))
    else:
        response = await client.get(url, params={"args": json.dumps(PUBLIC_CONFIG_CALL)})

    assert response.status_code == 200
    [result] = response.json()
    assert result["error"] is False
    data = result["data"]
    assert data["wwwroot"] == demo.url and data["sitename"] == "Vigil Demo University"
    assert data["maintenanceenabled"] == 0 and data["enablewebservices"] == 1
    assert "version" not in data and "release" not in data  # Moodle keeps them private


async def test_unknown_nologin_function_is_an_error_entry(
    demo: DemoServer, client: httpx.AsyncClient
) -> None:
    calls = [{"index": 0, "methodname": "core_nonexistent", "args": {}}, *PUBLIC_CONFIG_CALL]
    response = await client.post(f"{demo.url}/lib/ajax/service-nologin.php", json=calls)

    assert response.status_code == 200
    [result] = response.json()  # processing stops at the first error
    assert result["error"] is True
    assert result["exception"]["errorcode"] == "invalidrecord"


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_site_info_answers_with_release_and_version(
    demo: DemoServer, client: httpx.AsyncClient, method: str
) -> None:
    params = {**SITE_INFO, "wstoken": demo.site.wstoken}
    url = f"{demo.url}/webservice/rest/server.php"
    if method == "GET":
        response = await client.get(url, params=params)
    else:
        response = await client.post(url, params={"moodlewsrestformat": "json"}, data=params)

    assert response.status_code == 200
    info = response.json()
    assert info["release"] == "4.5.2 (Build: 20250210)"
    assert info["version"] == "2024100702"
    assert info["siteurl"] == demo.url
    assert info["sitename"] == "Vigil Demo University"
    assert {"name": "core_webservice_get_site_info", "version": "2024100702"} in info["functions"]


async def test_wrong_token_is_invalidtoken_at_http_200(
    demo: DemoServer, client: httpx.AsyncClient
) -> None:
    response = await client.get(f"{demo.url}/webservice/rest/server.php",
                                params={**SITE_INFO, "wstoken": "not-the-token"})

    assert response.status_code == 200
    assert response.json() == {"exception": "moodle_exception", "errorcode": "invalidtoken",
                               "message": "Invalid token - token not found"}


async def test_rest_answers_xml_unless_json_is_asked_for(
    demo: DemoServer, client: httpx.AsyncClient
) -> None:
    url = f"{demo.url}/webservice/rest/server.php"
    ok = await client.get(url, params={"wstoken": demo.site.wstoken,
                                       "wsfunction": "core_webservice_get_site_info"})
    bad = await client.get(url, params={"wstoken": "nope"})

    assert ok.headers["content-type"] == "application/xml"
    assert '<KEY name="version"><VALUE>2024100702</VALUE>' in ok.text
    assert '<EXCEPTION class="moodle_exception">' in bad.text
    assert "<ERRORCODE>invalidtoken</ERRORCODE>" in bad.text


# --- faults ----------------------------------------------------------------------------

async def test_cli_maintenance_is_503_with_retry_after_everywhere(
    demo: DemoServer, client: httpx.AsyncClient
) -> None:
    await demo.set_fault("maintenance")

    for path in ("/", "/login/index.php", "/login/token.php?appsitecheck=1"):
        response = await client.get(demo.url + path)
        assert response.status_code == 503, path
        assert response.headers["retry-after"] == "300"
        assert "<title>Vigil Demo University under maintenance</title>" in response.text
        assert "The site is undergoing maintenance and is currently not available" in response.text


async def test_database_error_is_500_page_and_json_for_ajax_and_ws(
    demo: DemoServer, client: httpx.AsyncClient
) -> None:
    await demo.set_fault("dberror")

    page = await client.get(f"{demo.url}/login/index.php")
    ajax = await client.get(f"{demo.url}/login/token.php", params={"appsitecheck": 1})
    ws = await client.get(f"{demo.url}/webservice/rest/server.php",
                          params={**SITE_INFO, "wstoken": demo.site.wstoken})

    assert page.status_code == 500
    assert "<div class='alert-danger'>Error reading from database</div>" in page.text
    assert 'name="logintoken"' not in page.text
    assert ajax.status_code == 200
    assert ajax.json()["errorcode"] == "dmlreadexception"
    assert ws.status_code == 200
    assert ws.json()["exception"] == "dml_read_exception"


async def test_database_connection_failure_is_a_500_naming_the_connection(
    demo: DemoServer, client: httpx.AsyncClient
) -> None:
    await demo.set_fault("dbdown")

    page = await client.get(f"{demo.url}/login/index.php")
    ajax = await client.get(f"{demo.url}/login/token.php", params={"appsitecheck": 1})

    assert page.status_code == 500
    assert "Error: Database connection failed" in page.text
    assert ajax.json() == {"error": "Error: Database connection failed", "stacktrace": None,
                           "debuginfo": None, "errorcode": "dbconnectionfailed"}


async def test_web_maintenance_closes_the_front_page_but_not_the_login_page(
    demo: DemoServer, client: httpx.AsyncClient
) -> None:
    await demo.set_fault("web_maintenance")

    front = await client.get(f"{demo.url}/")
    login = await client.get(f"{demo.url}/login/index.php")
    check = await client.get(f"{demo.url}/login/token.php", params={"appsitecheck": 1})
    [config] = (await client.post(f"{demo.url}/lib/ajax/service-nologin.php",
                                  json=PUBLIC_CONFIG_CALL)).json()
    ws = await client.post(f"{demo.url}/webservice/rest/server.php",
                           params={"moodlewsrestformat": "json"},
                           data={**SITE_INFO, "wstoken": demo.site.wstoken})

    assert front.status_code == 503 and front.headers["retry-after"] == "300"
    assert '<body id="page-maintenance-message"' in front.text
    assert login.status_code == 200 and 'name="logintoken"' in login.text
    assert 'class="alert alert-danger login-maintenance"' in login.text
    assert check.json() == {"appsitecheck": "ok"}  # token.php answers before the check
    assert config["data"]["maintenanceenabled"] == 1
    assert ws.status_code == 200 and ws.json()["errorcode"] == "sitemaintenance"


async def test_developer_debug_fault_adds_developerdebug_to_mcfg(
    demo: DemoServer, client: httpx.AsyncClient
) -> None:
    await demo.set_fault("developer_debug")

    response = await client.get(f"{demo.url}/login/index.php")

    assert response.status_code == 200
    assert mcfg(response.text)["developerdebug"] is True


async def test_invalidtoken_fault_refuses_even_the_right_token_at_http_200(
    demo: DemoServer, client: httpx.AsyncClient
) -> None:
    await demo.set_fault("invalidtoken")

    response = await client.get(f"{demo.url}/webservice/rest/server.php",
                                params={**SITE_INFO, "wstoken": demo.site.wstoken})

    assert response.status_code == 200
    assert response.json()["errorcode"] == "invalidtoken"


async def test_web_services_disabled_is_an_ajax_error_and_a_bare_403(
    demo: DemoServer, client: httpx.AsyncClient
) -> None:
    await demo.set_fault("ws_disabled")

    check = await client.get(f"{demo.url}/login/token.php", params={"appsitecheck": 1})
    rest = await client.get(f"{demo.url}/webservice/rest/server.php",
                            params={**SITE_INFO, "wstoken": demo.site.wstoken})

    assert check.status_code == 200
    assert check.json()["errorcode"] == "enablewsdescription"
    assert check.json()["error"] == "Web services must be enabled in Advanced features."
    assert rest.status_code == 403 and rest.content == b""


async def test_session_cookie_carries_the_configured_suffix(client: httpx.AsyncClient) -> None:
    async with DemoServer(DemoSite(sessioncookie="prod")) as server:
        response = await client.get(f"{server.url}/login/index.php")

    assert response.cookies.get("MoodleSessionprod")
    assert "samesite=lax" in response.headers["set-cookie"].lower()


async def test_wrong_content_is_200_without_the_login_form(
    demo: DemoServer, client: httpx.AsyncClient
) -> None:
    await demo.set_fault("wrong_content")

    response = await client.get(f"{demo.url}/login/index.php")

    assert response.status_code == 200
    assert "It works!" in response.text
    assert 'name="logintoken"' not in response.text and "MoodleSession" not in response.headers


async def test_slow_delays_answers_but_keeps_them_right(
    demo: DemoServer, client: httpx.AsyncClient
) -> None:
    await demo.set_fault("slow")

    started = time.monotonic()
    response = await client.get(f"{demo.url}/login/index.php")

    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200 and 'name="logintoken"' in response.text


async def test_upgrade_required_redirects_to_admin_with_303(
    demo: DemoServer, client: httpx.AsyncClient
) -> None:
    await demo.set_fault("upgrade")

    response = await client.get(f"{demo.url}/login/index.php")
    admin = await client.get(f"{demo.url}/admin/index.php")

    assert response.status_code == 303
    assert response.headers["location"] == f"{demo.url}/admin/index.php"
    assert admin.status_code == 200 and '<body id="page-admin-index"' in admin.text


async def test_down_refuses_connections_and_recovers_on_the_same_port(
    demo: DemoServer, client: httpx.AsyncClient
) -> None:
    url, https_url = demo.url, demo.https_url
    await demo.set_fault("down")

    with pytest.raises(httpx.ConnectError):
        await client.get(f"{url}/login/index.php")
    with pytest.raises(httpx.ConnectError):
        await client.get(f"{https_url}/")
    # The side door stays up, so alerts about the outage still arrive.
    sent = await client.post(demo.webhook_url, json={"alerts": []})
    assert sent.status_code == 200

    await demo.set_fault("ok")

    assert demo.url == url
    response = await client.get(f"{url}/login/index.php")
    assert response.status_code == 200 and 'name="logintoken"' in response.text


async def test_fault_can_be_switched_through_the_control_listener(
    demo: DemoServer, client: httpx.AsyncClient
) -> None:
    switched = await client.post(f"{demo.control_url}/_demo/fault", json={"fault": "maintenance"})
    rejected = await client.post(f"{demo.control_url}/_demo/fault", json={"fault": "lunch"})

    assert switched.status_code == 200 and demo.faults.fault == "maintenance"
    assert rejected.status_code == 400
    assert (await client.get(f"{demo.url}/")).status_code == 503


async def test_unknown_fault_is_rejected(demo: DemoServer) -> None:
    with pytest.raises(ValueError, match="unknown fault 'lunch'"):
        await demo.set_fault("lunch")
    assert demo.faults.fault == "ok"


# --- webhook sink -------------------------------------------------------------------------

async def test_webhook_sink_keeps_payloads_and_logs_one_line_per_alert(
    demo: DemoServer, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    payload = {"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"lms": "demo", "check": "login", "severity": "critical"},
         "annotations": {"summary": "login page unreachable"}},
        {"status": "resolved", "labels": {"lms": "demo", "check": "tls", "severity": "warning"},
         "annotations": {"summary": "certificate expires in 14 days"}},
    ]}

    with caplog.at_level(logging.INFO, logger="monitor.app.demo.sink"):
        posted = await client.post(demo.webhook_url, json=payload)
    listed = await client.get(demo.webhook_url)
    also_on_lms = await client.get(f"{demo.url}/_demo/webhook")

    assert posted.status_code == 200
    assert [r["payload"] for r in listed.json()["received"]] == [payload]
    assert also_on_lms.json() == listed.json()
    lines = [r.getMessage() for r in caplog.records if "webhook received" in r.getMessage()]
    assert lines == [
        "webhook received: [FIRING] demo/login critical: login page unreachable",
        "webhook received: [RESOLVED] demo/tls warning: certificate expires in 14 days",
    ]


async def test_webhook_sink_rejects_a_body_that_is_not_json(
    demo: DemoServer, client: httpx.AsyncClient
) -> None:
    response = await client.post(demo.webhook_url, content=b"not json")

    assert response.status_code == 400
    assert demo.sink.received == []


# --- HTTPS and the certificate ----------------------------------------------------------

async def test_https_listener_is_trusted_through_the_written_ca(demo: DemoServer) -> None:
    assert demo.certificate is not None and demo.https_url is not None
    context = ssl.create_default_context(cafile=str(demo.certificate.ca_file))
    async with httpx.AsyncClient(verify=context) as secure:
        response = await secure.get(f"{demo.https_url}/login/index.php")

    assert response.status_code == 200
    assert "Secure" in response.headers["set-cookie"]


def test_demo_certificate_expires_in_the_requested_days(tmp_path: Path) -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    files = write_demo_certificate(tmp_path, days=5, now=now)

    cert = x509.load_pem_x509_certificate(files.cert_file.read_bytes())
    ca = x509.load_pem_x509_certificate(files.ca_file.read_bytes())
    assert cert.not_valid_after_utc == now + timedelta(days=5) == files.not_after
    assert ca.not_valid_after_utc > cert.not_valid_after_utc
    assert cert.issuer == ca.subject
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    assert stat.S_IMODE(files.key_file.stat().st_mode) == 0o600


# --- the schedule ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("elapsed", "fault", "until_change"),
    [
        (0, "ok", 20), (19.5, "ok", 0.5), (20, "down", 25), (44.9, "down", 0.1),
        (45, "ok", 20), (65, "slow", 25), (90, "ok", 20), (110, "wrong_content", 25),
        (135, "ok", 20), (155, "maintenance", 25), (180, "ok", 20), (200, "dberror", 25),
        (225, "ok", 20), (245, "down", 25), (-3, "ok", 20),
    ],
)
def test_default_schedule_table(elapsed: float, fault: str, until_change: float) -> None:
    schedule = FaultSchedule()

    assert schedule.cycle_seconds == 225
    assert schedule.fault_at(elapsed) == fault
    assert schedule.seconds_until_change(elapsed) == pytest.approx(until_change)


def test_default_schedule_fires_and_resolves_within_two_minutes() -> None:
    interval, failures_to_fire, successes_to_resolve = 5.0, 3, 2
    schedule = FaultSchedule()

    def outcome(first_run: float) -> list[tuple[float, str]]:
        """(time, event) of one check whose runs start at first_run, every interval."""
        events, fails, oks, firing = [], 0, 0, False
        at = first_run
        while at < 2 * schedule.cycle_seconds:  # the last phase resolves in the next cycle
            ok = schedule.fault_at(at) == "ok"
            fails, oks = (0, oks + 1) if ok else (fails + 1, 0)
            if not firing and fails >= failures_to_fire:
                firing = True
                events.append((at, "fired"))
            elif firing and oks >= successes_to_resolve:
                firing = False
                events.append((at, "resolved"))
            at += interval
        return events

    for phase in (0.0, 2.5, 4.9):  # wherever the check's runs fall
        events = outcome(phase)[:10]
        assert [e for _, e in events] == ["fired", "resolved"] * 5  # each fault, once
        assert events[1][0] < 60  # "down" fired and resolved within a minute
        assert events[3][0] < 120  # "slow" too, within two


def test_schedule_rejects_unknown_faults_and_empty_phases() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        FaultSchedule((("ok", 10), ("flood", 10)))
    with pytest.raises(ValueError, match="must be > 0"):
        FaultSchedule((("ok", 0),))
    with pytest.raises(ValueError, match="at least one phase"):
        FaultSchedule(())


async def test_run_schedule_follows_an_injected_clock(demo: DemoServer) -> None:
    now = [1000.0]
    seen: list[tuple[float, str]] = []

    class Done(Exception):
        pass

    async def sleep(seconds: float) -> None:
        seen.append((now[0] - 1000.0, demo.faults.fault))
        if len(seen) == 5:
            raise Done
        now[0] += seconds

    schedule = FaultSchedule((("ok", 10), ("maintenance", 5), ("down", 5)))
    with pytest.raises(Done):
        await demo.run_schedule(schedule, clock=lambda: now[0], sleep=sleep)

    assert seen == [(0, "ok"), (10, "maintenance"), (15, "down"), (20, "ok"), (30, "maintenance")]


def test_every_fault_is_known_to_the_controller() -> None:
    for name in FAULTS:
        assert FaultController(name).fault == name
    with pytest.raises(ValueError):
        FaultController("flood")
