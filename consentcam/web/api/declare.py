"""Each API operation is declared once: its route, schemas and summary make the OpenAPI document.

``bp.endpoint("PATCH", "/people/<int:person_id>", tag="people", body=PersonPatchSchema,
response=PersonSchema)`` on a view whose docstring is its summary adds the Flask route, reads
and checks the request body against the schema (the view gets the loaded dict as its first
argument), and describes the operation: path, parameters, request and response schemas, and
the error answers every operation may give (403 where the role table in ``web/roles.py`` asks
for more than a signed-in user). flask-smorest (marshmallow + apispec) does the reading and the
describing; this module only sets it up the way this API has always answered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import marshmallow as ma
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, abort
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest.spec.plugins import FlaskPlugin
from webargs.flaskparser import FlaskParser
from werkzeug.routing import IntegerConverter

from consentcam.web import roles
from consentcam.web.api.fields import EmptyBodyAllowed, Shape, refusal, text

F = TypeVar("F", bound=Callable[..., Any])

PREFIX = "/api/v1"
DESCRIPTION = (
    "People, consent, supplier permissions, photos and faces, the publish gate, "
    "the queue, publications, removal tasks and audits. Authenticate with "
    "`Authorization: Bearer <token>`; the owner creates tokens under Settings."
)
NOT_JSON = "send a JSON object with Content-Type: application/json"

#: The error answers every operation documents (403 only where the role table asks for more).
ERRORS: tuple[tuple[str, str], ...] = (
    ("400", "The request is malformed"),
    ("401", "No valid bearer token"),
    ("403", "Only the owner may do this"),
    ("404", "No such object"),
    ("409", "Conflicts with the current state"),
    ("413", "The request body is too large"),
    ("422", "The request is well-formed but not valid"),
)


class ErrorSchema(Shape):
    """Every error answer: what went wrong, in words, and sometimes details."""

    error = text(required=True)
    details = ma.fields.Raw()


class ApiParser(FlaskParser):
    """Reads request bodies the way the API always has: a JSON object, or 400."""

    def load_json(self, req: Any, schema: ma.Schema) -> Any:
        if isinstance(schema, EmptyBodyAllowed) and not req.get_data(cache=True):
            return {}
        data = req.get_json(silent=True)
        if not isinstance(data, dict):
            abort(400, description=NOT_JSON)
        return data

    def handle_error(
        self,
        error: ma.ValidationError,
        req: Any,
        schema: ma.Schema,
        *,
        error_status_code: int | None,
        error_headers: Any,
    ) -> Any:
        messages: Any = error.messages
        if isinstance(messages, dict) and len(messages) == 1:
            messages = next(iter(messages.values()))  # webargs files them under the location
        abort(error_status_code or 422, description="; ".join(refusal(messages)))


class ApiBlueprint(SmorestBlueprint):  # type: ignore[misc]
    """The API's blueprint: operations declared with ``endpoint``."""

    ARGUMENTS_PARSER = ApiParser()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(_operation_doc)

    def endpoint(
        self,
        method: str,
        rule: str,
        *,
        tag: str,
        response: type[ma.Schema],
        status: int = 200,
        body: type[ma.Schema] | None = None,
        query: type[ma.Schema] | None = None,
        files: bool = False,
    ) -> Callable[[F], F]:
        """Route, check and describe one operation (its summary is the view's docstring)."""

        def decorator(fn: F) -> F:
            view: Any = self.response(status, response)(fn)
            if query is not None:
                view = self.arguments(query, location="query", error_status_code=400)(view)
            if body is not None:
                location = "files" if files else "json"
                status_on_error = 400 if files else 422
                view = self.arguments(body, location=location, error_status_code=status_on_error)(
                    view
                )
            view._apidoc["operation"] = {"operationId": fn.__name__}
            self.route(rule, methods=[method], tags=[tag])(view)
            return fn

        return decorator


def _operation_doc(doc: dict[str, Any], doc_info: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Name the operation, and give it this API's error answers and who may call it."""
    operation = doc_info.get("operation")
    if not operation:
        return doc
    name = operation["operationId"]
    role = roles.role_of(f"api.{name}", str(kwargs.get("method", "get")).upper())
    restricted = role in (roles.OWNER, roles.PUBLISH)
    responses = {str(code): answer for code, answer in doc.get("responses", {}).items()}
    for code, words in ERRORS:
        if code != "403" or restricted:
            responses[code] = {
                "description": words,
                "content": {"application/json": {"schema": ErrorSchema}},
            }
    doc["responses"] = responses
    doc["operationId"] = name
    if role == roles.OWNER:
        doc["description"] = "Owner only."
    elif role == roles.PUBLISH:
        doc["description"] = "The owner, or a user the owner allows to publish."
    return doc


class _PrefixlessPlugin(FlaskPlugin):  # type: ignore[misc]
    """Paths as the document's server sees them: /people, not /api/v1/people."""

    def path_helper(self, rule: Any, operations: Any, parameters: Any, **kwargs: Any) -> str:
        path = str(super().path_helper(rule, operations, parameters, **kwargs))
        return path.removeprefix(PREFIX) or "/"


class _DocumentOnly(Api):  # type: ignore[misc]
    """flask-smorest's Api used only to write the document (the blueprint answers its errors)."""

    DEFAULT_ERROR_RESPONSE_NAME = None
    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        pass

    def _register_etag_headers(self) -> None:
        pass  # no ETags here

    def _register_pagination_header(self) -> None:
        pass  # pages are in the bodies


def component_name(schema: Any) -> str | None:
    """``PersonSchema`` is the component ``Person``; any other schema class is written inline."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    return name.removesuffix("Schema") if name.endswith("Schema") else None


def _nullable_reference(
    self: Any, field: ma.fields.Field[Any], ret: dict[str, Any]
) -> dict[str, Any]:
    """A nullable nested component as ``{"nullable": true, "allOf": [ref]}`` (apispec writes
    ``anyOf`` with any object, which would let a response carry any object there)."""
    either = ret.get("anyOf")
    if field.allow_none and isinstance(either, list) and len(either) == 2:
        refs = [part for part in either if "$ref" in part]
        if len(refs) == 1 and {"type": "object", "nullable": True} in either:
            del ret["anyOf"]
            return {"nullable": True, "allOf": refs}
    return {}


def _build(app: Flask, blueprint: ApiBlueprint) -> dict[str, Any]:
    api = _DocumentOnly(
        app,
        spec_kwargs={
            "title": "consentcam API",
            "version": "1",
            "openapi_version": "3.0.3",
            "info": {"description": DESCRIPTION},
            "servers": [{"url": PREFIX}],
            "security": [{"bearer": []}],
            "flask_plugin": _PrefixlessPlugin(),
            "marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=component_name),  # type: ignore[arg-type]
        },
    )
    api.register_converter(IntegerConverter, lambda _c: {"type": "integer", "minimum": 1})
    api.ma_plugin.converter.add_attribute_function(_nullable_reference)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    blueprint.register_views_in_doc(api, app, api.spec, name=blueprint.name, parameters=None)
    return dict(api.spec.to_dict())


_LOCK = threading.Lock()


def document(app: Flask, blueprint: ApiBlueprint) -> dict[str, Any]:
    """The OpenAPI document of ``blueprint`` in ``app``, written once per app."""
    key = "consentcam.openapi"
    with _LOCK:
        if key not in app.extensions:
            app.extensions[key] = _build(app, blueprint)
        return app.extensions[key]  # type: ignore[no-any-return]
