"""Crash durability of the alert pipeline: SIGKILL `vigil run` 100 times, lose nothing.

A real `vigil run` process (``python -m monitor run``) watches three http checks (three
LMS), each on its own local target that flips between up (200) and down (503) every
0.6-1.4 s, so alerts fire and resolve all the time (failure/success threshold 1). It has
two webhook receivers on local HTTP servers: "hook" alternates between failing (503)
and working; "late" fails (503) for the first 40 lives, then works, so a long backlog
survives many restarts. The test kills the daemon with SIGKILL 100 times at seeded
random moments, runs ``PRAGMA integrity_check`` on the state file after every kill, and
restarts it; then it lets the last process run with stable targets and working
receivers until every transition is out, and stops it with SIGTERM. The seed is
printed; rerun a failure with ``VIGIL_CRASH_SEED=<seed>`` (same kill kinds, delays and
schedules; the interleaving with the daemon's own timing differs). Run with ``-s`` to
see the counts. Most of its wall time is 101 daemon start-ups (interpreter and imports):
177 s on 2 CPUs shared with other work (load ~2.6), 618 s at a load of ~6.

Three kinds of kill moments, drawn from the seed:
- "startup": 0-1 s after spawn, often before READY (migrations, first open of the file);
- "random": 0-1.5 s after READY (a check, a transaction or a delivery may be in flight);
- "after-200": 0-5 ms after the receiver answered a new delivery with 200. This aims at
  the one window that no sender can close: between the receiver's 200 and the daemon's
  commit of ``mark_sent``.

Why the receiver honours ``Idempotency-Key``: delivery is at-least-once by design.
If the daemon dies after the receiver answered 200 but before the outbox row is marked
sent, the restarted daemon must send it again (it cannot know the first try got
through: not sending would risk losing a page, which is worse). So "the receiver saw no
dedup key twice in a successful delivery" cannot hold for a receiver that ignores the
key; the "after-200" kills measure how often it happens. Real receivers (PagerDuty's
dedup_key, incident tools, Alertmanager-aware bots) drop such replays by key, and this
receiver does the same: a POST whose Idempotency-Key was already answered 2xx gets 200
and is counted as a *replay*, not a delivery. What the test then asserts, each of which
a broken pipeline fails:

Each assertion holds for each receiver on its own:

0. after every kill, ``PRAGMA integrity_check`` of the state file says ok;
1. every firing/resolved transition in alert_transitions reached the receiver in a
   successful (2xx) delivery, with the right status, and nothing was delivered that was
   not recorded as a transition (no lost page, no phantom page);
2. each transition maps to exactly one Idempotency-Key among the 2xx answers: a key that
   changed across a restart (e.g. re-rendered with a new group key) would reach a real
   receiver as a second, new page;
3. no key is answered 2xx twice within one daemon life (a replay without a crash is a
   bug), and a replay only ever repeats the *last* 2xx of an earlier, killed life (the
   only place the 200-before-commit window can be);
4. each alert's transitions were first delivered in order (a resolved never overtakes
   its firing), the outbox ends with nothing pending or failed, no event is left
   unrouted, every life was still running when it was killed (the daemon never died
   of a previous crash's leftovers), no traceback in any log, and the last life stops
   cleanly on SIGTERM.

One alert per notification group (``group_by = ["lms", "check"]``), so a notification
never carries another alert's unchanged state (which would legitimately repeat a
transition key under a new Idempotency-Key). The dispatcher delivers the chains of one
receiver one after another, so each receiver has at most one delivery in flight (which
3 relies on). Flapping detection is off and group_wait is 0, so every flip is its own
notification.

Printed: kills (per kind), transitions, notifications expected (transitions x
receivers) / delivered (distinct keys answered 2xx) / duplicated (keys answered 2xx
more than once, i.e. replays the receiver dropped by Idempotency-Key) per receiver, and
how many integrity checks said ok.

Measured with one check, one receiver and 50 kills while writing it (4 runs on 2 busy
CPUs, 134-308 s each): 26-48 transitions, 31-57 failed attempts, 3-12 replays per run;
"after-200" kills hit the window in 3/12 to 12/18 cases, a "random" kill hit it once in
the 4 runs. Checked to fail: a webhook notifier with a fresh Idempotency-Key per attempt
(assertion 2), and a dispatcher that marks a row sent before sending it (assertion 1,
"transitions never delivered").
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parent.parent
KILLS = 100
# Kill soon after start: a life costs a start-up (~1 s) plus its delay, 100 of them must
# fit in about 3 minutes.
KILL_MODES = (("startup", 0.25), ("random", 0.45), ("after-200", 0.3))
CHECKS = 3  # LMS, each with one flapping http check of its own
LATE_RECOVERS_AT = 40  # life from which the "late" receiver works
STATE_FILE = "vigil.sqlite3"
TRANSITION_KINDS = ("firing", "resolved")

pytestmark = pytest.mark.integration


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The daemon reconnects right after a restart: a full backlog would look like a down
    # receiver and only slow the test.
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A killed daemon leaves broken connections behind: expected here, not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Schedule:
    """Alternates between two states for seeded random durations (thread-safe)."""

    def __init__(self, rng: random.Random, low: float, high: float) -> None:
        self._rng, self._low, self._high = rng, low, high
        self._lock = threading.Lock()
        self._state = False
        self._until = time.monotonic() + rng.uniform(low, high)
        self.pinned: bool | None = None  # set: stop alternating, stay in this state

    def state(self) -> bool:
        with self._lock:
            if self.pinned is not None:
                return self.pinned
            now = time.monotonic()
            while now >= self._until:
                self._state = not self._state
                self._until += self._rng.uniform(self._low, self._high)
            return self._state


class FlippingTarget:
    """The watched site: answers 200 (a login page) or 503, by its schedule."""

    def __init__(self, rng: random.Random) -> None:
        # Each state lasts 0.6-1.4 s against a 200 ms check interval: 3-7 results per state,
        # so an alert flips often (flapping detection is off in the config).
        self.down = _Schedule(rng, 0.6, 1.4)
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                down = target.down.state()
                body = b"down" if down else b"<html><input name='logintoken'></html>"
                self.send_response(503 if down else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@dataclass
class Request:
    seq: int
    life: int
    key: str
    answered: int
    replay: bool
    body: dict[str, Any]


@dataclass
class Receiver:
    """A webhook endpoint that fails (503) or works by its schedule, and drops replays."""

    name: str
    failing: _Schedule
    # Set on each 200; receivers may share one (a kill aims at whichever answered).
    delivered: threading.Event = field(default_factory=threading.Event)
    requests: list[Request] = field(default_factory=list)
    life: int = 0
    in_flight: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._answered_2xx: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                with receiver._lock:
                    receiver.in_flight += 1
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                    body = json.loads(self.rfile.read(length) or b"{}")
                    status = receiver.answer(self.headers.get("Idempotency-Key") or "", body)
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    self.wfile.flush()
                    if status == 200:
                        receiver.delivered.set()
                finally:
                    with receiver._lock:
                        receiver.in_flight -= 1

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/{self.name}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def answer(self, key: str, body: dict[str, Any]) -> int:
        with self._lock:
            status = 503 if self.failing.state() else 200
            replay = status == 200 and key in self._answered_2xx
            if status == 200:
                self._answered_2xx.add(key)
            self.requests.append(Request(len(self.requests), self.life, key, status, replay,
                                         body))
            return status

    def idle(self) -> bool:
        with self._lock:
            return self.in_flight == 0

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def alert_key(request: Request, alert: dict[str, Any]) -> str:
    """The transition key (``fingerprint:transition``) an alert entry of a body stands for.

    The webhook v4 body carries it per alert as ``dedupKey``; a body without that field
    holds one alert and its Idempotency-Key header is that key.
    """
    if alert.get("dedupKey"):
        return str(alert["dedupKey"])
    assert len(request.body["alerts"]) == 1, f"no dedupKey in a multi-alert body: {request}"
    return request.key


def write_config(path: Path, targets: list[FlippingTarget], receivers: list[Receiver]) -> None:
    hooks = "".join(f"""
[[alerts.receivers]]
name = "{receiver.name}"
type = "webhook"
url = "{receiver.url}"
timeout = "2s"
""" for receiver in receivers)
    sites = "".join(f"""
[[lms]]
name = "site{index}"
url = "{target.url}/"
[lms.checks.http]
interval = "200ms"
timeout = "150ms"
""" for index, target in enumerate(targets))
    path.write_text(f"""
[state]
dir = "{path.parent / 'state'}"
[server]
enabled = false
[alerts]
failure_threshold = 1
success_threshold = 1
[alerts.retry]
initial_backoff = "100ms"
max_backoff = "400ms"
[alerts.flapping]
enabled = false  # every flip must notify: this test is about delivery, not policy
[alerts.route]
group_by = ["lms", "check"]  # one alert per notification (see the module docstring)
group_wait = "0s"
group_interval = "100ms"
{hooks}{sites}""")


class Lives:
    """Starts `vigil run` again and again; knows when each one is READY (sd_notify)."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.notify_path = config.parent / "notify.sock"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.notify_path))
        self.proc: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []

    def spawn(self) -> subprocess.Popen[bytes]:
        self.notify.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                self.notify.recv(4096)  # READY of an earlier life
        log = self.config.parent / f"vigil-{len(self.logs):02d}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "-c", str(self.config)],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1",
                     "NOTIFY_SOCKET": str(self.notify_path)},
            )
        return self.proc

    def wait_ready(self, timeout: float) -> bool:
        """True once READY=1 arrives; False on timeout or if the process exited."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        self.notify.setblocking(True)
        while time.monotonic() < deadline and self.proc.poll() is None:
            self.notify.settimeout(0.1)
            try:
                if "READY=1" in self.notify.recv(4096).decode():
                    return True
            except TimeoutError:
                continue
        return False

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.notify.close()


Rig = tuple[random.Random, int, list[FlippingTarget], list[Receiver], Lives]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    seed = int(os.environ.get("VIGIL_CRASH_SEED") or random.randrange(2**32))
    print(f"\ncrash durability seed: {seed} (rerun: VIGIL_CRASH_SEED={seed})")
    rng = random.Random(seed)
    targets = [FlippingTarget(random.Random(rng.random())) for _ in range(CHECKS)]
    delivered = threading.Event()
    hook = Receiver("hook", _Schedule(random.Random(rng.random()), 0.4, 1.5), delivered)
    late = Receiver("late", _Schedule(random.Random(rng.random()), 0.4, 1.5), delivered)
    late.failing.pinned = True  # down until life LATE_RECOVERS_AT
    receivers = [hook, late]
    write_config(tmp_path / "vigil.toml", targets, receivers)
    lives = Lives(tmp_path / "vigil.toml")
    try:
        yield rng, seed, targets, receivers, lives
    finally:
        lives.close()
        for target in targets:
            target.close()
        for receiver in receivers:
            receiver.close()


def kill_at_a_random_moment(rng: random.Random, lives: Lives, receivers: list[Receiver],
                            life: int) -> str:
    """Start one life, kill it with SIGKILL at a moment of the drawn kind; return the kind."""
    mode = rng.choices([m for m, _ in KILL_MODES], [w for _, w in KILL_MODES])[0]
    proc = lives.spawn()
    if mode == "startup":
        time.sleep(rng.uniform(0.0, 0.8))
    else:
        assert lives.wait_ready(30), (f"life {life} never got READY: "
                                      f"{lives.logs[-1].read_text()[-3000:]}")
        if mode == "random":
            time.sleep(rng.uniform(0.0, 1.0))
        else:
            receivers[0].delivered.clear()  # shared by the receivers
            receivers[0].delivered.wait(1.5)  # none within 1.5 s: kill anyway
            time.sleep(rng.uniform(0.0, 0.005))
    assert proc.poll() is None, (
        f"vigil exited by itself (code {proc.returncode}) in life {life}: "
        f"{lives.logs[-1].read_text()[-3000:]}")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    output = lives.logs[-1].read_text()
    assert "Traceback" not in output, f"life {life} logged a traceback:\n{output[-3000:]}"
    # A request the dead process sent may still sit in the receiver's accept queue: let it
    # be answered (and counted in this life) before the next life starts.
    time.sleep(0.1)
    for receiver in receivers:
        wait_for(receiver.idle, 5, f"{receiver.name} to finish requests of the killed life",
                 0.02)
    return mode


def integrity_check(path: Path) -> list[str]:
    """``PRAGMA integrity_check`` of the state file as the killed process left it.

    Read-only, so the hot WAL stays for the next life to recover (a read-write open would
    checkpoint it on close). No file yet (killed before it was made): nothing to check.
    """
    if not path.exists():
        return ["ok"]
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return [str(row[0]) for row in db.execute("PRAGMA integrity_check")]
    finally:
        db.close()


def read_db(path: Path) -> tuple[list[sqlite3.Row], Counter[str], list[str]]:
    """(every event row, outbox rows per state, unrouted route_states)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        columns = {row["name"] for row in db.execute("PRAGMA table_info(alert_transitions)")}
        events = db.execute("SELECT * FROM alert_transitions ORDER BY id").fetchall()
        outbox = Counter(row[0] for row in db.execute("SELECT state FROM outbox"))
        unrouted = [row[0] for row in db.execute(
            "SELECT route_state FROM alert_transitions WHERE route_state = 'pending'"
            " OR route_state LIKE 'held:%'")] if "route_state" in columns else []
        return events, outbox, unrouted
    finally:
        db.close()


def transition_key(row: sqlite3.Row) -> str:
    keys = row.keys()
    if "dedup_key" in keys and row["dedup_key"]:
        return str(row["dedup_key"])
    return f"{row['fingerprint']}:{row['transition']}"


def delivered_keys(receiver: Receiver) -> dict[str, list[tuple[Request, dict[str, Any]]]]:
    """Transition key -> every (2xx request, alert entry) that carried it, in arrival order."""
    seen: dict[str, list[tuple[Request, dict[str, Any]]]] = {}
    for request in receiver.requests:
        if 200 <= request.answered < 300:
            # A message (e.g. "Vigil cannot save its state" after a write failed) has no
            # alerts; only alert notifications carry transition keys.
            for alert in request.body.get("alerts", ()):
                seen.setdefault(alert_key(request, alert), []).append((request, alert))
    return seen


def everything_delivered(db_path: Path, receivers: list[Receiver], since: float) -> bool:
    """All is out, and the last life ran every check after ``since`` (so it saw the end
    state)."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        ran_at = db.execute("SELECT MIN(ran_at), COUNT(*) FROM check_state").fetchone()
    finally:
        db.close()
    if ran_at[0] is None or ran_at[0] < since or ran_at[1] < CHECKS:
        return False
    events, outbox, unrouted = read_db(db_path)
    if unrouted or outbox["pending"]:
        return False
    keys = {transition_key(t) for t in events if t["kind"] in TRANSITION_KINDS}
    return all(keys <= set(delivered_keys(receiver)) for receiver in receivers)


def test_sigkill_a_hundred_times_loses_and_duplicates_no_notification(
    rig: Rig, tmp_path: Path, record_property: Any,
) -> None:
    rng, seed, targets, receivers, lives = rig
    late = receivers[1]
    db_path = tmp_path / "state" / STATE_FILE
    started = time.monotonic()
    life_modes: list[str] = []
    integrity_ok = 0
    for life in range(KILLS):
        for receiver in receivers:
            receiver.life = life
        if life == LATE_RECOVERS_AT:
            late.failing.pinned = False  # from now on it alternates like "hook"
        life_modes.append(kill_at_a_random_moment(rng, lives, receivers, life))
        # 0. The killed process left a sound file, every time.
        verdict = integrity_check(db_path)
        assert verdict == ["ok"], f"integrity_check after kill {life} ({life_modes[-1]}): {verdict}"
        integrity_ok += 1
    modes = Counter(life_modes)

    # Quiescence: stable targets, working receivers, one last life that drains it all.
    for target in targets:
        target.down.pinned = False
    for receiver in receivers:
        receiver.failing.pinned = False
        receiver.life = KILLS
    proc = lives.spawn()
    assert lives.wait_ready(60), f"the last life never got READY: {lives.logs[-1].read_text()}"
    since = time.time()
    # No failure on timeout here: the assertions below say what is missing.
    deadline = time.monotonic() + 90
    while not everything_delivered(db_path, receivers, since) and time.monotonic() < deadline:
        time.sleep(0.25)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0, lives.logs[-1].read_text()[-3000:]
    elapsed = time.monotonic() - started

    events, outbox, unrouted = read_db(db_path)
    transitions = [t for t in events if t["kind"] in TRANSITION_KINDS]
    per_receiver: dict[str, dict[str, Any]] = {}
    for receiver in receivers:
        seen = delivered_keys(receiver)
        per_receiver[receiver.name] = {
            "expected": len(transitions),
            "delivered": sum(1 for k in seen if k in {transition_key(t) for t in transitions}),
            "duplicated": sum(1 for hits in seen.values() if len({r.seq for r, _ in hits}) > 1),
            "deliveries": sum(1 for r in receiver.requests
                              if 200 <= r.answered < 300 and not r.replay),
            "failed_attempts": sum(1 for r in receiver.requests if r.answered >= 300),
            "replays": sum(1 for r in receiver.requests if r.replay),
        }
    counts = {
        "seed": seed, "kills": KILLS, **{f"kills_{m}": modes[m] for m, _ in KILL_MODES},
        "integrity_ok": integrity_ok, "checks": CHECKS,
        "transitions": len(transitions), "other_events": len(events) - len(transitions),
        "notifications_expected": len(transitions) * len(receivers),
        "notifications_delivered": sum(r["delivered"] for r in per_receiver.values()),
        "notifications_duplicated": sum(r["duplicated"] for r in per_receiver.values()),
        "receivers": per_receiver, "outbox": dict(outbox), "seconds": round(elapsed, 1),
    }
    print("crash durability counts: " + json.dumps(counts))
    for name, value in counts.items():
        record_property(name, value)

    # The run exercised what it claims to: many transitions on every check, receivers
    # that really failed.
    assert integrity_ok == KILLS
    assert len(transitions) >= 20 * CHECKS, counts
    assert len({t["fingerprint"] for t in transitions}) == CHECKS, counts
    for receiver in receivers:
        assert per_receiver[receiver.name]["failed_attempts"], (
            f"{receiver.name} never failed: the retry path was not exercised")
        check_receiver(receiver, events, transitions, life_modes, counts)

    # 4. A clean outbox, nothing left unrouted, no traceback.
    assert set(outbox) <= {"sent"}, f"outbox not drained or a delivery failed: {dict(outbox)}"
    assert not unrouted, f"events never routed: {Counter(unrouted)}"
    tracebacks = [log.name for log in lives.logs if "Traceback" in log.read_text()]
    assert not tracebacks, f"tracebacks in {tracebacks}, first: " + next(
        log.read_text() for log in lives.logs if log.name == tracebacks[0])[-3000:]


def check_receiver(receiver: Receiver, events: list[sqlite3.Row],
                   transitions: list[sqlite3.Row], life_modes: list[str],
                   counts: dict[str, Any]) -> None:
    """Assertions 1-4 (see the module docstring) for what one receiver saw."""
    name = receiver.name
    seen = delivered_keys(receiver)
    replays = [r for r in receiver.requests if r.replay]
    for replay in replays:
        print(f"  {name}: replay in life {replay.life}: Idempotency-Key {replay.key}")

    # 1. No lost page, no phantom page, each with the status of its transition.
    recorded = {transition_key(t): t["kind"] for t in transitions}
    missing = sorted(set(recorded) - set(seen))
    assert not missing, f"{name}: transitions never delivered: {missing} ({counts})"
    phantom = sorted(set(seen) - {transition_key(e) for e in events})
    assert not phantom, f"{name}: delivered but never recorded as a transition: {phantom}"
    wrong = {k: (kind, seen[k][0][1]["status"]) for k, kind in recorded.items()
             if seen[k][0][1]["status"] != kind}
    assert not wrong, f"{name}: delivered with the wrong status (recorded, sent): {wrong}"

    # 2. Stable keys: one transition, one Idempotency-Key, whatever the restarts.
    keys_per_transition = {k: {r.key for r, _ in hits} for k, hits in seen.items()}
    unstable = {k: sorted(v) for k, v in keys_per_transition.items() if len(v) != 1}
    assert not unstable, f"{name}: a transition went out under several Idempotency-Keys: {unstable}"

    # 3. Replays: never within one life; only the last 2xx of an earlier (killed) life.
    # (The receiver drops them by key, so what it delivered holds each key once.)
    last_2xx_of_life: dict[int, str] = {}
    first_2xx: dict[str, Request] = {}
    window_hits: set[int] = set()
    for request in receiver.requests:
        if 200 <= request.answered < 300:
            last_2xx_of_life[request.life] = request.key
            first_2xx.setdefault(request.key, request)
    for replay in replays:
        original = first_2xx[replay.key]
        assert original.life < replay.life, (
            f"{name}: key {replay.key} was answered 2xx twice in life {replay.life} "
            "without a crash")
        earlier = [life for life in range(original.life, replay.life)
                   if last_2xx_of_life.get(life) == replay.key]
        assert earlier, (f"{name}: replay of {replay.key} in life {replay.life}: it was not "
                         "the last 2xx of any killed life, so it was not lost in the commit "
                         "window")
        window_hits.add(max(earlier))
    modes = Counter(life_modes)
    hits = Counter(life_modes[life] for life in window_hits)
    print(f"{name}: kills that landed between a 200 and its commit (-> a replay): " + ", ".join(
        f"{mode} {hits[mode]}/{modes[mode]}" for mode, _ in KILL_MODES))

    # 4. Order per alert: a resolved never overtakes its firing.
    first_seen = {k: hits[0][0].seq for k, hits in seen.items()}
    by_alert: dict[str, list[sqlite3.Row]] = {}
    for t in transitions:
        by_alert.setdefault(t["fingerprint"], []).append(t)
    for fingerprint, rows in by_alert.items():
        order = [first_seen[transition_key(t)] for t in sorted(rows, key=lambda r: r["transition"])]
        assert order == sorted(order), (
            f"{name}: alert {fingerprint}: a transition overtook an earlier one")
