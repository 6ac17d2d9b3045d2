"""The OpenAPI document: every route the template wires is in it (and nothing else), with the models
the handlers validate with; the search function serves it without a token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str

from mast.api.openapi import openapi_document, operations
from mast.search.models import SearchRequest

ROOT = Path(__file__).resolve().parents[2]


def template_routes() -> set[tuple[str, str, str, bool]]:
    template, _ = decode_str((ROOT / "template.yaml").read_text())
    routes = set()
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for spec in (resource["Properties"].get("Events") or {}).values():
            if spec["Type"] == "Api":
                props = spec["Properties"]
                public = (props.get("Auth") or {}).get("Authorizer") == "NONE"
                routes.add((props["Method"].upper(), props["Path"], name, public))
    return routes


def test_every_template_route_is_documented_and_nothing_else() -> None:
    documented = {(op.method, op.path, op.function, not op.groups) for op in operations()}
    assert documented == template_routes()


def test_the_document_is_valid_openapi_3_1() -> None:
    from openapi_spec_validator import validate

    validate(openapi_document())


def test_bodies_are_the_handlers_models() -> None:
    document = openapi_document()
    search = document["paths"]["/api/search"]["post"]
    assert search["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SearchRequest"}
    schema = document["components"]["schemas"]["SearchRequest"]
    assert set(schema["properties"]) == set(SearchRequest.model_fields)
    assert document["components"]["schemas"]["DateOfBirthQuery"]["properties"]["year"]["anyOf"][0]["maximum"] == 2100
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            assert "200" in operation["responses"] or "201" in operation["responses"] or "202" in operation["responses"], (path, method)


@pytest.mark.parametrize("path", ["/api/openapi.json", "/openapi.json"])
def test_the_search_function_serves_it_without_a_token(path: str) -> None:
    from tests.unit.test_api_search import LambdaContextStub, event, load_search_app

    app = load_search_app()
    result: dict[str, Any] = app.handler(event("GET", path, None), LambdaContextStub())
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["paths"].keys() == openapi_document()["paths"].keys()
