"""The OpenAPI document is the truth: every JSON route has a typed answer, every example
in it validates against that answer's model, the user guide's routes are the canonical
handlers under a second path, and the PRD's names are the documented ones."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel

from runtime.settings import Settings
from services.api.app import create_app
from services.api.examples import EXAMPLES, GUIDE

#: Routes whose answer is not JSON (text, streams, redirects, 204).
NOT_JSON = {("get", "/metrics"), ("get", "/api/v1/jobs/{job_id}/events"), ("get", "/api/events/{job_id}/progress"),
            ("get", "/api/v1/stream/{job_id}/{token}/{path}"), ("head", "/api/v1/stream/{job_id}/{token}/{path}"),
            ("delete", "/api/v1/admin/api-keys/{key_id}"), ("delete", "/api-keys/{key_id}"),
            ("get", "/"), ("get", "/api/v1/jobs/stream")}


@pytest.fixture(scope="module")
def app():
    return create_app(Settings(_env_file=None, api={"admin_key": "tf_admin_" + "x" * 40}, database={"url": "postgresql://x"}))


def api_routes(items) -> list[APIRoute]:
    """Every APIRoute, inside included routers too (FastAPI keeps those as wrappers)."""
    out = []
    for r in items:
        if isinstance(r, APIRoute):
            out.append(r)
        elif hasattr(r, "original_router"):
            out += api_routes(r.original_router.routes)
    return out


def routes(app) -> dict[tuple[str, str], APIRoute]:
    return {(m.lower(), r.path.replace(":path}", "}")): r for r in api_routes(app.routes) for m in r.methods}


def answer_model(route: APIRoute, status: str) -> type[BaseModel] | None:
    declared = route.responses.get(int(status), {}).get("model")
    return declared or route.response_model


def test_every_json_route_has_a_typed_answer_and_its_example_fits_it(app):
    found = routes(app)
    assert set(found) == set(EXAMPLES), set(found) ^ set(EXAMPLES)
    for op, route in found.items():
        status, example = EXAMPLES[op]
        if op in NOT_JSON:
            continue
        model = answer_model(route, status)
        assert model is not None and issubclass(model, BaseModel), f"{op} has no typed answer"
        model.model_validate(example)  # raises on a missing, extra or mistyped field


def test_the_openapi_document_describes_the_answers(app):
    schema = app.openapi()
    job = schema["paths"]["/api/v1/jobs/{job_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert job["schema"] == {"$ref": "#/components/schemas/JobDocument"}
    outputs = schema["components"]["schemas"]["Outputs"]
    assert {"360p", "720p", "audio", "transcription", "thumbnails", "metadata_json"} <= set(outputs["properties"])
    assert outputs["additionalProperties"] is False
    created = schema["components"]["schemas"]["KeyCreated"]["properties"]
    assert {"api_key", "warning", "rate_limit_per_hour"} <= set(created)
    stats = schema["components"]["schemas"]["Stats"]["properties"]
    assert {"total_input_tb", "total_output_tb", "avg_processing_time_minutes", "worker_utilization_percent"} <= \
        set(stats)


def test_the_user_guide_routes_are_the_canonical_handlers(app):
    found = routes(app)
    for short, canonical in GUIDE.items():
        assert found[short].endpoint is found[canonical].endpoint, (short, canonical)
