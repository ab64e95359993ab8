"""CREATE statements for the test double's tables, written the way Moodle's installer writes them.

Input: the transcription in tests/moodle_double/install_xml/. Output: per table, the SQL
Moodle's XMLDB generators (public/lib/ddl/sql_generator.php, postgres_sql_generator.php,
mysql_sql_generator.php at train2023-31/moodle@1545c946, Moodle 5.1+) would run for it on
PostgreSQL or MariaDB. tests/moodle_double/server.py runs it; bulk.py drops and rebuilds
the indexes with it. What the generators do, and so what is copied here:

- types (getTypeSQL): int(len) is BIGINT above 9 digits; PostgreSQL INTEGER above 4, else
  SMALLINT; MySQL INT above 6, MEDIUMINT above 4, SMALLINT above 2, else TINYINT, with the
  length kept as display width. number(len,dec) NUMERIC/DECIMAL; float DOUBLE; char(len)
  VARCHAR(len); text TEXT / LONGTEXT; binary BYTEA / LONGBLOB.
- defaults (getDefaultValue): char and text defaults quoted; a NOT NULL char without a
  default gets DEFAULT '' ($default_for_char); NOT NULL comes before DEFAULT.
- the SEQUENCE field: BIGSERIAL on PostgreSQL (nothing else on that line), auto_increment
  on MySQL; the primary key is a constraint named ``<prefix><tabl>_id_pk`` / PRIMARY.
- keys: Moodle creates no FOREIGN KEY and no UNIQUE constraint; the unique and foreign keys
  become indexes, after the table's own INDEXES (getCreateTableSQL).
- index names (getNameForObject): 4 letters of each word of the table, "_", 3 letters of
  each field, prefixed, cut to 30 characters with the suffix (_ix / _uix), a counter
  before the suffix on a clash.
- HINTS="varchar_pattern_ops" on PostgreSQL adds a second index ``<name>_pattern`` with
  that operator class, keeping the plain one.
- MySQL folds the indexes into the CREATE TABLE (KEY ...) and adds ENGINE, collation and
  ROW_FORMAT=Dynamic (utf8mb4 needs the large row format).
Every identifier is quoted here; Moodle quotes only reserved words, the same for lowercase names.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from tests.moodle_double.install_xml import TABLES
from tests.moodle_double.xmldb import Field, Table

Backend = Literal["postgresql", "mariadb"]
NAMES_MAX_LENGTH = 30  # sql_generator::$names_max_length; neither subclass changes it
MYSQL_COLLATION = "utf8mb4_unicode_ci"


@dataclass(frozen=True, slots=True)
class IndexDDL:
    name: str
    unique: bool
    fields: tuple[str, ...]
    pattern_ops: bool = False  # PostgreSQL's extra varchar_pattern_ops index


@dataclass(frozen=True, slots=True)
class TableDDL:
    """One table: ``statements`` create it with its indexes, in order."""

    name: str  # with the prefix
    statements: tuple[str, ...]
    indexes: tuple[IndexDDL, ...]
    primary_key: str  # the constraint's name: <prefix><tabl>_id_pk, MySQL's PRIMARY


def type_sql(field: Field, backend: Backend) -> str:
    """sql_generator::getTypeSQL of the backend's generator."""
    length, pg = field.length, backend == "postgresql"
    if field.type == "int":
        n = length or 10
        if n > 9:
            kind = "BIGINT"
        elif pg:
            kind = "INTEGER" if n > 4 else "SMALLINT"
        else:
            kind = "INT" if n > 6 else "MEDIUMINT" if n > 4 else "SMALLINT" if n > 2 else "TINYINT"
        return kind if pg else f"{kind}({n})"
    if field.type == "number":
        kind = "NUMERIC" if pg else "DECIMAL"
        if not length:
            return kind
        return f"{kind}({length},{field.decimals})" if field.decimals else f"{kind}({length})"
    if field.type == "float":
        small = bool(field.decimals) and (field.decimals or 0) < 6
        if pg:
            return "REAL" if small else "DOUBLE PRECISION"
        kind = "FLOAT" if small else "DOUBLE"
        return f"{kind}({length}, {field.decimals or 0})" if length else kind
    if field.type == "char":
        return f"VARCHAR({length or 255})"
    if field.type == "text":
        return "TEXT" if pg else "LONGTEXT"
    if field.type == "binary":
        return "BYTEA" if pg else "LONGBLOB"
    return "TIMESTAMP" if pg else "DATETIME"


def default_sql(field: Field) -> str | None:
    """sql_generator::getDefaultValue with $default_for_char = '' (both generators)."""
    if field.default is not None:
        if field.type in ("char", "text"):
            return "'" + field.default.replace("'", "''") + "'"
        return field.default
    if field.type == "char" and field.notnull:
        return "''"
    return None  # MySQL's $drop_default_value is null: no clause either


def _quote(name: str, backend: Backend) -> str:
    return f'"{name}"' if backend == "postgresql" else f"`{name}`"


def _field_sql(field: Field, backend: Backend) -> str:
    name = _quote(field.name, backend)
    if field.sequence and backend == "postgresql":  # $sequence_only
        return f"{name} {'BIGSERIAL' if (field.length or 10) > 9 else 'SERIAL'}"
    sql = f"{name} {type_sql(field, backend)}"
    if field.notnull:
        sql += " NOT NULL"
    default = default_sql(field)
    if default is not None:
        sql += f" DEFAULT {default}"
    if field.sequence:
        sql += " auto_increment"
    return sql


class _Namer:
    """sql_generator::getNameForObject with its per-request cache of used names."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.used: set[str] = set()

    def name(self, table: str, fields: tuple[str, ...], suffix: str) -> str:
        base = self.prefix + "".join(w.strip()[:4] for w in table.split("_")) + "_"
        base += "".join(f.strip()[:3] for f in fields)
        room = NAMES_MAX_LENGTH - len(suffix) - 1
        candidate, counter = f"{base[:room]}_{suffix}", 1
        while candidate in self.used:
            counter += 1
            candidate = f"{base[:room - len(str(counter))]}{counter}_{suffix}"
        self.used.add(candidate)
        return candidate


def _indexes(name: str, table: Table, namer: _Namer) -> list[IndexDDL]:
    """The table's INDEXES, then an index per unique or foreign key (getCreateTableSQL)."""
    wanted = [(ix.unique, ix.fields, "varchar_pattern_ops" in ix.hints) for ix in table.indexes]
    wanted += [(key.type in ("unique", "foreign-unique"), key.fields, False)
               for key in table.keys if key.type != "primary"]
    return [IndexDDL(namer.name(name, fields, "uix" if unique else "ix"), unique, fields,
                     pattern and len(fields) == 1)
            for unique, fields, pattern in wanted]


def index_sql(table: str, index: IndexDDL, backend: Backend) -> list[str]:
    """CREATE INDEX statements for one index (two for a varchar_pattern_ops hint on pg)."""
    cols = ", ".join(_quote(f, backend) for f in index.fields)
    unique = " UNIQUE" if index.unique else ""
    sql = [f"CREATE{unique} INDEX {_quote(index.name, backend)} ON {_quote(table, backend)} "
           f"({cols})"]
    if index.pattern_ops and backend == "postgresql":
        sql.append(f'CREATE INDEX "{index.name}_pattern" ON "{table}" USING btree '
                   f"({cols} varchar_pattern_ops)")
    return sql


def _table_ddl(name: str, table: Table, prefix: str, backend: Backend,
               namer: _Namer) -> TableDDL:
    full = prefix + name
    lines = [_field_sql(f, backend) for f in table.fields]
    primary = next(k for k in table.keys if k.type == "primary")
    pk_cols = ", ".join(_quote(f, backend) for f in primary.fields)
    if backend == "postgresql":
        pk_name = namer.name(name, primary.fields, "pk")
        lines.append(f"CONSTRAINT {pk_name} PRIMARY KEY ({pk_cols})")
    else:  # $primary_key_name = '': MySQL calls it PRIMARY
        pk_name = "PRIMARY"
        lines.append(f"PRIMARY KEY ({pk_cols})")
    indexes = _indexes(name, table, namer)
    if backend == "postgresql":
        create = f'CREATE TABLE "{full}" (\n    ' + ",\n    ".join(lines) + "\n)"
        statements = [create] + [s for ix in indexes for s in index_sql(full, ix, backend)]
        return TableDDL(full, tuple(statements), tuple(indexes), pk_name)
    lines += [f"{'UNIQUE ' if ix.unique else ''}KEY `{ix.name}` "
              f"({', '.join(_quote(f, backend) for f in ix.fields)})" for ix in indexes]
    create = (f"CREATE TABLE `{full}` (\n    " + ",\n    ".join(lines) + "\n)"
              f" ENGINE = InnoDB DEFAULT COLLATE = {MYSQL_COLLATION} ROW_FORMAT=Dynamic")
    return TableDDL(full, (create,), tuple(indexes), pk_name)


@functools.cache
def install_ddl(prefix: str, backend: Backend) -> dict[str, TableDDL]:
    """Every table of the double (Moodle's name -> TableDDL), named as one install would:
    the used-name cache spans the whole install, in install.xml order."""
    namer = _Namer(prefix)
    return {name: _table_ddl(name, table, prefix, backend, namer)
            for name, table in TABLES.items()}
