"""Accessibility probe (check type ``a11y``): axe-core in headless Chromium on LMS pages.

spec.py     A11ySpec (pages, WCAG tags, login, limits) and where axe-core is looked for
check.py    A11yCheck: finds Chromium and axe-core, judges violations by impact
audit.py    one run in the browser (worker thread): log in, open each page, run axe
browser.py  Chromium over --remote-debugging-pipe (DevTools protocol, stdlib only),
            bounded in time and memory, killed and cleaned up after every run

Reads pages as a learner's browser would; never submits anything but the configured
login form.
"""
