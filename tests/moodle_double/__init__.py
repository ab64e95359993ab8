"""The database side of Vigil's faithful Moodle test double (plain code, no fixtures).

- install_xml/: the double's own transcription of Moodle's install.xml files (whole tables),
  in the records of xmldb.py; never derived from checks/moodle/schema.py, so that
  tests/moodle/test_schema_crosscheck.py can hold the probes' module against it.
- ddl.py: the CREATE statements Moodle's XMLDB generators would run on PostgreSQL / MariaDB.
- tables.py: SQLAlchemy handles on those tables for building rows and queries.
- server.py: throwaway Moodle-shaped databases on the local PostgreSQL and MariaDB, with a
  read-only account for the probes (tests/moodle/conftest.py wraps it in fixtures).
- scenario*.py: the Scenario builder that inserts realistic rows, grouped by table.
- bulk.py: fast loaders for a large site (bench/).

Importable as ``tests.moodle_double.*`` from the repository root (pytest's pythonpath).
"""
