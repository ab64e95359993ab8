"""The probes' idea of Moodle's tables (checks/moodle/schema.py) against the test double's own
transcription of install.xml (tests/moodle_double/install_xml/), written independently.

Both claim to copy whole tables from the same install.xml files, so for every table the
probes declare: the same columns, each with the type Moodle's generators would give it on
PostgreSQL and on MariaDB, the same nullability and DEFAULT, and the same indexes (columns
and uniqueness; the unique and foreign keys count, as Moodle makes them indexes). A column
invented on one side, a wrong default or a missing index shows up as a named mismatch. The
double may create more tables than the probes declare. Pure: no database needed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from checks.moodle.schema import moodle_tables
from tests.moodle_double.ddl import Backend, type_sql
from tests.moodle_double.install_xml import TABLES
from tests.moodle_double.xmldb import Field, Table

_DIALECTS: dict[Backend, sa.Dialect] = {
    "postgresql": postgresql.dialect(), "mariadb": mysql.dialect()}
_IndexKey = tuple[tuple[str, ...], bool]  # (columns, unique)


def _normal_type(sql: str) -> str:
    """Spelling aside: MySQL display widths, DECIMAL = NUMERIC, INT = INTEGER, spaces."""
    sql = re.sub(r"\s+", "", sql.upper())
    sql = re.sub(r"^(TINYINT|SMALLINT|MEDIUMINT|INT|BIGINT)\(\d+\)$", r"\1", sql)
    return sql.replace("DECIMAL", "NUMERIC").replace("INTEGER", "INT")


def _probe_default(column: sa.Column) -> str | None:
    """The DEFAULT as install.xml would write it: quoted for strings, bare for numbers."""
    default = column.server_default
    if default is None:
        return None
    arg = getattr(default, "arg", None)
    return f"'{arg}'" if isinstance(arg, str) else str(getattr(arg, "text", arg))


def _xml_default(field: Field) -> str | None:
    if field.default is None:
        return None
    return f"'{field.default}'" if field.type in ("char", "text") else field.default


def _same_default(a: str | None, b: str | None) -> bool:
    try:
        return a == b or (a is not None and b is not None and float(a) == float(b))
    except ValueError:
        return False


def _double_indexes(table: Table) -> set[_IndexKey]:
    indexes = {(ix.fields, ix.unique) for ix in table.indexes}
    return indexes | {(key.fields, key.type in ("unique", "foreign-unique"))
                      for key in table.keys if key.type != "primary"}


def _column_mismatches(name: str, column: sa.Column, field: Field) -> Iterable[str]:
    where = f"{name}.{column.name}"
    for backend, dialect in _DIALECTS.items():
        probe_type = _normal_type(column.type.compile(dialect=dialect))
        double_type = _normal_type(type_sql(field, backend))
        if probe_type != double_type:
            yield (f"{where}: {backend} type {probe_type} in the probes, "
                   f"{double_type} in install.xml")
    if column.nullable == field.notnull:
        yield (f"{where}: {'NULL' if column.nullable else 'NOT NULL'} in the probes, "
               f"NOTNULL={str(field.notnull).lower()} in install.xml")
    probe, xml = _probe_default(column), _xml_default(field)
    if not field.sequence and not _same_default(probe, xml):
        yield f"{where}: DEFAULT {probe} in the probes, {xml} in install.xml"


def schema_mismatches(probe_tables: Iterable[sa.Table], prefix: str,
                      double: Mapping[str, Table]) -> list[str]:
    """Every disagreement between the probes' tables and the double's transcription."""
    found: list[str] = []
    for probe in probe_tables:
        name = probe.name.removeprefix(prefix)
        table = double.get(name)
        if table is None:
            found.append(f"{name}: declared by the probes, not created by the double")
            continue
        fields = {f.name: f for f in table.fields}
        for column in probe.columns:
            if column.name not in fields:
                found.append(f"{name}.{column.name}: declared by the probes, not in install.xml")
            else:
                found.extend(_column_mismatches(name, column, fields[column.name]))
        found.extend(f"{name}.{f}: in install.xml, missing from the probes' table"
                     for f in fields if f not in probe.columns)
        probe_ix = {(tuple(c.name for c in ix.columns), bool(ix.unique)) for ix in probe.indexes}
        double_ix = _double_indexes(table)
        found.extend(f"{name}: index {cols} unique={u} in the probes, not in install.xml"
                     for cols, u in sorted(probe_ix - double_ix))
        found.extend(f"{name}: index {cols} unique={u} in install.xml, missing from the probes"
                     for cols, u in sorted(double_ix - probe_ix))
    return found


def _probes(prefix: str = "mdl_") -> list[sa.Table]:
    return list(moodle_tables(prefix))


def test_probes_schema_agrees_with_the_doubles_install_xml_transcription() -> None:
    assert schema_mismatches(_probes(), "mdl_", TABLES) == []


def test_every_table_the_probes_declare_is_created_by_the_double() -> None:
    assert set(moodle_tables("vig_").names()) <= set(TABLES)


# ------------------------------------------------------------ the check catches mistakes
def _probe_copy(mutate_table: str, mutate: Callable[[sa.Table], object]) -> list[sa.Table]:
    """A copy of the probes' tables in a fresh MetaData, one of them changed by ``mutate``."""
    metadata = sa.MetaData()
    copies = [t.to_metadata(metadata) for t in _probes()]
    target = next(t for t in copies if t.name == "mdl_" + mutate_table)
    mutate(target)
    return copies


def _double_copy(name: str, **changes: Any) -> dict[str, Table]:
    return {**TABLES, name: dataclasses.replace(TABLES[name], **changes)}


def test_a_column_invented_by_the_probes_is_caught() -> None:
    probes = _probe_copy("quiz", lambda t: t.append_column(
        sa.Column("duedate", sa.BigInteger(), nullable=False, server_default=sa.text("0"))))
    assert schema_mismatches(probes, "mdl_", TABLES) == [
        "quiz.duedate: declared by the probes, not in install.xml"]


def test_a_wrong_default_on_either_side_is_caught() -> None:
    def wrong_default(t: sa.Table) -> None:
        t.c.showactivitydates.server_default = sa.DefaultClause(sa.text("1"))

    expected = ["course.showactivitydates: DEFAULT 1 in the probes, 0 in install.xml"]
    assert schema_mismatches(_probe_copy("course", wrong_default), "mdl_", TABLES) == expected
    course = TABLES["course"]
    fields = tuple(dataclasses.replace(f, default="1") if f.name == "showactivitydates" else f
                   for f in course.fields)
    assert schema_mismatches(_probes(), "mdl_", _double_copy("course", fields=fields)) == [
        "course.showactivitydates: DEFAULT 0 in the probes, 1 in install.xml"]


def test_an_index_missing_on_either_side_is_caught() -> None:
    log = TABLES["logstore_standard_log"]
    keys = tuple(k for k in log.keys if k.name != "userid")
    double = _double_copy("logstore_standard_log", keys=keys)
    assert schema_mismatches(_probes(), "mdl_", double) == [
        "logstore_standard_log: index ('userid',) unique=False in the probes, not in install.xml"]

    def drop_userid_index(t: sa.Table) -> None:
        t.indexes.discard(next(ix for ix in t.indexes
                               if [c.name for c in ix.columns] == ["userid"]))

    assert schema_mismatches(_probe_copy("logstore_standard_log", drop_userid_index),
                             "mdl_", TABLES) == [
        "logstore_standard_log: index ('userid',) unique=False in install.xml, missing from "
        "the probes"]


def test_a_wrong_type_or_nullability_in_the_transcription_is_caught() -> None:
    task = TABLES["task_adhoc"]
    fields = tuple(dataclasses.replace(f, length=4) if f.name == "attemptsavailable" else
                   dataclasses.replace(f, notnull=True) if f.name == "faildelay" else f
                   for f in task.fields)
    assert schema_mismatches(_probes(), "mdl_", _double_copy("task_adhoc", fields=fields)) == [
        "task_adhoc.faildelay: NULL in the probes, NOTNULL=true in install.xml",
        "task_adhoc.attemptsavailable: mariadb type TINYINT in the probes, SMALLINT in "
        "install.xml",
    ]
