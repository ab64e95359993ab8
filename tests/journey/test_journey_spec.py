"""Bad journey configs get an error naming the step; custom steps judge and extract as
written; credentials stay secret."""

from __future__ import annotations

import httpx
import pytest

from checks.base import CheckContext
from checks.journey.builtin import MOODLE
from checks.journey.run import JourneyCheck
from checks.journey.select import parse_selector, select_first
from checks.journey.spec import JourneySpec
from monitor.app.config import ConfigError, parse_config
from monitor.kernel.redact import SecretRegistry
from monitor.kernel.result import Status
from monitor.kernel.target import Target
from tests.journey.conftest import PASSWORD, Run, moodle_spec
from tests.moodle_double.web import MoodleWebDouble

HEAD = '[[lms]]\nname = "m"\nkind = "moodle"\nurl = "https://moodle.example.edu"\n' \
       '[lms.checks.probe]\ntype = "journey"\n'


def problems(body: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(HEAD + body)
    return caught.value.problems


@pytest.mark.parametrize(("body", "expected"), [
    ('steps = [{name = "open", kind = "put", path = "/"}]',
     "lms[0].checks.probe.steps[0]: step 'open': unknown kind 'put' (use one of: get, post)"),
    ('steps = [{name = "open"}]',
     "lms[0].checks.probe.steps[0]: step 'open': required key 'path' is missing"),
    ('steps = [{name = "open", path = "/", expect_regex = ["(unclosed"]}]',
     "lms[0].checks.probe.steps[0]: step 'open': expect_regex '(unclosed' is not a valid "
     "regular expression: missing ), unterminated subpattern at position 0"),
    ('steps = [{name = "open", path = "/", extract = [{name = "t", regex = "[x"}]}]',
     "lms[0].checks.probe.steps[0]: step 'open': extract[0]: extraction 't': regex '[x' is "
     "not a valid regular expression: unterminated character set at position 0"),
    ('steps = [{name = "open", path = "/", extract = [{name = "t", css = "div > a"}]}]',
     "lms[0].checks.probe.steps[0]: step 'open': extract[0]: CSS selector 'div > a': cannot "
     "read ' > a' (supported: one element as tag#id.class[attr=value], no combinators)"),
    ('steps = [{name = "open", path = "/", fail_when = [{reason = "down"}]}]',
     "lms[0].checks.probe.steps[0]: step 'open': fail_when[0]: fail_when needs status, "
     "regex or url_regex"),
    ('steps = [{name = "open", path = "/", colour = "red"}]',
     "lms[0].checks.probe.steps[0]: step 'open': unknown key 'colour'"),
    ('steps = [{name = "open", path = "/x?t={token}"}]',
     "lms[0].checks.probe: step 'open': path uses {token}, which no earlier step extracts "
     "and the journey does not set (known: site_url)"),
    ('password = "pw-123456"\nsteps = [{name = "open", path = "/x?p={password}"}]',
     "lms[0].checks.probe: step 'open': {password} may not appear in the path (URLs end up "
     "in logs); send it in a header or form"),
    ('steps = [{name = "a", path = "/"}, {name = "a", path = "/b"}]',
     "lms[0].checks.probe: step 'a': two steps share this name"),
    ('journey = "moodle"\nusername = "probe"',
     "lms[0].checks.probe: the moodle journey needs password, course_id"),
    ('journey = "moodle"\nusername = "p"\npassword = "pw-123456"\ncourse_id = "bio-101"',
     "lms[0].checks.probe: the moodle journey's course_id is a number (got 'bio-101')"),
    ('journey = "blackboard"', None),
    ("interval = 60", "lms[0].checks.probe: set either journey = \"moodle\" | \"canvas\" | "
     "\"openedx\" or steps (a custom journey), not both"),
])
def test_bad_journey_configs_name_what_is_wrong(body: str, expected: str | None) -> None:
    found = problems(body)
    if expected is None:
        assert any("checks.probe.journey" in p for p in found), found
    else:
        assert expected in found, found


def test_a_password_from_the_environment_is_registered_as_a_secret() -> None:
    secrets = SecretRegistry()
    config = parse_config(HEAD + 'journey = "moodle"\nusername = "vigil-probe"\n'
                          'password = "${PROBE_PW}"\ncourse_id = 42\n',
                          env={"PROBE_PW": PASSWORD}, secrets=secrets)
    assert PASSWORD in secrets
    assert PASSWORD not in repr(config)


async def test_an_extraction_that_matches_nothing_names_the_step_and_the_extraction(
        moodle: MoodleWebDouble, journey: Run) -> None:
    spec = JourneySpec.model_validate({"type": "journey", "steps": [
        {"name": "front", "path": "/"},
        {"name": "login_form", "path": "/login/index.php",
         "extract": [{"name": "policy", "regex": r'name="policyagreed" value="(\d)"'}]},
        {"name": "never", "path": "/?p={policy}"}]})
    result = await journey(spec, moodle.url)
    assert result.status is Status.CRITICAL
    assert result.summary == ("step 'login_form': extraction 'policy' (regex "
                              "'name=\"policyagreed\" value=\"(\\\\d)\"') matched nothing "
                              "(HTTP 200)")
    assert result.details["not_reached"] == ["never"]


async def test_a_steps_own_timeout_is_named(moodle: MoodleWebDouble, journey: Run) -> None:
    moodle.server.slow["/my/"] = True
    spec = JourneySpec.model_validate({"type": "journey", "steps": [
        {"name": "dashboard", "path": "/my/", "timeout": "300ms"}]})
    result = await journey(spec, moodle.url)
    assert result.summary == "step 'dashboard': no answer within 0.3s (the step's timeout)"


async def test_custom_assertions_fail_with_what_was_expected(
        moodle: MoodleWebDouble, journey: Run) -> None:
    cases = [
        ({"expect_contains": ["Welcome back"]},
         "step 'page': the answer does not contain 'Welcome back' (HTTP 200)"),
        ({"expect_status": ["3xx"]}, "step 'page': HTTP 200, expected 3xx (page title "
                                     "'Log in to the site | Vigil Test University')"),
        ({"expect_json": {"status": "ok"}},
         "step 'page': HTTP 200 answered text/html that is not JSON"),
    ]
    for extra, summary in cases:
        spec = JourneySpec.model_validate({"type": "journey", "steps": [
            {"name": "page", "path": "/login/index.php", **extra}]})
        assert (await journey(spec, moodle.url)).summary == summary


async def test_a_logout_with_a_stale_sesskey_is_refused_and_named(
        moodle: MoodleWebDouble, journey: Run) -> None:
    steps = [dict(s) for s in MOODLE]
    steps[-1] = {**steps[-1], "path": "/login/logout.php?sesskey=0000000000"}
    spec = moodle_spec(journey=None, steps=steps)
    result = await journey(spec, moodle.url)
    assert result.summary.startswith("step 'logout': Moodle asked to confirm the logout")


async def test_what_the_lms_echoes_back_is_scrubbed_of_the_password(journey: Run) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        # A broken login page that repeats the posted form in its error message.
        return httpx.Response(200, html=f"<p class='err'>bad input: {request.content.decode()}"
                                        "</p>")

    spec = JourneySpec.model_validate({"type": "journey", "password": PASSWORD, "steps": [
        {"name": "login", "kind": "post", "path": "/login", "form": {"password": "{password}"},
         "fail_when": [{"regex": "bad input: (.*)</p>", "reason": "site says {match}"}]}]})
    check = JourneyCheck(spec)
    ctx = CheckContext(target=Target(name="x", kind="generic", url="https://lms.test"),
                       timeout=5, now=lambda: 0.0, run_blocking=None,  # type: ignore[arg-type]
                       http_transport=httpx.MockTransport(echo))
    result = await check.run(ctx)
    assert result.details["failed_step"] == "login"
    assert "site says password=<redacted>" in result.summary
    assert PASSWORD not in repr(result) and "Pr0be" not in repr(result)


@pytest.mark.parametrize(("selector", "attr", "expected"), [
    ("input[name=logintoken]", "value", "tok"),
    ("input[name='logintoken']", "value", "tok"),
    ("a.logout", "href", "/login/logout.php?sesskey=abc"),
    ("#title", None, "My courses"),
    ("span.missing", None, None),
    ("input[name=logintoken]", "data-x", None),
])
def test_the_css_selector_finds_the_first_matching_element(
        selector: str, attr: str | None, expected: str | None) -> None:
    page = ("<html><body><h1 id='title'>My <b>courses</b></h1><br>"
            "<form><input type='hidden' name='logintoken' value='tok'></form>"
            "<a class='menu logout' href='/login/logout.php?sesskey=abc'>Log out</a>")
    assert select_first(page, parse_selector(selector), attr) == expected


async def test_session_values_a_step_extracted_are_redacted(
        moodle: MoodleWebDouble, journey: Run) -> None:
    token = r'name="logintoken" value="([^"]+)"'
    spec = JourneySpec.model_validate({"type": "journey", "steps": [
        {"name": "form", "path": "/login/index.php", "extract": [
            {"name": "logintoken", "css": "input[name=logintoken]", "attr": "value"}]},
        {"name": "again", "path": "/login/index.php",
         "fail_when": [{"regex": token, "reason": "the form still offers {match}"}]}]})
    result = await journey(spec, moodle.url)
    assert result.summary == "step 'again': the form still offers <redacted> (HTTP 200)"
