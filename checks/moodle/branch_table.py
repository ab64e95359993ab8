"""Bundled support dates: Moodle branches (with the PHP versions each supports) and PHP.

Read by the branch-support probe (branches.py) and the update probe (updates.py). Plain
data, no I/O: Vigil runs where there may be no internet, so the table ships with it and
each row names its public source. Update it when Moodle HQ publishes a new branch (twice a
year) or moves a date; `extra_php_versions` / `php_security_end` in the probe's spec cover
the gap until then.

Sources (as read for this table):
- Moodle dates: moodle/devdocs data/versions.json, rendered as https://moodledev.io/general/
  releases and the "Important dates" box of https://moodledev.io/docs/<branch>; the 5.1, 5.2
  and 5.3 security dates as corrected by moodle/devdocs PR #1487 (5.1: 5 Apr -> 19 Apr 2027;
  5.2: 11 Oct -> 4 Oct 2027; 5.3: 4 Oct 2027 / 1 Oct 2029, as on moodledev.io/docs/5.3).
- Moodle PHP minimum: <PHP version="..." level="required"> of each <MOODLE version> in
  moodle/moodle public/admin/environment.xml; maximum: the devdocs PHP policy page
  (general/development/policies/php.md: "PHP 8.1 can be used with 4.1.2", "8.2 with 4.2.3",
  "8.3 with 4.4", 8.4 since 5.0 by MDL-80117) and environment.xml's RESTRICT
  restrict_php_version_84 on 4.5 (no PHP 8.4 on 4.5).
- PHP dates: https://www.php.net/supported-versions.php and https://www.php.net/eol.php
  (security support to 31 Dec of the 4th year since the PHP 8.x lifecycle RFC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

DEVDOCS = "moodle/devdocs data/versions.json (moodledev.io/general/releases)"
ENV_XML = "public/admin/environment.xml"


@dataclass(frozen=True, slots=True)
class MoodleBranch:
    name: str            # "4.5", as moodle_major_version() returns it
    lts: bool
    released: date
    general_end: date    # bug fixes end
    security_end: date   # security fixes end: after this the branch is unsupported
    php_min: str         # PHP minor versions the branch supports, inclusive
    php_max: str
    source: str          # where the row's facts were read
    provisional: bool = False  # scheduled, or PHP maximum not confirmed yet


@dataclass(frozen=True, slots=True)
class PhpBranch:
    name: str            # "8.3"
    released: date
    active_end: date
    security_end: date


_PHP_POLICY = "devdocs policies/php.md"
MOODLE_BRANCHES: tuple[MoodleBranch, ...] = (
    MoodleBranch("3.11", False, date(2021, 5, 17), date(2022, 11, 14), date(2023, 12, 11),
                 "7.3", "8.0", f"{DEVDOCS}; PHP: {_PHP_POLICY} (8.0 since 3.11.8)"),
    MoodleBranch("4.0", False, date(2022, 4, 19), date(2023, 6, 12), date(2023, 12, 11),
                 "7.3", "8.0", f"{DEVDOCS}; PHP: {_PHP_POLICY} (8.0 since 4.0.2)"),
    MoodleBranch("4.1", True, date(2022, 11, 28), date(2023, 12, 11), date(2025, 12, 8),
                 "7.4", "8.1", f"{DEVDOCS}; PHP: {_PHP_POLICY} (8.1 since 4.1.2)"),
    MoodleBranch("4.2", False, date(2023, 4, 24), date(2024, 4, 22), date(2024, 10, 7),
                 "8.0", "8.2", f"{DEVDOCS}; PHP: {_PHP_POLICY} (8.2 since 4.2.3)"),
    MoodleBranch("4.3", False, date(2023, 10, 9), date(2024, 10, 7), date(2025, 4, 21),
                 "8.0", "8.2", f"{DEVDOCS}; PHP: {_PHP_POLICY}"),
    MoodleBranch("4.4", False, date(2024, 4, 22), date(2025, 4, 21), date(2025, 12, 8),
                 "8.1", "8.3", f"{DEVDOCS}; PHP: {_PHP_POLICY} (8.3 since 4.4)"),
    MoodleBranch("4.5", True, date(2024, 10, 7), date(2025, 10, 6), date(2027, 10, 6),
                 "8.1", "8.3", f"{DEVDOCS}; PHP: {ENV_XML} (8.1.0, restrict_php_version_84)"),
    MoodleBranch("5.0", False, date(2025, 4, 14), date(2026, 4, 20), date(2026, 10, 5),
                 "8.2", "8.4", f"{DEVDOCS}; PHP: {ENV_XML} (8.2.0), 8.4 by MDL-80117"),
    MoodleBranch("5.1", False, date(2025, 10, 6), date(2026, 10, 5), date(2027, 4, 19),
                 "8.2", "8.4", f"{DEVDOCS} + devdocs PR #1487; PHP: {ENV_XML} (8.2.0)"),
    # 5.2 and 5.3: PHP 8.3 minimum from environment.xml; whether they add PHP 8.5 was not
    # published in the sources read, so 8.4 is the confirmed maximum (provisional).
    MoodleBranch("5.2", False, date(2026, 4, 20), date(2027, 4, 19), date(2027, 10, 4),
                 "8.3", "8.4", f"{DEVDOCS} + devdocs PR #1487; PHP: {ENV_XML} (8.3.0)",
                 provisional=True),
    MoodleBranch("5.3", True, date(2026, 10, 5), date(2027, 10, 4), date(2029, 10, 1),
                 "8.3", "8.4", "moodledev.io/docs/5.3 (scheduled) + devdocs PR #1487; "
                 f"PHP: {ENV_XML} (8.3.0)", provisional=True),
)

PHP_BRANCHES: tuple[PhpBranch, ...] = (
    PhpBranch("7.3", date(2018, 12, 6), date(2020, 12, 6), date(2021, 12, 6)),
    PhpBranch("7.4", date(2019, 11, 28), date(2021, 11, 28), date(2022, 11, 28)),
    PhpBranch("8.0", date(2020, 11, 26), date(2022, 11, 26), date(2023, 11, 26)),
    PhpBranch("8.1", date(2021, 11, 25), date(2023, 11, 25), date(2025, 12, 31)),
    PhpBranch("8.2", date(2022, 12, 8), date(2024, 12, 31), date(2026, 12, 31)),
    PhpBranch("8.3", date(2023, 11, 23), date(2025, 12, 31), date(2027, 12, 31)),
    PhpBranch("8.4", date(2024, 11, 21), date(2026, 12, 31), date(2028, 12, 31)),
    PhpBranch("8.5", date(2025, 11, 20), date(2027, 12, 31), date(2029, 12, 31)),
)

_MAJOR = re.compile(r"^\s*(\d+)\.(\d+)")


def version_key(name: str) -> tuple[int, int]:
    """"4.10" sorts after "4.9": compare X.Y as numbers."""
    match = _MAJOR.match(name)
    if not match:
        raise ValueError(f"not an X.Y version: {name!r}")
    return int(match.group(1)), int(match.group(2))


def major_version(release: str | None) -> str | None:
    """moodle_major_version() (lib/moodlelib.php): the leading "X.Y" of a $release such as
    "4.5.3+ (Build: 20250321)"."""
    match = _MAJOR.match(release or "")
    return f"{match.group(1)}.{match.group(2)}" if match else None


def branch_from_code(branch: str | None) -> str | None:
    """version.php / config $branch ("405", "311", "39") as "4.5", "3.11", "3.9"."""
    if not branch or not branch.isdigit() or len(branch) < 2:
        return None
    if len(branch) == 2:  # before 3.10 the minor had one digit: "39"
        return f"{branch[0]}.{branch[1]}"
    return f"{int(branch[:-2])}.{int(branch[-2:])}"


def moodle_branch(name: str) -> MoodleBranch | None:
    return next((b for b in MOODLE_BRANCHES if b.name == name), None)


def php_branch(name: str) -> PhpBranch | None:
    return next((b for b in PHP_BRANCHES if b.name == name), None)


def timestamp(day: date) -> float:
    """Support ends at the start of the listed day (UTC): the conservative reading."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
