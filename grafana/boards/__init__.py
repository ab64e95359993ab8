"""Vigil's Grafana dashboards, declared as data: one module per board.

``panels`` builds single panels and queries, ``frame`` lays them out into a board with
the shared variables and annotations, and each board module (``fleet``, ``lms_detail``,
``patch_integrity``, ``learning``, ``vigil_self``) lists its panels. The script
``grafana/build_dashboards.py`` renders them to grafana/dashboards/*.json.
"""
