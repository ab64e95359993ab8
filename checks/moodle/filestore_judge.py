"""Judging a file pool scan (checks/moodle/filestore.py): statuses, summary, samples, details.

Pure: takes what the reconcile pass and the verification slice found, plus the persisted
verification state, and applies the spec's thresholds. Details name contents by hash and
place (component, file area, context, item), never by file name or owner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checks.moodle.filestore_reconcile import Reconciled
from checks.moodle.filestore_scan import SAMPLE_CAP, WalkNotes
from checks.moodle.filestore_verify import VerifyOutcome
from monitor.kernel.result import Result, Sample, Status, threshold_status
from monitor.kernel.units import fmt_bytes

if TYPE_CHECKING:
    from checks.moodle.filestore import FilestoreSpec

_RANK = {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def judge(spec: FilestoreSpec, scan: dict[str, Any], verify: VerifyOutcome | None,
          doc: dict[str, Any], seconds: float, notes: list[str],
          paths: dict[str, str]) -> Result:
    found: Reconciled = scan["found"]
    walk: WalkNotes = scan["notes"]
    corrupt: dict[str, Any] = doc.get("corrupt") or {}
    parts = _findings(spec, found, walk, verify, len(corrupt))
    samples = [
        Sample("lms_moodle_filestore_missing_blobs", found.missing),
        Sample("lms_moodle_filestore_missing_bytes", found.missing_bytes),
        Sample("lms_moodle_filestore_orphan_blobs", found.orphans),
        Sample("lms_moodle_filestore_orphan_bytes", found.orphan_bytes),
        Sample("lms_moodle_filestore_size_mismatches", found.mismatches),
        Sample("lms_moodle_filestore_corrupt_blobs", len(corrupt)),
        Sample("lms_moodle_filestore_blobs_verified_total", int(doc.get("verified_total") or 0)),
        Sample("lms_moodle_filestore_reconcile_seconds", round(seconds, 3)),
        Sample("lms_moodle_filestore_blobs", found.blobs),
        Sample("lms_moodle_filestore_unreadable_blobs", verify.unreadable if verify else 0),
    ]
    if doc.get("last_pass_completed"):
        samples.append(Sample("lms_moodle_filestore_verify_pass_timestamp_seconds",
                              float(doc["last_pass_completed"])))
    status = Status.worst(level for level, _ in parts)
    shown = [text for level, text in sorted(parts, key=lambda p: -_RANK[p[0]])
             if level != Status.OK]
    if status == Status.OK:
        shown = [_healthy(found, verify, seconds)]
    elif found.orphans and not any("orphan" in text for text in shown):
        shown.append(f"{_n(found.orphans, 'orphan blob')} ({fmt_bytes(found.orphan_bytes)})")
    return Result(status, "; ".join(shown), tuple(samples),
                  _details(found, walk, verify, doc, scan, notes, paths))


def _findings(spec: FilestoreSpec, found: Reconciled, walk: WalkNotes,
              verify: VerifyOutcome | None, corrupt: int) -> list[tuple[Status, str]]:
    parts: list[tuple[Status, str]] = []
    if found.missing:
        text = (f"{_n(found.missing, 'blob')} missing from the file pool "
                f"({fmt_bytes(found.missing_bytes)} of lost uploads)")
        if found.recoverable:
            text += f", {found.recoverable:,} still in trashdir (Moodle restores on access)"
        if not found.blobs:
            text += " - the pool holds no blob at all: is filedir mounted?"
        parts.append((threshold_status(found.missing, spec.missing_warning,
                                       spec.missing_critical), text))
    if found.mismatches:
        parts.append((threshold_status(found.mismatches, spec.mismatch_warning,
                                       spec.mismatch_critical),
                      f"{_n(found.mismatches, 'blob')} whose size differs from "
                      "files.filesize"))
    if corrupt:
        parts.append((threshold_status(corrupt, spec.corrupt_warning, spec.corrupt_critical),
                      f"{_n(corrupt, 'corrupt blob')} (content SHA-1 differs from its name)"))
    if found.orphans:
        level = threshold_status(found.orphan_bytes, spec.orphan_bytes_warning, None)
        parts.append((level, f"{_n(found.orphans, 'orphan blob')} "
                             f"({fmt_bytes(found.orphan_bytes)}) no files row references"))
    unreadable = verify.unreadable if verify else 0
    if unreadable or walk.unreadable:
        what = [_n(unreadable, "blob")] if unreadable else []
        what += [_n(len(walk.unreadable), "directory")] if walk.unreadable else []
        skipped = f"; {found.unjudged_rows:,} rows not judged" if found.unjudged_rows else ""
        parts.append((Status.WARNING, f"{' and '.join(what)} of the pool unreadable by Vigil "
                                      f"(permissions?){skipped}"))
    if walk.jackpot:
        parts.append((Status.WARNING, "filedir/jackpot exists: Moodle kept the evidence of a "
                                      "SHA-1 collision there"))
    if found.invalid_rows:
        parts.append((Status.WARNING, f"{_n(found.invalid_rows, 'files row')} with a "
                                      "malformed contenthash"))
    return parts


def _healthy(found: Reconciled, verify: VerifyOutcome | None, seconds: float) -> str:
    text = (f"{found.rows:,} files rows need {_n(found.contents, 'blob')} "
            f"({fmt_bytes(found.content_bytes)}), all present (reconciled in {seconds:.1f}s)")
    if found.orphans:
        text += f"; {_n(found.orphans, 'orphan blob')} ({fmt_bytes(found.orphan_bytes)})"
    if verify is not None:
        text += f"; {verify.verified:,} verified this run"
    return text


def _details(found: Reconciled, walk: WalkNotes, verify: VerifyOutcome | None,
             doc: dict[str, Any], scan: dict[str, Any], notes: list[str],
             paths: dict[str, str]) -> dict[str, Any]:
    where: dict[str, dict[str, Any]] = scan["where"]
    missing = [{"contenthash": digest, "filesize": size, "rows": rows, **where.get(digest, {})}
               for digest, size, rows in found.recheck[:SAMPLE_CAP]]
    details: dict[str, Any] = {
        **paths, "rows": found.rows, "contents": found.contents,
        "content_bytes": found.content_bytes, "blobs": found.blobs,
        "blob_bytes": found.blob_bytes,
        "missing": {"count": found.missing, "bytes": found.missing_bytes,
                    "recoverable_from_trash": found.recoverable,
                    "race_rechecked": found.recovered_in_race, "first": missing},
        "orphans": {"count": found.orphans, "bytes": found.orphan_bytes,
                    "younger_than_min_age": found.recent_orphans,
                    "first": found.orphan_sample},
        "size_mismatches": {"count": found.mismatches, "first": found.mismatch_sample},
        "corrupt": sorted(doc.get("corrupt") or {})[:SAMPLE_CAP],
        "stray_entries": {"count": walk.stray_count, "first": walk.strays},
        "unreadable_directories": sorted(walk.unreadable)[:SAMPLE_CAP],
        "unjudged_rows": found.unjudged_rows, "vanished_during_scan": walk.vanished,
        "trash": scan["config"], "notes": notes,
    }
    if verify is not None:
        details["verify"] = {
            "verified": verify.verified, "bytes": verify.verified_bytes,
            "completed_pass": verify.wrapped, "position": verify.cursor[:4],
            "too_large_for_budget": verify.too_large, "unreadable": verify.unreadable_sample,
            "verified_total": doc.get("verified_total"),
            "last_pass_completed": doc.get("last_pass_completed")}
    return details
