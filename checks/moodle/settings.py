"""The ``[lms.moodle]`` config section: how Vigil reaches one Moodle site.

``vigil init --moodle DIR`` writes it from the site's config.php; an admin may also
write it by hand. Validated once at load time like every other section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from monitor.kernel.spec import PositiveDuration, StrictModel

# Moodle's $CFG->dbtype values (lib/dml/moodle_database.php drivers) that Vigil reads.
DbType = Literal["pgsql", "mysqli", "mariadb", "auroramysql"]


class DatabaseSettings(StrictModel):
    type: DbType
    host: str = "localhost"
    port: int | None = Field(default=None, ge=1, le=65535)
    socket: str | None = None  # unix socket path (dboptions['dbsocket'])
    name: str = Field(min_length=1)
    user: str = Field(min_length=1)  # use a read-only account
    password: SecretStr = SecretStr("")
    prefix: str = Field(default="mdl_", pattern=r"^[A-Za-z0-9_]*$")
    # Every query is cut off after this long, so a locked table cannot hang a check.
    statement_timeout: PositiveDuration = 5.0
    connect_timeout: PositiveDuration = 5.0
    pool_size: int = Field(default=2, ge=1, le=20)

    @property
    def is_postgres(self) -> bool:
        return self.type == "pgsql"


class CliSettings(StrictModel):
    php: str = "php"
    # Runs Moodle's CLI scripts as the web user, e.g. ["sudo", "-n", "-u", "www-data"]:
    # a configured, audited wrapper instead of running the daemon as root.
    run_as: list[str] = Field(default_factory=list)
    # Or: ask the vigil-moodle-cli helper unit (systemd/vigil-moodle-cli.socket), which runs
    # an allow-list of scripts as the web user; the only way under the hardened vigil.service.
    helper_socket: str | None = Field(default=None, min_length=1)
    timeout: PositiveDuration = 120.0

    @field_validator("helper_socket")
    @classmethod
    def _one_way_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("run_as"):
            raise ValueError("set either helper_socket or run_as, not both (the helper "
                             "already runs the scripts as the web user)")
        return value


class MoodleSettings(StrictModel):
    # The code directory (where config.php lives; 5.1+ keeps web files under public/).
    dirroot: Path | None = None
    dataroot: Path | None = None
    wstoken: SecretStr | None = None  # a web-service token for core_webservice_get_site_info
    database: DatabaseSettings | None = None
    cli: CliSettings | None = None
