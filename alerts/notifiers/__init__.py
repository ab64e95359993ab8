"""Notifiers, one module per channel, registered in ``NOTIFIERS`` (no discovery).

The dispatcher builds one notifier per configured receiver with ``build_notifiers``
and hands each due outbox item (a group notification, see alerts/router.py) to the
notifier named by the item's receiver. Notifiers that must re-send on their own
(Alertmanager) also have ``refresh(now)``; the daemon calls ``refresh_notifiers`` on
a timer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import httpx

from alerts.config import AlertingConfig
from alerts.notifiers.alertmanager import AlertmanagerNotifier
from alerts.notifiers.base import Notifier, NotifyError
from alerts.notifiers.email import EmailNotifier
from alerts.notifiers.log import LogNotifier
from alerts.notifiers.pagerduty import PagerDutyNotifier
from alerts.notifiers.webhook import WebhookNotifier
from alerts.receiver_specs import (
    AlertmanagerReceiverSpec,
    AnyReceiverSpec,
    AppriseReceiverSpec,
    EmailReceiverSpec,
    LogReceiverSpec,
    PagerDutyReceiverSpec,
    WebhookReceiverSpec,
)
from monitor.kernel.clock import SystemClock

__all__ = ["NOTIFIERS", "Notifier", "NotifierOptions", "NotifyError", "Refreshing",
           "build_notifier", "build_notifiers", "refresh_notifiers"]

log = logging.getLogger("vigil.alerts.notifiers")


@dataclass(frozen=True, slots=True)
class NotifierOptions:
    """Boundaries a notifier may use; tests inject an HTTP transport, a logger, a clock."""

    http_transport: httpx.AsyncBaseTransport | None = None
    logger: logging.Logger | None = None
    clock: Callable[[], float] = field(default_factory=lambda: SystemClock().time)


@runtime_checkable
class Refreshing(Protocol):
    """A notifier that re-sends by itself between notifications (Alertmanager)."""

    async def refresh(
        self, now: float, active: Collection[str] | None = None,
        failed_receivers: Collection[str] | None = None,
    ) -> int: ...

    def next_refresh_at(self) -> float | None: ...


def _log(spec: Any, options: NotifierOptions) -> Notifier:
    assert isinstance(spec, LogReceiverSpec)
    return LogNotifier(spec, logger=options.logger)


def _webhook(spec: Any, options: NotifierOptions) -> Notifier:
    assert isinstance(spec, WebhookReceiverSpec)
    return WebhookNotifier(spec, transport=options.http_transport)


def _email(spec: Any, options: NotifierOptions) -> Notifier:
    assert isinstance(spec, EmailReceiverSpec)
    return EmailNotifier(spec, clock=options.clock)


def _alertmanager(spec: Any, options: NotifierOptions) -> Notifier:
    assert isinstance(spec, AlertmanagerReceiverSpec)
    return AlertmanagerNotifier(spec, clock=options.clock, transport=options.http_transport)


def _pagerduty(spec: Any, options: NotifierOptions) -> Notifier:
    assert isinstance(spec, PagerDutyReceiverSpec)
    return PagerDutyNotifier(spec, transport=options.http_transport)


def _apprise(spec: Any, options: NotifierOptions) -> Notifier:
    assert isinstance(spec, AppriseReceiverSpec)
    # Imported on use: apprise loads ~100 plugins, and most sites do not configure it.
    from alerts.notifiers.apprise import AppriseNotifier

    return AppriseNotifier(spec)


# Receiver ``type`` -> factory. Adding a channel: a module, a spec in config.py, a line here.
NOTIFIERS: dict[str, Callable[[Any, NotifierOptions], Notifier]] = {
    "log": _log,
    "webhook": _webhook,
    "email": _email,
    "alertmanager": _alertmanager,
    "pagerduty": _pagerduty,
    "apprise": _apprise,
}


def build_notifier(spec: AnyReceiverSpec, options: NotifierOptions | None = None) -> Notifier:
    return NOTIFIERS[spec.type](spec, options or NotifierOptions())


def build_notifiers(
    config: AlertingConfig, options: NotifierOptions | None = None
) -> dict[str, Notifier]:
    """One notifier per configured receiver, keyed by receiver name."""
    return {spec.name: build_notifier(spec, options) for spec in config.receivers}


async def refresh_notifiers(
    notifiers: Mapping[str, Notifier], now: float, active: Collection[str] | None = None,
    failed_receivers: Collection[str] | None = None,
) -> float | None:
    """Let every re-sending notifier re-send what is due; return when to call again.

    ``active``: fingerprints of the alerts firing in the state store, if the caller
    has them (ends alerts a notifier would otherwise keep alive by mistake);
    ``failed_receivers`` likewise for self-alerts (alerts.receiver_health
    ``failed_receivers``). Never raises: a receiver's trouble must not stop the
    daemon's timer.
    """
    due: list[float] = []
    for name, notifier in notifiers.items():
        if not isinstance(notifier, Refreshing):
            continue
        try:
            await notifier.refresh(now, active, failed_receivers)
        except Exception:
            log.exception("receiver %r: refresh failed", name)
        next_at = notifier.next_refresh_at()
        if next_at is not None:
            due.append(next_at)
    return min(due, default=None)
