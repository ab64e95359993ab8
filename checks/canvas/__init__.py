"""Canvas LMS connector (``kind = "canvas"``): health endpoints and the REST API.

health.py   canvas_health: /health_check, /readiness, /deep (judged in components.py)
api.py      canvas_api: GET /api/v1/users/self with an access token
endpoint.py the per-endpoint metrics both checks share
registry.py the check types and metrics, merged into checks/registry.py

Read from instructure/canvas-lms (commits named in each module). Remote only: Vigil reads
Canvas over HTTP(S) from anywhere and never writes to it.
"""
