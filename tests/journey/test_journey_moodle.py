"""The built-in Moodle journey against the Moodle web double (tests/moodle_double/web.py):
a learner logs in through the real form, opens the dashboard and a course, logs out."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme

from checks.journey.spec import JourneySpec
from monitor.kernel.result import Status
from tests.journey.conftest import COURSE, PASSWORD, Run, moodle_spec, sample
from tests.moodle_double.web import MoodleWebDouble

STEPS = ["login_page", "login", "dashboard", "course", "logout"]


async def test_a_working_journey_logs_in_opens_dashboard_and_course_and_logs_out(
        moodle: MoodleWebDouble, journey: Run) -> None:
    result = await journey(moodle_spec(), moodle.url)
    assert result.status is Status.OK, result.summary
    assert result.summary.startswith("journey OK in ") and "5 steps" in result.summary
    assert [s["step"] for s in result.details["steps"]] == STEPS
    assert all(s["ok"] and s["status_code"] == 200 for s in result.details["steps"])
    assert sample(result, "lms_journey_success") == 1.0
    for step in STEPS:
        assert sample(result, "lms_journey_step_success", step=step) == 1.0
        assert sample(result, "lms_journey_step_seconds", step=step) is not None
    # The learner's session ended: the double holds no logged-in session any more.
    assert not [s for s in moodle.sessions.values() if s.userid]


async def test_the_journey_sends_only_gets_and_the_login_post(
        moodle: MoodleWebDouble, journey: Run) -> None:
    await journey(moodle_spec(), moodle.url)
    posts = [path for method, path, _ in moodle.server.requests if method != "GET"]
    assert posts == ["/login/index.php"]
    paths = [path.split("?")[0] for _, path, _ in moodle.server.requests]
    assert {"/my/", "/course/view.php", "/login/logout.php"} <= set(paths)


async def test_the_login_post_carries_the_forms_logintoken_and_the_session_cookie(
        moodle: MoodleWebDouble, journey: Run) -> None:
    await journey(moodle_spec(), moodle.url)
    post = next(h for m, _, h in moodle.server.requests if m == "POST")
    assert "MoodleSession=" in post["cookie"]
    assert post["content-type"] == "application/x-www-form-urlencoded"


async def test_a_wrong_password_fails_the_login_step_with_moodles_message(
        moodle: MoodleWebDouble, journey: Run) -> None:
    result = await journey(moodle_spec(password="not-the-password"), moodle.url)
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("step 'login': login refused: Moodle answered the login "
                                     "form again with 'Invalid login, please try again'")
    assert result.details["failed_step"] == "login"
    assert result.details["not_reached"] == ["dashboard", "course", "logout"]
    assert sample(result, "lms_journey_success") == 0.0
    assert sample(result, "lms_journey_step_success", step="login_page") == 1.0
    assert sample(result, "lms_journey_step_success", step="login") == 0.0
    assert sample(result, "lms_journey_step_success", step="dashboard") is None


async def test_an_expired_login_token_fails_the_login_step(
        moodle: MoodleWebDouble, journey: Run) -> None:
    # $CFG->sessiontimeout 0: the token the form carried is already older than its
    # lifespan when the POST arrives, so Moodle renews it and refuses the login.
    moodle.state.sessiontimeout = 0.0
    result = await journey(moodle_spec(), moodle.url)
    assert result.status is Status.CRITICAL
    assert result.details["failed_step"] == "login"
    assert "'Invalid login, please try again'" in result.summary
    assert "logintoken its session no longer knows" in result.summary


async def test_a_login_page_without_the_form_names_the_step_and_the_extraction(
        moodle: MoodleWebDouble, journey: Run) -> None:
    moodle.state.showloginform = False  # an SSO-only site: no form, no logintoken
    result = await journey(moodle_spec(), moodle.url)
    assert result.status is Status.CRITICAL
    assert result.summary == ("step 'login_page': extraction 'logintoken' (css "
                              "'input[name=logintoken]' attribute 'value') matched nothing "
                              "(HTTP 200)")


async def test_a_step_that_times_out_names_the_journeys_timeout(
        moodle: MoodleWebDouble, journey: Run) -> None:
    moodle.server.slow["/course/view.php"] = True
    result = await journey(moodle_spec(timeout=2.0), moodle.url, timeout=2.0)
    assert result.status is Status.CRITICAL
    assert result.details["failed_step"] == "course"
    # The configured timeout, not the seconds that were left of it: the summary (and so
    # the alert) stays the same from one run to the next.
    assert result.summary == "step 'course': no answer within the journey's 2s timeout"
    assert sample(result, "lms_journey_step_success", step="dashboard") == 1.0
    assert sample(result, "lms_journey_step_status_code", step="course") is None


async def test_a_course_that_is_gone_is_named_with_moodles_error(
        moodle: MoodleWebDouble, journey: Run) -> None:
    del moodle.state.courses[COURSE]
    result = await journey(moodle_spec(), moodle.url)
    assert result.status is Status.CRITICAL
    # Moodle names the table only with debugging on; a production site says this.
    assert result.summary == ("step 'course': Moodle says 'Can't find data record in "
                              "database.': no course has this id (deleted, or a wrong "
                              "course_id) (HTTP 404)")
    assert sample(result, "lms_journey_step_status_code", step="course") == 404
    assert result.details["not_reached"] == ["logout"]


async def test_a_course_hidden_from_students_is_named_not_passed(
        moodle: MoodleWebDouble, journey: Run) -> None:
    # Moodle answers HTTP 200 with a "Notice" page: the status alone looks healthy.
    moodle.state.hidden_courses.add(COURSE)
    result = await journey(moodle_spec(), moodle.url)
    assert result.status is Status.CRITICAL
    assert result.summary == ("step 'course': Moodle says 'This course is currently "
                              "unavailable to students' (a hidden course, or one the probe "
                              "account may not enter) (HTTP 200)")
    assert sample(result, "lms_journey_step_status_code", step="course") == 200


async def test_a_forced_password_change_fails_the_login_step(
        moodle: MoodleWebDouble, journey: Run) -> None:
    # Every page then redirects to the password form, which answers HTTP 200.
    moodle.state.force_password_change.add("vigil-probe")
    result = await journey(moodle_spec(), moodle.url)
    assert result.status is Status.CRITICAL
    assert result.details["failed_step"] == "login"
    assert result.summary.startswith("step 'login': Moodle wants the probe account to change "
                                     "its password first")
    assert result.details["not_reached"] == ["dashboard", "course", "logout"]


async def test_a_dashboard_that_ends_on_another_page_names_that_page(
        moodle: MoodleWebDouble, journey: Run) -> None:
    moodle.state.sitepolicy = True  # a site policy the probe account has not agreed to
    result = await journey(moodle_spec(), moodle.url)
    assert result.status is Status.CRITICAL
    assert result.summary == ("step 'dashboard': Moodle sent the learner to "
                              "'/user/policy.php' instead of the dashboard (HTTP 200)")


async def test_a_course_the_probe_is_not_enrolled_in_is_named(
        moodle: MoodleWebDouble, journey: Run) -> None:
    moodle.state.courses[7] = "Chemistry"
    result = await journey(moodle_spec(course_id=7), moodle.url)
    assert result.details["failed_step"] == "course"
    assert "not enrolled in the course" in result.summary


async def test_a_course_served_without_the_session_sends_back_to_login(
        moodle: MoodleWebDouble, journey: Run) -> None:
    moodle.state.sessionless_paths = {"/course/view.php"}
    result = await journey(moodle_spec(), moodle.url)
    assert result.summary == ("step 'course': Moodle sent the learner back to the login "
                              "page: the session did not last (HTTP 200)")


async def test_a_login_whose_session_is_lost_shows_the_login_page_again(
        moodle: MoodleWebDouble, journey: Run) -> None:
    moodle.state.sessionless_paths = {"/login/index.php"}
    result = await journey(moodle_spec(), moodle.url)
    assert result.details["failed_step"] == "login"
    assert "Moodle showed the login page again after the login" in result.summary


async def test_the_password_appears_in_no_output(moodle: MoodleWebDouble, journey: Run) -> None:
    for spec in (moodle_spec(), moodle_spec(password=PASSWORD + "x")):
        result = await journey(spec, moodle.url)
        assert PASSWORD not in repr(result)


def test_the_spec_keeps_the_password_secret() -> None:
    spec = moodle_spec()
    assert PASSWORD not in repr(spec) and PASSWORD not in str(spec.model_dump())
    assert isinstance(spec, JourneySpec)


async def test_an_https_site_is_verified_with_the_configured_ca(
        tmp_path: Path, journey: Run) -> None:
    ca = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    double = MoodleWebDouble(tls=server_context)
    double.state.courses[COURSE] = "Biology 101"
    double.add_learner("vigil-probe", PASSWORD, COURSE)
    try:
        trusted = await journey(moodle_spec(ca_file=tmp_path / "ca.pem"), double.url)
        unknown = await journey(moodle_spec(), double.url)
    finally:
        double.close()
    assert double.url.startswith("https://")
    assert trusted.status is Status.OK, trusted.summary
    assert unknown.summary.startswith("step 'login_page': TLS: certificate verify failed")


async def test_a_ca_file_that_is_not_a_certificate_is_unknown_not_a_crash(
        tmp_path: Path, moodle: MoodleWebDouble, journey: Run) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    result = await journey(moodle_spec(ca_file=tmp_path / "ca.pem"), moodle.url)
    assert result.status is Status.UNKNOWN
    assert result.summary.startswith(f"cannot use ca_file {tmp_path / 'ca.pem'}: ")
