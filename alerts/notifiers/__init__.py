"""Notifiers, one module per channel, registered in ``NOTIFIERS`` (no discovery).

The dispatcher builds one notifier per configured receiver with ``build_notifiers``
and hands each due outbox item to the notifier named by the item's receiver.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from alerts.config import AlertingConfig, LogReceiverSpec, WebhookReceiverSpec
from alerts.notifiers.base import Notifier, NotifyError
from alerts.notifiers.log import LogNotifier
from alerts.notifiers.webhook import WebhookNotifier

__all__ = ["NOTIFIERS", "Notifier", "NotifierOptions", "NotifyError", "build_notifier",
           "build_notifiers"]


@dataclass(frozen=True, slots=True)
class NotifierOptions:
    """Boundaries a notifier may use; tests inject an HTTP transport or a logger here."""

    http_transport: httpx.AsyncBaseTransport | None = None
    logger: logging.Logger | None = None


def _log(spec: Any, options: NotifierOptions) -> Notifier:
    assert isinstance(spec, LogReceiverSpec)
    return LogNotifier(spec, logger=options.logger)


def _webhook(spec: Any, options: NotifierOptions) -> Notifier:
    assert isinstance(spec, WebhookReceiverSpec)
    return WebhookNotifier(spec, transport=options.http_transport)


# Receiver ``type`` -> factory. Adding a channel: a module, a spec in config.py, a line here.
NOTIFIERS: dict[str, Callable[[Any, NotifierOptions], Notifier]] = {
    "log": _log,
    "webhook": _webhook,
}


def build_notifier(
    spec: LogReceiverSpec | WebhookReceiverSpec, options: NotifierOptions | None = None
) -> Notifier:
    return NOTIFIERS[spec.type](spec, options or NotifierOptions())


def build_notifiers(
    config: AlertingConfig, options: NotifierOptions | None = None
) -> dict[str, Notifier]:
    """One notifier per configured receiver, keyed by receiver name."""
    return {spec.name: build_notifier(spec, options) for spec in config.receivers}
