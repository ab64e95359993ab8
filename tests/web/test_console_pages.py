"""What each console page shows (issue #15), read through the real app over a real state
file: the overview's cards, filters and order, the check page's story of one check, the
alerts page's withdraw and retry forms, the maintenance preview, calendar and report,
and the audit log page's scope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from alerts.maintenance.store import OccurrenceRecord, save_occurrence
from alerts.policy import EXAM_ATTEMPTS_SAMPLE
from monitor.app.config import parse_config
from monitor.app.store import StateStore
from monitor.kernel.result import Result, Sample, Status
from tests.conftest import FakeClock
from tests.token_kit import FP, TOKENS, View, client_for, config_text, make_view, sign_in


@pytest.fixture
def view(store: StateStore, clock: FakeClock, tmp_path: Path) -> Iterator[View]:
    view = make_view(store, clock, config_text(tmp_path).replace(
        "[[lms]]", '[alerts]\ngrafana_url = "https://grafana.example.org"\n[[lms]]', 1))
    yield view
    view.sites.close()


def client_as(view: View, name: str) -> tuple[TestClient, str]:
    client = client_for(view)
    return client, sign_in(client, TOKENS[name][0])


def test_the_overview_puts_the_worst_lms_first_with_its_alerts_and_maintenance(
        view: View, store: StateStore, clock: FakeClock) -> None:
    store.record_result("staging", "http", "http", Result(Status.OK, "200"), clock.time(), .1)
    store.record_result("prod", "cron", "moodle_cron", Result(
        Status.OK, "ran 2 min ago", (Sample(EXAM_ATTEMPTS_SAMPLE, 12),)), clock.time(), .1)
    page = client_for(view).get("/").text
    assert page.index('data-key="prod"') < page.index('data-key="staging"')
    prod = page[page.index('data-key="prod"'):page.index('data-key="staging"')]
    assert "✖</span> CRITICAL" in prod and "1 alert firing" in prod
    assert "Next maintenance: weekly" in prod
    assert "Exam in progress</strong>: 12 attempts open" in prod
    assert prod.index("<h3>http</h3>") < prod.index("<h3>moodle</h3>")  # worst family first
    assert 'role="img" aria-label="last 3 results, oldest first: CRITICAL, CRITICAL, ' \
           'CRITICAL"' in prod


def test_the_overview_filters_by_status_family_and_lms_from_the_query(
        view: View, store: StateStore, clock: FakeClock) -> None:
    store.record_result("staging", "http", "http", Result(Status.OK, "200"), clock.time(), .1)
    client = client_for(view)
    ok = client.get("/?status=OK").text
    assert 'href="/checks/prod/http"' not in ok and 'href="/checks/staging/http"' in ok
    assert "0 shown by the filter" in ok
    assert 'href="/checks/prod/http"' not in client.get("/?family=moodle").text
    only = client.get("/?lms=staging").text
    assert 'data-key="prod"' not in only and 'data-key="staging"' in only
    live = client.get("/?lms=staging&fragment=1").text
    assert "<html" not in live and 'data-key="staging"' in live


def test_the_check_page_tells_the_story_of_one_check(
        view: View, store: StateStore, clock: FakeClock) -> None:
    store.enqueue("k1", "mail", {"reason": "firing", "status": "firing",
                                 "alerts": [{"fingerprint": FP}]}, clock.time())
    [item] = store.outbox_items()
    store.mark_failed(item.id, "HTTP 400 from the mail relay")
    view.alerts.ack(FP, "ann", "on it", now=clock.time())
    store.record_result("prod", "http", "http", Result(
        Status.CRITICAL, "HTTP 502", (Sample("lms_http_response_seconds", 0.25),),
        {"url": "https://prod.example/login"}), clock.time(), .1)
    page = client_for(view).get("/checks/prod/http").text
    assert "Acknowledged by ann" in page and "on it" in page
    assert "<td>acknowledged</td>" in page and "<td>firing</td>" in page
    assert "<td>mail</td>" in page and "failed: HTTP 400 from the mail relay" in page
    assert "lms_http_response_seconds</code>: 0.25" in page
    assert "https://prod.example/login" in page and "HTTP 502" in page
    assert 'href="https://grafana.example.org/d/vigil-lms-detail?var-lms=prod"' in page
    missing = client_for(view).get("/checks/prod/nope")
    assert missing.status_code == 404 and "No check 'nope' on LMS 'prod'" in \
        missing.text.replace("&#39;", "'")


def test_no_grafana_link_without_grafana_url(view: View, tmp_path: Path) -> None:
    view.config = parse_config(config_text(tmp_path))
    assert "Grafana" not in client_for(view).get("/checks/prod/http").text


def test_acks_can_be_withdrawn_and_a_bad_expiry_is_linked_to_its_field(
        view: View, store: StateStore) -> None:
    client, csrf = client_as(view, "oncall")
    bad = client.post(f"/alerts/{FP}/ack", data={"csrf": csrf, "expires": "soon"})
    assert bad.status_code == 422
    assert f'aria-describedby="expires-error-{FP}"' in bad.text
    assert f'id="expires-error-{FP}"' in bad.text and 'value="soon"' in bad.text
    client.post(f"/alerts/{FP}/ack", data={"csrf": csrf, "by": "ann", "expires": "2h"})
    assert store.get_alert(FP).ack_expires_at is not None  # type: ignore[union-attr]
    back = client.post(f"/alerts/{FP}/unack", data={"csrf": csrf}, follow_redirects=False)
    assert back.status_code == 303 and store.get_alert(FP).ack_by is None  # type: ignore[union-attr]


def test_retry_requeues_only_a_failed_notification(
        view: View, store: StateStore, clock: FakeClock) -> None:
    store.enqueue("k1", "hook", {"alerts": []}, clock.time())
    [item] = store.outbox_items()
    client, csrf = client_as(view, "oncall")
    assert client.post(f"/outbox/{item.id}/retry", data={"csrf": csrf}).status_code == 404
    store.mark_failed(item.id, "HTTP 400")
    assert 'action="/outbox/1/retry"' in client.get("/alerts").text
    done = client.post(f"/outbox/{item.id}/retry", data={"csrf": csrf},
                       follow_redirects=False)
    assert done.status_code == 303
    [again] = store.outbox_items()
    assert again.state == "pending" and again.attempts == 0


def test_the_preview_shows_occurrences_and_checks_and_stores_nothing(view: View) -> None:
    client, csrf = client_as(view, "ops")
    form = {"csrf": csrf, "name": "patch", "lms": "prod", "kind": "recurring",
            "start": "2027-01-20T22:00", "duration": "1h", "rrule": "FREQ=WEEKLY;BYDAY=WE",
            "timezone": "Europe/Berlin"}
    page = client.post("/maintenance/preview", data=form).text
    assert "2027-01-20 22:00 CET → 2027-01-20 23:00 CET" in page
    assert "2027-02-17 22:00 CET" in page and "<li>prod/http</li>" in page
    assert len(view.maintenance.list()) == 1  # only the config's weekly window
    bad = client.post("/maintenance/preview", data={**form, "rrule": "FREQ=SOMETIMES"})
    assert bad.status_code == 400 and 'aria-describedby="rrule-error"' in bad.text


def test_the_calendar_shows_occurrences_in_week_and_month_views(view: View) -> None:
    client = client_for(view)
    week = client.get("/maintenance?view=week&at=2027-01-06").text
    assert "Week of 2027-01-04" in week and "weekly" in week.split('class="cal week"')[1]
    month = client.get("/maintenance?view=month&at=2027-01-15").text
    days = month.split('class="cal month"')[1].split("</ol>")[0]
    assert days.count("<li") >= 31 and days.count("weekly") == 5  # every Sunday of Jan 2027


def test_the_report_page_shows_a_window_s_post_maintenance_report(
        view: View, store: StateStore) -> None:
    window = view.maintenance.list()[0]
    save_occurrence(store.database, OccurrenceRecord(
        window.id, 1_800_000_000.0, 1_800_003_600.0, "done", None,
        {"outcome": "worse", "checks": 3, "lms": ["prod"], "versions_changed": False,
         "worse": [{"lms": "prod", "check": "cron", "before": "OK", "after": "CRITICAL"}],
         "better": [], "still_failing": [], "new_checks": [], "not_rerun": [],
         "actions": []}, []))
    client = client_for(view)
    assert f'href="/maintenance/{window.id}/report"' in client.get("/maintenance").text
    page = client.get(f"/maintenance/{window.id}/report").text
    assert "Outcome: <strong>worse</strong>" in page and "prod/cron: OK → CRITICAL" in page


def test_the_audit_page_needs_the_read_scope(view: View) -> None:
    client, _ = client_as(view, "ops")
    assert client.get("/audit").status_code == 403
    assert client_for(view).get("/audit").status_code == 401
    client, _ = client_as(view, "viewer")
    page = client.get("/audit").text
    assert "session.signin" in page and "viewer" in page
