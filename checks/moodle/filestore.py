"""The `moodle_filestore` check: the file pool (dataroot/filedir) against the files table.

Data flow: scheduler -> FilestoreCheck.run(ctx) -> config.php ($CFG->filedir, trashdir,
alternative_file_system_class) -> one worker-thread pass on the read-only connection:
the files table grouped by content, streamed in contenthash order (filestore_db.py) and
merge-joined (filestore_reconcile.py) with a sorted walk of filedir (filestore_scan.py),
then a fresh re-check of the missing candidates -> a second worker-thread step hashing
a slice of the blobs within the I/O budget, resuming from a cursor kept under the state
directory (filestore_verify.py, check_state.py) -> judged by the spec -> lms_moodle_filestore_*.

What it reports (moodle-ops-facts §5.1/5.2; lib/filestorage/file_system_filedir.php):
- missing blobs: content some row needs and the pool lacks (lost uploads): CRITICAL by
  default, with bytes, and how many Moodle could still recover from trashdir;
- size mismatches (blob size != files.filesize) and corrupt blobs (SHA-1 of the bytes !=
  the name): the content is not what was uploaded;
- orphans: blobs no row references, older than ``orphan_min_age`` (a younger one may be an
  upload whose row is not committed yet). Information only: core never sweeps the pool
  for them (file_storage::cron() and file_system_filedir::cron() only empty trashdir, once
  per filescleanupperiod, stamping config fileslastcleanup), so they are bytes to reclaim.
With ``$CFG->alternative_file_system_class`` set (e.g. tool_objectfs) content lives
elsewhere (lib/filestorage/file_storage.php setup_file_system): the check says so and
skips the blob checks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, model_validator

from checks.base import CheckContext, CheckUnavailable
from checks.common import ByteSize, check_order
from checks.moodle import filestore_db as fdb
from checks.moodle.check_state import CheckState
from checks.moodle.db import MoodleDatabase
from checks.moodle.filestore_judge import judge
from checks.moodle.filestore_reconcile import reconcile, settle_missing
from checks.moodle.filestore_scan import (
    Deadline,
    ScanError,
    ScanTimeout,
    WalkNotes,
    is_hash,
    walk_blobs,
)
from checks.moodle.filestore_verify import (
    CORRUPT_CAP,
    Throttle,
    VerifyOutcome,
    recheck_corrupt,
    verify_slice,
)
from checks.moodle.schema import moodle_tables
from checks.moodle.site import site_database, site_dataroot
from checks.moodle.site_config import config_php_settings
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Status
from monitor.kernel.spec import CheckSpec, Duration, PositiveDuration

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

METRICS = declare(
    MetricSpec("lms_moodle_filestore_missing_blobs", "gauge",
               "Contents the files table needs that are missing from the file pool (filedir): "
               "lost uploads."),
    MetricSpec("lms_moodle_filestore_missing_bytes", "gauge",
               "Bytes of the contents missing from the file pool (files.filesize)."),
    MetricSpec("lms_moodle_filestore_orphan_blobs", "gauge",
               "Blobs in the file pool that no files row references, older than the "
               "check's orphan_min_age."),
    MetricSpec("lms_moodle_filestore_orphan_bytes", "gauge", "Bytes of the orphan blobs."),
    MetricSpec("lms_moodle_filestore_size_mismatches", "gauge",
               "Blobs whose size differs from files.filesize."),
    MetricSpec("lms_moodle_filestore_corrupt_blobs", "gauge",
               "Blobs whose content SHA-1 differs from their name, as found by the "
               "verification slices and not fixed since."),
    MetricSpec("lms_moodle_filestore_blobs_verified_total", "counter",
               "Blobs whose content the verification has hashed, across runs."),
    MetricSpec("lms_moodle_filestore_reconcile_seconds", "gauge",
               "Duration of the last reconcile pass (files table against the file pool)."),
    MetricSpec("lms_moodle_filestore_blobs", "gauge", "Blobs in the file pool."),
    MetricSpec("lms_moodle_filestore_unreadable_blobs", "gauge",
               "Blobs the last verification slice could not read (permissions)."),
    MetricSpec("lms_moodle_filestore_verify_pass_timestamp_seconds", "gauge",
               "When the verification last completed a pass over the whole pool, as a "
               "Unix time."),
)
_PHP_NAMES = ("alternative_file_system_class", "filedir", "trashdir")
Count = Annotated[int, Field(ge=1)]


class FilestoreSpec(CheckSpec):
    type: Literal["moodle_filestore"]
    interval: PositiveDuration = 3600.0
    timeout: PositiveDuration = 900.0  # reconcile (~1M rows in < 60 s) + verification
    filedir: Path | None = None   # default: $CFG->filedir from config.php, else dataroot/filedir
    trashdir: Path | None = None  # default: $CFG->trashdir, else dataroot/trashdir
    missing_warning: Count | None = None
    missing_critical: Count | None = 1
    mismatch_warning: Count | None = None
    mismatch_critical: Count | None = 1
    corrupt_warning: Count | None = None
    corrupt_critical: Count | None = 1
    orphan_bytes_warning: ByteSize | None = None  # orphans are information unless set
    orphan_min_age: Annotated[Duration, Field(ge=0)] = 3600.0
    # Content verification: reads at most verify_rate bytes/s for at most verify_seconds
    # per run (0 disables it); the cursor makes successive runs cover the whole pool.
    verify_rate: ByteSize = 10 * 1024 * 1024
    verify_seconds: Annotated[Duration, Field(ge=0)] = 60.0

    @model_validator(mode="after")
    def _orders(self) -> FilestoreSpec:
        for name in ("missing", "mismatch", "corrupt"):
            check_order(self, f"{name}_warning", f"{name}_critical", higher_is_worse=True)
        return self


class FilestoreCheck:
    """Keeps nothing but a CheckState: the verification cursor and the corrupt blobs.
    ``clock``/``sleep`` pace the verification reads (tests pass a fake pair)."""

    def __init__(self, spec: FilestoreSpec, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.spec = spec
        self.clock, self.sleep = clock, sleep
        self._state = CheckState("moodle_filestore")

    async def run(self, ctx: CheckContext) -> Result:
        db = site_database(ctx)
        dataroot = site_dataroot(ctx)
        php, notes = await ctx.run_blocking(lambda: config_php_settings(ctx, _PHP_NAMES))
        altfs = php.get("alternative_file_system_class")
        if isinstance(altfs, str) and altfs.strip():
            return Result(Status.OK, f"file content is kept by {altfs.strip()} "
                          "(alternative_file_system_class): local blob checks skipped",
                          details={"alternative_file_system_class": altfs.strip()})
        filedir = self.spec.filedir or _php_path(php, "filedir") or dataroot / "filedir"
        trashdir = self.spec.trashdir or _php_path(php, "trashdir") or dataroot / "trashdir"
        now, deadline = ctx.now(), Deadline(ctx.timeout * 0.9, self.clock)
        started = time.perf_counter()
        scan = await db.run(ctx, lambda conn: self._reconcile(conn, db, filedir, trashdir,
                                                              now, deadline))
        seconds = time.perf_counter() - started
        doc = await ctx.run_blocking(lambda: self._state.load(ctx)) or {}
        verify, doc = await ctx.run_blocking(lambda: self._verify(filedir, doc, deadline, now))
        await ctx.run_blocking(lambda: self._state.save(ctx, doc))
        return judge(self.spec, scan, verify, doc, seconds, notes,
                     {"filedir": str(filedir), "trashdir": str(trashdir)})

    # -- the pass (worker thread, one read-only connection)
    def _reconcile(self, conn: Connection, db: MoodleDatabase, filedir: Path,
                   trashdir: Path, now: float, deadline: Deadline) -> dict[str, Any]:
        t = moodle_tables(db.prefix)
        config = fdb.config_values(conn, t, ["fileslastcleanup", "filescleanupperiod"])
        _can_list(filedir)
        notes = WalkNotes()
        try:
            with fdb.content_rows(conn, t, deadline.remaining(),
                                  db.settings.statement_timeout) as rows:
                found = reconcile(rows, walk_blobs(filedir, notes), notes,
                                  now - self.spec.orphan_min_age, deadline)
        except ScanTimeout as exc:
            raise CheckUnavailable(
                f"{exc}: the pool did not reconcile within the check's timeout; raise "
                "it") from None
        except ScanError as exc:
            raise CheckUnavailable(str(exc)) from None
        conn.rollback()  # a fresh snapshot: was a missing blob only a deletion racing us?
        settle_missing(found, filedir, trashdir, lambda h: fdb.still_referenced(conn, t, h))
        where = fdb.where_used(conn, t, found.missing_sample)
        return {"found": found, "notes": notes, "config": config, "where": where}

    # -- verification (worker thread, no database)
    def _verify(self, filedir: Path, doc: dict[str, Any], deadline: Deadline, now: float
                ) -> tuple[VerifyOutcome | None, dict[str, Any]]:
        spec = self.spec
        stored, cursor = doc.get("corrupt"), doc.get("cursor")
        corrupt: dict[str, dict[str, Any]] = stored if isinstance(stored, dict) else {}
        if not (isinstance(cursor, str) and is_hash(cursor)):
            cursor = ""  # none yet, or a damaged state file: start a new pass
        seconds = min(spec.verify_seconds, deadline.remaining())
        if seconds <= 0:
            return None, {**doc, "corrupt": corrupt, "cursor": cursor}
        budget = Deadline(seconds, self.clock)
        throttle = Throttle(spec.verify_rate, self.clock, self.sleep)
        corrupt, rehashed = recheck_corrupt(filedir, corrupt, throttle, budget)
        allowance = max(0, int(spec.verify_rate * seconds) - rehashed)
        started = doc.get("pass_started") if cursor else now
        out = verify_slice(filedir, cursor, allowance, throttle, budget, now)
        for digest, seen in out.corrupt.items():
            if len(corrupt) < CORRUPT_CAP:
                corrupt[digest] = seen
        return out, {
            "cursor": out.cursor, "pass_started": started,
            "last_pass_completed": now if out.wrapped else doc.get("last_pass_completed"),
            "verified_total": int(doc.get("verified_total") or 0) + out.verified,
            "corrupt": corrupt}


def _php_path(php: dict[str, Any], name: str) -> Path | None:
    value = php.get(name)
    return Path(value) if isinstance(value, str) and value.strip() else None


def _can_list(filedir: Path) -> None:
    try:
        with os.scandir(filedir):
            pass
    except FileNotFoundError:
        raise CheckUnavailable(f"the file pool {filedir} does not exist: is "
                               "lms.moodle.dataroot (or $CFG->filedir) right?") from None
    except NotADirectoryError:
        raise CheckUnavailable(f"the file pool {filedir} is not a directory") from None
    except OSError as exc:
        raise CheckUnavailable(f"cannot list the file pool {filedir}: "
                               f"{(exc.strerror or str(exc)).lower()} (Vigil needs read "
                               "access through the web server's group)") from None
