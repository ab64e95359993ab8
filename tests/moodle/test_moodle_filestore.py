"""The moodle_filestore probe on PostgreSQL and MariaDB against a generated file pool:
missing, orphan, resized and corrupt blobs, the empty-file hash, trashdir, an alternative
file system, budgeted verification over several runs, and a pool that misbehaves (an
unreadable blob or directory, a blob vanishing mid-scan, stray entries)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from checks.base import CheckContext, CheckUnavailable
from checks.moodle import filestore_scan
from checks.moodle.filestore import METRICS, FilestoreCheck, FilestoreSpec
from checks.moodle.filestore_reconcile import reconcile
from checks.moodle.filestore_scan import (
    EMPTY_SHA1,
    Blob,
    Deadline,
    ScanError,
    ScanTimeout,
    WalkNotes,
)
from checks.moodle.filestore_verify import Throttle
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result, Status
from tests.moodle.conftest import MoodleDouble
from tests.moodle_double.scenario import Scenario
from tests.moodle_double.scenario_content import pool_path, sha1
from tests.moodle_double.sitedir import config_php_text

DB = {"dbtype": "pgsql", "dbhost": "db.example", "dbname": "moodle", "dbuser": "moodle",
      "dbpass": "x", "prefix": "mdl_", "dbport": 5432}


class FakeClock:
    """Verification paces itself by sleeping: here sleeping only moves this clock."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def spec(**fields: object) -> FilestoreSpec:
    return FilestoreSpec.model_validate({"type": "moodle_filestore", **fields})


async def run(ctx: CheckContext, check: FilestoreCheck | None = None, **fields: object
              ) -> Result:
    result = await (check or FilestoreCheck(spec(**fields))).run(ctx)
    for sample in result.samples:
        assert sample.name in CATALOGUE and sample.name in METRICS, sample.name
        assert set(sample.labels) == set(CATALOGUE[sample.name].labels), sample
    assert "\n" not in result.summary
    return result


def values(result: Result) -> dict[str, float]:
    return {s.name.removeprefix("lms_moodle_filestore_"): s.value for s in result.samples}


def put(dataroot: Path, content: bytes, *, name: str | None = None, mtime: float | None = None
        ) -> str:
    """A blob in the pool, as Moodle writes it (or under another ``name``)."""
    digest = name or sha1(content)
    path = pool_path(dataroot, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return digest


def stored(s: Scenario, dataroot: Path | None, n: int, size: int = 100) -> list[str]:
    """``n`` files rows of ``size`` bytes, with their blobs when ``dataroot`` is given."""
    return [s.file(f"blob {i} ".encode().ljust(size, b"~"), filename=f"f{i}.bin", itemid=i,
                   component="mod_resource", filearea="content", dataroot=dataroot)
            for i in range(n)]


@pytest.fixture
def state_ctx(moodle_ctx_fast: CheckContext, tmp_path: Path) -> CheckContext:
    moodle_ctx_fast.state_dir = tmp_path / "state"
    return moodle_ctx_fast


# ------------------------------------------------------------------ spec
def test_defaults_reconcile_hourly_and_verify_ten_mib_per_second_for_a_minute() -> None:
    s = spec()
    assert (s.interval, s.timeout, s.missing_critical, s.mismatch_critical) == (3600, 900, 1, 1)
    assert (s.verify_rate, s.verify_seconds, s.orphan_min_age) == (10 * 1024**2, 60, 3600)
    assert spec(verify_rate="1MiB").verify_rate == 1024**2


@pytest.mark.parametrize(("fields", "message"), [
    ({"missing_warning": 10, "missing_critical": 5}, r"missing_critical \(5\) must be >="),
    ({"verify_rate": 0}, "greater than 0"), ({"missing_critical": 0}, "greater than or equal"),
    ({"verify_seconds": -1}, "greater than or equal to 0")])
def test_inconsistent_settings_are_rejected_naming_the_field(fields: dict[str, object],
                                                             message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(**fields)


# ------------------------------------------------------------------ reconciling
async def test_a_complete_pool_is_ok_counting_rows_blobs_and_bytes(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext, moodle_dataroot: Path) -> None:
    s = moodle_db.scenario
    stored(s, moodle_dataroot, 4)
    s.file(b"blob 0 ".ljust(100, b"~"), filename="copy.bin", itemid=99, dataroot=moodle_dataroot)
    s.file(b"", filename="empty.txt", itemid=7)  # sha1(''): served virtually, no blob
    result = await run(moodle_ctx)
    assert result.status == Status.OK, result.summary
    v = values(result)
    assert (v["missing_blobs"], v["orphan_blobs"], v["size_mismatches"], v["blobs"]) == (
        0, 0, 0, 4)
    assert result.details["rows"] == 5 and result.details["contents"] == 4
    assert result.summary.startswith("5 files rows need 4 blobs (400 B), all present")


async def test_a_missing_blob_is_critical_with_its_bytes_and_where_it_was_used(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext, moodle_dataroot: Path) -> None:
    s = moodle_db.scenario
    stored(s, moodle_dataroot, 2)
    lost = s.file(b"thesis " * 300, filename="Jane Doe thesis.pdf", contextid=42, itemid=17,
                  component="assignsubmission_file", filearea="submission_files", userid=9)
    result = await run(moodle_ctx)
    assert result.status == Status.CRITICAL
    assert result.summary == "1 blob missing from the file pool (2.1 KiB of lost uploads)"
    assert (values(result)["missing_blobs"], values(result)["missing_bytes"]) == (1, 2100)
    assert result.details["missing"]["first"] == [{
        "contenthash": lost, "filesize": 2100, "rows": 1, "contextid": 42,
        "component": "assignsubmission_file", "filearea": "submission_files", "itemid": 17}]
    assert "Jane" not in repr(result)


async def test_a_missing_blob_still_in_trashdir_is_called_recoverable(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, moodle_dataroot: Path
) -> None:
    lost = moodle_db_fast.scenario.file(b"deleted then reused", filename="a.txt")
    trash = moodle_dataroot / "trashdir" / lost[:2] / lost[2:4]
    trash.mkdir(parents=True)
    (trash / lost).write_bytes(b"deleted then reused")
    (moodle_dataroot / "filedir").mkdir()
    result = await run(moodle_ctx_fast)
    assert result.status == Status.CRITICAL
    assert "1 still in trashdir (Moodle restores on access)" in result.summary
    assert result.details["missing"]["recoverable_from_trash"] == 1


async def test_a_blob_whose_size_differs_from_the_row_is_critical(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, moodle_dataroot: Path
) -> None:
    digest = moodle_db_fast.scenario.file(b"twelve bytes", dataroot=moodle_dataroot,
                                          filesize=4096)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.CRITICAL
    assert result.summary == "1 blob whose size differs from files.filesize"
    assert result.details["size_mismatches"]["first"] == [
        {"contenthash": digest, "filesize": 4096, "blob_size": 12, "rows": 1}]


async def test_orphans_are_information_and_young_ones_may_be_uploads_in_flight(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, moodle_dataroot: Path,
        now: float) -> None:
    stored(moodle_db_fast.scenario, moodle_dataroot, 2)
    old = put(moodle_dataroot, b"x" * 3000, mtime=now - 86400)
    put(moodle_dataroot, b"uploading", mtime=now - 60)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.OK
    assert (values(result)["orphan_blobs"], values(result)["orphan_bytes"]) == (1, 3000)
    assert "; 1 orphan blob (2.9 KiB)" in result.summary
    assert result.details["orphans"] == {"count": 1, "bytes": 3000, "younger_than_min_age": 1,
                                         "first": [old]}
    warned = await run(moodle_ctx_fast, orphan_bytes_warning="1KiB")
    assert warned.status == Status.WARNING
    assert warned.summary == "1 orphan blob (2.9 KiB) no files row references"


async def test_the_empty_file_hash_needs_no_blob_and_its_blob_is_no_orphan(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, moodle_dataroot: Path
) -> None:
    s = moodle_db_fast.scenario
    s.file(b"", filename="empty.txt")  # a directory row and an empty file, both sha1('')
    s.file(b"zero", filename="zero.txt", contenthash="ab" * 20, filesize=0)  # size 0: virtual
    put(moodle_dataroot, b"", name=EMPTY_SHA1)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.OK, result.summary
    assert values(result)["missing_blobs"] == 0 and values(result)["orphan_blobs"] == 0


# ------------------------------------------------------------------ verification
async def test_a_corrupt_blob_is_critical_until_its_content_is_right_again(
        moodle_db_fast: MoodleDouble, state_ctx: CheckContext, moodle_dataroot: Path) -> None:
    digests = stored(moodle_db_fast.scenario, moodle_dataroot, 3)
    path = pool_path(moodle_dataroot, digests[1])
    good = path.read_bytes()
    path.write_bytes(good.replace(b"~", b"#", 1))  # same size: only hashing sees it
    check = FilestoreCheck(spec())
    result = await run(state_ctx, check)
    assert result.status == Status.CRITICAL
    assert result.summary == "1 corrupt blob (content SHA-1 differs from its name)"
    assert result.details["corrupt"] == [digests[1]]
    again = await run(state_ctx, FilestoreCheck(spec()))  # a restart: the state file keeps it
    assert values(again)["corrupt_blobs"] == 1
    path.write_bytes(good)
    os.utime(path, (1, 1))
    healed = await run(state_ctx, check)
    assert healed.status == Status.OK and values(healed)["corrupt_blobs"] == 0


async def test_verification_covers_the_pool_in_budgeted_slices_across_runs(
        moodle_db_fast: MoodleDouble, state_ctx: CheckContext, moodle_dataroot: Path) -> None:
    stored(moodle_db_fast.scenario, moodle_dataroot, 10, size=1024)
    clock = FakeClock()

    def check() -> FilestoreCheck:  # a new object each run: progress lives in the state file
        return FilestoreCheck(spec(verify_rate=1024, verify_seconds=4), clock=clock,
                              sleep=clock.sleep)

    totals, passes, slept = [], [], []
    for _ in range(4):
        before = clock.t
        result = await run(state_ctx, check())
        totals.append(values(result)["blobs_verified_total"])
        passes.append(values(result).get("verify_pass_timestamp_seconds"))
        slept.append(clock.t - before)
    assert totals == [4, 8, 10, 14]
    assert passes[:2] == [None, None] and passes[2] == passes[3] is not None
    assert slept[0] == pytest.approx(4.0)  # 4 KiB read at 1 KiB/s


def test_the_throttle_keeps_the_read_rate_under_the_budget() -> None:
    clock = FakeClock()
    throttle = Throttle(1000, clock, clock.sleep)
    for _ in range(10):
        throttle.consume(500)
    assert clock.t - 1000.0 == pytest.approx(5.0)


# ------------------------------------------------------------------ configuration
async def test_an_alternative_file_system_is_reported_and_the_blob_checks_skipped(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, moodle_dirroot: Path,
        moodle_dataroot: Path) -> None:
    stored(moodle_db_fast.scenario, None, 3)  # rows only: the content is in object storage
    extra = "$CFG->alternative_file_system_class = '\\\\tool_objectfs\\\\s3_file_system';\n"
    (moodle_dirroot / "config.php").write_text(config_php_text(DB, "https://x", moodle_dataroot,
                                                               extra))
    result = await run(moodle_ctx_fast)
    assert result.status == Status.OK and result.samples == ()
    assert result.summary == ("file content is kept by \\tool_objectfs\\s3_file_system "
                              "(alternative_file_system_class): local blob checks skipped")


async def test_filedir_and_trashdir_come_from_config_php(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, moodle_dirroot: Path,
        moodle_dataroot: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "pool"
    stored(moodle_db_fast.scenario, elsewhere, 2)
    (elsewhere / "filedir").rename(tmp_path / "filedir")
    extra = f"$CFG->filedir = '{tmp_path}/filedir';\n$CFG->trashdir = '{tmp_path}/trash';\n"
    (moodle_dirroot / "config.php").write_text(config_php_text(DB, "https://x", moodle_dataroot,
                                                               extra))
    result = await run(moodle_ctx_fast)
    assert result.status == Status.OK, result.summary
    assert result.details["filedir"] == f"{tmp_path}/filedir"
    assert result.details["trashdir"] == f"{tmp_path}/trash"


# ------------------------------------------------------------------ bad inputs
async def test_a_blob_vigil_cannot_read_is_a_warning_not_a_crash(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, moodle_dataroot: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    digests = stored(moodle_db_fast.scenario, moodle_dataroot, 3)
    real_open = os.open

    def guarded(path: Any, flags: int, *args: Any, **kw: Any) -> int:
        if str(path).endswith(digests[0]):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kw)

    monkeypatch.setattr(os, "open", guarded)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.WARNING
    assert result.summary == "1 blob of the pool unreadable by Vigil (permissions?)"
    assert result.details["verify"]["unreadable"] == [digests[0]]


async def test_rows_in_a_directory_vigil_cannot_list_are_not_called_missing(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, moodle_dataroot: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    digests = stored(moodle_db_fast.scenario, moodle_dataroot, 3)
    hidden = pool_path(moodle_dataroot, digests[0]).parent
    real_scandir = os.scandir

    def guarded(path: Any = ".") -> Any:
        if Path(path) == hidden:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", guarded)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.WARNING
    assert result.summary == ("1 directory of the pool unreadable by Vigil (permissions?); "
                              "1 rows not judged")
    assert values(result)["missing_blobs"] == 0
    assert result.details["unreadable_directories"] == [digests[0][:4]]


def _vanish_after_listing(monkeypatch: pytest.MonkeyPatch, target: Path,
                          also: Callable[[], None] = lambda: None) -> None:
    real = filestore_scan._listing

    def listing(path: str, prefix: str, notes: WalkNotes) -> list[os.DirEntry[str]]:
        entries = real(path, prefix, notes)
        if Path(path) == target.parent and target.exists():
            target.unlink()  # listed, then gone before its stat
            also()
        return entries

    monkeypatch.setattr(filestore_scan, "_listing", listing)


async def test_a_file_moodle_deletes_during_the_scan_is_not_reported_missing(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, moodle_dataroot: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    s = moodle_db_fast.scenario
    digests = stored(s, moodle_dataroot, 3)
    _vanish_after_listing(monkeypatch, pool_path(moodle_dataroot, digests[1]),
                          lambda: s.delete("files", s.tables.files.c.contenthash == digests[1]))
    result = await run(moodle_ctx_fast)
    assert result.status == Status.OK, result.summary
    assert result.details["vanished_during_scan"] == 1
    assert result.details["missing"]["race_rechecked"] == 1


async def test_a_blob_that_vanishes_while_its_row_stays_is_missing(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, moodle_dataroot: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    digests = stored(moodle_db_fast.scenario, moodle_dataroot, 3)
    _vanish_after_listing(monkeypatch, pool_path(moodle_dataroot, digests[2]))
    result = await run(moodle_ctx_fast)
    assert result.status == Status.CRITICAL
    assert result.details["missing"]["first"][0]["contenthash"] == digests[2]


async def test_stray_entries_are_listed_and_never_taken_for_blobs(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, moodle_dataroot: Path
) -> None:
    digests = stored(moodle_db_fast.scenario, moodle_dataroot, 2)
    pool = moodle_dataroot / "filedir"
    (pool / "warning.txt").write_text("This directory contains the content of uploaded files")
    (pool / "zz" / "top").mkdir(parents=True)  # a non-hex first level
    (pool / "ab" / "notes").mkdir(parents=True)  # a non-hex second level
    leaf = pool_path(moodle_dataroot, digests[0]).parent
    (leaf / f"{digests[0]}.tmp").write_bytes(b"half written")
    (leaf / ("f" * 40)).write_bytes(b"misplaced")
    (pool / "cd").symlink_to(pool / "cd")  # a symlink loop
    result = await run(moodle_ctx_fast)
    assert result.status == Status.OK, result.summary
    assert result.details["stray_entries"]["count"] == 5
    assert values(result)["orphan_blobs"] == 0
    (pool / "jackpot").mkdir()
    jackpot = await run(moodle_ctx_fast)
    assert jackpot.status == Status.WARNING and "SHA-1 collision" in jackpot.summary


async def test_a_malformed_contenthash_is_a_warning(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, moodle_dataroot: Path
) -> None:
    s = moodle_db_fast.scenario
    stored(s, moodle_dataroot, 1)
    s.file(b"odd", filename="odd.txt", contenthash="NOT-A-HASH")
    result = await run(moodle_ctx_fast)
    assert result.status == Status.WARNING
    assert result.summary == "1 files row with a malformed contenthash"


async def test_a_missing_pool_or_files_table_is_unknown_with_the_cause(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, moodle_dataroot: Path
) -> None:
    with pytest.raises(CheckUnavailable, match=r"filedir does not exist: is lms.moodle"):
        await run(moodle_ctx_fast)
    (moodle_dataroot / "filedir").mkdir()
    stored(moodle_db_fast.scenario, None, 2)
    empty = await run(moodle_ctx_fast)
    assert empty.summary.endswith("the pool holds no blob at all: is filedir mounted?")
    moodle_db_fast.drop_table("files")
    with pytest.raises(CheckUnavailable, match="table missing"):
        await run(moodle_ctx_fast)


def _blobs(*hashes: str) -> Iterator[Blob]:
    return iter(Blob(h, 1, 0.0) for h in hashes)


def test_a_database_order_that_is_not_byte_order_is_refused() -> None:
    rows = [("b" * 40, 1), ("b" * 40, 1), ("a" * 40, 1)]
    with pytest.raises(ScanError, match="not byte order"):
        reconcile(rows, _blobs(), WalkNotes(), 0.0, Deadline(60))


def test_a_reconcile_past_its_deadline_stops() -> None:
    ticks = iter(range(0, 10**6, 10))
    rows = [(f"{i:040x}", 1) for i in range(10_000)]
    with pytest.raises(ScanTimeout, match="reconcile stopped near 0000"):
        reconcile(rows, _blobs(), WalkNotes(), 0.0, Deadline(5, lambda: next(ticks)))
