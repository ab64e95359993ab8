"""The route table of the HTTP surface: one ``Operation`` per method and path.

Each operation names its inputs (path, query and body models from
monitor/app/web/schemas.py), its replies and the token scope it needs
(monitor/app/tokens.py). ``mount`` turns the table into Starlette routes that check the
bearer token's scope (monitor/app/web/access.py) and validate every input before the
handler runs, so a handler only ever sees valid models; every write leaves an audit row,
refused ones included. monitor/app/web/openapi.py builds the OpenAPI document from the
same table. A route that is not in the table is not served.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from monitor.app.web.bodies import BodyError, read_json
from monitor.app.web.schemas import Error

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Inputs:
    """The validated inputs of one request (None where the operation takes none)."""

    path: Any = None
    query: Any = None
    body: Any = None


Handler = Callable[[Request, Inputs], Awaitable[Response]]


class Gate(Protocol):
    """The checks ``mount`` runs around an operation (monitor/app/web/access.py Access)."""

    def bearer(self, request: Request, scope: str) -> Response | None: ...

    def record(self, request: Request, op: Operation, response: Response | None) -> None: ...


@dataclass(frozen=True, slots=True)
class Reply:
    description: str
    model: type[BaseModel] | None = None
    media: str = JSON


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str  # Starlette syntax: {id:int}
    handler: Handler
    summary: str
    replies: Mapping[int, Reply]
    path_params: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_required: bool = True
    form: type[BaseModel] | None = None  # a web form; the page handler reads it
    # The token scope it needs (monitor/app/tokens.py); None: open to all. JSON operations
    # take the token as Authorization: Bearer, forms in their token field (the handler).
    scope: str | None = None
    # A scope needed as well in some cases, and when: ("lms-actions", "the window ...").
    also: tuple[str, str] | None = None
    action: str = ""  # the audit log's name for a write, e.g. alert.ack
    not_found: str = "not found"  # the error when the path names nothing that can exist

    @property
    def writes(self) -> bool:
        """Writes change something: each leaves an audit row."""
        return self.scope not in (None, "read")

    @property
    def bearer(self) -> bool:
        """The token comes in the Authorization header (not in a form field)."""
        return self.scope is not None and self.form is None

    @property
    def template(self) -> str:
        """The path as OpenAPI writes it: {id}, not {id:int}."""
        return re.sub(r"{(\w+):\w+}", r"{\1}", self.path)

    @property
    def is_json(self) -> bool:
        return all(reply.media == JSON for status, reply in self.replies.items()
                   if status < 300)

    def all_replies(self) -> dict[int, Reply]:
        """The declared replies and those the checks in ``mount`` can give."""
        found: dict[int, Reply] = {}
        if not self.is_json:  # pages and forms answer with pages; they declare all replies
            return dict(self.replies)
        if self.body is not None:
            found[400] = Reply("The body is not a JSON object (not UTF-8, not JSON, nested "
                               "too deeply)", Error)
            found[413] = Reply("The body is larger than 64 KiB", Error)
        if self.body is not None or self.query is not None:
            found[422] = Reply("A field has the wrong type or is out of range; problems "
                               "name each field", Error)
        if self.bearer:
            found[401] = Reply("Missing or wrong bearer token", Error)
            found[403] = Reply(f"The token lacks the scope {self.scope} (the error names the "
                               "scope missing), or no API tokens are configured", Error)
        if self.path_params is not None:
            found[404] = Reply(self.not_found.capitalize(), Error)
        return {**found, **self.replies}


def problem(status: int, error: str, problems: list[str] | None = None,
            headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = Error(error=error, problems=problems or [])
    return JSONResponse(body.model_dump(mode="json", exclude_defaults=True),
                        status_code=status, headers=headers)


def reply(model: BaseModel, status: int = 200) -> JSONResponse:
    exclude = isinstance(model, Error)  # no empty "problems": [] in error bodies
    return JSONResponse(model.model_dump(mode="json", exclude_defaults=exclude),
                        status_code=status)


def field_problems(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: "
            f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]


def invalid(exc: ValidationError) -> JSONResponse:
    problems = field_problems(exc)
    return problem(422, "; ".join(problems), problems)


def mount(operations: list[Operation], gate: Gate) -> list[Route]:
    return [Route(op.path, _endpoint(op, gate), methods=[op.method]) for op in operations]


def _endpoint(op: Operation, gate: Gate) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if not op.writes:
            return await _checked(op, gate, request)
        try:
            response = await _checked(op, gate, request)
        except Exception:  # recorded as an error, then on to Starlette's 500
            gate.record(request, op, None)
            raise
        gate.record(request, op, response)
        return response

    endpoint.__name__ = op.handler.__name__
    return endpoint


async def _checked(op: Operation, gate: Gate, request: Request) -> Response:
    """The handler's answer, once the token and every input have passed."""
    if op.bearer and (refused := gate.bearer(request, op.scope or "")) is not None:
        return refused
    path = query = body = None
    if op.path_params is not None:
        try:
            path = op.path_params.model_validate(request.path_params, strict=True)
        except ValidationError:
            if op.is_json:
                return problem(404, op.not_found)
            return HTMLResponse(f"<p>{op.not_found.capitalize()}.</p>", status_code=404)
    if op.query is not None:
        try:
            query = op.query.model_validate(dict(request.query_params), strict=True)
        except ValidationError as exc:
            return invalid(exc)
    if op.body is not None:
        try:
            data = await read_json(request, required=op.body_required)
            body = op.body.model_validate(data, strict=True)
        except BodyError as exc:
            return problem(exc.status, exc.message)
        except ValidationError as exc:
            return invalid(exc)
    return await op.handler(request, Inputs(path, query, body))
