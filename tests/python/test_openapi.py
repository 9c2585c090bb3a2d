"""`tracepipe serve` against its own OpenAPI document, with schemathesis.

Every documented operation is called with generated requests (valid ones and,
by schemathesis' defaults, ones that break the schema) using an administrator
key. A test fails on any 5xx, or on an answer the document does not allow: an
undocumented status code, content type or header, or a body that breaks the
documented schema.

It needs a running server: TRACEPIPE_API_URL (the API base, ending in /v1)
and TRACEPIPE_API_KEY (an administrator's key). scripts/run-schemathesis.sh
starts one with a temporary data directory, runs this file and stops it;
without the two variables the test is skipped.
"""

import json
import os
import urllib.request

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

API_URL = os.environ.get("TRACEPIPE_API_URL", "").rstrip("/")
API_KEY = os.environ.get("TRACEPIPE_API_KEY", "")
# Generated cases per operation: enough to reach every status an operation
# documents, few enough to stay within a minute or two on two cores.
EXAMPLES = int(os.environ.get("TRACEPIPE_SCHEMATHESIS_EXAMPLES", "30"))


if not API_URL or not API_KEY:
    pytest.skip(
        "TRACEPIPE_API_URL and TRACEPIPE_API_KEY are not set (scripts/run-schemathesis.sh sets them)",
        allow_module_level=True,
    )

# A schema-valid request may still be refused with 422: the document cannot
# say that an upload must be a readable recording, that ids must name
# entities that exist, or that a template must parse. Every other answer to a
# valid request must be a success or a documented 401/403/404/409.
#
# The key is given as the document's security scheme, not as a header on each
# call: schemathesis then knows when a case leaves it out on purpose (and
# expects 401) rather than seeing it added back.
CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "auth": {"openapi": {"ApiKey": {"api_key": API_KEY}}},
        "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "422"]}},
    }
)

# Loaded at collection: schemathesis' lazy fixture loader does not run under
# the pinned pytest.
schema = schemathesis.openapi.from_url(f"{API_URL}/openapi.json", config=CONFIG, wait_for_schema=30)


def test_the_document_is_valid_openapi_3_1():
    """The document against the OpenAPI 3.1 schema, as schemathesis (pinned)
    ships it and checks documents with."""
    from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

    with urllib.request.urlopen(f"{API_URL}/openapi.json", timeout=30) as answer:
        document = json.load(answer)
    assert document["openapi"].startswith("3.1.")
    errors = [str(e) for e in OPENAPI_31_VALIDATOR.iter_errors(document)]
    assert errors == []


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_matches_the_document(case):
    case.call_and_validate(base_url=API_URL, timeout=60)
