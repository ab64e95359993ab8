"""``[fleet]``: several plain Vigil instances sharing one config (docs/scale.md).

Sharding: ``shard = "I/N"`` (or ``vigil run --shard I/N``, which wins) schedules only the
LMS sites whose hashmod falls in shard I (monitor/kernel/shard.py); their alerts carry a
``shard`` label. High availability: two instances with the same shard form a pair
(``ha = true``, ``ha_member = 0`` and ``1``); both probe and push identical alerts to a
clustered Alertmanager, which deduplicates them, so in HA mode every notifying receiver
must be an alertmanager one (``fleet_problems``). Maintenance windows are mirrored as
Alertmanager silences (alerts/maintenance/silences.py) and the LMS actions of a window
run on member 0, or on member 1 while member 0's heartbeat is absent from the cluster
(alerts/fleet_ha.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal, Protocol, Self, TypeVar

from pydantic import field_validator

from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.shard import Shard, parse_shard
from monitor.kernel.spec import PositiveDuration, StrictModel


class _Receiver(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...

# Receivers that notify nobody: harmless on both members of a pair.
QUIET_RECEIVER_TYPES = ("log",)

FLEET_METRICS = declare(
    MetricSpec("vigil_fleet_shard_info", "info",
               "This instance's shard (0-based, as Prometheus hashmod), the number of "
               "shards and its HA member (empty when not in an HA pair).",
               ("shard", "shards", "ha_member")),
    MetricSpec("vigil_fleet_owned_sites", "gauge",
               "LMS sites of the config this instance owns (its shard) and schedules.",
               ("shard",)),
    MetricSpec("vigil_fleet_site_owned", "gauge",
               "1 for each LMS site this instance owns and schedules.", ("lms", "shard")),
    MetricSpec("vigil_fleet_silences_mirrored", "gauge",
               "Maintenance windows' occurrences mirrored as Alertmanager silences now."),
    MetricSpec("vigil_fleet_lms_actions_enabled", "gauge",
               "1 while this instance runs the LMS actions of config maintenance windows "
               "(HA member 0, or member 1 while member 0's heartbeat is absent), else 0."),
)

class _Named(Protocol):
    @property
    def name(self) -> str: ...


_Site = TypeVar("_Site", bound=_Named)
_Config = TypeVar("_Config", bound="_HasFleet")


class _HasFleet(Protocol):
    fleet: FleetConfig

    def model_copy(self, *, update: dict[str, object]) -> Self: ...


class FleetConfig(StrictModel):
    # "I/N", 0 <= I < N; None: one instance owns every site.
    shard: str | None = None
    ha: bool = False
    ha_member: Literal[0, 1] | None = None
    # The alertmanager receiver whose cluster holds silences and heartbeats (default:
    # the only alertmanager receiver).
    alertmanager: str | None = None
    # Mirror maintenance windows as silences (default: on in a fleet, i.e. with a shard
    # or ha = true).
    mirror_windows: bool | None = None
    # How often silences are reconciled and the heartbeat is pushed or looked for.
    sync_interval: PositiveDuration = 15.0

    @field_validator("shard")
    @classmethod
    def _shard_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_shard(value)
        return value

    @property
    def parsed_shard(self) -> Shard | None:
        return parse_shard(self.shard) if self.shard is not None else None

    @property
    def mirrors_windows(self) -> bool:
        if self.mirror_windows is not None:
            return self.mirror_windows
        return self.ha or self.shard is not None

    def owned(self, sites: Sequence[_Site]) -> list[_Site]:
        """The sites (anything with a ``name``) this instance schedules."""
        shard = self.parsed_shard
        return [s for s in sites if shard is None or shard.owns(s.name)]

    def label(self) -> dict[str, str]:
        """The label every alert of this instance carries (nothing when not sharded)."""
        shard = self.parsed_shard
        return {} if shard is None else {"shard": shard.label}


def with_shard(config: _Config, shard: str | None) -> _Config:
    """``config`` with ``vigil run --shard`` applied: it overrides ``[fleet] shard``."""
    if shard is None:
        return config
    fleet = config.fleet.model_copy(update={"shard": str(parse_shard(shard))})
    return config.model_copy(update={"fleet": fleet})


def alertmanager_receiver(fleet: FleetConfig, receivers: Sequence[_Receiver]) -> str | None:
    """The name of the alertmanager receiver the fleet features use, if there is one."""
    if fleet.alertmanager is not None:
        return fleet.alertmanager
    names = [r.name for r in receivers if r.type == "alertmanager"]
    return names[0] if len(names) == 1 else None


def fleet_problems(fleet: FleetConfig, receivers: Sequence[_Receiver]) -> Iterator[str]:
    """Rules between [fleet] and [alerts]: HA sends only through Alertmanager."""
    kinds = {r.name: r.type for r in receivers}
    if fleet.ha_member is not None and not fleet.ha:
        yield "fleet.ha_member: only used with ha = true (an HA pair)"
    if fleet.ha and fleet.ha_member is None:
        yield ("fleet.ha_member: required with ha = true: 0 on one member of the pair, "
               "1 on the other")
    if fleet.alertmanager is not None and kinds.get(fleet.alertmanager) != "alertmanager":
        yield (f"fleet.alertmanager: {fleet.alertmanager!r} is not an alertmanager receiver "
               f"(alertmanager receivers: {', '.join(_ams(kinds)) or 'none'})")
    elif (fleet.ha or fleet.mirrors_windows) and alertmanager_receiver(fleet, receivers) is None:
        ams = _ams(kinds)
        yield ("fleet.alertmanager: " + (
            f"name which alertmanager receiver holds silences and heartbeats ({', '.join(ams)})"
            if ams else "a fleet needs an alertmanager receiver ([[alerts.receivers]] with "
            "type = \"alertmanager\"); or set mirror_windows = false"))
    if fleet.ha:
        for name, kind in kinds.items():
            if kind not in ("alertmanager", *QUIET_RECEIVER_TYPES):
                yield (f"fleet.ha: receiver {name!r} ({kind}) would notify from both members "
                       "of the HA pair; in HA mode Vigil notifies only through alertmanager "
                       "receivers (route to e-mail, webhooks or PagerDuty in Alertmanager)")


def _ams(kinds: dict[str, str]) -> list[str]:
    return [name for name, kind in kinds.items() if kind == "alertmanager"]
