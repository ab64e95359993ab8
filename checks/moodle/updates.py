"""The `moodle_updates` check: how far core and the additional plugins are behind, and
whether a security update has been left unapplied.

Data flow: scheduler -> UpdatesCheck.run(ctx) -> installed versions (update_installed.py:
version.php files and lib/plugins.json, else the database) -> the feed answer, first of:
Vigil's cached answer (younger than ``cache_ttl``, same request), the answer Moodle's own
cron stored (config_plugins core_plugin/recentresponse and recentfetch, checker.php
store_response()) if younger than ``cache_ttl``, the feed at ``feed_url`` (update_feed.py:
Moodle's own request and validation), then the fresher of the two stored answers however
old -> update_judge.py -> update_report.py -> Result. The cache and first sightings persist
in update_state.py under ctx.state_dir.

Status: a pending security update is WARNING, and CRITICAL once available for longer than
``security_critical_after`` (7 days); other updates are ``update_status`` (WARNING). A
failed feed with a fallback answer is WARNING naming the cause; answers older than
``stale_after`` (48 h, Moodle's own "outdated" limit in checker::cron_has_outdated_fetch())
are WARNING; no answer at all is UNKNOWN.

Index use (update_installed.py): config.name (unique) for three names; config_plugins
(plugin, name) unique for core_plugin's two rows; config_plugins WHERE name='version' scans
a few thousand rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic import Field, field_validator

from checks.base import CheckContext
from checks.moodle.codebase import VersionCache
from checks.moodle.update_feed import (
    USER_AGENT,
    FeedError,
    fetch,
    request_params,
    validate,
)
from checks.moodle.update_installed import Installed, read_installed
from checks.moodle.update_judge import Assessment, Rules, assess
from checks.moodle.update_report import METRICS, judge
from checks.moodle.update_state import StateFile, UpdateState
from monitor.kernel.result import Result
from monitor.kernel.spec import CheckSpec, Duration, PositiveDuration

__all__ = ["METRICS", "UpdatesCheck", "UpdatesSpec"]
_DAY = 86400.0


class UpdatesSpec(CheckSpec):
    type: Literal["moodle_updates"]
    interval: PositiveDuration = 3600.0
    timeout: PositiveDuration = 60.0
    # "" (the default) reads only the answer Moodle's own cron fetched and stored in the
    # database: Moodle already asks the feed, and no request leaves the host unless the
    # admin opts in. Set OFFICIAL_URL (printed by `vigil init`) or a mirror's URL to have
    # Vigil ask the feed itself, e.g. when the site's own update check is turned off.
    feed_url: str = ""
    # With the feed off and no answer stored by Moodle (its update check is off, or the
    # site cannot reach download.moodle.org: common on firewalled servers), the patch
    # level cannot be judged. That blind spot is said in the summary; it alerts only
    # where the admin asks for it ("warning" or "unknown").
    no_data_status: Literal["ok", "warning", "unknown"] = "ok"
    feed_timeout: PositiveDuration = 20.0
    cache_ttl: Duration = 12 * 3600.0
    stale_after: Duration = 48 * 3600.0
    # Send the additional plugins' names and versions, as Moodle does (plugins=...).
    send_plugins: bool = True
    min_maturity: int = Field(default=200, ge=0)  # MATURITY_STABLE, updateminmaturity
    notify_builds: bool = False                   # updatenotifybuilds default 0
    security_rule: Literal["point_release", "any_newer", "listed"] = "point_release"
    security_releases: list[str] = Field(default_factory=list)          # "4.5.6"
    security_plugin_versions: list[str] = Field(default_factory=list)   # "local_x@2024050100"
    security_critical_after: Duration = 7 * _DAY
    update_status: Literal["OK", "WARNING"] = "WARNING"

    @field_validator("feed_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.lower().startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL, or \"\" to use only Moodle's stored answer")
        return value

    @field_validator("security_plugin_versions")
    @classmethod
    def _component_versions(cls, values: list[str]) -> list[str]:
        for value in values:
            component, _, version = value.partition("@")
            if not component or not version.replace(".", "", 1).isdigit():
                raise ValueError(f"{value!r}: use \"component@version\", e.g. "
                                 "\"local_foo@2024050100\"")
        return values

    def rules(self) -> Rules:
        return Rules(self.min_maturity, self.notify_builds, self.security_rule,
                     tuple(self.security_releases),
                     tuple((v.partition("@")[0], float(v.partition("@")[2]))
                           for v in self.security_plugin_versions))


@dataclass
class Answer:
    """The feed answer the judgement uses and where it came from."""

    response: dict[str, Any] | None
    # "feed", "cache", "moodle" (stored by Moodle's cron); "none" (asked, no usable answer)
    # or "never_asked" (the feed is off and Moodle stored nothing).
    source: str
    fetched_at: float | None
    problem: str | None = None   # why the feed was not used


class UpdatesCheck:
    def __init__(self, spec: UpdatesSpec) -> None:
        self.spec = spec
        self._versions: VersionCache = {}
        self._file: StateFile | None = None

    async def run(self, ctx: CheckContext) -> Result:
        installed = await read_installed(ctx, self._versions)
        if self._file is None:
            self._file = StateFile(ctx.state_dir, ctx.target.name)
        file = self._file
        state = await ctx.run_blocking(file.load)
        notes = [file.problem] if file.problem else []
        answer = await self._answer(ctx, installed, state)
        now = ctx.now()
        assessment: Assessment | None = None
        if answer.response is not None:
            updates = answer.response.get("updates", {})
            candidates = installed.plugins if installed.plugins_known else {
                c: v for c, v in installed.all_plugins.items() if c in updates}
            assessment = assess(installed.version, installed.release, updates, candidates,
                                self.spec.rules(), state.first_seen, now)
            pending = [p for p in [assessment.core, *assessment.plugins] if p is not None]
            state.note_seen({p.key for p in pending}, now)
        await ctx.run_blocking(lambda: file.save(state))
        if file.problem and file.problem not in notes:
            notes.append(file.problem)
        return judge(self.spec, now, installed, answer, assessment, notes)

    # -- the feed answer ---------------------------------------------------------------
    async def _answer(self, ctx: CheckContext, installed: Installed,
                      state: UpdateState) -> Answer:
        spec, now, branch = self.spec, ctx.now(), installed.branch
        plugins = installed.plugins if spec.send_plugins and installed.plugins_known else {}
        cached = _valid(state.response, branch)
        request = request_params(installed.version, branch, plugins,
                                 _ticket(cached) or _ticket(_valid(installed.stored[0], branch)))
        same = {k: v for k, v in request.items() if k != "ticket"} == state.request
        if cached is not None and same and state.fetched_at is not None \
                and 0 <= now - state.fetched_at < spec.cache_ttl:
            return Answer(cached, "cache", state.fetched_at)
        # Moodle's cron fetched the same answer recently: no need to ask the feed again.
        stored_raw, stored_at = installed.stored
        stored = _valid(stored_raw, branch)
        if stored is not None and stored_at is not None and 0 <= now - stored_at < spec.cache_ttl:
            return Answer(stored, "moodle", stored_at)
        problem = None
        if spec.feed_url:
            try:
                raw = await self._fetch(ctx, request)
                response = validate(raw, branch)
            except FeedError as exc:
                problem = f"update feed failed: {exc}"
                state.last_error, state.last_attempt = str(exc), now
            else:
                state.response, state.fetched_at = raw, now
                state.request = {k: v for k, v in request.items() if k != "ticket"}
                state.last_error, state.last_attempt = None, now
                return Answer(response, "feed", now)
        # Fall back to the fresher of Vigil's last good answer and the one Moodle stored.
        fallbacks = [Answer(r, src, at, problem) for r, src, at in (
            (cached, "cache", state.fetched_at), (stored, "moodle", stored_at)) if r is not None]
        if fallbacks:
            return max(fallbacks, key=lambda a: a.fetched_at or 0.0)
        why = _stored_problem(stored_raw, branch)
        source = "none" if stored_raw or self.spec.feed_url else "never_asked"
        return Answer(None, source, None, "; ".join(p for p in (problem, why) if p))

    async def _fetch(self, ctx: CheckContext, params: dict[str, str]) -> str:
        timeout = min(self.spec.feed_timeout, max(1.0, ctx.timeout * 0.8))
        async with httpx.AsyncClient(transport=ctx.http_transport, follow_redirects=True,
                                     headers={"User-Agent": USER_AGENT}) as client:
            return await fetch(client, self.spec.feed_url, params, timeout)


def _valid(raw: str | None, branch: str) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        return validate(raw, branch)
    except FeedError:
        return None


def _stored_problem(raw: str | None, branch: str) -> str:
    if not raw:
        return ("Moodle has stored no update-check answer (config_plugins core_plugin/"
                "recentresponse: updateautocheck off or never fetched)")
    try:
        validate(raw, branch)
    except FeedError as exc:
        return f"Moodle's stored update-check answer is unusable: {exc}"
    return ""


def _ticket(response: dict[str, Any] | None) -> str | None:
    ticket = (response or {}).get("ticket")
    return ticket if isinstance(ticket, str) and ticket else None

