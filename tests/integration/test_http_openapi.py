"""Fuzzing the HTTP API of a live `pushcast run` from its own OpenAPI description
(`GET /openapi.json`) with schemathesis: valid and invalid requests to every route, as a
browser (no token; --open-events) and as the admin. No answer may be a 5xx, and every
answer must be one the description lists, with the body and headers it describes.

The example count is bounded (hypothesis' max_examples per route and phase); the seed is
fixed, so a CI run is repeatable, and derandomize keeps it so.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                              response_schema_conformance, status_code_conformance)

from connectors.http.openapi import description
from tests.fixtures.runtime import ADMIN_TOKEN, ROOT, SITE_ORIGIN

pytestmark = pytest.mark.integration

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
DESCRIPTION = ROOT / "connectors" / "http" / "openapi.json"
EXAMPLES = 15  # per route and generation phase: the module runs in well under a minute


@pytest.fixture(scope="module")
def fuzzed_runtime(tmp_path_factory, push_emulator, request):
    from tests.fixtures.runtime import _factory

    make = _factory(tmp_path_factory.mktemp("fuzz"), push_emulator, request, outlives_test=True)
    return make(extra_args=("--open-events",))


# The shipped file, read at collection (one test per route); the live runtime serves the
# same bytes (test_the_runtime_serves_the_shipped_description).
schema = schemathesis.openapi.from_path(str(DESCRIPTION))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@schema.parametrize()
@FUZZ
def test_as_a_browser(case, fuzzed_runtime):
    case.call_and_validate(base_url=fuzzed_runtime.url, headers={"Origin": SITE_ORIGIN}, checks=CHECKS)


@schema.parametrize()
@FUZZ
def test_as_the_admin(case, fuzzed_runtime):
    case.call_and_validate(base_url=fuzzed_runtime.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                           checks=CHECKS)


def test_the_runtime_serves_the_shipped_description(fuzzed_runtime):
    served = fuzzed_runtime.get("/openapi.json", token=None)
    assert served.status == 200 and served.headers["Content-Type"].startswith("application/json")
    assert served.body == DESCRIPTION.read_bytes() == description()
