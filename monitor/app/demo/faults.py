"""Which fault the demo LMS shows, now and over time (pure state; no I/O).

The demo app (monitor/app/demo/lms.py) reads ``FaultController.fault`` on every request;
DemoServer (monitor/app/demo/server.py) switches it, by hand or following a FaultSchedule.
"""

from __future__ import annotations

from dataclasses import dataclass

# "down" closes the listeners (connection refused); the others change the answers:
#   ok               a healthy Moodle
#   slow             every answer right, but late
#   maintenance      CLI maintenance: 503 + Retry-After everywhere (lib/setup.php)
#   web_maintenance  maintenance_enabled = 1: front page 503, login page 200 with a notice
#   dberror          a database read fails during bootstrap (dmlreadexception, 500 page)
#   dbdown           the database refuses connections (dml_connection_exception, 500 page)
#   wrong_content    a web server's default page where Moodle should be
#   upgrade          a major upgrade is required: pages 303 to admin/index.php
#   developer_debug  debugdeveloper left on: M.cfg carries "developerdebug": true
#   invalidtoken     every web-service token is refused (e.g. the token was deleted)
#   ws_disabled      enablewebservices = 0: token.php errors, REST answers 403
FAULTS = ("ok", "down", "slow", "maintenance", "dberror", "wrong_content", "upgrade",
          "web_maintenance", "dbdown", "developer_debug", "invalidtoken", "ws_disabled")


class FaultController:
    """The fault the demo LMS shows right now; read by every request."""

    def __init__(self, fault: str = "ok", *, slow_seconds: float = 3.0) -> None:
        self.fault = fault
        self.slow_seconds = slow_seconds

    @property
    def fault(self) -> str:
        return self._fault

    @fault.setter
    def fault(self, name: str) -> None:
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; expected one of: {', '.join(FAULTS)}")
        self._fault = name


@dataclass(frozen=True)
class FaultSchedule:
    """Which fault is active ``elapsed`` seconds into the demo; the phases repeat.

    The default suits checks every 5 s with failure threshold 3 and success threshold 2:
    25 s of a fault gives at least 4 failing runs (fires ~15 s in), 20 s of "ok" at least
    3 passing runs (resolves ~10 s in). The "down" alert fires about 35 s after start and
    resolves at about 55 s; "slow" fires and resolves before the two-minute mark.
    """

    phases: tuple[tuple[str, float], ...] = (
        ("ok", 20), ("down", 25), ("ok", 20), ("slow", 25), ("ok", 20),
        ("wrong_content", 25), ("ok", 20), ("maintenance", 25), ("ok", 20), ("dberror", 25),
    )

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError("a fault schedule needs at least one phase")
        for name, seconds in self.phases:
            FaultController(name)  # raises for an unknown fault name
            if seconds <= 0:
                raise ValueError(f"phase {name!r}: duration must be > 0, got {seconds}")

    @property
    def cycle_seconds(self) -> float:
        return float(sum(seconds for _, seconds in self.phases))

    def table(self) -> list[tuple[float, float, str]]:
        """(start, end, fault) for one cycle."""
        rows, start = [], 0.0
        for name, seconds in self.phases:
            rows.append((start, start + seconds, name))
            start += seconds
        return rows

    def fault_at(self, elapsed: float) -> str:
        return self._locate(elapsed)[0]

    def seconds_until_change(self, elapsed: float) -> float:
        return self._locate(elapsed)[1]

    def _locate(self, elapsed: float) -> tuple[str, float]:
        offset = max(0.0, elapsed) % self.cycle_seconds
        for start, end, name in self.table():
            if start <= offset < end:
                return name, end - offset
        return self.phases[-1][0], self.cycle_seconds - offset  # float rounding at the end
