"""Business keys: one client can never block intake, and a key names one complaint for good.

A client that sent the key the service would generate next used to make every later start
without a key fail with 409; a closed case's key could be given to a new case.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from .flows import register, repair, reply, visit
from .support import start_data


def count_cases(engine) -> int:
    with engine.db.unit_of_work(write=False) as uow:
        return uow.session.execute(text("SELECT count(*) FROM cases")).scalar_one()


def next_generated(previous: str, step: int = 1) -> str:
    prefix, number = previous.rsplit("-", 1)
    return f"{prefix}-{int(number) + step:06d}"


def today() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d")


@pytest.mark.parametrize(
    "make_key",
    [
        pytest.param(lambda last: next_generated(last), id="the-next-one"),
        pytest.param(lambda last: next_generated(last, 5), id="a-later-one"),
        pytest.param(lambda last: next_generated(last).lower(), id="lower-case"),
        pytest.param(lambda last: f" {next_generated(last)} ", id="padded"),
        pytest.param(lambda last: f"TS-{today()}-1234567", id="seven-digits"),
        pytest.param(lambda last: "TS-20991231-000001", id="another-day"),
        pytest.param(lambda last: last, id="one-already-given-out"),
    ],
)
def test_a_key_in_the_services_own_format_is_refused_and_intake_goes_on(api, engine, make_key):
    last = api.start()["business_key"]
    before = count_cases(engine)
    response = api.post(
        "/api/v1/cases",
        "callcentre",
        json={"process": "complaint", "business_key": make_key(last), "data": start_data()},
    )
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["business_key"]
    assert count_cases(engine) == before
    # Starts without a key carry on, each with a new number.
    keys = [api.start()["business_key"] for _ in range(3)]
    assert keys == [next_generated(last, n) for n in (1, 2, 3)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.from_regex(r"\s{0,2}[Tt][Ss]-[0-9]{8}-[0-9]{1,9}\s{0,2}", fullmatch=True))
def test_every_key_of_the_own_format_is_refused(api, engine, key):
    response = api.post(
        "/api/v1/cases", "li.na", json={"process": "complaint", "business_key": key, "data": start_data()}
    )
    assert response.status_code == 422
    assert count_cases(engine) == 0


def test_a_closed_cases_key_is_never_given_to_another_case(api):
    case = api.start(business_key="CRM-900")
    case = register(api, case)
    case = repair(api, case)
    case = reply(api, case)
    case = visit(api, case, satisfied=True)
    assert case["status"] == "completed"
    response = api.post(
        "/api/v1/cases",
        "li.na",
        json={"process": "complaint", "business_key": "CRM-900", "data": start_data()},
    )
    assert response.status_code == 409
    assert "completed" in response.get_json()["detail"]
    # A cancelled case frees its key (it was entered by mistake, or twice).
    cancelled = api.start(business_key="CRM-901")
    api.post(f"/api/v1/cases/{cancelled['id']}/cancel", "sun.li", json={"reason": "entered twice"})
    assert api.start(business_key="CRM-901")["business_key"] == "CRM-901"


def test_a_generated_number_some_case_already_holds_is_skipped(api, engine):
    last = api.start()["business_key"]
    # A case from before the rule that holds the next two numbers (given by a client back then).
    squatter = api.start(business_key="LEGACY-1")
    other = api.start(business_key="LEGACY-2")
    with engine.db.unit_of_work(write=True) as uow:
        for case, key in ((squatter, next_generated(last)), (other, next_generated(last, 2))):
            uow.session.execute(
                text("UPDATE cases SET business_key = :k WHERE id = :i"), {"k": key, "i": case["id"]}
            )
    assert api.start()["business_key"] == next_generated(last, 3)
    # Keys that only look alike are the client's own and never meet a generated one.
    lookalikes = [last.replace("-", ""), "TS-" + last[3:].replace("-", "/"), "CRM-" + last]
    for key in lookalikes:
        assert api.start(business_key=key)["business_key"] == key
    assert api.start()["business_key"] == next_generated(last, 4)
