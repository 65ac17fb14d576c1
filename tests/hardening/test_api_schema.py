"""Schemathesis against every operation of the OpenAPI document: no server error, no schema violation."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.hardening.helpers import owner_token


@pytest.fixture
def api_app(app: Flask, users: dict[str, int]) -> Flask:
    app.config["HARDENING_TOKEN"] = owner_token(app, users)
    return app


def _schema(api_app: Flask) -> OpenApiSchema:
    token = api_app.config["HARDENING_TOKEN"]
    return schemathesis.openapi.from_wsgi(
        "/api/v1/openapi.json", api_app, headers={"Authorization": f"Bearer {token}"}
    )


@pytest.mark.slow
def test_every_api_operation_survives_generated_requests(api_app: Flask) -> None:
    """Every operation of the document, with generated data; collect all failures, then report."""
    token = api_app.config["HARDENING_TOKEN"]
    failures: list[str] = []
    operations = 0
    for result in _schema(api_app).get_all_operations():
        assert isinstance(result, Ok), result  # Err: an operation that could not be loaded
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def run(case: Any) -> None:
            case.call_and_validate(
                headers={"Authorization": f"Bearer {token}"},
                checks=[not_a_server_error, response_schema_conformance],
            )

        try:
            run()
        except Exception as exc:  # one operation's failure must not hide the others'
            first = str(exc).strip().splitlines()
            failures.append(f"{operation.method.upper()} {operation.path}: {' | '.join(first[:6])}")
    assert operations >= 10
    assert not failures, "\n\n".join(failures)


def test_the_document_lists_operations(api_app: Flask) -> None:
    token = api_app.config["HARDENING_TOKEN"]
    response = api_app.test_client().get(
        "/api/v1/openapi.json", headers={"Authorization": f"Bearer {token}"}
    )
    spec = response.get_json()
    operations = [m for ops in spec["paths"].values() for m in ops]
    assert len(operations) >= 10
