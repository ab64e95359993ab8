"""Alerting: turns stored check states into alerts and delivers notifications.

Data flow inside this package::

    CheckState -> engine.evaluate (pure soft/hard state machine) -> Decision
      -> messages (neutral payload + text from jinja2 templates)
      -> StateStore.save_alert (alert + transition + outbox rows, one transaction)
      -> dispatcher (outbox -> notifiers, retries with backoff) -> notifiers/*

``service.AlertService`` is the glue the daemon calls after each check result.
"""
