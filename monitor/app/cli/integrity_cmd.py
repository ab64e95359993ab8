"""`vigil integrity baseline|verify|diff|accept|manifest`: the admin's side of the integrity
checks. monitor/app/cli/main.py adds the subparser (integrity_args.py) and dispatches here
(main).

All commands read the config (-c) to find the LMS (--lms), its code_integrity check (or
the defaults, with lms.moodle.dirroot) and the state directory. They run without the
check's I/O budget: an admin asked for the answer now.
Exit codes: verify prints a report and exits like a Nagios plugin (0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN); diff exits 0 when nothing differs and 1 when something does;
baseline, accept and manifest exit 0 on success. A bad config or bad arguments exit 2;
a tree, archive or state file that cannot be read exits 3.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from checks.base import CheckUnavailable
from checks.integrity.accept import accept
from checks.integrity.baseline import (
    Limits,
    NoBaseline,
    Outcome,
    Tree,
    create_baseline,
    verify,
)
from checks.integrity.codetree import CodeIntegritySpec, judge, tree_root
from checks.integrity.diff import is_script
from checks.integrity.manifest import ManifestError, from_archive, from_git, save_manifest
from checks.integrity.parallel import cpu_workers
from checks.integrity.patterns import PathRules, display_path
from checks.integrity.scan import ScanError
from checks.integrity.store import STATE_FILE, IntegrityStore
from monitor.app.config import ConfigError, load_config

EXIT_USAGE, EXIT_FAILED = 2, 3
WORKERS = cpu_workers()  # hashing processes: one per CPU, up to 4


class UsageError(Exception):
    """Bad arguments or config: the message says which."""


def main(args: argparse.Namespace, out: Callable[[str], None] = print) -> int:
    try:
        spec, tree, state_dir = _resolve(args)
        _warn_owner(state_dir / STATE_FILE)
        command = _COMMANDS[args.integrity_command]
        with IntegrityStore.in_state_dir(state_dir) as store:
            return command(args, spec, tree, store, out)
    except UsageError as exc:
        print(f"vigil integrity: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ScanError, NoBaseline, ManifestError, OSError) as exc:
        print(f"vigil integrity: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _resolve(args: argparse.Namespace) -> tuple[CodeIntegritySpec, Tree, Path]:
    try:
        config = load_config(args.config, secrets=getattr(args, "secrets", None))
    except ConfigError as exc:
        raise UsageError(f"invalid config {exc.source}: {'; '.join(exc.problems)}") from None
    site = next((s for s in config.lms if s.name == args.lms), None)
    if site is None:
        raise UsageError(f"no LMS named {args.lms!r} in {args.config}")
    specs = {n: s for n, s in site.checks.items() if isinstance(s, CodeIntegritySpec)}
    if args.check is not None:
        if args.check not in specs:
            raise UsageError(f"{args.lms} has no code_integrity check named {args.check!r}")
        spec = specs[args.check]
    elif len(specs) > 1:
        raise UsageError(f"{args.lms} has several code_integrity checks "
                         f"({', '.join(specs)}): pick one with --check")
    else:
        spec = next(iter(specs.values()), CodeIntegritySpec(type="code_integrity"))
    try:
        root = tree_root(spec.path, site.moodle)
    except CheckUnavailable as exc:
        raise UsageError(str(exc)) from None
    return spec, Tree(site.name, root, PathRules(spec.ignore)), config.state.dir


def _warn_owner(state_file: Path) -> None:
    """root writing the daemon's state file would leave root-owned -wal/-shm files the
    daemon (its own user) cannot open."""
    try:
        owner = state_file.stat().st_uid
    except OSError:
        return
    if os.geteuid() == 0 and owner != 0:
        print(f"vigil integrity: warning: running as root on {state_file} (owned by uid "
              f"{owner}); run it as the daemon's user (e.g. sudo -u vigil vigil integrity "
              "...)", file=sys.stderr)


def _actor(args: argparse.Namespace) -> str:
    if args.by:
        return str(args.by)
    return f"{os.environ.get('SUDO_USER') or getpass.getuser()} (cli)"


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _limits(rolling: bool = True) -> Limits:
    return Limits(rolling=rolling, workers=WORKERS, processes=True)


def cmd_baseline(args: argparse.Namespace, spec: CodeIntegritySpec, tree: Tree,
                 store: IntegrityStore, out: Callable[[str], None]) -> int:
    started = time.monotonic()
    result = create_baseline(store, tree, _limits(), time.time(), _actor(args))
    out(f"baseline created for {display_path(tree.root)}: {len(result.observed):,} files, "
        f"{result.read_bytes / 1e6:,.1f} MB hashed in {time.monotonic() - started:.1f}s")
    _print_skips(result, out, 20)
    return 0


def cmd_verify(args: argparse.Namespace, spec: CodeIntegritySpec, tree: Tree,
               store: IntegrityStore, out: Callable[[str], None]) -> int:
    now = time.time()
    result = verify(store, tree, _limits(), now, create=False)
    verdict = judge(spec, result, now, covered=False)
    if args.format == "json":
        out(json.dumps({"status": verdict.status.name, "summary": verdict.summary,
                        "samples": [{"name": s.name, "value": s.value, "labels": dict(s.labels)}
                                    for s in verdict.samples],
                        "details": dict(verdict.details)}, indent=2, default=str))
        return int(verdict.status)
    out(f"VIGIL INTEGRITY {verdict.status.name} - {verdict.summary}")
    base = result.baseline_run
    out(f"tree {display_path(tree.root)}: {len(result.observed):,} files; read "
        f"{result.read_bytes / 1e6:,.1f} MB" + (
            f"; baseline of {_when(base.at)} by {base.actor}" if base else ""))
    _print_diff(result, out, args.limit)
    _print_skips(result, out, args.limit)
    return int(verdict.status)


def cmd_diff(args: argparse.Namespace, spec: CodeIntegritySpec, tree: Tree,
             store: IntegrityStore, out: Callable[[str], None]) -> int:
    result = verify(store, tree, _limits(rolling=False), time.time(),
                    create=False)
    _print_diff(result, out, args.limit, touched=True)
    _print_skips(result, out, args.limit)
    diff = result.diff
    return 1 if diff.changed or diff.touched or diff.unverified else 0


def cmd_accept(args: argparse.Namespace, spec: CodeIntegritySpec, tree: Tree,
               store: IntegrityStore, out: Callable[[str], None]) -> int:
    if bool(args.paths) == bool(args.all):
        raise UsageError("name the paths to accept, or --all (not both)")
    paths = None if args.all else [_relative(tree.root, p) for p in args.paths]
    actor, now = _actor(args), time.time()
    accepted, removed = accept(store, tree, paths, now, actor, _limits())
    if paths is not None and not accepted + removed:
        raise UsageError(f"nothing in the tree or its baseline matches: {' '.join(args.paths)}")
    out(f"accepted {len(accepted):,} path(s) into the baseline, removed {len(removed):,} "
        f"(by {actor} at {_when(now)})")
    for path in (accepted + removed)[:20]:
        out(f"  {display_path(path)}")
    return 0


def cmd_manifest(args: argparse.Namespace, spec: CodeIntegritySpec, tree: Tree,
                 store: IntegrityStore, out: Callable[[str], None]) -> int:
    manifest = from_archive(args.archive) if args.archive else \
        from_git(args.from_git, allow_dirty=args.allow_dirty)
    save_manifest(store, tree.site, tree.root, manifest, time.time(), _actor(args))
    out(f"release manifest stored for {args.lms}: {manifest.release or '(release unknown)'}"
        f" from {manifest.source}, {len(manifest.files):,} files")
    if manifest.skipped:
        out(f"  skipped {len(manifest.skipped)}: {', '.join(manifest.skipped[:5])}")
    try:
        result = verify(store, tree, _limits(rolling=False), time.time(),
                        create=False)
    except NoBaseline:
        out("  no baseline yet: run `vigil integrity baseline` to compare")
        return 0
    _print_release(result, out, 20)
    return 0


def _relative(root: str, path: str) -> str:
    if not os.path.isabs(path):
        return path.strip("/")
    rel = os.path.relpath(os.path.abspath(path), root)
    if rel == "." or rel.startswith(".."):
        raise UsageError(f"{path} is not inside the code directory {root}")
    return rel


def _print_diff(result: Outcome, out: Callable[[str], None], limit: int,
                touched: bool = False) -> None:
    diff = result.diff
    rows: list[tuple[str, str, str]] = []
    for path in diff.added:
        script = " script" if is_script(path, result.observed.get(path)) else ""
        rows.append(("+", path, f"added{script}"))
    rows += [("-", path, "removed") for path in diff.removed]
    rows += [("M", path, " ".join(attrs)) for path, attrs in diff.modified.items()]
    rows += [("!", path, "content changed, stat did not") for path in result.stealth]
    rows += [("?", path, "stat changed, content not hashed") for path in diff.unverified]
    if touched:
        rows += [("T", path, "mtime only (same content)") for path in diff.touched]
    if not rows:
        out("no change since the baseline")
    shown: dict[str, int] = {}
    for mark, path, what in rows:
        shown[mark] = shown.get(mark, 0) + 1
        if shown[mark] <= limit:
            out(f"{mark} {display_path(path)}  ({what})")
    for mark, count in shown.items():
        if count > limit:
            out(f"{mark} ... and {count - limit:,} more")
    _print_release(result, out, limit)


def _print_release(result: Outcome, out: Callable[[str], None], limit: int) -> None:
    release = result.release
    if release is None:
        return
    out(f"release {release.release or '(unnamed)'}: {len(release.mismatch)} differ, "
        f"{len(release.missing)} missing, {len(release.accepted)} accepted, "
        f"{release.extra} not in the release" + (
            f" (installed: {release.installed}: the manifest is stale)" if release.stale
            else ""))
    for mark, paths in (("R", release.mismatch), ("r", release.missing),
                        ("a", release.accepted)):
        for path in paths[:limit]:
            out(f"{mark} {display_path(path)}")


def _print_skips(result: Outcome, out: Callable[[str], None], limit: int) -> None:
    scan = result.scan
    for label, paths in (("unreadable", result.unreadable + scan.unreadable),
                         ("vanished during the scan", scan.vanished),
                         ("special files skipped", [f"{display_path(p)} ({k})"
                                                    for p, k in scan.special])):
        if paths:
            out(f"{label} ({len(paths)}): " + ", ".join(display_path(p) for p in paths[:limit]))


_COMMANDS = {"baseline": cmd_baseline, "verify": cmd_verify, "diff": cmd_diff,
             "accept": cmd_accept, "manifest": cmd_manifest}
