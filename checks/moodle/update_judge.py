"""Pure judging for the update probe: installed versions + a feed answer -> what is pending.

Used by updates.py; no I/O, ``now`` passed in. Filtering as Moodle's checker does it
(public/lib/classes/update/checker.php get_update_info()): a core update must have a higher
version than the code and a maturity >= updateminmaturity (default MATURITY_STABLE, 200);
another build of the same release ("5.1.2+" after "5.1.2") is hidden unless
updatenotifybuilds. A plugin update is any offered version above the version on disk
(core\\plugininfo\\base::available_updates()).

Security: the feed cannot tell. Neither the answer nor \\core\\update\\info carries a
security flag; Moodle announces fixes at https://moodle.org/security about a week after the
minor (x.y.z) release that ships them, and those scheduled minor releases are where core
security fixes land. So which newer release "is a security release" is a rule the admin
picks (spec ``security_rule``): ``point_release`` (default: any newer x.y.z of the site's
branch counts, the safe reading of that release practice), ``any_newer`` (weekly builds
too), ``listed`` (only the releases in ``security_releases``, e.g. from the advisories).
Releases in ``security_releases`` and plugin versions in ``security_plugin_versions``
always count. Age: core release names carry "(Build: YYYYMMDD)", the release's build date;
plugins carry no date, so their age is the time since Vigil first saw the update offered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from checks.moodle.branch_table import version_key
from checks.moodle.update_feed import Release, parse_release


@dataclass(frozen=True, slots=True)
class Rules:
    min_maturity: int = 200
    notify_builds: bool = False
    security_rule: str = "point_release"
    security_releases: tuple[str, ...] = ()
    security_plugin_versions: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Pending:
    component: str            # "core" or a plugin's frankenstyle name
    version: float            # the newest version offered
    release: str | None
    security: bool
    published: float | None   # build date of a core release; None for plugins
    first_seen: float

    @property
    def key(self) -> str:
        return f"{self.component}@{self.version:.2f}"

    @property
    def since(self) -> float:
        """When it became available, as far as Vigil can know (earliest known date)."""
        return min(self.first_seen, self.published) if self.published else self.first_seen


@dataclass
class Assessment:
    branch: str
    releases_behind: int = 0
    newest_in_branch: dict[str, Any] | None = None   # {version, release}
    newest_branch: str | None = None
    core: Pending | None = None
    plugins: list[Pending] = field(default_factory=list)
    plugins_checked: int = 0

    @property
    def security(self) -> list[Pending]:
        return [p for p in [self.core, *self.plugins] if p is not None and p.security]


def _entries(updates: dict[str, Any], component: str, rules: Rules) -> list[dict[str, Any]]:
    found = []
    for entry in updates.get(component) or []:
        try:
            maturity = int(entry.get("maturity", 200))
            float(entry["version"])
        except (TypeError, ValueError, KeyError):
            continue
        if maturity >= rules.min_maturity:
            found.append(entry)
    return found


def assess(version: float, release: str | None, updates: dict[str, Any],
           plugins: dict[str, float], rules: Rules, first_seen: dict[str, float],
           now: float) -> Assessment:
    """What is pending for a site at core ``version``/``release`` with these additional
    ``plugins`` (component -> version on disk)."""
    mine = parse_release(release)
    if mine is None:
        raise ValueError(f"cannot read the Moodle release {release!r}")
    result = Assessment(mine.branch)
    _assess_core(result, version, mine, updates, rules, first_seen, now)
    for component, installed in sorted(plugins.items()):
        result.plugins_checked += 1
        offered = [e for e in _entries(updates, component, rules)
                   if float(e["version"]) > installed]
        if not offered:
            continue
        top = max(offered, key=lambda e: float(e["version"]))
        top_version = float(top["version"])
        security = any(c == component and installed < v <= top_version
                       for c, v in rules.security_plugin_versions)
        result.plugins.append(Pending(component, top_version, _text(top.get("release")),
                                      security, None,
                                      first_seen.get(f"{component}@{top_version:.2f}", now)))
    return result


def _assess_core(result: Assessment, version: float, mine: Release, updates: dict[str, Any],
                 rules: Rules, first_seen: dict[str, float], now: float) -> None:
    core = [(e, r) for e in _entries(updates, "core", rules)
            if (r := parse_release(str(e.get("release", "")))) is not None]
    result.newest_branch = max([r.branch for _, r in core] + [mine.branch], key=version_key)
    same = [(e, r) for e, r in core if r.branch == mine.branch]
    if same:
        top, _ = max(same, key=lambda er: float(er[0]["version"]))
        result.newest_in_branch = {"version": float(top["version"]),
                                   "release": top.get("release")}
    # Another build of the same point release counts only when builds are wanted
    # (updatenotifybuilds) or count as security (rule any_newer).
    builds = rules.notify_builds or rules.security_rule == "any_newer"
    newer = [(e, r) for e, r in same
             if float(e["version"]) > version and (r.point > mine.point or builds)]
    if not newer:
        return
    # Report the newest release (the newest build only when builds count); date it from the
    # earliest newer release the feed lists: how long the site has been missing an update
    # (a lower bound when the feed lists only the newest release of the branch).
    releases = [(e, r) for e, r in newer if not r.plus] or newer
    entry, rel = max(newer if builds else releases, key=lambda er: float(er[0]["version"]))
    newest_point = max(r.point for _, r in newer)
    result.releases_behind = max(0, newest_point - mine.point)
    dates = [r.build.timestamp() for _, r in newer if r.build is not None]
    pending_version = float(entry["version"])
    result.core = Pending("core", pending_version, _text(entry.get("release")),
                          _core_security(mine, newest_point, rules),
                          min(dates) if dates else None,
                          first_seen.get(f"core@{pending_version:.2f}", now))


def _core_security(mine: Release, newest_point: int, rules: Rules) -> bool:
    listed = [r for r in map(parse_release, rules.security_releases)
              if r is not None and r.branch == mine.branch and mine.point < r.point <= newest_point]
    if listed or rules.security_rule == "any_newer":
        return True
    return rules.security_rule == "point_release" and newest_point > mine.point


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
