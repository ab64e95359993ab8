"""Which member of an HA pair runs the LMS actions of a maintenance window, decided
through the Alertmanager cluster rather than an election of our own.

Both members of a pair (``[fleet] ha = true``, ``ha_member = 0`` / ``1``) probe the same
sites and push identical alerts; Alertmanager deduplicates them. Actions that change the
LMS (maintenance mode on and off) must run once. The order is fixed by the config:
member 0 acts, and keeps a heartbeat alert (``alertname="VigilFleetHeartbeat"``,
``ha_member="0"`` and its ``shard``) alive in the cluster, re-sent every step with a
validity of HEARTBEAT_STEPS steps, the way Prometheus keeps its alerts alive. Member 1
acts only while that heartbeat is absent from the cluster: member 0 stopped, crashed or
cannot reach Alertmanager for HEARTBEAT_STEPS steps. Member 1 cannot tell, it keeps its
last decision (initially: not acting), so an Alertmanager outage never makes both act.

Windows created through the API or CLI live only on the instance they were created on,
which therefore always acts for them (``acts_for``). Route the heartbeat to a receiver
that notifies nobody (docs/scale.md), as with kube-prometheus's Watchdog alert.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from alerts.am_cluster import AlertmanagerCluster, AlertmanagerUnavailable

HEARTBEAT = "VigilFleetHeartbeat"
HEARTBEAT_STEPS = 3  # missed re-sends before member 1 takes over
LOCAL_SOURCES = ("api", "cli")  # windows only this instance knows

log = logging.getLogger("vigil.fleet")


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


class HaRole:
    def __init__(self, cluster: AlertmanagerCluster, member: int,
                 shard_label: Mapping[str, str], every: float) -> None:
        self.cluster, self.member, self.every = cluster, member, every
        self.labels = {"alertname": HEARTBEAT, "ha_member": "0", **shard_label}
        self.acting = member == 0
        self._failing = False

    def acts_for(self, source: str) -> bool:
        """May this instance run the LMS actions of a window from ``source``?"""
        return self.acting or source in LOCAL_SOURCES

    async def step(self, now: float) -> None:
        """Member 0: keep the heartbeat alive. Member 1: look for it. Never raises."""
        try:
            if self.member == 0:
                await self.cluster.post_alerts([{
                    "labels": self.labels, "startsAt": _iso(now),
                    "endsAt": _iso(now + HEARTBEAT_STEPS * self.every),
                    "annotations": {"summary": "Vigil HA member 0 is alive (not a problem: "
                                    "route it to a receiver that notifies nobody)"}}])
            else:
                self._decide(await self.cluster.alerts(self.labels), now)
        except AlertmanagerUnavailable as exc:
            if not self._failing:
                log.warning("HA member %d: Alertmanager unreachable (%s); %s", self.member,
                            exc, "still acting" if self.acting else "still leaving the LMS "
                            "actions of config windows to member 0")
            self._failing = True
            return
        except Exception:
            log.exception("HA member %d: heartbeat step failed", self.member)
            return
        self._failing = False

    def _decide(self, found: list[dict[str, object]], now: float) -> None:
        alive = any(_ends_after(alert.get("endsAt"), now) for alert in found)
        if alive == self.acting:  # present while we act, or absent while we wait
            self.acting = not alive
            log.warning("HA member 1: member 0's heartbeat is %s; %s the LMS actions of "
                        "config maintenance windows", "back" if alive else "absent",
                        "leaving to it" if alive else "taking over")


def _ends_after(value: object, now: float) -> bool:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() > now
    except ValueError:
        return True  # present but unreadable: count it as alive, never act twice
