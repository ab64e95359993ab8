"""Alerting: turns stored check states into alerts and delivers notifications.

Data flow inside this package::

    CheckState -> service (reads policy inputs: history, exams state, parents)
      -> policy (severity rules, flapping, dependencies) + engine.step (pure)
      -> StateStore.save_alert (alert + event rows with snapshot.py payloads, one
         transaction; acks.py writes ack events the same way)
      -> router (pending events -> groups -> outbox rows; routing.py route tree and
         escalation policies, matchers.py, time_intervals.py, escalation.py,
         outbound.py payloads, router_store.py tables)
      -> dispatcher (outbox -> notifiers, retries with backoff; receiver_health.py
         marks a receiver failed on a permanent error) -> notifiers/*

``service.AlertService`` is the glue the daemon calls after each check result.
"""
