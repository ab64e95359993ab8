"""The shape of a transcribed XMLDB table: what tests/moodle_double/install_xml/ is written in.

Moodle describes every table in a ``db/install.xml`` file (XMLDB). The test double keeps its
own copy of the tables it creates, transcribed from those files into the small records
below, and tests/moodle_double/ddl.py turns them into CREATE statements the way Moodle's
SQL generators do. Nothing here comes from checks/moodle/schema.py on purpose: the probes
declare their own idea of the tables there, and tests/moodle/test_schema_crosscheck.py
compares the two, which only means something if they were written independently.

The helpers keep each transcribed line close to its XML line, so a reviewer can hold the
two side by side::

    <FIELD NAME="plugin" TYPE="char" LENGTH="100" NOTNULL="true" DEFAULT="core" .../>
    F("plugin", "char", 100, NN, "core"),
"""

from __future__ import annotations

from dataclasses import dataclass

NN = True  # NOTNULL="true"
NULL = False  # NOTNULL="false"
UNIQUE = True  # INDEX UNIQUE="true"
MULTI = False  # INDEX UNIQUE="false"

XMLDB_TYPES = ("int", "number", "float", "char", "text", "binary", "datetime")
KEY_TYPES = ("primary", "unique", "foreign", "foreign-unique")


@dataclass(frozen=True, slots=True)
class Field:
    """One <FIELD>. ``default`` is the DEFAULT attribute verbatim (a string) or None."""

    name: str
    type: str
    length: int | None
    notnull: bool
    default: str | None = None
    sequence: bool = False
    decimals: int | None = None


@dataclass(frozen=True, slots=True)
class Key:
    """One <KEY>. Moodle enforces no key but the primary one: the others become indexes."""

    name: str
    type: str
    fields: tuple[str, ...]
    reftable: str | None = None


@dataclass(frozen=True, slots=True)
class Index:
    """One <INDEX>; ``hints`` as in HINTS (PostgreSQL's varchar_pattern_ops)."""

    name: str
    unique: bool
    fields: tuple[str, ...]
    hints: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Table:
    fields: tuple[Field, ...]
    keys: tuple[Key, ...]
    indexes: tuple[Index, ...] = ()

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


def _names(fields: str) -> tuple[str, ...]:
    # FIELDS="courseid, anonymous, timecreated" as in the XML.
    return tuple(name.strip() for name in fields.split(","))


def F(name: str, type_: str, length: int | None, notnull: bool,  # noqa: N802 - reads as XML
      default: str | None = None, *, seq: bool = False, dec: int | None = None) -> Field:
    if type_ not in XMLDB_TYPES:
        raise ValueError(f"{name}: unknown XMLDB type {type_!r}")
    return Field(name, type_, length, notnull, default, seq, dec)


def K(name: str, type_: str, fields: str, reftable: str | None = None) -> Key:  # noqa: N802
    if type_ not in KEY_TYPES:
        raise ValueError(f"{name}: unknown XMLDB key type {type_!r}")
    return Key(name, type_, _names(fields), reftable)


def IX(name: str, unique: bool, fields: str, hints: str = "") -> Index:  # noqa: N802
    return Index(name, unique, _names(fields), _names(hints) if hints else ())


def table(fields: tuple[Field, ...], keys: tuple[Key, ...],
          indexes: tuple[Index, ...] = ()) -> Table:
    """A table, checked for what the XMLDB editor would refuse (unknown or repeated fields)."""
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise ValueError(f"repeated field in {names}")
    for fields_of in (*(k.fields for k in keys), *(i.fields for i in indexes)):
        missing = set(fields_of) - set(names)
        if missing:
            raise ValueError(f"key or index on unknown fields {sorted(missing)}")
    return Table(fields, keys, indexes)
