"""How the demo LMS encodes its answers the way Moodle's PHP does (no routing, no state).

Used by the demo app (monitor/app/demo/lms.py): page templates from monitor/app/demo/pages/,
PHP-style JSON (escaped slashes), AJAX-script errors, and web-service REST replies in
JSON or XML as webservice/rest/locallib.php writes them.
"""

from __future__ import annotations

import functools
import html
import json
from importlib import resources
from string import Template
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

# lib/setup.php and print_maintenance_message() send these with every error page.
NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate", "Pragma": "no-cache",
            "Expires": "Mon, 20 Aug 1969 09:23:00 GMT"}


@functools.cache
def template(name: str) -> Template:
    # Read once: templates ship with the package and do not change while it runs.
    return Template((resources.files("monitor.app.demo") / "pages" / name).read_text("utf-8"))


def json_template(name: str, **values: str) -> dict[str, Any]:
    quoted = {key: json.dumps(value)[1:-1] for key, value in values.items()}
    data: dict[str, Any] = json.loads(template(name).substitute(quoted))
    return data


def php_json(value: Any) -> str:
    # PHP's json_encode escapes "/" by default; a monitor parsing Moodle must cope.
    return json.dumps(value, separators=(",", ":")).replace("/", "\\/")


def moodle_json(value: Any, *, cors: bool = False,
                media: str = "application/json; charset=utf-8") -> Response:
    return Response(php_json(value), media_type=media,
                    headers={"Access-Control-Allow-Origin": "*"} if cors else None)


def ajax_error(message: str, errorcode: str, *, cors: bool = False) -> Response:
    """An exception in an AJAX_SCRIPT: core_renderer_ajax::fatal_error's JSON, HTTP 200
    (lib/classes/output/core_renderer_ajax.php)."""
    return moodle_json({"error": message, "errorcode": errorcode, "stacktrace": None,
                        "debuginfo": None, "reproductionlink": None}, cors=cors)


def early_ajax_error(message: str, errorcode: str) -> Response:
    """A bootstrap failure in an AJAX_SCRIPT: bootstrap_renderer::early_error's JSON,
    HTTP 200 (lib/classes/output/bootstrap_renderer.php)."""
    return moodle_json({"error": message, "stacktrace": None, "debuginfo": None,
                        "errorcode": errorcode})


def ws_error(exception: str, errorcode: str, message: str) -> dict[str, Any]:
    return {"exception": exception, "errorcode": errorcode, "message": message}


def ws_reply(request: Request, value: dict[str, Any]) -> Response:
    """REST answers are HTTP 200 either way, XML unless moodlewsrestformat=json."""
    if request.query_params.get("moodlewsrestformat", "xml") == "json":
        return moodle_json(value, cors=True, media="application/json")
    if "exception" in value:
        body = (f'<EXCEPTION class="{value["exception"]}">\n<ERRORCODE>{value["errorcode"]}'
                f'</ERRORCODE>\n<MESSAGE>{html.escape(value["message"])}</MESSAGE>\n</EXCEPTION>')
    else:
        body = f"<RESPONSE>\n{_xmlize(value)}</RESPONSE>"
    return Response(f'<?xml version="1.0" encoding="UTF-8" ?>\n{body}\n',
                    media_type="application/xml", headers={"Access-Control-Allow-Origin": "*"})


def _xmlize(value: Any) -> str:
    # webservice_rest_server::xmlize_result: dict -> SINGLE, list -> MULTIPLE, bool -> 0/1.
    if isinstance(value, dict):
        keys = "".join(f'<KEY name="{k}">{_xmlize(v)}</KEY>\n' for k, v in value.items())
        return f"<SINGLE>\n{keys}</SINGLE>\n"
    if isinstance(value, list):
        return "<MULTIPLE>\n" + "".join(_xmlize(v) for v in value) + "</MULTIPLE>\n"
    if value is None:
        return '<VALUE null="null"/>\n'
    return f"<VALUE>{html.escape(str(int(value) if isinstance(value, bool) else value))}</VALUE>\n"
