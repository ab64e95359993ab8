"""The daemon's part in a fleet: its shard on /metrics and the status page, maintenance
windows mirrored as silences, and the HA member's heartbeat (monitor/app/fleet.py says
what each setting means).

The daemon calls ``configure`` at start and on every reload, runs ``run_forever`` as one
task, asks ``acts_for`` before switching an LMS's maintenance mode (lifecycle.py) and
registers ``collector()`` on its registry. Alertmanager being down never stops anything:
each step logs and is tried again ``sync_interval`` later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from alerts.am_cluster import AlertmanagerCluster
from alerts.fleet_ha import HaRole
from alerts.maintenance.book import MaintenanceBook
from alerts.maintenance.silences import SilenceMirror
from alerts.receiver_specs import AlertmanagerReceiverSpec
from monitor.app.config import VigilConfig
from monitor.app.fleet import FLEET_METRICS, alertmanager_receiver

log = logging.getLogger("vigil.fleet")


class FleetWork:
    def __init__(self, book: MaintenanceBook, clock: Callable[[], float],
                 config: VigilConfig) -> None:
        self.book, self.clock = book, clock
        self.config: VigilConfig | None = None
        self.cluster: AlertmanagerCluster | None = None
        self.mirror: SilenceMirror | None = None
        self.ha: HaRole | None = None
        self.mirrored = 0
        self.configure(config)

    def configure(self, config: VigilConfig) -> None:
        """(Re)build from ``config``; unchanged [fleet] and receivers keep what runs."""
        old = self.config
        self.config = config
        if old is not None and old.fleet == config.fleet and \
                old.alerts.receivers == config.alerts.receivers:
            return
        if self.cluster is not None:  # a reload, inside the running loop
            asyncio.get_running_loop().create_task(self.cluster.aclose())
        self.cluster = self.mirror = self.ha = None
        fleet = config.fleet
        name = alertmanager_receiver(fleet, config.alerts.receivers)
        spec = next((r for r in config.alerts.receivers if r.name == name), None)
        if not isinstance(spec, AlertmanagerReceiverSpec) or not (
                fleet.ha or fleet.mirrors_windows):
            return
        self.cluster = AlertmanagerCluster(spec)
        if fleet.mirrors_windows:
            instance = f"vigil shard {fleet.shard or 'all'}" + (
                f" member {fleet.ha_member}" if fleet.ha else "")
            self.mirror = SilenceMirror(self.book, self.cluster, created_by=instance)
        if fleet.ha and fleet.ha_member is not None:
            self.ha = HaRole(self.cluster, fleet.ha_member, fleet.label(), fleet.sync_interval)

    def acts_for(self, source: str) -> bool:
        return self.ha is None or self.ha.acts_for(source)

    async def step(self) -> None:
        now = self.clock()
        if self.ha is not None:
            await self.ha.step(now)
        if self.mirror is not None:
            self.mirrored = await self.mirror.step(now)

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.step()
            except Exception:  # each step catches its own; this is the last guard
                log.exception("fleet step failed")
            every = self.config.fleet.sync_interval if self.config else 15.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)

    async def aclose(self) -> None:
        if self.cluster is not None:
            await self.cluster.aclose()

    # -- what it shows ----------------------------------------------------------
    def owned_sites(self) -> list[str]:
        config = self.config
        return [] if config is None else [s.name for s in config.fleet.owned(config.lms)]

    def summary(self) -> dict[str, Any] | None:
        """For the status page: None when this instance is not part of a fleet."""
        config = self.config
        if config is None or (config.fleet.shard is None and not config.fleet.ha):
            return None
        return {"shard": config.fleet.shard or "all", "sites": self.owned_sites(),
                "of": len(config.lms), "ha_member": config.fleet.ha_member,
                "acting": self.acts_for("config")}

    def collector(self) -> Collector:
        return _FleetCollector(self)


class _FleetCollector(Collector):
    def __init__(self, work: FleetWork) -> None:
        self.work = work

    def describe(self) -> Iterable[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        config = self.work.config
        if config is None:
            return
        fleet, spec = config.fleet, FLEET_METRICS
        shard = fleet.parsed_shard
        label = shard.label if shard else ""
        member = "" if fleet.ha_member is None else str(fleet.ha_member)
        info = InfoMetricFamily("vigil_fleet_shard", spec["vigil_fleet_shard_info"].help,
                                labels=["shard", "shards", "ha_member"])
        info.add_metric([label, str(shard.count if shard else 1), member], {})
        yield info
        owned = self.work.owned_sites()
        yield _one("vigil_fleet_owned_sites", ["shard"], [([label], float(len(owned)))])
        yield _one("vigil_fleet_site_owned", ["lms", "shard"],
                   [([lms, label], 1.0) for lms in owned])
        yield _one("vigil_fleet_silences_mirrored", [], [([], float(self.work.mirrored))])
        yield _one("vigil_fleet_lms_actions_enabled", [],
                   [([], float(self.work.acts_for("config")))])


def _one(name: str, labels: list[str], rows: list[tuple[list[str], float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, FLEET_METRICS[name].help, labels=labels)
    for values, value in rows:
        family.add_metric(values, value)
    return family
