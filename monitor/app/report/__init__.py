"""The stakeholder report: one LMS over a period, as text, HTML or PDF.

gather.py reads each domain's data through its repository, charts.py draws the usage
trends as inline SVG, render.py fills the jinja2 templates (and prints PDF with headless
Chromium), period.py reads --since/--until, schedule.py sends it from the daemon, and
settings.py validates the ``[report]`` section. The CLI is monitor/app/cli/report_cmd.py.
"""
