"""Every table the Moodle test double creates, transcribed from Moodle's install.xml files.

``TABLES`` maps Moodle's table name (no prefix) to its transcription; the modules below
hold them grouped as the double uses them. tests/moodle_double/ddl.py turns them into
CREATE statements; tests/moodle_double/tables.py into SQLAlchemy handles for the Scenario.
To give the double a new table, copy the whole <TABLE> from its install.xml into one of
these modules (every field, key and index), citing file, lines and release.
"""

from __future__ import annotations

from tests.moodle_double.install_xml import (
    core_content,
    core_courses,
    core_people,
    core_site,
    plugins,
)
from tests.moodle_double.xmldb import Table

TABLES: dict[str, Table] = {
    **core_site.TABLES, **core_people.TABLES, **core_courses.TABLES, **core_content.TABLES,
    **plugins.TABLES,
}
