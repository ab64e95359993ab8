"""AlertService.retire: the alert of a check removed from the configuration is resolved
once, through the normal save path, whatever state it was in; a quiet one is left alone."""

from __future__ import annotations

import pytest

from alerts.engine import fingerprint
from alerts.service import RETIRED_SUMMARY
from monitor.app.store import StateStore
from monitor.kernel.spec import CheckSpec
from tests.alerts.test_alert_service import site

FLAPPING = "CO" * 15  # with thresholds 1/1: fires and resolves until it flaps


@pytest.mark.parametrize(("codes", "thresholds", "retired", "new_events"), [
    ("CCC", 3, True, [("resolved", "pending")]),
    ("CC", 3, False, []),  # failing softly: nothing was told
    ("CCCOOO", 3, False, []),  # resolved already
    ("OOO", 3, False, []),
    # Flapping: transitions were silent, the last one told was "firing".
    (FLAPPING, 1, True, [("flapping_end", "pending"), ("resolved", "pending")]),
    (FLAPPING + "C", 1, True, [("flapping_end", "pending"), ("resolved", "pending")]),
])
def test_retire_resolves_what_fires_or_flaps(
    store: StateStore, codes: str, thresholds: int, retired: bool,
    new_events: list[tuple[str, str]],
) -> None:
    s = site(store)
    s.specs["http"] = CheckSpec(type="http", failure_threshold=thresholds,
                                success_threshold=thresholds)
    s.run("http", codes)
    before = s.events("http")

    assert s.service.retire("moodle", "http", s.now + 1) is retired

    assert s.events("http")[len(before):] == new_events
    alert = store.get_alert(fingerprint("moodle", "http"))
    if retired:
        assert alert is not None
        assert (alert.state, alert.flapping, alert.held, alert.summary) == (
            "ok", False, None, RETIRED_SUMMARY)
    assert s.service.retire("moodle", "http", s.now + 2) is False  # once only
    assert len(s.events("http")) == len(before) + len(new_events)


def test_retire_ends_an_acknowledgement_and_says_so_in_the_resolved(
        store: StateStore) -> None:
    s = site(store)
    s.run("http", "CCC")
    fp = fingerprint("moodle", "http")
    s.service.ack(fp, "alice", "looking", now=s.now + 1)

    assert s.service.retire("moodle", "http", s.now + 2)

    alert = store.get_alert(fp)
    assert alert is not None and not alert.acknowledged
    resolved = store.alert_events(fp)[-1]
    assert resolved.kind == "resolved" and resolved.payload["summary"] == RETIRED_SUMMARY
    assert resolved.payload["problem"] == f"http C at {1000 + 3 * 60:g}"
