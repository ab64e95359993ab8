"""SQLAlchemy handles on the double's tables, for the Scenario builder, bulk.py, bench/ and tests.

Built from the double's own transcription (tests/moodle_double/install_xml/), never from
checks/moodle/schema.py: ``DoubleTables("mdl_").quiz.c.timeopen``. The tables themselves are
created by tests/moodle_double/ddl.py's SQL, not by ``metadata.create_all``; these handles
only build queries. Their column types are what a driver needs to bind values (integer,
string, numeric), their ``server_default`` says whether the database fills a column left
out (Scenario.complete relies on it), and their indexes carry the names ddl.py gives them
(bench/ maps EXPLAIN output back to columns with them).
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa

from tests.moodle_double.ddl import Backend, default_sql, install_ddl
from tests.moodle_double.install_xml import TABLES
from tests.moodle_double.xmldb import Field


def _type(field: Field) -> sa.types.TypeEngine:
    if field.type == "int":
        n = field.length or 10
        return sa.BigInteger() if n > 9 else sa.Integer() if n > 4 else sa.SmallInteger()
    if field.type == "number":
        return sa.Numeric(field.length, field.decimals or 0)
    if field.type == "float":
        return sa.Float()
    if field.type == "char":
        return sa.String(field.length or 255)
    if field.type == "text":
        return sa.Text()
    if field.type == "binary":
        return sa.LargeBinary()
    return sa.DateTime()


def _column(field: Field) -> sa.Column:
    if field.sequence:
        return sa.Column(field.name, sa.BigInteger(), primary_key=True, autoincrement=True)
    default = default_sql(field)
    return sa.Column(field.name, _type(field), nullable=not field.notnull,
                     server_default=None if default is None else sa.text(default))


class DoubleTables:
    """One ``sa.Table`` per table of the double for one prefix: ``tables.user``,
    ``tables["user"]``, iteration in install order, ``names()`` without the prefix."""

    def __init__(self, prefix: str, backend: Backend = "postgresql") -> None:
        self.prefix = prefix
        self.metadata = sa.MetaData()
        ddl = install_ddl(prefix, backend)  # index names are the same on both backends
        self._tables: dict[str, sa.Table] = {}
        for name, table in TABLES.items():
            handle = sa.Table(prefix + name, self.metadata, *(_column(f) for f in table.fields))
            for index in ddl[name].indexes:
                sa.Index(index.name, *(handle.c[f] for f in index.fields), unique=index.unique)
            self._tables[name] = handle

    def __getattr__(self, name: str) -> sa.Table:
        try:
            return self.__dict__["_tables"][name]
        except KeyError:
            raise AttributeError(f"the Moodle double has no table {name!r}") from None

    def __getitem__(self, name: str) -> sa.Table:
        return self._tables[name]

    def __iter__(self) -> Iterator[sa.Table]:
        return iter(self._tables.values())

    def names(self) -> list[str]:
        """Moodle's names without the prefix (``"task_adhoc"``), in install order."""
        return list(self._tables)
