"""Reading a request body defensively, before any model sees it.

monitor/app/web/operations.py calls ``read_json`` for every JSON body and ``read_limited``
for the web forms. A client can send anything: more bytes than we want to hold, bytes
that are not UTF-8, text that is not JSON, or JSON nested deep enough to exhaust the
parser's recursion. Each of these is a ``BodyError`` with the status to answer (400 or
413), never an exception that turns into a 500.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

MAX_JSON_BYTES = 65_536  # a maintenance window with a long comment is ~2 KB
MAX_DEPTH = 32  # the deepest body we accept has 3 levels (window -> actions -> list)


_JSON_NAMES = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


class BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, or BodyError(413) as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyError(413, f"body: larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"body: larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def parse_json_object(raw: bytes, *, required: bool) -> dict[str, Any]:
    """The JSON object in ``raw`` (an empty body is ``{}`` when not required)."""
    if not raw.strip():
        if required:
            raise BodyError(400, "body: must be a JSON object; the body is empty")
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(400, f"body: is not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise BodyError(400, f"body: JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, NaN, an int of more than 4300 digits
        raise BodyError(400, f"body: must be a JSON object; this is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BodyError(400, f"body: must be a JSON object, not {_JSON_NAMES[type(data)]}")
    if _depth(data) > MAX_DEPTH:
        raise BodyError(400, f"body: JSON nested deeper than {MAX_DEPTH} levels")
    return data


async def read_json(request: Request, *, required: bool = True) -> dict[str, Any]:
    return parse_json_object(await read_limited(request, MAX_JSON_BYTES), required=required)


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            stack.extend((child, level + 1) for child in children
                         if isinstance(child, dict | list))
    return deepest
