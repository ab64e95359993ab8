"""Everything the daemon opens once per Moodle site and hands to checks as ``ctx.site``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from checks.base import CheckContext, CheckUnavailable
from checks.moodle.db import MoodleDatabase
from checks.moodle.settings import MoodleSettings


@dataclass
class MoodleSite:
    settings: MoodleSettings
    database: MoodleDatabase | None = field(init=False)

    def __post_init__(self) -> None:
        db = self.settings.database
        self.database = MoodleDatabase(db) if db is not None else None

    @property
    def dirroot(self) -> Path | None:
        return self.settings.dirroot

    @property
    def dataroot(self) -> Path | None:
        return self.settings.dataroot

    def close(self) -> None:
        if self.database is not None:
            self.database.dispose()


def moodle_site(ctx: CheckContext) -> MoodleSite:
    if not isinstance(ctx.site, MoodleSite):
        raise CheckUnavailable("this check needs an [lms.moodle] section for the site "
                               "(run `vigil init --moodle DIR`)")
    return ctx.site


def site_database(ctx: CheckContext) -> MoodleDatabase:
    site = moodle_site(ctx)
    if site.database is None:
        raise CheckUnavailable("no database configured: add [lms.moodle.database] "
                               "(a read-only account)")
    return site.database


def site_dirroot(ctx: CheckContext) -> Path:
    site = moodle_site(ctx)
    if site.dirroot is None:
        raise CheckUnavailable("no code directory configured: set lms.moodle.dirroot")
    return site.dirroot


def site_dataroot(ctx: CheckContext) -> Path:
    site = moodle_site(ctx)
    if site.dataroot is None:
        raise CheckUnavailable("no data directory configured: set lms.moodle.dataroot")
    return site.dataroot
