"""Property-based run of schemathesis against the live app's /openapi.json: no 5xx, and
every documented response matches its schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def live_schema(stack):
    return schemathesis.openapi.from_url(f"{stack.api_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("live_schema")


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
def test_api_never_answers_5xx_and_matches_its_schema(case, stack):
    case.call_and_validate(headers={"X-API-Key": stack.admin_key}, timeout=30,
                           checks=[not_a_server_error, response_schema_conformance])
