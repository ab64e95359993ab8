"""systemd's sd_notify protocol, spoken directly: readiness, status, watchdog, stopping.

Sits at the edge of the daemon wiring: ``vigil run`` tells systemd READY=1 once it
serves, STATUS= lines as things change, WATCHDOG=1 from the event loop (so a blocked
loop gets the unit restarted, see systemd/vigil.service) and STOPPING=1 on shutdown.

The protocol is one datagram of newline-separated ``KEY=VALUE`` fields sent to the
AF_UNIX socket named in ``$NOTIFY_SOCKET`` (a path, or an abstract name when it starts
with ``@``). It is small enough to implement here instead of adding a dependency
(sd_notify(3), "Notes" section; systemd's src/libsystemd/sd-daemon/sd-daemon.c).
Without ``$NOTIFY_SOCKET`` (not under systemd, or Type= not notify) every call is a
no-op. A failure to notify is logged once and never raises: monitoring must keep
running even if systemd cannot be told about it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Send sd_notify messages for the current process.

    ``env`` defaults to ``os.environ``; tests pass their own mapping. ``pid`` is the
    process the watchdog settings must be meant for (defaults to ``os.getpid()``).
    """

    def __init__(self, env: Mapping[str, str] | None = None, *, pid: int | None = None) -> None:
        self._env: Mapping[str, str] = os.environ if env is None else env
        self._pid = os.getpid() if pid is None else pid
        self._address = _socket_address(self._env.get("NOTIFY_SOCKET", ""))
        self._sock: socket.socket | None = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        """True when there is a notification socket to talk to."""
        return self._address is not None

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd start-up is complete (Type=notify waits for this)."""
        return self.notify("READY=1", *_status_field(status))

    def reloading(self) -> bool:
        """Tell systemd a reload started; send ``ready()`` when it is done.

        MONOTONIC_USEC is required by Type=notify-reload (systemd >= 253) and harmless
        before it.
        """
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self, status: str | None = None) -> bool:
        """Tell systemd the daemon is shutting down on purpose."""
        return self.notify("STOPPING=1", *_status_field(status))

    def status(self, text: str) -> bool:
        """Set the one-line status that ``systemctl status vigil`` shows."""
        return self.notify(*_status_field(text))

    def watchdog(self) -> bool:
        """Ping the watchdog; call every ``watchdog_interval()`` seconds."""
        return self.notify("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings, or None when the watchdog is off for us.

        Follows sd_watchdog_enabled(3): WATCHDOG_USEC must be a positive integer and,
        when WATCHDOG_PID is set, it must name this process (otherwise the settings were
        inherited from a parent and are not ours). Pinging at half the timeout is what
        that man page recommends, so one late ping does not kill the service.
        """
        raw_usec = self._env.get("WATCHDOG_USEC")
        if raw_usec is None:
            return None
        try:
            usec = int(raw_usec)
        except ValueError:
            self._warn_once(f"ignoring WATCHDOG_USEC={raw_usec!r}: not an integer")
            return None
        if usec <= 0:
            return None
        raw_pid = self._env.get("WATCHDOG_PID")
        if raw_pid is not None:
            try:
                if int(raw_pid) != self._pid:
                    return None
            except ValueError:
                self._warn_once(f"ignoring WATCHDOG_PID={raw_pid!r}: not a process id")
                return None
        return usec / 1_000_000 / 2

    def notify(self, *fields: str) -> bool:
        """Send ``fields`` as one datagram. Returns False (and logs once) on failure."""
        if self._address is None or not fields:
            return False
        payload = "\n".join(fields).encode("utf-8")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                # Python sockets are close-on-exec already. A full receive queue must not
                # block the event loop: the message is dropped (and logged) instead.
                self._sock.setblocking(False)
            # sendto (not connect + send) so a socket re-created by systemd is found again.
            self._sock.sendto(payload, self._address)
        except OSError as exc:
            self._warn_once(f"cannot notify systemd at {self._display()}: {exc}")
            return False
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _display(self) -> str:
        return self._env.get("NOTIFY_SOCKET", "")

    def _warn_once(self, message: str) -> None:
        # Called from every watchdog tick: one warning is useful, thousands are noise.
        if not self._warned:
            self._warned = True
            log.warning("%s (further sd_notify problems are not logged)", message)


def _socket_address(value: str) -> str | None:
    """The AF_UNIX address for a $NOTIFY_SOCKET value, or None when unusable."""
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        # Abstract namespace: Python spells it with a leading NUL byte.
        return "\0" + value[1:]
    if value:
        # e.g. "vsock:..." for VMs: valid for systemd, not supported here.
        log.warning("NOTIFY_SOCKET=%r is not a unix socket; systemd will not be notified", value)
    return None


def _status_field(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    # A newline would start a new KEY=VALUE field and could forge READY=1 or the like.
    return ("STATUS=" + " ".join(text.splitlines()),)
