"""One headless Chromium for one a11y run: started, watched, and always killed.

checks/a11y/check.py -> (worker thread) audit.audit_pages -> Browser -> Chromium speaking
the DevTools protocol over ``--remote-debugging-pipe``: the browser reads commands on
its fd 3 and writes answers and events on fd 4, each a JSON object ended by a NUL byte.
Standard library only (plus psutil, already a dependency): no websocket client, no
Selenium, no Node at run time.

Bounds, per run:
- time: every read waits at most until the run's deadline, then the browser is killed;
- memory: the memory of the browser and all its processes (their PSS, summed) is
  sampled while waiting and the browser is killed past ``memory_limit`` (RLIMIT_AS cannot be used:
  V8 reserves terabytes of address space up front), and V8's heap is capped too;
- disk and state: a fresh profile directory per run, removed afterwards.
Why posix_spawn: it maps our pipe ends onto fds 3 and 4 of the child without a
preexec_fn (unsafe in a threaded daemon), in a new session so the whole tree can be
signalled at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from checks.a11y.chromium import browser_env, chromium_flags, kill_tree, memory, reaped

_CHUNK = 1 << 16
_WATCH_EVERY = 0.25  # seconds between memory samples while waiting
_CLOSE_GRACE = 3.0  # seconds Chromium gets to exit after Browser.close
_MAX_MESSAGE = 64 << 20  # a DevTools message bigger than this is not an answer we want
# The events a run waits for or reads; the rest (every resource's network events) are dropped.
_KEPT_EVENTS = frozenset({"Page.loadEventFired", "Network.responseReceived"})


class BrowserError(Exception):
    """Chromium could not do what was asked; the message says what (never a secret)."""


class BrowserFatal(BrowserError):
    """The browser cannot go on (exited, out of time or memory): the run ends here."""


class BrowserTimeout(BrowserFatal):
    """The run's deadline passed while waiting for Chromium."""


class Browser:
    """A running Chromium and the pipe to it; use as a context manager."""

    def __init__(self, executable: str, deadline: float, memory_limit: int,
                 scratch_dir: Path | None = None, *, sandbox: bool = True,
                 jitless: bool = False) -> None:
        self.executable = executable
        self.deadline = deadline
        self.memory_limit = memory_limit
        self.scratch_dir = scratch_dir
        self.sandbox, self.jitless = sandbox, jitless
        self.profile: Path | None = None
        self.pid: int | None = None
        self._to_browser = -1
        self._from_browser = -1
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self._next_watch = 0.0
        self.peak_memory = 0  # bytes, the most all its processes held at one sample

    def __enter__(self) -> Browser:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="vigil-a11y-", dir=self.scratch_dir))
        cmd_read, cmd_write = os.pipe()
        out_read, out_write = os.pipe()
        self._to_browser, self._from_browser = cmd_write, out_read
        # Move the child's ends above fd 4 first so the dup2 onto 3 and 4 cannot clash.
        child_in = fcntl.fcntl(cmd_read, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(out_write, fcntl.F_DUPFD_CLOEXEC, 10)
        for fd in (cmd_read, out_write):
            os.close(fd)
        heap = max(64, self.memory_limit // (4 << 20))
        argv = [self.executable, *chromium_flags(self.profile, heap, self.sandbox,
                                                        self.jitless), "about:blank"]
        log = str(self.profile.with_name(self.profile.name + ".log"))
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
            (os.POSIX_SPAWN_DUP2, child_in, 3),
            (os.POSIX_SPAWN_DUP2, child_out, 4),
        ]
        try:
            self.pid = os.posix_spawn(self.executable, argv, browser_env(), file_actions=actions,
                                      setsid=True)
        except OSError as exc:
            raise BrowserError(f"cannot start {self.executable}: {exc.strerror}") from None
        finally:
            os.close(child_in)
            os.close(child_out)
        os.set_blocking(self._from_browser, False)

    def call(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, waiting_for: str = "") -> dict[str, Any]:
        """Send one command and wait for its answer; a protocol error raises BrowserError.
        ``waiting_for`` names what the answer means, for the timeout message."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        what = waiting_for or f"an answer to {method}"
        self._write(json.dumps(message).encode() + b"\0", what)
        while True:
            answer = self._read_message(what)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    error = answer["error"]
                    text = error.get("message", error) if isinstance(error, dict) else error
                    raise BrowserError(f"{method} failed: {text}")
                result: dict[str, Any] = answer.get("result", {})
                return result
            self._keep(answer)

    def wait_event(self, method: str, session: str | None, what: str) -> dict[str, Any]:
        """The first event ``method`` for ``session`` (earlier ones kept are used first)."""
        while True:
            for index, event in enumerate(self._events):
                if event.get("method") == method and event.get("sessionId") == session:
                    return self._events.pop(index)
            self._keep(self._read_message(what))

    def events(self, method: str, session: str | None) -> list[dict[str, Any]]:
        """Events of one kind received so far (and forgets them)."""
        kept = [e for e in self._events if e.get("method") == method
                and e.get("sessionId") == session]
        self._events = [e for e in self._events if e not in kept]
        return kept

    def _keep(self, message: dict[str, Any]) -> None:
        if message.get("method") in _KEPT_EVENTS:
            self._events.append(message)

    def clear_events(self) -> None:
        self._events.clear()

    def _write(self, data: bytes, what: str) -> None:
        view = memoryview(data)
        while view:
            self._wait_ready(self._to_browser, writable=True, what="Chromium to read a command")
            try:
                view = view[os.write(self._to_browser, view):]
            except BlockingIOError:
                continue
            except BrokenPipeError:
                raise BrowserFatal(self._exit_reason(
                    f"Chromium exited while waiting for {what}")) from None

    def _read_message(self, what: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            self._wait_ready(self._from_browser, writable=False, what=what)
            try:
                chunk = os.read(self._from_browser, _CHUNK)
            except BlockingIOError:
                continue
            if not chunk:
                raise BrowserFatal(self._exit_reason(f"Chromium exited while waiting for {what}"))
            self._buffer += chunk
            if len(self._buffer) > _MAX_MESSAGE:
                raise BrowserFatal(f"Chromium sent a message over {_MAX_MESSAGE >> 20} MiB")
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def _wait_ready(self, fd: int, writable: bool, what: str) -> None:
        while True:
            now = time.monotonic()
            if now >= self.deadline:
                raise BrowserTimeout(f"timed out waiting for {what}")
            if now >= self._next_watch:
                self._watch_memory()
                self._next_watch = now + _WATCH_EVERY
            wait = min(self.deadline - now, _WATCH_EVERY)
            ready = select.select([], [fd], [], wait) if writable \
                else select.select([fd], [], [], wait)
            if ready[1] if writable else ready[0]:
                return

    def _watch_memory(self) -> None:
        used = sum(memory(p) for p in self._tree())
        self.peak_memory = max(self.peak_memory, used)
        if used > self.memory_limit:
            raise BrowserFatal(f"Chromium used {used >> 20} MiB, more than memory_limit "
                               f"({self.memory_limit >> 20} MiB); it was stopped")

    def _tree(self) -> list[psutil.Process]:
        if self.pid is None:
            return []
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def _exit_reason(self, text: str) -> str:
        log = self.profile.with_name(self.profile.name + ".log") if self.profile else None
        last = ""
        if log is not None and log.exists():
            lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
            last = lines[-1][:200] if lines else ""
        return f"{text} ({last})" if last else text

    def close(self) -> None:
        """Ask Chromium to exit, kill whatever is left, reap it, remove the profile."""
        if self.pid is not None:
            if self._to_browser >= 0:
                with contextlib.suppress(BrowserError, OSError, ValueError):
                    self.deadline = min(self.deadline, time.monotonic() + _CLOSE_GRACE)
                    self.deadline = max(self.deadline, time.monotonic() + 0.5)
                    self._write(json.dumps({"id": 0, "method": "Browser.close"}).encode()
                                + b"\0", "Browser.close")
            if not reaped(self.pid, _CLOSE_GRACE):
                kill_tree(self.pid, self._tree())
            self.pid = None
        for fd in (self._to_browser, self._from_browser):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._to_browser = self._from_browser = -1
        if self.profile is not None:
            shutil.rmtree(self.profile, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.profile.with_name(self.profile.name + ".log").unlink()
