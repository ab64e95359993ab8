"""The fake ``php`` of the fake Moodle site directory (tests only; this machine has no PHP).

sitedir.make_site writes a small executable ``php`` into the site that calls ``main`` here
with the path of a JSON state file. ``php <dirroot>/admin/cli/X.php args`` then behaves
like Moodle's script X, reproducing its real output and exit codes:

- checks.php: admin/cli/checks.php (options -t/--type, -f/--filter, -v/--verbose, -h);
  labels from core_renderer_cli::render_check_result with cli_ansi_format's ANSI codes
  (lib/clilib.php), the NRPE header, the "%10s| %-60s" table, exit 0/1/2/3.
- upgrade.php --is-pending: exit 2 "An upgrade is pending" / exit 0 "No upgrade needed
  for the installed version ...", both on stderr through cli_error (lib/clilib.php).
- maintenance.php: "== Maintenance mode (<wwwroot>) ==" and the clistatus* lines
  (admin/cli/maintenance.php; lang/en/admin.php); --enable/--disable touch the dataroot.
- cron.php: refuses (exit 1) in CLI maintenance, with an upgrade pending or cron disabled
  (admin/cli/cron.php, lib/classes/cron.php).
- php -r 'echo PHP_VERSION;': prints state "php_version" (set it with update_state).
Test modes per script (state "modes"): "hang" (never finishes; also starts a child that
hangs, so a runner must kill the process group), "garbage" (unreadable bytes, exit 0),
"fatal" or "exit255" (a PHP fatal error, exit 255), "flood" (4 MiB on stdout and on
stderr, exit 0). Every call is appended to calls.jsonl.
checks.php also fails per type (state "type_errors": {type: message}): the check class
throws and lib/setuplib.php default_exception_handler() ends the script: error_log()
"Default exception handler: Exception - <message> Debug: ..." on stderr, the CLI
renderer's "!!! Exception - <message> !!!" on stdout, exit(1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

ESC = "\x1b["
# cli_ansi_format (lib/clilib.php): colours "\033[<code>m", background colours likewise.
_COLOUR = {"normal": "0;0", "black": "0;30", "darkGray": "1;30", "blue": "0;34",
           "green": "0;32"}
_BG = {"red": "41", "yellow": "43"}
# core_renderer_cli::render_check_result: always 10 visible characters wide.
LABELS = {
    "na": "      " + ESC + _COLOUR["darkGray"] + "m NA ",
    "ok": "      " + ESC + _COLOUR["green"] + "m OK ",
    "info": "    " + ESC + _COLOUR["blue"] + "m INFO ",
    "unknown": " " + ESC + _COLOUR["darkGray"] + "m UNKNOWN ",
    "warning": " " + ESC + _COLOUR["black"] + "m" + ESC + _BG["yellow"] + "m WARNING ",
    "error": "   " + ESC + _BG["red"] + "m ERROR ",
    "critical": ESC + _BG["red"] + "m CRITICAL ",
}
EXIT_CODES = {"na": 0, "ok": 0, "info": 0, "unknown": 3, "warning": 1, "error": 2,
              "critical": 2}
EXIT_LABELS = {"na": "OK", "ok": "OK", "info": "OK", "unknown": "UNKNOWN",
               "warning": "WARNING", "error": "CRITICAL", "critical": "CRITICAL"}
TYPES = ("status", "security", "performance")
_ROW = "{:>10}| {:<60}\n"  # sprintf("%      10s| % -60s\n")
_SPACER = "----------+" + "-" * 68 + "\n"
_PREFIX = "          |"


def main(argv: list[str], state_path: str) -> int:
    state = json.loads(Path(state_path).read_text(encoding="utf-8"))
    _record_call(Path(state_path).with_name("calls.jsonl"), argv)
    if not argv:
        sys.stderr.write("fake php: interactive mode is not supported\n")
        return 1
    if argv[0] == "-r":
        return php_r(argv[1:], state)
    script = Path(argv[0])
    if not script.is_file():
        print(f"Could not open input file: {argv[0]}")
        return 1
    mode = state.get("modes", {}).get(script.name, "normal")
    if mode == "hang":
        subprocess.Popen(["sleep", "3600"])  # a grandchild: only a process-group kill ends it
        time.sleep(3600)
    if mode == "garbage":
        sys.stdout.buffer.write(b"\x00\xff\xfe<b>Parse error</b>: \x8f\x90 garbage\n")
        return 0
    if mode == "flood":
        for stream in (sys.stdout.buffer, sys.stderr.buffer):
            stream.write(b"x" * (4 << 20))
            stream.flush()
        return 0
    if mode in ("fatal", "exit255"):
        sys.stderr.write("PHP Fatal error:  Uncaught Error: Call to undefined function "
                         "get_string() in /var/www/moodle/admin/cli/x.php:12\n")
        return 255
    handler = _SCRIPTS.get(script.name)
    if handler is None:
        sys.stderr.write(f"fake php: no imitation of {script.name}\n")
        return 1
    return handler(argv[1:], state, Path(state_path))


def _record_call(path: Path, argv: list[str]) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps({"argv": argv, "cwd": os.getcwd(), "env": sorted(os.environ),
                              "pid": os.getpid(), "pgid": os.getpgid(0),
                              "uid": os.getuid()}) + "\n")


def _options(args: list[str], short: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """cli_get_params: --name, --name=value, -x, -x=value; the rest is unrecognised."""
    options: dict[str, Any] = {}
    unknown: list[str] = []
    for arg in args:
        if arg.startswith("--"):
            name, _, value = arg[2:].partition("=")
            options[name] = value if value else True
        elif arg.startswith("-") and arg[1:2] in short:
            options[short[arg[1:2]]] = arg[3:] if arg[2:3] == "=" else True
        else:
            unknown.append(arg)
    return options, unknown


def _cli_error(text: str, code: int = 1) -> int:
    sys.stderr.write(text + "\n\n")  # cli_error: cli_writeln($text.PHP_EOL, STDERR)
    return code


def checks_php(args: list[str], state: dict[str, Any], _: Path) -> int:
    options, unknown = _options(args, {"h": "help", "f": "filter", "v": "verbose", "t": "type"})
    unknown += [f"--{k}" for k in options if k not in ("help", "filter", "verbose", "type")]
    if unknown:
        return _cli_error("Unrecognised options:\n  " + "\n  ".join(unknown)
                          + "\nPlease use --help option.")
    kind = options.get("type", "status")
    if kind not in TYPES:
        print(f"!!! Coding error detected, it must be fixed by a programmer: Invalid check "
              f"type '{kind}' !!!")
        return 1
    if options.get("help"):
        print("Run Moodle system checks\n")
        return 0
    if (error := state.get("type_errors", {}).get(kind)) is not None:
        message = f"Exception - {error}"  # get_string('generalexceptionmessage', 'error')
        sys.stderr.write(f"Default exception handler: {message} Debug: \nError code: "
                         f"generalexceptionmessage\n* line 58 of /lib/classes/check/"
                         f"{kind}/example.php: Error thrown\n")
        print(f"!!! {message} !!!")
        return 1
    checks = [c for c in state["checks"].get(kind, [])
              if not options.get("filter") or str(options["filter"]) in c["ref"]]
    verbose = bool(options.get("verbose"))
    header, exitcode, output = f"OK: All '{kind}' checks OK\n", 0, ""
    for check in checks:
        status = check["status"]
        if EXIT_CODES[status] > exitcode:
            exitcode = EXIT_CODES[status]
            header = f"{EXIT_LABELS[status]}: {check['name']} ({check['ref']})\n"
        if verbose or status in ("warning", "error", "critical"):
            label = LABELS[status] + ESC + _COLOUR["normal"] + "m"
            output += _ROW.format(label, f"{check['name']} ({check['ref']})")
            summary = "\n".join(textwrap.wrap(check.get("summary", ""), 60)) or ""
            summary = summary.replace("\n", "\n" + _PREFIX + "     ")
            output += _ROW.format("", "    " + summary)
            if verbose:
                output += _ROW.format("", "")
    sys.stdout.write(header)
    if output:
        sys.stdout.write(_ROW.format("Status ", "Check") + _SPACER + output)
    return exitcode


def upgrade_php(args: list[str], state: dict[str, Any], _: Path) -> int:
    if "--is-pending" not in args:
        return _cli_error("fake php: only --is-pending is imitated")
    if state.get("upgrade_pending"):
        return _cli_error("An upgrade is pending", 2)
    version = f"{state['release']} ({state['version']})"
    sys.stderr.write(f"No upgrade needed for the installed version {version}. "
                     "Thanks for coming anyway!\n\n")
    return 0


def maintenance_php(args: list[str], state: dict[str, Any], state_path: Path) -> int:
    options, _ = _options(args, {"h": "help"})
    marker = Path(state["dataroot"]) / "climaintenance.html"
    print(f"== Maintenance mode ({state['wwwroot']}) ==")
    if options.get("enable"):
        marker.write_text("<h1>Sorry, maintenance in progress</h1>", encoding="utf-8")
        print("CLI maintenance mode has been enabled.")
        return 0
    if options.get("disable"):
        marker.unlink(missing_ok=True)
        state["maintenance_enabled"], state["maintenance_later"] = 0, None
        state_path.write_text(json.dumps(state), encoding="utf-8")
        print("Maintenance mode has been disabled.")
        return 0
    if state.get("maintenance_enabled") or marker.exists():
        print("Status: enabled")
    elif state.get("maintenance_later"):
        when = time.strftime("%A, %d %B %Y, %I:%M %p", time.gmtime(state["maintenance_later"]))
        print(f"status: CLI maintenance mode will be enabled on {when}")
    else:
        print("Status: disabled")
    return 0


def cron_php(args: list[str], state: dict[str, Any], _: Path) -> int:
    if (Path(state["dataroot"]) / "climaintenance.html").exists():
        print("CLI maintenance mode active, cron execution suspended.")
        return 1
    if state.get("upgrade_pending"):
        print("Moodle upgrade pending, cron execution suspended.")
        return 1
    if not state.get("cron_enabled", True) and "--force" not in args:
        print("Cron is disabled. Use --force to override.")
        return 1
    print("Server Time: " + time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()))
    print("Cron script completed correctly")
    return 0


def php_r(args: list[str], state: dict[str, Any]) -> int:
    """php -r 'echo PHP_VERSION;' prints state "php_version" (default 8.3.14), no newline."""
    if args != ["echo PHP_VERSION;"]:
        sys.stderr.write("fake php: only -r 'echo PHP_VERSION;' is imitated\n")
        return 1
    sys.stdout.write(str(state.get("php_version", "8.3.14")))
    return 0


_SCRIPTS = {"checks.php": checks_php, "upgrade.php": upgrade_php,
            "maintenance.php": maintenance_php, "cron.php": cron_php}
