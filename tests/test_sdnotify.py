"""sd_notify against a real AF_UNIX datagram socket, the way systemd receives it."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.app.sdnotify import SystemdNotifier


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket standing in for systemd's notify socket."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    yield sock, str(path)
    sock.close()


def receive(sock: socket.socket) -> str:
    return sock.recv(4096).decode("utf-8")


def test_sends_ready_watchdog_status_and_stopping(
    receiver: tuple[socket.socket, str],
) -> None:
    sock, path = receiver
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})

    assert notifier.enabled
    assert notifier.ready()
    assert receive(sock) == "READY=1"
    assert notifier.watchdog()
    assert receive(sock) == "WATCHDOG=1"
    assert notifier.status("3 sites, 12 checks, 1 alert firing")
    assert receive(sock) == "STATUS=3 sites, 12 checks, 1 alert firing"
    assert notifier.stopping()
    assert receive(sock) == "STOPPING=1"
    notifier.close()


def test_ready_with_status_is_one_datagram(receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    SystemdNotifier({"NOTIFY_SOCKET": path}).ready(status="serving on :9787")

    assert receive(sock) == "READY=1\nSTATUS=serving on :9787"


def test_status_newlines_cannot_forge_other_fields(receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    SystemdNotifier({"NOTIFY_SOCKET": path}).status("bad site name\nREADY=1")

    assert receive(sock) == "STATUS=bad site name READY=1"


def test_reloading_carries_a_monotonic_timestamp(receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    SystemdNotifier({"NOTIFY_SOCKET": path}).reloading()

    first, second = receive(sock).split("\n")
    assert first == "RELOADING=1"
    assert second.startswith("MONOTONIC_USEC=") and int(second.split("=")[1]) > 0


def test_abstract_socket_name_starting_with_at_sign() -> None:
    name = f"vigil-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        assert SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert receive(sock) == "READY=1"
    finally:
        sock.close()


def test_without_notify_socket_every_call_is_a_no_op() -> None:
    notifier = SystemdNotifier({})

    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False
    assert notifier.status("x") is False
    assert notifier.stopping() is False
    assert notifier.watchdog_interval() is None


def test_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not SystemdNotifier().enabled


def test_unreachable_socket_warns_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})

    with caplog.at_level(logging.WARNING, logger="monitor.app.sdnotify"):
        results = [notifier.watchdog() for _ in range(5)]

    assert results == [False] * 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "cannot notify systemd" in warnings[0].getMessage()


def test_non_unix_notify_socket_is_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="monitor.app.sdnotify"):
        notifier = SystemdNotifier({"NOTIFY_SOCKET": "vsock:2:1234"})

    assert not notifier.enabled
    assert notifier.ready() is False
    assert "not a unix socket" in caplog.text


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "not-a-pid"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_PID": str(os.getpid())}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_follows_sd_watchdog_enabled(
    env: dict[str, str], expected: float | None
) -> None:
    assert SystemdNotifier(env).watchdog_interval() == expected


def test_watchdog_pid_is_compared_with_the_given_process() -> None:
    env = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "4242"}

    assert SystemdNotifier(env, pid=4242).watchdog_interval() == 1.0
    assert SystemdNotifier(env, pid=4243).watchdog_interval() is None
