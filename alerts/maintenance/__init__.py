"""Maintenance windows: one-off, recurring (RRULE) and manual windows scoped by label
matchers, stored in the state DB and published as an iCalendar feed.

model.py (the spec) -> store.py (rows) -> calendar.py (occurrences, .ics) -> book.py
(MaintenanceBook: covering/active/CRUD, used by the router, the lifecycle, the metrics
collector, the API and the CLI); scheduling.py + exams.py refuse windows over Moodle
exams unless forced; lifecycle.py and report.py act on occurrences (notices, LMS
maintenance mode, post-maintenance reports). What they ask of an LMS or an integrity
baseline goes through checks/actions.py, handed in by the shell; never a check family.
"""
