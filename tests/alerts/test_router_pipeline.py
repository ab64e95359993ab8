"""The whole alert path with real parts: AlertService -> Router -> outbox -> Dispatcher.

Check states go in at the AlertService (as the runner feeds them), time is injected,
and a recording notifier stands at the output boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alerts.config import AlertingConfig
from alerts.dispatcher import Dispatcher
from alerts.router import Router
from alerts.service import AlertService
from monitor.app.store import StateStore
from monitor.kernel.result import Status
from monitor.state.store import CheckState

T0 = 1_800_000_000.0


def _feed(service: AlertService, make: Callable[..., CheckState], status: Status, *, lms: str,
          times: int, start: float, host: str) -> float:
    """``times`` consecutive results of one status, a second apart; returns the last time."""
    now = start
    for index in range(1, times + 1):
        ok = status == Status.OK
        state = make(status, lms=lms, check="database", check_type="tcp",
                     consecutive_ok=index if ok else 0, consecutive_fail=0 if ok else index,
                     ran_at=now, summary="connection refused" if not ok else "connected")
        service.on_state(state, None, now, labels={"host": host})
        now += 1.0
    return now - 1.0


async def test_a_database_outage_on_a_shared_host_pages_once_and_resolves_once(
    store: StateStore, state_factory: Callable[..., CheckState], recording_notifier: Any
) -> None:
    config = AlertingConfig.model_validate({
        "receivers": [{"type": "log", "name": "pager"}],
        "route": {"group_by": ["host"], "group_wait": "10s"},
    })
    woken: list[str] = []
    router = Router(store, config, wake_dispatcher=lambda: woken.append("dispatcher"))
    service = AlertService(store, config, wake=router.wake)
    pager = recording_notifier()
    dispatcher = Dispatcher(store, {"pager": pager}, config.retry)

    last = T0
    for index in range(12):
        last = _feed(service, state_factory, Status.CRITICAL, lms=f"moodle-{index:02d}",
                     times=3, start=T0 + index * 0.2, host="db1")
    router.step(last)
    await dispatcher.step(last)
    assert pager.sent == []  # group_wait: more sites of the host may follow
    router.step(T0 + 12)  # 10 s after the first site fired (its third failure, T0+2)
    await dispatcher.step(T0 + 12)
    [page] = pager.sent
    assert page["status"] == "firing" and len(page["alerts"]) == 12
    assert page["group_labels"] == {"host": "db1"} and woken == ["dispatcher"]
    assert all(a["runbook"] for a in page["alerts"])  # what to do, per alert

    end = T0 + 600
    for index in range(12):
        _feed(service, state_factory, Status.OK, lms=f"moodle-{index:02d}", times=2,
              start=end, host="db1")
    router.step(end + 2)
    router.step(end + 70)  # group_interval after the page
    await dispatcher.step(end + 70)
    assert [p["status"] for p in pager.sent] == ["firing", "resolved"]
    resolved = pager.sent[1]
    assert len(resolved["alerts"]) == 12 and resolved["title"].startswith("[RESOLVED:12]")
    assert all(a["duration_seconds"] > 500 for a in resolved["alerts"])
