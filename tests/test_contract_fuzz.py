"""Fuzzing the public contract with schemathesis: requests generated from /openapi.json.

Whatever a client sends, the answer is never a 5xx, and it matches the documented status codes,
content types and response schemas. Every operation gets a bounded number of generated requests
(derandomized, so a failure reproduces), which keeps it fit for CI.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .support import auth

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 60


def test_no_request_gets_a_server_error_and_responses_match_the_contract(contract):
    operations = [result.ok() for result in contract.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        # Valid requests and requests that break the schema (which must be refused with a 4xx).
        strategy = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case):
            # An administrator passes every group check, so requests reach the code behind them.
            case.call_and_validate(headers=auth("admin"), checks=CHECKS)

        try:
            exercise()
        except Exception as error:  # name the operation in the failure
            pytest.fail(f"{operation.method.upper()} {operation.path}: {error}", pytrace=False)
