"""GET /api/v1/audit: the audit log of writes (monitor/app/audit.py), newest first.

monitor/app/web/api.py mounts it. It needs a token with the read scope: the log says who
holds which token and what they did. Paged by id: ``?limit=50&before=<id>``, and the
answer's ``next_before`` is the ``before`` of the next (older) page.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field
from starlette.requests import Request
from starlette.responses import Response

from monitor.app.audit import AuditLog
from monitor.app.web.operations import Inputs, Operation, Reply, reply
from monitor.app.web.schemas import MAX_ID, Query

MAX_LIMIT = 500


def _digits(value: Any) -> Any:
    """Query parameters arrive as text; digits are read as the integer they spell (the
    strict validation then checks the range), anything else stays text and is refused."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 20:
        return int(value)
    return value


QueryInt = Annotated[int, BeforeValidator(_digits)]


class AuditQuery(Query):
    limit: QueryInt = Field(default=50, ge=1, le=MAX_LIMIT,
                            description=f"entries per page (1..{MAX_LIMIT})")
    before: QueryInt | None = Field(default=None, ge=1, le=MAX_ID,
                                    description="only entries older than this id "
                                    "(next_before of the previous page)")


class AuditEntry(BaseModel):
    id: int
    at: float = Field(description="Unix time")
    actor: str = Field(description="token name, or cli:<unix user>, or unauthenticated")
    operation: str = Field(description="e.g. alert.ack, maintenance.create")
    target: str = Field(description="alert fingerprint or window id")
    summary: str
    outcome: str = Field(description="ok, refused or error")
    reason: str = Field(description="why it was refused or failed")


class AuditList(BaseModel):
    entries: list[AuditEntry]
    next_before: int | None = Field(description="before for the next page; null: no more")


def audit_operations(audit: AuditLog) -> list[Operation]:
    async def entries(request: Request, given: Inputs) -> Response:
        query: AuditQuery = given.query
        found = audit.entries(limit=query.limit, before=query.before)
        more = len(found) == query.limit and found[-1].id > 1
        return reply(AuditList(entries=[AuditEntry(**e.as_json()) for e in found],
                               next_before=found[-1].id if more else None))

    return [Operation("GET", "/api/v1/audit", entries,
                      "The audit log of writes (API and CLI), newest first",
                      {200: Reply("OK", AuditList)}, query=AuditQuery, scope="read")]
