"""The database side of Vigil's faithful Moodle test double (plain code, no fixtures).

- server.py: throwaway Moodle-shaped databases on the local PostgreSQL and MariaDB, with a
  read-only account for the probes (tests/moodle/conftest.py wraps it in fixtures).
- scenario*.py: the Scenario builder that inserts realistic rows, grouped by table.
- bulk.py: fast loaders for a large site (bench/).

Importable as ``tests.moodle_double.*`` from the repository root (pytest's pythonpath).
"""
