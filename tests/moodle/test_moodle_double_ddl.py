"""The double's DDL (tests/moodle_double/ddl.py) follows Moodle's XMLDB generators: types per
backend, the DEFAULT '' Moodle forces on NOT NULL chars, index names, keys as indexes, and
PostgreSQL's varchar_pattern_ops twin. Pure: the SQL text only; test_moodle_double_db.py
checks what the servers made of it."""

from __future__ import annotations

import pytest

from tests.moodle_double.ddl import default_sql, install_ddl, type_sql
from tests.moodle_double.install_xml import TABLES
from tests.moodle_double.xmldb import NN, NULL, F, Field, K, table


@pytest.mark.parametrize(("field", "pg", "maria"), [
    (F("a", "int", 10, NN), "BIGINT", "BIGINT(10)"),
    (F("a", "int", 6, NN), "INTEGER", "MEDIUMINT(6)"),
    (F("a", "int", 3, NN), "SMALLINT", "SMALLINT(3)"),
    (F("a", "int", 2, NN), "SMALLINT", "TINYINT(2)"),
    (F("a", "number", 10, NN, dec=5), "NUMERIC(10,5)", "DECIMAL(10,5)"),
    (F("a", "char", 1333, NULL), "VARCHAR(1333)", "VARCHAR(1333)"),
    (F("a", "text", None, NULL), "TEXT", "LONGTEXT"),
])
def test_types_are_those_of_moodles_generators(field: Field, pg: str, maria: str) -> None:
    assert (type_sql(field, "postgresql"), type_sql(field, "mariadb")) == (pg, maria)


def test_not_null_chars_without_a_default_get_an_empty_default_like_moodle_gives_them() -> None:
    assert default_sql(F("a", "char", 10, NN)) == "''"
    assert default_sql(F("a", "char", 10, NULL)) is None
    assert default_sql(F("a", "text", None, NN)) is None
    assert default_sql(F("a", "char", 16, NN, "it's")) == "'it''s'"
    assert default_sql(F("a", "int", 10, NN, "-1")) == "-1"


def test_index_names_follow_get_name_for_object_with_its_clash_counter() -> None:
    ddl = install_ddl("mdl_", "postgresql")
    log = {ix.fields: ix.name for ix in ddl["logstore_standard_log"].indexes}
    # cut to 30 characters including the suffix
    assert log[("userid", "contextlevel", "contextinstanceid", "crud", "edulevel",
                "timecreated")] == "mdl_logsstanlog_useconconcr_ix"
    user = {ix.fields: ix.name for ix in ddl["user"].indexes}
    # lastname is indexed before lastaccess: the second "las" gets the counter
    assert (user[("lastname",)], user[("lastaccess",)]) == ("mdl_user_las_ix", "mdl_user_las2_ix")
    assert ddl["user"].primary_key == "mdl_user_id_pk"
    assert install_ddl("mdl_", "mariadb")["user"].primary_key == "PRIMARY"


def test_unique_and_foreign_keys_become_indexes_after_the_tables_own() -> None:
    ddl = install_ddl("vig_", "postgresql")["logstore_standard_log"]
    assert [ix.fields for ix in ddl.indexes][-5:] == [
        ("contextid",), ("userid",), ("courseid",), ("realuserid",), ("relateduserid",)]
    config = install_ddl("vig_", "postgresql")["config"]
    assert [(ix.name, ix.unique) for ix in config.indexes] == [("vig_conf_nam_uix", True)]
    assert not any("FOREIGN KEY" in s for t in install_ddl("vig_", "mariadb").values()
                   for s in t.statements)


def test_context_path_gets_a_varchar_pattern_ops_twin_on_postgresql_only() -> None:
    pg = install_ddl("mdl_", "postgresql")["context"].statements
    assert ('CREATE INDEX "mdl_cont_pat_ix_pattern" ON "mdl_context" USING btree '
            '("path" varchar_pattern_ops)') in pg
    maria = install_ddl("mdl_", "mariadb")["context"].statements
    assert len(maria) == 1 and "pattern" not in maria[0]


def test_the_transcription_refuses_keys_on_unknown_fields() -> None:
    with pytest.raises(ValueError, match="unknown fields"):
        table((F("id", "int", 10, NN, seq=True),), (K("primary", "primary", "id"),
                                                   K("userid", "foreign", "userid", "user")))


def test_every_transcribed_table_has_a_sequence_id_primary_key() -> None:
    for name, transcribed in TABLES.items():
        assert transcribed.field("id").sequence, name
        assert [k.fields for k in transcribed.keys if k.type == "primary"] == [("id",)], name
