"""Synthetic learner journeys (check type ``journey``): log in as a learner would.

spec.py     the journey's config: steps (or a built-in journey), extractions, assertions
builtin.py  the built-in Moodle, Canvas and Open edX journeys, as steps of the same spec
select.py   the small CSS selector extractions use (stdlib html.parser)
values.py   extracting values from an answer and filling them into later steps
run.py      JourneyCheck: one cookie-sharing HTTP client per run, steps in order
registry.py the check type and metrics, merged into checks/registry.py

Remote only, and read-only towards learners: a journey sends GETs plus the login and
logout POSTs of a dedicated probe account (README "Synthetic learner journeys").
"""
