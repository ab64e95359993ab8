"""AlertService over a real SQLite store: check states in, alerts and event rows out.

The service writes events for the router (alert_transitions rows with route_state and a
snapshot payload), never outbox rows: those are the router's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from alerts.config import AlertingConfig
from alerts.engine import fingerprint
from alerts.service import AlertService
from monitor.app.store import StateStore
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.spec import CheckSpec

CODES = {"O": Status.OK, "W": Status.WARNING, "C": Status.CRITICAL, "U": Status.UNKNOWN}


@dataclass
class Site:
    """Feeds results for several checks on one shared clock, as the runner would."""

    store: StateStore
    service: AlertService
    now: float = 1000.0
    specs: dict[str, CheckSpec] = field(default_factory=dict)

    def run(self, check: str, codes: str, *, lms: str = "moodle", check_type: str | None = None,
            labels: dict[str, str] | None = None, step: float = 60.0) -> list[str | None]:
        kind = check_type or (self.specs[check].type if check in self.specs else check)
        out = []
        for code in codes:
            self.now += step
            state = self.store.record_result(lms, check, kind,
                                             Result(CODES[code], f"{check} {code} at {self.now:g}"),
                                             self.now, 0.1)
            out.append(self.service.on_state(state, self.specs.get(check), self.now,
                                             labels=labels or {"team": "lms"}))
        return out

    def events(self, check: str, lms: str = "moodle") -> list[tuple[str, str]]:
        return [(e.kind, e.route_state)
                for e in self.store.alert_events(fingerprint(lms, check))]


class Waker:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def site(store: StateStore, waker: Waker | None = None, **config: Any) -> Site:
    return Site(store, AlertService(store, AlertingConfig.model_validate(config), wake=waker))


def test_firing_writes_one_pending_event_with_the_alert_snapshot(store: StateStore) -> None:
    waker = Waker()
    s = site(store, waker, base_url="https://vigil.example.org",
             grafana_url="https://grafana.example.org")

    assert s.run("http", "CCC") == [None, None, "firing"]

    fp = fingerprint("moodle", "http")
    [event] = store.alert_events(fp)
    assert (event.kind, event.route_state, event.dedup_key, event.severity) == (
        "firing", "pending", f"{fp}:1", "critical")
    p = event.payload
    assert p["kind"] == "firing" and p["status"] == "firing" and p["check_type"] == "http"
    assert p["labels"] == {"team": "lms", "lms": "moodle", "check": "http",
                           "check_type": "http", "severity": "critical"}
    assert p["dedup_key"] == f"{fp}:1" and p["check_status"] == "CRITICAL"
    assert p["acknowledged"] is None and p["held_reason"] is None and p["flapping"] is False
    assert "PHP-FPM" in p["runbook"]  # the http runbook hint
    assert p["links"] == {
        "status_page": "https://vigil.example.org/",
        "api": f"https://vigil.example.org/api/v1/alerts/{fp}",
        "grafana": "https://grafana.example.org/d/vigil-lms-detail?var-lms=moodle"}
    assert store.outbox_items() == []  # the router queues notifications, not the engine
    assert waker.calls == 1
    assert [a.fingerprint for a in s.service.firing()] == [fp]


def test_resolved_describes_the_problem_and_how_long_it_lasted(store: StateStore) -> None:
    s = site(store)
    assert s.run("http", "CCCOO")[-1] == "resolved"
    resolved = store.alert_events(fingerprint("moodle", "http"))[-1]
    p = resolved.payload
    assert (resolved.kind, resolved.route_state) == ("resolved", "pending")
    assert p["status"] == "resolved" and p["check_status"] == "CRITICAL"
    assert p["problem"] == "http C at 1180" and p["summary"] == "http O at 1300"
    assert p["duration_seconds"] == 120.0 and p["ended_at"] == 1300.0
    assert s.service.firing() == []


def test_a_quiet_check_writes_no_alert(store: StateStore) -> None:
    s = site(store)
    assert s.run("http", "OOCO") == [None] * 4
    assert store.get_alert(fingerprint("moodle", "http")) is None


def test_a_replayed_transition_writes_one_event(store: StateStore) -> None:
    s = site(store)
    s.run("http", "CCC")
    fp = fingerprint("moodle", "http")
    alert = store.get_alert(fp)
    assert alert is not None
    [event] = store.alert_events(fp)
    # A crash between saving and acknowledging the job replays the same firing.
    from alerts.store import AlertEvent

    again = AlertEvent("firing", alert.summary, "critical", "pending", event.payload)
    assert store.save_alert(alert, [again], s.now) == []
    assert len(store.alert_events(fp)) == 1


def test_a_check_spec_can_fire_on_the_first_failure(store: StateStore) -> None:
    s = site(store)
    s.specs["http"] = CheckSpec(type="http", failure_threshold=1, success_threshold=1)
    assert s.run("http", "COC") == ["firing", "resolved", "firing"]
    keys = [e.dedup_key for e in store.alert_events(fingerprint("moodle", "http"))]
    fp = fingerprint("moodle", "http")
    assert keys == [f"{fp}:1", f"{fp}:2", f"{fp}:3"]


# -- severity ------------------------------------------------------------------------
def record_exams(store: StateStore, attempts: float, at: float, lms: str = "moodle") -> None:
    samples = (Sample("lms_moodle_exam_in_progress", 1.0),
               Sample("lms_moodle_exam_attempts_in_progress", attempts))
    store.record_result(lms, "exams", "moodle_exams",
                        Result(Status.OK, "2 quizzes with 340 attempts", samples), at, 0.2)


@pytest.mark.parametrize(("attempts", "age", "expected"), [
    (340, 60, "page"),        # an exam is running: the outage pages
    (5, 60, "critical"),      # a few attempts are no exam
    (340, 7200, "critical"),  # the exams result is too old to trust
])
def test_an_http_outage_during_an_exam_is_a_page(
    store: StateStore, attempts: float, age: float, expected: str
) -> None:
    s = site(store)
    s.run("http", "CC")
    record_exams(store, attempts, s.now + 60 - age)
    s.run("http", "C")
    alert = store.get_alert(fingerprint("moodle", "http"))
    assert alert is not None and alert.severity == expected
    assert store.alert_events(alert.fingerprint)[0].payload["severity"] == expected


def test_an_exam_starting_while_firing_raises_the_severity_once(store: StateStore) -> None:
    s = site(store)
    s.run("http", "CCC")
    record_exams(store, 400, s.now)
    s.run("http", "CC")
    assert s.events("http") == [("firing", "pending"), ("severity", "pending")]
    fp = fingerprint("moodle", "http")
    assert store.alert_events(fp)[1].dedup_key == f"{fp}:1:severity1"


def test_a_blind_check_is_a_warning_and_a_firing_warning_is_not_paged_for_one_unknown(
    store: StateStore,
) -> None:
    """UNKNOWN (Vigil cannot judge) fires as a warning: told, nobody woken. A standing
    warning that sees one UNKNOWN stays a warning (severity only rises while firing)."""
    s = site(store)
    s.run("backups", "UUU")
    assert store.get_alert(fingerprint("moodle", "backups")).severity == "warning"  # type: ignore[union-attr]
    s.run("disk", "WWWUW")
    assert s.events("disk") == [("firing", "pending")]
    assert store.get_alert(fingerprint("moodle", "disk")).severity == "warning"  # type: ignore[union-attr]
    s.run("http", "UUC")  # a real failure after it still raises it
    assert [k for k, _ in s.events("http")] == ["firing"]
    assert store.get_alert(fingerprint("moodle", "http")).severity == "critical"  # type: ignore[union-attr]


def test_severity_rules_from_config(store: StateStore) -> None:
    s = site(store, severity_rules=[
        {"lms": ["moodle"], "check_type": ["tls"], "status": ["WARNING"], "severity": "info"},
        {"labels": {"team": "exams"}, "severity": "page"}])
    s.run("tls", "WWW")
    s.run("quiz", "CCC", check_type="http", labels={"team": "exams"})
    assert store.get_alert(fingerprint("moodle", "tls")).severity == "info"  # type: ignore[union-attr]
    assert store.get_alert(fingerprint("moodle", "quiz")).severity == "page"  # type: ignore[union-attr]


# -- flapping ------------------------------------------------------------------------
def test_a_flapping_check_sends_one_flapping_event_instead_of_a_storm(store: StateStore) -> None:
    s = site(store)
    s.specs["http"] = CheckSpec(type="http", failure_threshold=1, success_threshold=1)
    s.run("http", "CO" * 15)
    kinds = [k for k, _ in s.events("http")]
    # Fired and resolved until the percent state change passed 50% (11 results in,
    # counted over a 20-change window), then one event for the whole storm.
    assert kinds == ["firing", "resolved"] * 4 + ["firing", "flapping"]
    alert = store.get_alert(fingerprint("moodle", "http"))
    assert alert is not None and alert.flapping and alert.transition == 30
    s.run("http", "O" * 25)  # settles: below 25% the flapping ends, where it ended is told
    kinds = [k for k, _ in s.events("http")]
    assert kinds[10:] == ["flapping_end", "resolved"]
    assert not store.get_alert(fingerprint("moodle", "http")).flapping  # type: ignore[union-attr]


# -- dependencies ---------------------------------------------------------------------
def test_a_moodle_check_waits_while_the_site_is_down_and_is_released_after(
    store: StateStore,
) -> None:
    waker = Waker()
    s = site(store, waker)
    s.run("http", "CC")          # the site is failing (soft is enough)
    s.run("cron", "CCC", check_type="moodle_cron")
    cron = store.get_alert(fingerprint("moodle", "cron"))
    assert cron is not None and cron.held == "dependency:moodle/http"
    assert s.events("cron") == [("firing", "held:dependency:moodle/http")]
    payload = store.alert_events(cron.fingerprint)[0].payload
    assert payload["held_reason"] == "dependency:moodle/http"
    wakes = waker.calls

    s.run("http", "O")           # the site is back, cron still fails: tell now
    assert s.events("cron") == [("firing", "pending")]
    assert store.get_alert(cron.fingerprint).held is None  # type: ignore[union-attr]
    assert waker.calls > wakes


def test_a_child_that_recovers_first_is_never_told(store: StateStore) -> None:
    s = site(store)
    s.run("http", "CCC")
    s.run("cron", "CCCOO", check_type="moodle_cron")
    assert s.events("cron") == [("firing", "suppressed:dependency"),
                                ("resolved", "suppressed:dependency")]
    s.run("http", "OO")
    assert s.events("cron")[-1] == ("resolved", "suppressed:dependency")


def test_a_child_told_before_the_parent_failed_still_gets_its_resolved(
    store: StateStore,
) -> None:
    s = site(store)
    s.run("cron", "CCC", check_type="moodle_cron")        # told: pending
    s.run("http", "C")
    s.run("cron", "C", check_type="moodle_cron")          # now held (the record says so)
    fp = fingerprint("moodle", "cron")
    assert store.get_alert(fp).held == "dependency:moodle/http"  # type: ignore[union-attr]
    s.service.ack(fp, "ann", "looking", now=s.now)
    s.run("cron", "OO", check_type="moodle_cron")
    assert s.events("cron") == [("firing", "pending"), ("acknowledged", "suppressed:dependency"),
                                ("resolved", "pending")]


@pytest.mark.parametrize(("cron", "held"), [("C", None), ("U", "dependency:moodle/cron")])
def test_the_database_parent_holds_only_when_it_cannot_read_the_database(
    store: StateStore, cron: str, held: str | None
) -> None:
    s = site(store)
    s.run("cron", cron, check_type="moodle_cron")
    s.run("exams", "UUU", check_type="moodle_exams")
    alert = store.get_alert(fingerprint("moodle", "exams"))
    assert alert is not None and alert.held == held


def test_an_unwritable_dataroot_is_told_with_the_http_500_not_after_the_repair(
    store: StateStore,
) -> None:
    s = site(store)
    s.run("http", "CCC")
    s.run("dataroot", "CCC", check_type="moodle_dataroot")
    s.run("availability", "CCC", check_type="moodle_availability")  # a symptom: held
    assert s.events("dataroot") == [("firing", "pending")]
    assert s.events("availability") == [("firing", "held:dependency:moodle/http")]


def test_explicit_dependencies_across_lms_and_the_default_off_switch(store: StateStore) -> None:
    s = site(store, dependencies={"moodle_defaults": False})
    s.specs["web"] = CheckSpec(type="http", depends_on=["db-host/postgres"])
    s.run("postgres", "C", lms="db-host", check_type="tcp")
    s.run("web", "CCC")
    s.run("http", "C")
    s.run("cron", "CCC", check_type="moodle_cron")
    assert store.get_alert(fingerprint("moodle", "web")).held == "dependency:db-host/postgres"  # type: ignore[union-attr]
    assert store.get_alert(fingerprint("moodle", "cron")).held is None  # type: ignore[union-attr]


def test_a_chain_holds_to_the_root_and_a_cycle_does_not_silence_both(store: StateStore) -> None:
    s = site(store)
    s.specs["a"] = CheckSpec(type="tcp", depends_on=["b"])
    s.specs["b"] = CheckSpec(type="tcp", depends_on=["a"])
    s.run("a", "CCC")
    s.run("b", "CCC")
    a = store.get_alert(fingerprint("moodle", "a"))
    b = store.get_alert(fingerprint("moodle", "b"))
    assert a is not None and b is not None
    assert a.held is None and b.held == "dependency:moodle/a"
    s.run("a", "C")              # a re-evaluated: b is held by a itself, so a stays loud
    assert store.get_alert(fingerprint("moodle", "a")).held is None  # type: ignore[union-attr]


def test_tick_releases_a_hold_whose_parent_disappeared(store: StateStore) -> None:
    s = site(store)
    s.run("http", "C")
    s.run("cron", "CCC", check_type="moodle_cron")
    store.forget_checks_except({("moodle", "cron")})  # http removed from the config
    assert s.service.tick(s.now) == 1
    assert s.events("cron") == [("firing", "pending")]


def test_a_restarted_service_releases_by_the_childs_next_result(store: StateStore) -> None:
    s = site(store)
    s.run("http", "C")
    s.run("cron", "CCC", check_type="moodle_cron")
    s.service = AlertService(store, AlertingConfig())  # a restart forgets the parents
    s.run("http", "O")
    assert s.events("cron") == [("firing", "held:dependency:moodle/http")]
    s.run("cron", "C", check_type="moodle_cron")
    assert s.events("cron") == [("firing", "pending")]


# -- soft retry, templates -------------------------------------------------------------
def test_retry_delay_only_while_soft(store: StateStore) -> None:
    s = site(store)
    spec = CheckSpec(type="http", retry_interval=10)
    s.specs["http"] = spec
    delays = []
    for code in "OCCCO":
        s.run("http", code)
        state = store.get_state("moodle", "http")
        assert state is not None
        delays.append(s.service.retry_delay(state, spec))
    assert delays == [None, 10.0, 10.0, None, None]
    assert state is not None
    assert s.service.retry_delay(state, CheckSpec(type="http")) is None


def test_a_broken_admin_runbook_still_writes_the_event_with_the_built_in_one(
    store: StateStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "runbook.txt.j2").write_text("{{ no_such_variable }}")
    s = site(store, templates_dir=str(tmp_path))
    assert s.run("http", "CCC")[-1] == "firing"
    [event] = store.alert_events(fingerprint("moodle", "http"))
    assert "PHP-FPM" in event.payload["runbook"]
    assert any("no_such_variable" in r.getMessage() and r.levelno == logging.ERROR
               for r in caplog.records)


def test_an_ack_from_another_process_mid_decision_is_not_overwritten(
    store: StateStore,
) -> None:
    class AckedMeanwhile(AlertService):
        """Another writer (the CLI) acknowledges between the daemon's read and write."""

        cli_acked = False

        def judge(self, *args: Any, **kwargs: Any) -> Any:
            judgement = super().judge(*args, **kwargs)
            if store.get_alert(fingerprint("moodle", "http")) and not self.cli_acked:
                self.cli_acked = True
                AlertService(store, AlertingConfig()).ack(
                    fingerprint("moodle", "http"), "cli-user", "from the shell", now=1.0)
            return judgement

    s = Site(store, AckedMeanwhile(store, AlertingConfig()))
    s.run("http", "CCC")
    record_exams(store, 400, s.now)
    s.run("http", "C")  # a severity raise decided from a record without the ack
    alert = store.get_alert(fingerprint("moodle", "http"))
    assert alert is not None and alert.ack_by == "cli-user" and alert.severity == "page"
    assert [k for k, _ in s.events("http")] == ["firing", "acknowledged", "severity"]
