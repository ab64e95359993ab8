"""The core of the Scenario builder: inserting rows the way Moodle's DML would.

Moodle's $DB->insert_record fills every column it is given; NOT NULL columns without a
DEFAULT in install.xml must be given. ``insert`` supplies Moodle's "empty" values for them
('' and 0), so builder methods only name the columns that matter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.moodle_double.tables import DoubleTables

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z, the tests' injected clock
Row = Mapping[str, Any]


def _empty_value(column: sa.Column) -> Any:
    if isinstance(column.type, sa.String | sa.Text):
        return ""
    return 0


class ScenarioBase:
    """Holds the engine, the tables and ``now``; every builder method commits at once."""

    def __init__(self, engine: Engine, tables: DoubleTables, now: float = NOW) -> None:
        self.engine = engine
        self.tables = tables
        self.now = int(now)

    # ------------------------------------------------------------------ generic rows
    def complete(self, table: str, row: Row) -> dict[str, Any]:
        """``row`` plus '' / 0 for the NOT NULL columns without a default it leaves out."""
        full = dict(row)
        for column in self.tables[table].columns:
            if (column.name not in full and not column.nullable and not column.primary_key
                    and column.server_default is None):
                full[column.name] = _empty_value(column)
        return full

    def insert(self, table: str, rows: Row | Iterable[Row]) -> list[int]:
        """Insert one or many rows; returns the new ids (in order)."""
        batch = [rows] if isinstance(rows, Mapping) else list(rows)
        if not batch:
            return []
        target = self.tables[table]
        full = [self.complete(table, row) for row in batch]
        with self.engine.begin() as conn:
            if len(full) == 1:
                key = conn.execute(target.insert(), full[0]).inserted_primary_key
                assert key is not None
                return [int(key[0])]
            result = conn.execute(target.insert().returning(target.c.id,
                                                            sort_by_parameter_order=True), full)
            return [int(i) for i in result.scalars()]

    def delete(self, table: str, *where: sa.ColumnElement[bool]) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.tables[table].delete().where(*where))

    def update(self, table: str, values: Row, *where: sa.ColumnElement[bool]) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.tables[table].update().where(*where).values(**values))

    def rows(self, table: str, *where: sa.ColumnElement[bool]) -> list[sa.Row[Any]]:
        """Read back (for assertions about the double itself)."""
        with self.engine.connect() as conn:
            query = sa.select(self.tables[table]).where(*where).order_by(self.tables[table].c.id)
            return list(conn.execute(query))

    # ------------------------------------------------------------------ config
    def set_config(self, name: str, value: object) -> Self:
        """``set_config(name, value)``: one row in config (replaces an existing one)."""
        config = self.tables.config
        self.delete("config", config.c.name == name)
        self.insert("config", {"name": name, "value": str(value)})
        return self

    def unset_config(self, name: str) -> Self:
        self.delete("config", self.tables.config.c.name == name)
        return self

    def set_plugin_config(self, plugin: str, name: str, value: object) -> Self:
        """``set_config(name, value, plugin)``: one row in config_plugins."""
        cp = self.tables.config_plugins
        self.delete("config_plugins", cp.c.plugin == plugin, cp.c.name == name)
        self.insert("config_plugins", {"plugin": plugin, "name": name, "value": str(value)})
        return self

    def unset_plugin_config(self, plugin: str, name: str) -> Self:
        cp = self.tables.config_plugins
        self.delete("config_plugins", cp.c.plugin == plugin, cp.c.name == name)
        return self

    def config_changed(self, name: str, value: object, oldvalue: object = None, *,
                       plugin: str | None = None, userid: int = 2,
                       at: int | None = None) -> Self:
        """A config_log row, as the admin UI / admin/cli/cfg.php write on a change."""
        self.insert("config_log", {
            "userid": userid, "timemodified": self.now if at is None else at, "plugin": plugin,
            "name": name, "value": None if value is None else str(value),
            "oldvalue": None if oldvalue is None else str(oldvalue)})
        return self
