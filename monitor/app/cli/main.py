"""The ``vigil`` command: run, check, config validate, init, integrity, alerts,
maintenance, audit, report, demo.

The only place that calls sys.exit; everything else raises or returns.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from monitor import __version__
from monitor.app.cli.nagios import render
from monitor.app.config import ConfigError, VigilConfig, load_config
from monitor.app.jobs import build_jobs
from monitor.app.runner import CheckRunner
from monitor.app.sites import SiteRegistry
from monitor.kernel.clock import SystemClock
from monitor.kernel.redact import LogRedactor, SecretRegistry
from monitor.kernel.result import Result

EXIT_CONFIG = 2  # as `vigil config validate` documents; Nagios reads 3 (UNKNOWN) for check


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigil", description="Operations daemon for LMS sites.")
    parser.add_argument("--version", action="version", version=f"vigil {__version__}")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("-c", "--config", type=Path, required=True)
    run.add_argument("--shard", type=_shard, metavar="I/N",
                     help="run only the LMS sites of shard I of N (0 <= I < N, as Prometheus "
                     "hashmod); overrides [fleet] shard")

    check = sub.add_parser("check", help="run checks once (Nagios/Icinga plugin output)")
    check.add_argument("-c", "--config", type=Path, required=True)
    check.add_argument("--lms", help="only this LMS (its name in the config)")
    check.add_argument("--check", help="only this check name")
    check.add_argument("--format", choices=["nagios", "json", "text"], default="nagios")

    config = sub.add_parser("config", help="work with the config file")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    validate = config_sub.add_parser("validate", help="validate a config file, print all errors")
    # Positional as first documented, and -c like every other subcommand (a user typing
    # `vigil config validate -c vigil.toml` was refused: docs/real-moodle.md, problem 7).
    validate.add_argument("file", type=Path, nargs="?")
    validate.add_argument("-c", "--config", type=Path, dest="config_file")
    validate.add_argument("--strict", action="store_true",
                          help="fail on credentials that cannot be read here (${cred:NAME} "
                          "without $CREDENTIALS_DIRECTORY), instead of listing them unchecked")

    init = sub.add_parser("init", help="discover a site and write a Vigil config for it")
    init.add_argument("--moodle", type=Path, required=True, metavar="DIR",
                      help="the Moodle code directory (where config.php is)")
    init.add_argument("-o", "--output", type=Path, help="config file to write "
                      "(default: <name>.toml; the password goes to <file>.dbpass beside it)")
    init.add_argument("--name", help="the LMS name (default: the wwwroot's host)")
    init.add_argument("--force", action="store_true", help="replace an existing file")

    demo = sub.add_parser("demo", help="run a demo LMS with injected faults and watch it")
    demo.add_argument("--state-dir", type=Path, default=Path("vigil-demo-state"))
    demo.add_argument("--port", type=int, default=9787, help="port of Vigil's HTTP API")
    demo.add_argument("--duration", type=float, default=None,
                      help="stop after this many seconds (default: until Ctrl-C)")

    from monitor.app.cli.integrity_args import add_parser as add_integrity_parser

    add_integrity_parser(sub)  # vigil integrity baseline|verify|diff|accept|manifest
    from monitor.app.cli.maintenance_cmd import add_parser as add_maintenance_parser

    add_maintenance_parser(sub)  # vigil maintenance add|list|show|edit|end
    from monitor.app.cli.alerts_cmd import add_parser as add_alerts_parser

    add_alerts_parser(sub)  # vigil alerts list|show|ack|unack
    from monitor.app.cli.audit_cmd import add_parser as add_audit_parser

    add_audit_parser(sub)  # vigil audit list
    from monitor.app.cli.report_cmd import add_parser as add_report_parser

    add_report_parser(sub)  # vigil report --lms NAME --since 7d
    return parser


def _shard(text: str) -> str:
    from monitor.kernel.shard import parse_shard

    try:
        return str(parse_shard(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _setup_logging(level: str, secrets: SecretRegistry) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()), stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S",
    )
    # On the handlers, not a logger: records of every library propagate to them.
    for handler in logging.getLogger().handlers:
        handler.addFilter(LogRedactor(secrets))
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _print_config_error(exc: ConfigError) -> None:
    print(f"{exc.source}: {len(exc.problems)} problem(s):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


def cmd_validate(path: Path, secrets: SecretRegistry | None = None, strict: bool = False
                 ) -> int:
    """Away from systemd a ${cred:NAME} cannot be read: listed as not checked (naming the
    path and the reference), unless --strict makes it a problem as `vigil run` does."""
    unchecked: list[str] = []
    try:
        config = load_config(path, secrets=secrets,
                             unchecked=None if strict else unchecked)
    except ConfigError as exc:
        _print_config_error(exc)
        _print_unchecked(unchecked)
        return EXIT_CONFIG
    checks = sum(len(site.checks) for site in config.lms)
    print(f"{path}: OK ({len(config.lms)} LMS, {checks} checks, "
          f"{len(config.alerts.receivers)} receivers)")
    _print_unchecked(unchecked)
    return 0


def _print_unchecked(unchecked: list[str]) -> None:
    if unchecked:
        print(f"{len(unchecked)} credential(s) not checked here (vigil run reads them under "
              "systemd; --strict fails on them):")
        for line in unchecked:
            print(f"  {line}")


async def run_checks_once(
    config: VigilConfig, lms: str | None, check: str | None,
    secrets: SecretRegistry | None = None,
) -> list[tuple[str, Result]]:
    sites = SiteRegistry()
    jobs = build_jobs(config, lms=lms, check=check, sites=sites.sites_for(config))
    runner = CheckRunner(SystemClock(), max_concurrency=config.scheduler.max_concurrency,
                         state_dir=config.state.dir, secrets=secrets)
    try:
        results = await asyncio.gather(*(runner.run(job) for job in jobs.values()))
    finally:
        runner.close()
        sites.close()
    return list(zip(jobs.keys(), results, strict=True))


def cmd_check(args: argparse.Namespace, secrets: SecretRegistry | None = None) -> int:
    try:
        config = load_config(args.config, secrets=secrets)
    except ConfigError as exc:
        print(f"VIGIL UNKNOWN - invalid config {exc.source}: {'; '.join(exc.problems)}")
        return 3
    results = asyncio.run(run_checks_once(config, args.lms, args.check, secrets))
    text, code = render(results)
    if args.format == "nagios":
        print(text)
    elif args.format == "json":
        print(json.dumps([
            {"check": key, "status": r.status.name, "summary": r.summary,
             "samples": [{"name": s.name, "value": s.value, "labels": dict(s.labels)}
                         for s in r.samples], "details": dict(r.details)}
            for key, r in results], indent=2, default=str))
    else:
        for key, r in results:
            print(f"{r.status.name:<8} {key}: {r.summary}")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # Filled by load_config with every resolved secret; the log handlers redact them.
    secrets = SecretRegistry()
    _setup_logging(args.log_level, secrets)
    args.secrets = secrets  # the subcommands' load_config fills it too
    if args.command == "config":
        if (args.file is None) == (args.config_file is None):
            parser.error("config validate: give the config file once, as FILE or -c FILE")
        code = cmd_validate(args.file or args.config_file, secrets, strict=args.strict)
    elif args.command == "check":
        code = cmd_check(args, secrets)
    elif args.command == "init":
        from monitor.app.cli.init_cmd import cmd_init

        code = cmd_init(args.moodle, args.output, args.name, force=args.force)
    elif args.command == "integrity":
        from monitor.app.cli.integrity_cmd import main as integrity_main

        code = integrity_main(args)
    elif args.command == "alerts":
        from monitor.app.cli.alerts_cmd import main as alerts_main

        code = alerts_main(args)
    elif args.command == "audit":
        from monitor.app.cli.audit_cmd import main as audit_main

        code = audit_main(args)
    elif args.command == "report":
        from monitor.app.cli.report_cmd import main as report_main

        code = report_main(args)
    elif args.command == "maintenance":
        from monitor.app.cli.maintenance_cmd import main as maintenance_main

        code = maintenance_main(args)
    elif args.command == "run":
        from monitor.app.unused_extras import TRIO, keep_out

        keep_out(TRIO)  # httpcore's trio backend: the daemon runs on asyncio
        from monitor.app.run import run_daemon, run_loop

        try:
            code = run_loop(run_daemon(args.config, secrets=secrets, shard=args.shard))
        except ConfigError as exc:
            _print_config_error(exc)
            code = EXIT_CONFIG
        # The graceful part is done (checks drained, state closed). A thread still stuck
        # in a blocking call (a dead NFS mount, a FIFO) can never be joined, and the
        # interpreter's exit would join some (concurrent.futures' workers): leave now,
        # well within systemd's TimeoutStopSec.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    else:
        from monitor.app.demo.command import run_demo

        code = asyncio.run(run_demo(args.state_dir, args.port, args.duration))
    sys.exit(code)


if __name__ == "__main__":
    main()
