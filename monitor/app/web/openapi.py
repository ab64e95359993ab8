"""The OpenAPI 3.1 document, generated from the route table and its models.

monitor/app/web/api.py serves it at /api/v1/openapi.json for the operations it mounted
(monitor/app/web/operations.py), so the document lists exactly the routes the daemon
serves, and each schema is the pydantic model the handler validates with or replies
through (monitor/app/web/schemas.py). Each operation that needs a token states its scopes
(monitor/app/tokens.py) in ``x-vigil-scopes`` and in its description; JSON writes also
name the bearer scheme in ``security``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from monitor.app.web.operations import Operation, Reply

BEARER = "bearerAuth"
_REF = "#/components/schemas/{model}"


def document(operations: list[Operation], version: str) -> dict[str, Any]:
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
    for op in operations:
        if op.body is not None:
            wanted[(op.body, "validation")] = None
        if op.form is not None:
            wanted[(op.form, "validation")] = None
        for answer in op.all_replies().values():
            if answer.model is not None:
                wanted[(answer.model, "serialization")] = None
    refs, top = models_json_schema(list(wanted), ref_template=_REF)

    paths: dict[str, dict[str, Any]] = {}
    path_models: dict[str, type[BaseModel] | None] = {}
    for op in operations:
        # Path parameters belong to the path: every method on it must read them alike.
        if path_models.setdefault(op.template, op.path_params) is not op.path_params:
            raise ValueError(f"{op.method} {op.path}: other path parameters than the other "
                             "methods on this path")
        item = paths.setdefault(op.template, {})
        if op.path_params is not None:
            item["parameters"] = _parameters(op.path_params, "path")
        item[op.method.lower()] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Vigil API", "version": version,
                 "description": "Reads are open, except the audit log; writes need "
                                "Authorization: Bearer <token> of a [[server.tokens]] entry "
                                "with the scope the operation states in x-vigil-scopes "
                                "(read, ack, maintenance, lms-actions; admin implies all). "
                                "A token without the scope gets 403 naming it. "
                                "Errors are {error, problems}."},
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {BEARER: {"type": "http", "scheme": "bearer",
                                         "description": "server.api_token"}},
        },
    }


def _operation(op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": op.summary}
    if op.scope is not None:
        out.update(_scopes(op))
    if op.query is not None:
        out["parameters"] = _parameters(op.query, "query")
    if op.body is not None:
        out["requestBody"] = {"required": op.body_required, "content": {
            "application/json": {"schema": refs[(op.body, "validation")]}}}
    elif op.form is not None:
        out["requestBody"] = {"required": True, "content": {
            "application/x-www-form-urlencoded": {"schema": refs[(op.form, "validation")]}}}
    if op.writes and op.bearer:
        out["security"] = [{BEARER: []}]
    out["responses"] = {str(status): _response(answer, refs)
                        for status, answer in sorted(op.all_replies().items())}
    return out


def _scopes(op: Operation) -> dict[str, Any]:
    """``x-vigil-scopes`` and the same in words, where the token goes and what it needs."""
    where = ("Authorization: Bearer <token>" if op.bearer
             else "the form's token field")
    text = f"Needs a token ({where}) with the scope {op.scope} (or admin)."
    out: dict[str, Any] = {"x-vigil-scopes": [op.scope]}
    if op.also is not None:
        scope, when = op.also
        text += f" Also needs {scope} when {when}."
        out["x-vigil-conditional-scopes"] = [{"scope": scope, "when": when}]
    out["description"] = text
    return out


def _response(answer: Reply, refs: dict[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"description": answer.description}
    if answer.model is not None:
        out["content"] = {answer.media: {"schema": refs[(answer.model, "serialization")]}}
    elif answer.media != "application/json":
        out["content"] = {answer.media: {"schema": {"type": "string"}}}
    else:
        out["content"] = {answer.media: {"schema": {"type": "object"}}}
    return out


def _parameters(model: type[BaseModel], where: Literal["path", "query"]
                ) -> list[dict[str, Any]]:
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", ()))
    found = []
    for name, prop in schema["properties"].items():
        prop = {k: v for k, v in prop.items() if k not in ("title", "description")}
        not_null = [s for s in prop.pop("anyOf", []) if s != {"type": "null"}]
        if len(not_null) == 1:  # an absent query parameter is None; it is never null
            prop.update(not_null[0])
            if prop.get("default", "") is None:
                del prop["default"]
        elif not_null:
            prop["anyOf"] = not_null
        param: dict[str, Any] = {"name": name, "in": where,
                                 "required": where == "path" or name in required,
                                 "schema": prop}
        description = schema["properties"][name].get("description")
        if description:
            param["description"] = description
        found.append(param)
    return found
