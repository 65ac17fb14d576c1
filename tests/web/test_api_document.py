"""The OpenAPI document stays compatible with the one clients were given before it was generated.

tests/data/openapi-v1.json is /api/v1/openapi.json as it was when every schema was written by
hand. Every operation, parameter, request and response field in it must still be there, with
the same type, format, nullability and required-ness, the same status codes and error answers,
and request bodies that refused unknown fields must still refuse them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.hardening.helpers import owner_token

BEFORE = Path(__file__).parents[1] / "data" / "openapi-v1.json"


@pytest.fixture
def documents(app: Flask, users: dict[str, int]) -> tuple[dict[str, Any], dict[str, Any]]:
    token = owner_token(app, users, "staff")
    response = app.test_client().get(
        "/api/v1/openapi.json", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    return json.loads(BEFORE.read_text("utf-8")), response.get_json()


def _resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = doc["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


class Comparison:
    """Walks the old document beside the new one and collects every incompatibility."""

    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old, self.new = old, new
        self.problems: list[str] = []

    def schema(self, before: Any, after: Any, where: str) -> None:
        a, b = _resolve(self.old, before), _resolve(self.new, after)
        if not isinstance(a, dict) or not isinstance(b, dict):
            self.problems.append(f"{where}: not a schema after")
            return
        for key in ("type", "format"):
            if a.get(key) != b.get(key):
                self.problems.append(f"{where}: {key} {a.get(key)!r} became {b.get(key)!r}")
        if bool(a.get("nullable")) != bool(b.get("nullable")):
            self.problems.append(
                f"{where}: nullable {a.get('nullable')} became {b.get('nullable')}"
            )
        if set(a.get("required", [])) != set(b.get("required", [])):
            self.problems.append(
                f"{where}: required {sorted(a.get('required', []))} became "
                f"{sorted(b.get('required', []))}"
            )
        if a.get("additionalProperties") is False and b.get("additionalProperties") is not False:
            self.problems.append(f"{where}: unknown fields are no longer refused")
        if "enum" in a and not set(a["enum"]) <= set(b.get("enum", [])):
            self.problems.append(f"{where}: enum {a['enum']} became {b.get('enum')}")
        for name, prop in a.get("properties", {}).items():
            if name not in b.get("properties", {}):
                self.problems.append(f"{where}: field {name} is gone")
            else:
                self.schema(prop, b["properties"][name], f"{where}.{name}")
        if "items" in a:
            self.schema(a["items"], b.get("items"), f"{where}[]")
        if isinstance(a.get("additionalProperties"), dict):
            self.schema(a["additionalProperties"], b.get("additionalProperties"), f"{where}{{}}")
        for combiner in ("allOf", "oneOf", "anyOf"):
            for i, part in enumerate(a.get(combiner, [])):
                parts = b.get(combiner, [])
                if i >= len(parts):
                    self.problems.append(f"{where}: {combiner}[{i}] is gone")
                else:
                    self.schema(part, parts[i], f"{where}.{combiner}[{i}]")

    def operation(self, path: str, method: str) -> None:
        where = f"{method.upper()} {path}"
        item = self.new["paths"].get(path, {})
        if method not in item:
            self.problems.append(f"{where}: the operation is gone")
            return
        before, after = self.old["paths"][path][method], item[method]
        params = {(p["in"], p["name"]): p for p in item.get("parameters", [])}
        params.update({(p["in"], p["name"]): p for p in after.get("parameters", [])})
        for p in before.get("parameters", []):
            now = params.get((p["in"], p["name"]))
            if now is None:
                self.problems.append(f"{where}: parameter {p['name']} is gone")
                continue
            if bool(p.get("required")) != bool(now.get("required")):
                self.problems.append(f"{where}: parameter {p['name']} required changed")
            self.schema(p["schema"], now.get("schema"), f"{where} ?{p['name']}")
        self.body(where, before.get("requestBody"), after.get("requestBody"))
        for code, answer in before["responses"].items():
            if code not in after["responses"]:
                self.problems.append(f"{where}: status {code} is gone")
                continue
            for kind, content in answer.get("content", {}).items():
                now = after["responses"][code].get("content", {}).get(kind)
                if now is None:
                    self.problems.append(f"{where} {code}: no {kind} body any more")
                else:
                    self.schema(content["schema"], now["schema"], f"{where} {code}")

    def body(self, where: str, before: Any, after: Any) -> None:
        if before is None:
            return
        if after is None:
            self.problems.append(f"{where}: the request body is gone")
            return
        if bool(before.get("required")) != bool(after.get("required")):
            self.problems.append(f"{where}: the request body's required-ness changed")
        for kind, content in before["content"].items():
            if kind not in after["content"]:
                self.problems.append(f"{where}: {kind} is no longer taken")
            else:
                self.schema(content["schema"], after["content"][kind]["schema"], f"{where} body")


def test_every_operation_and_field_of_the_old_document_is_still_there(
    documents: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    old, new = documents
    comparison = Comparison(old, new)
    for path, operations in old["paths"].items():
        for method in operations:
            comparison.operation(path, method)
    assert not comparison.problems, "\n".join(comparison.problems)


def test_the_document_frame_is_unchanged(documents: tuple[dict[str, Any], dict[str, Any]]) -> None:
    old, new = documents
    for key in ("openapi", "servers", "security"):
        assert new[key] == old[key], key
    assert new["info"]["title"] == old["info"]["title"]
    assert new["components"]["securitySchemes"] == old["components"]["securitySchemes"]
    assert set(old["components"]["schemas"]) <= set(new["components"]["schemas"])


def test_the_comparison_sees_a_lost_field_and_a_changed_type(
    documents: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    old, new = documents
    changed = json.loads(json.dumps(new))
    person = changed["components"]["schemas"]["Person"]
    del person["properties"]["email"]
    person["properties"]["is_minor"]["type"] = "string"
    changed["components"]["schemas"]["PersonNew"].pop("additionalProperties")
    comparison = Comparison(old, changed)
    comparison.operation("/people/{person_id}", "get")
    comparison.operation("/people", "post")
    found = "\n".join(comparison.problems)
    assert "field email is gone" in found
    assert "is_minor: type 'boolean' became 'string'" in found
    assert "unknown fields are no longer refused" in found


def test_every_operation_is_documented_once(
    documents: tuple[dict[str, Any], dict[str, Any]], app: Flask
) -> None:
    _old, new = documents
    documented = {
        (method.upper(), "/api/v1" + path)
        for path, item in new["paths"].items()
        for method in item
        if method != "parameters"
    }
    routed = {
        (method, rule.rule.replace("<int:", "{").replace(">", "}"))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi"
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    assert documented == routed
