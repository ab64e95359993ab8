"""Maintenance windows mirrored as Alertmanager silences, so every instance of a fleet
(and anything else sending to the cluster) honours a window created on one of them.

Each occurrence that is running, or starts within HORIZON, becomes one silence: the
window's matchers translated one to one (``=``, ``!=``, ``=~``, ``!~`` have the same
meaning in both, a missing label counting as ""), plus ``alertname!="VigilNotice"`` so
the window's own notices and report still get through. The silence's comment carries a
tag, ``[vigil-window <uid>]`` (``<uid>@<start>`` for each occurrence of a recurring
window): Alertmanager itself remembers which silence mirrors which occurrence, across
restarts of Vigil and between instances. A window from the config has the same UID on
every instance (calendar.config_uid), so the instances of a fleet find and share one
silence instead of creating one each; a one-off or manual window has one occurrence and
is tagged by its UID alone, because a manual one without a start opens when each
instance first reads it, at slightly different times.

``step(now)`` reconciles: create what is missing, update what changed (end moved,
matchers edited), expire what no longer should be (window ended or deleted). A silence
whose window this instance does not know (an API window of another instance) is left
alone. Alertmanager down: logged once, everything retried at the next step; never raised.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alerts.am_cluster import AlertmanagerCluster, AlertmanagerUnavailable
from alerts.maintenance.book import MaintenanceBook
from alerts.maintenance.calendar import Occurrence
from alerts.maintenance.model import Matcher

HORIZON = 86400.0  # silences are created up to a day ahead (pending in Alertmanager)
OPEN_END = 3600.0  # an open manual window's silence reaches this far, extended as it goes
NOTICE_ALERTNAME = "VigilNotice"  # alerts/notifiers/alertmanager.py
_TAG = re.compile(r"\[vigil-window (\S+?)(@\d+)?\]")

log = logging.getLogger("vigil.maintenance.silences")


def am_matchers(matchers: Sequence[Matcher]) -> list[dict[str, Any]]:
    """Vigil's label matchers as Alertmanager ``matchers``, notices let through."""
    translated = [{"name": m.label, "value": m.value, "isRegex": m.op in ("=~", "!~"),
                   "isEqual": m.op in ("=", "=~")} for m in matchers]
    return [*translated, {"name": "alertname", "value": NOTICE_ALERTNAME,
                          "isRegex": False, "isEqual": False}]


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def _parse(text: str) -> float:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True, slots=True)
class Wanted:
    key: str  # "<uid>", or "<uid>@<start>" for a recurring window
    body: dict[str, Any]  # postableSilence without id
    open_ended: bool


def wanted_silences(occurrences: Sequence[Occurrence], now: float,
                    created_by: str) -> dict[str, Wanted]:
    wanted: dict[str, Wanted] = {}
    for occ in occurrences:
        if occ.end is not None and occ.end <= now:
            continue
        key = f"{occ.uid}@{int(occ.start)}" if occ.kind == "recurring" else occ.uid
        end = occ.end if occ.end is not None else max(now, occ.start) + OPEN_END
        wanted[key] = Wanted(key, {
            "matchers": am_matchers(occ.matchers), "startsAt": _iso(occ.start),
            "endsAt": _iso(end), "createdBy": created_by,
            "comment": f"[vigil-window {key}] Vigil maintenance window {occ.name!r}",
        }, occ.end is None)
    return wanted


def _key_of(silence: Mapping[str, Any]) -> tuple[str, str] | None:
    found = _TAG.search(str(silence.get("comment", "")))
    return (found.group(1), found.group(1) + (found.group(2) or "")) if found else None


def _matcher_set(matchers: Any) -> frozenset[tuple[Any, ...]]:
    return frozenset((m.get("name"), m.get("value"), bool(m.get("isRegex")),
                      m.get("isEqual", True)) for m in matchers or [] if isinstance(m, dict))


def _needs_update(current: Mapping[str, Any], want: Wanted, now: float) -> bool:
    if _matcher_set(current.get("matchers")) != _matcher_set(want.body["matchers"]):
        return True
    ends = _parse(current["endsAt"])
    if want.open_ended:  # extend before it runs out, not at every step
        return ends < now + OPEN_END / 2
    if abs(ends - _parse(want.body["endsAt"])) > 1.0:
        return True
    state = (current.get("status") or {}).get("state")
    # An active silence starts when it was created; only a pending one keeps our start.
    return state == "pending" and abs(_parse(current["startsAt"])
                                      - _parse(want.body["startsAt"])) > 1.0


class SilenceMirror:
    def __init__(self, book: MaintenanceBook, cluster: AlertmanagerCluster, *,
                 created_by: str = "vigil") -> None:
        self.book, self.cluster, self.created_by = book, cluster, created_by
        self.ids: dict[str, str] = {}  # occurrence key -> silence id, as last seen
        self._failing: str | None = None

    async def step(self, now: float) -> int:
        """Reconcile once; returns how many silences mirror windows now. Never raises."""
        try:
            count = await self._reconcile(now)
        except AlertmanagerUnavailable as exc:
            if self._failing != str(exc):
                log.warning("cannot mirror maintenance windows as silences (retrying): %s", exc)
            self._failing = str(exc)
            return len(self.ids)
        except Exception:
            log.exception("mirroring maintenance windows as silences failed; retrying")
            return len(self.ids)
        if self._failing is not None:
            log.info("maintenance windows mirrored as silences again")
        self._failing = None
        return count

    async def _reconcile(self, now: float) -> int:
        wanted = wanted_silences(self.book.occurrences_between(now, now + HORIZON), now,
                                 self.created_by)
        known_uids = {w.uid for w in self.book.list(include_ended=True)}
        current: dict[str, dict[str, Any]] = {}
        for silence in await self.cluster.silences():
            found = _key_of(silence)
            state = (silence.get("status") or {}).get("state")
            if found is None or state == "expired" or found[0] not in known_uids:
                continue
            key = found[1]
            if key in current:  # two instances raced to create it: keep one
                keep, extra = sorted([current[key], silence], key=lambda s: str(s.get("id")))
                await self.cluster.expire_silence(str(extra["id"]))
                current[key] = keep
            else:
                current[key] = silence
        ids: dict[str, str] = {}
        errors: list[str] = []  # one refused window (say, a regex RE2 rejects) blocks no other
        for key, want in wanted.items():
            have = current.get(key)
            try:
                if have is None:
                    ids[key] = await self.cluster.post_silence(want.body)
                    log.info("window occurrence %s mirrored as silence %s", key, ids[key])
                elif _needs_update(have, want, now):
                    ids[key] = await self.cluster.post_silence({**want.body, "id": have["id"]})
                else:
                    ids[key] = str(have["id"])
            except AlertmanagerUnavailable as exc:
                errors.append(f"{key}: {exc}")
        for key, silence in current.items():
            if key not in wanted:
                try:
                    await self.cluster.expire_silence(str(silence["id"]))
                    log.info("silence %s of window occurrence %s expired", silence["id"], key)
                except AlertmanagerUnavailable as exc:
                    errors.append(f"{key}: {exc}")
        self.ids = ids
        if errors:
            raise AlertmanagerUnavailable("; ".join(errors))
        return len(ids)
