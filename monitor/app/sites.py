"""Per-site access (database pools, directories) opened once per LMS and reused across
reloads while that site's settings stay the same."""

from __future__ import annotations

import logging
from typing import Any

from checks.moodle.site import MoodleSite
from monitor.app.config import LmsConfig, VigilConfig

log = logging.getLogger(__name__)


def open_site(lms: LmsConfig) -> Any:
    if lms.kind == "moodle" and lms.moodle is not None:
        return MoodleSite(lms.moodle)
    return None


class SiteRegistry:
    def __init__(self) -> None:
        self._open: dict[str, tuple[Any, Any]] = {}  # LMS name -> (settings, site)

    def sites_for(self, config: VigilConfig) -> dict[str, Any]:
        """The site object for every LMS this instance owns (its shard); unchanged settings
        keep their open site."""
        wanted = {lms.name: lms for lms in config.fleet.owned(config.lms)}
        for name in list(self._open):
            settings, site = self._open[name]
            if name not in wanted or _settings_of(wanted[name]) != settings:
                _close(site)
                del self._open[name]
        for name, lms in wanted.items():
            if name not in self._open:
                self._open[name] = (_settings_of(lms), open_site(lms))
        return {name: site for name, (_, site) in self._open.items()}

    def lms_for(self, config: VigilConfig) -> dict[str, tuple[str, Any]]:
        """LMS name -> (kind, site access), as maintenance asks its LMS actions with."""
        sites = self.sites_for(config)
        return {lms.name: (lms.kind, sites[lms.name]) for lms in config.fleet.owned(config.lms)}

    def close(self) -> None:
        for _, site in self._open.values():
            _close(site)
        self._open.clear()


def _settings_of(lms: LmsConfig) -> Any:
    return (lms.kind, lms.moodle)


def _close(site: Any) -> None:
    close = getattr(site, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # closing a pool must never break a reload
            log.exception("closing site access failed")
