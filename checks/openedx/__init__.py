"""Open edX connector (``kind = "openedx"``): the LMS and Studio heartbeats and pages.

heartbeat.py openedx_heartbeat: /heartbeat(?extended) of the LMS and of Studio
pages.py     openedx_pages: the LMS login page, Studio's sign-in redirect, the public
             course list API (/api/courses/v1/courses/)
endpoint.py  the per-endpoint metrics both checks share
registry.py  the check types and metrics, merged into checks/registry.py

Read from openedx/edx-platform (commits named in each module). Remote only.
"""
