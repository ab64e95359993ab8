"""Reconciling 1,000,000 Moodle file rows against a generated file pool: rows/s and peak RSS.

    python bench/filedir.py [--rows 1000000] [--backend postgresql mariadb] [--dir /tmp]

What it builds (and removes at the end, also on failure or Ctrl-C):
- a dataroot whose filedir holds real blobs named by the SHA-1 of their content
  (filedir/aa/bb/<sha1>, 25-63 bytes each, all 65,536 leaf directories), written with
  os.open/os.write;
- for each backend, a throwaway Moodle database (tests/moodle_double/server.py) whose files
  table gets the rows through COPY (PostgreSQL) / LOAD DATA LOCAL INFILE (MariaDB): 10 %
  directory rows (sha1(''), no blob), the rest files of which ~10 % share their content
  with another row, plus known damage: 100 rows whose blob was never written (missing),
  100 blobs without a row (orphans), ~100 rows with a wrong filesize, 100 blobs whose bytes
  were changed (corrupt; only the verification slice can see those).
Then a child process (so its peak RSS is the check's own) runs FilestoreCheck twice on
the read-only account: once reconcile only, once with a 10 s verification slice at up to
1 GiB/s, and prints the check's reconcile time, rows/s, verification throughput and the
child's peak RSS (ru_maxrss). Targets: 1,000,000 rows in < 60 s and < 300 MB.
The dentry/inode cache is warm (the pool was just written): dropping caches would disturb
other work on the machine. Nothing is asserted: figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EMPTY_SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
DAMAGE = 100
NOW = time.time()


def content(k: int) -> bytes:
    return b"vigil-bench-blob-%d-" % k + b"x" * (k % 32)


def plan(rows: int) -> dict[str, int]:
    dirs = rows // 10
    files = rows - dirs - DAMAGE  # DAMAGE more rows point at blobs never written
    return {"rows": rows, "dirs": dirs, "files": files, "distinct": int(files * 0.9)}


def check_space(where: Path, p: dict[str, int]) -> None:
    blobs = p["distinct"] + DAMAGE
    need_bytes = blobs * 4096 + 65_536 * 4096 + p["rows"] * 400  # blocks + dirs + TSV/DB
    usage, fs = shutil.disk_usage(where), os.statvfs(where)
    need_inodes = blobs + 65_536 + 256
    print(f"disk: {usage.free / 2**30:.1f} GiB and {fs.f_favail:,} inodes free in {where}; "
          f"need ~{need_bytes / 2**30:.1f} GiB and {need_inodes:,} inodes")
    if usage.free < 2 * need_bytes or fs.f_favail < 2 * need_inodes:
        raise SystemExit(f"not enough room in {where} for {blobs:,} blobs: use --rows smaller "
                         "or --dir elsewhere")


def write_pool(dataroot: Path, p: dict[str, int], tsv: Path) -> dict[str, Any]:
    """The blobs and one TSV line per files row (Moodle's column order below)."""
    filedir = dataroot / "filedir"
    for a in range(256):
        for b in range(256):
            os.makedirs(filedir / f"{a:02x}" / f"{b:02x}")
    old = NOW - 86400
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    distinct = p["distinct"]
    hashes = []
    for k in range(distinct + 2 * DAMAGE):
        data = content(k)
        digest = hashlib.sha1(data).hexdigest()  # noqa: S324 - Moodle's content address
        hashes.append(digest)
        if distinct <= k < distinct + DAMAGE:
            continue  # referenced by rows, never written: missing
        path = f"{filedir}/{digest[:2]}/{digest[2:4]}/{digest}"
        fd = os.open(path, flags, 0o640)
        os.write(fd, data if k % 8089 != 1 else data[::-1])  # reversed: same size, corrupt
        os.close(fd)
        if k >= distinct + DAMAGE:
            os.utime(path, (old, old))  # orphans, old enough to count
    mismatched = 0
    with tsv.open("w", encoding="ascii") as out:
        n = 0
        for i in range(p["dirs"]):
            n += 1
            out.write(_row(n, EMPTY_SHA1, 0, i, "."))
        for i in range(p["files"] + DAMAGE):
            n += 1
            k = i % distinct if i < p["files"] else distinct + (i - p["files"])
            size = len(content(k))
            if k % 8191 == 0 and i < distinct:
                size, mismatched = size + 1, mismatched + 1
            out.write(_row(n, hashes[k], size, i // 5, f"f{n}.bin"))
    return {"blobs_on_disk": distinct + DAMAGE, "mismatched_rows": mismatched,
            "corrupt_blobs": len([k for k in range(distinct + 2 * DAMAGE) if k % 8089 == 1
                                  and not distinct <= k < distinct + DAMAGE])}


def _row(n: int, digest: str, size: int, itemid: int, name: str) -> str:
    pathname = hashlib.sha1(f"/{n}".encode()).hexdigest()  # noqa: S324
    stamp = int(NOW) - 86400
    return (f"{digest}\t{pathname}\t{5 + n % 1000}\tmod_resource\tcontent\t{itemid}\t/\t{name}"
            f"\t2\t{size}\tapplication/octet-stream\t0\t{stamp}\t{stamp}\t0\n")


COLUMNS = ("contenthash", "pathnamehash", "contextid", "component", "filearea", "itemid",
           "filepath", "filename", "userid", "filesize", "mimetype", "status", "timecreated",
           "timemodified", "sortorder")


def load(db: Any, tsv: Path) -> float:
    """Fill the files table from the TSV: indexes dropped during the load, rebuilt after."""
    from tests.moodle_double.ddl import index_sql, install_ddl  # as run_backend: lazily

    start = time.monotonic()
    table = db.tables.files
    ddl = install_ddl(db.prefix, db.backend)["files"]  # the double's own index DDL
    with db.admin_engine.connect() as conn:
        for ix in ddl.indexes:
            conn.exec_driver_sql(f'DROP INDEX "{ix.name}"' if db.backend == "postgresql"
                                 else f"DROP INDEX `{ix.name}` ON `{table.name}`")
        if db.backend == "postgresql":
            raw = conn.connection.dbapi_connection
            with raw.cursor() as cur, tsv.open("rb") as src:
                with cur.copy(f'COPY "{table.name}" ({", ".join(COLUMNS)}) FROM STDIN') as copy:
                    while chunk := src.read(1 << 20):
                        copy.write(chunk)
        else:
            conn.exec_driver_sql(
                f"LOAD DATA LOCAL INFILE '{tsv}' INTO TABLE `{table.name}` "
                f"FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' ({', '.join(COLUMNS)})")
        for ix in ddl.indexes:
            for statement in index_sql(ddl.name, ix, db.backend):
                conn.exec_driver_sql(statement)
        conn.exec_driver_sql(f'ANALYZE "{table.name}"' if db.backend == "postgresql"
                             else f"ANALYZE TABLE `{table.name}`")
    return time.monotonic() - start


def child(args: dict[str, Any]) -> None:
    """Runs in a fresh process: the check twice; prints one JSON line."""
    from checks.base import CheckContext
    from checks.moodle.filestore import FilestoreCheck, FilestoreSpec
    from checks.moodle.settings import DatabaseSettings, MoodleSettings
    from checks.moodle.site import MoodleSite
    from monitor.kernel.target import Target

    settings = DatabaseSettings.model_validate(args["database"])
    site = MoodleSite(MoodleSettings(dataroot=Path(args["dataroot"]), database=settings))
    ctx = CheckContext(Target("bench", "moodle"), timeout=900.0, now=time.time,
                       run_blocking=asyncio.to_thread, site=site,
                       state_dir=Path(args["state_dir"]))
    out: dict[str, Any] = {}
    try:
        for name, fields in (("reconcile", {"verify_seconds": 0}),
                             ("verify", {"verify_seconds": 10, "verify_rate": "1GiB"})):
            spec = FilestoreSpec.model_validate({"type": "moodle_filestore", **fields})
            start = time.monotonic()
            result = asyncio.run(FilestoreCheck(spec).run(ctx))
            values = {s.name.removeprefix("lms_moodle_filestore_"): s.value
                      for s in result.samples}
            out[name] = {"wall": time.monotonic() - start, "status": result.status.name,
                         "values": values, "verify": result.details.get("verify")}
    finally:
        site.close()
    out["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(out))


def run_backend(backend: str, tsv: Path, dataroot: Path, p: dict[str, int],
                expect: dict[str, Any], work: Path) -> None:
    from tests.moodle_double.server import TestDatabase

    db = TestDatabase.create(backend)  # type: ignore[arg-type]
    try:
        loaded = load(db, tsv)
        settings = db.settings(statement_timeout=5.0).model_dump(mode="json")
        settings["password"] = db.ro_password
        state = work / f"state-{backend}"
        proc = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(
                {"database": settings, "dataroot": str(dataroot), "state_dir": str(state)})],
            capture_output=True, text=True, timeout=1800, cwd=ROOT)
        if proc.returncode != 0:
            raise SystemExit(f"{backend}: the check process failed:\n{proc.stderr[-3000:]}")
        report(backend, json.loads(proc.stdout.strip().splitlines()[-1]), p, expect, loaded)
    finally:
        db.close()


def report(backend: str, out: dict[str, Any], p: dict[str, int], expect: dict[str, Any],
           loaded: float) -> None:
    rec, ver = out["reconcile"], out["verify"]
    v = rec["values"]
    seconds = v["reconcile_seconds"]
    vinfo = ver["verify"] or {}
    vbytes, vwall = vinfo.get("bytes", 0), ver["wall"] - ver["values"]["reconcile_seconds"]
    print(f"\n== {backend} (files table loaded in {loaded:.1f}s) ==")
    print(f"rows {p['rows']:,}  reconcile {seconds:.1f}s  ({p['rows'] / seconds:,.0f} rows/s; "
          f"check wall {rec['wall']:.1f}s)  peak RSS {out['maxrss_kib'] / 1024:.0f} MiB")
    print(f"found: missing {v['missing_blobs']:.0f} (expected {DAMAGE}), orphans "
          f"{v['orphan_blobs']:.0f} (expected {DAMAGE}), size mismatches "
          f"{v['size_mismatches']:.0f} (expected {expect['mismatched_rows']}), blobs "
          f"{v['blobs']:.0f} (expected {expect['blobs_on_disk']})  status {rec['status']}")
    print(f"verification slice: {vinfo.get('verified', 0):,} blobs, {vbytes / 2**20:.1f} MiB "
          f"in ~{vwall:.1f}s ({vinfo.get('verified', 0) / max(vwall, 1e-9):,.0f} blobs/s), "
          f"corrupt so far {ver['values']['corrupt_blobs']:.0f} of {expect['corrupt_blobs']}")
    target = "met" if seconds < 60 and out["maxrss_kib"] < 300 * 1024 else "MISSED"
    print(f"target (< 60 s, < 300 MB): {target}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", nargs="+", default=["postgresql", "mariadb"],
                        choices=["postgresql", "mariadb"])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return 0
    p = plan(args.rows)
    check_space(args.dir, p)
    work = Path(tempfile.mkdtemp(prefix="vigil-filedir-", dir=args.dir))
    try:
        start = time.monotonic()
        expect = write_pool(work / "moodledata", p, work / "files.tsv")
        print(f"pool: {expect['blobs_on_disk']:,} blobs and {p['rows']:,} rows generated in "
              f"{time.monotonic() - start:.1f}s")
        for backend in args.backend:
            run_backend(backend, work / "files.tsv", work / "moodledata", p, expect, work)
    finally:
        start = time.monotonic()
        shutil.rmtree(work, ignore_errors=True)
        print(f"\ncleaned up {work} in {time.monotonic() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
