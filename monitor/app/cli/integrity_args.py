"""The arguments of `vigil integrity ...` (monitor/app/cli/integrity_cmd.py runs them).

Apart from integrity_cmd.py because main.py builds every subparser on each start, `vigil
run` too: integrity_cmd.py imports the integrity baseline, hashing and manifest modules
(13 modules with tarfile and multiprocessing), which a daemon watching no code tree
need not load (#12).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "integrity", help="code tree integrity: baseline, verify, diff, accept, release manifest"
    )
    commands = parser.add_subparsers(dest="integrity_command", required=True)
    helps = {
        "baseline": "(re)create the baseline from the tree as it is now",
        "verify": "hash every file now and report (Nagios exit code)",
        "diff": "list what changed since the baseline, with the attributes",
        "accept": "take the current state of paths (or --all) into the baseline",
        "manifest": "store the expected files of the installed release",
    }
    for name, text in helps.items():
        cmd = commands.add_parser(name, help=text)
        cmd.add_argument("-c", "--config", type=Path, required=True)
        cmd.add_argument("--lms", required=True, help="the LMS name in the config")
        cmd.add_argument("--check", help="the code_integrity check (when a site has several)")
        if name in ("baseline", "accept", "manifest"):
            cmd.add_argument("--by", help="who does this, for the record (default: the login name)")
        if name == "verify":
            cmd.add_argument("--format", choices=["text", "json"], default="text")
        if name in ("verify", "diff"):
            cmd.add_argument("--limit", type=int, default=100, help="paths listed per kind")
        if name == "accept":
            cmd.add_argument(
                "paths",
                nargs="*",
                help="files or directories, relative to the "
                "code directory (as diff prints them) or absolute",
            )
            cmd.add_argument("--all", action="store_true", help="accept every change")
        if name == "manifest":
            source = cmd.add_mutually_exclusive_group(required=True)
            source.add_argument(
                "--from",
                dest="archive",
                type=Path,
                metavar="ARCHIVE",
                help="an official release archive (.tgz, .tar.gz, .zip)",
            )
            source.add_argument(
                "--from-git", type=Path, metavar="DIR", help="a git checkout of the release tag"
            )
            cmd.add_argument(
                "--allow-dirty",
                action="store_true",
                help="accept a checkout whose files differ from its commit",
            )
