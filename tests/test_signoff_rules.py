"""The sign-off and 三包 rules of DOMAIN.md §5 and §6, tried by class of fault, not by one example.

Every test drives the shipped diagrams and tables through the real Flask app on a real database:
- amounts (claimed, verified, approved, paid) around the level thresholds, huge, fractional and
  missing decide the level, cap each later level and cap what is paid;
- usernames (long, unicode, prefixes of each other; case, whitespace and Unicode-form variants
  refused at load) never let an applicant claim or decide their own sign-off;
- interleavings of claims and decisions across two levels, with a person in both groups, never let
  one person decide both levels;
- 三包 days are counted to the day of receipt whenever the application is filled in.

The clock is pinned (time-machine) and moved where the rule is about time.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from api import create_app
from engine.config import EngineConfig
from engine.core import Engine
from engine.identity import USERNAME_MAX_LENGTH, Directory, UsersFileError, username_problem
from engine.signoff import MAX_AMOUNT

from .flows import APPLICATION, apply, interim_reply, register
from .support import ServiceClient, start_data

TZ = ZoneInfo("Asia/Shanghai")
TODAY = datetime(2026, 11, 20, 10, 0, tzinfo=TZ)
MANAGER_LIMIT = 5000  # approval_levels.dmn: above this, the general manager signs too
INVESTIGATION_LIMIT = 2000  # approval_levels.dmn: compensation above this is investigated first

HYPOTHESIS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
_customers = itertools.count(1)


@pytest.fixture(autouse=True)
def pinned_clock():
    with time_machine.travel(TODAY, tick=True):
        yield


def customer() -> str:
    return f"C-SIGN-{next(_customers)}"


def compensation_case(api: ServiceClient, claimed: float, verified: float | None, applicant="zhao.min"):
    """A compensation application of `claimed` CNY, investigated (with `verified`) when the table says so."""
    data = start_data(
        request="compensation", customer={"id": customer()}, product={"purchase_date": "2026-10-20"}
    )
    case = interim_reply(api, register(api, api.start(data)))
    case = apply(api, case, user=applicant, remedy="compensation", injury_or_damage=True, loss_amount=claimed)
    if api.open_elements(case) == ["investigate_claim"]:
        findings = {"investigation_findings": "属实"}
        if verified is not None:
            findings["verified_loss_amount"] = verified
        case = api.complete(case, "investigate_claim", "zhao.min", findings)
    assert api.open_elements(case) == ["manager_approval"]
    return case


def decisions_of(api: ServiceClient, case: dict) -> list[tuple]:
    items = api.get(f"/api/v1/cases/{case['id']}/approvals?per_page=100", "sun.li").get_json()["items"]
    return [(a["level"], a["approver"], a["decision"], a["approved_amount"]) for a in items]


# Amounts around both thresholds of approval_levels.dmn, fractional ones, and the extremes.
THRESHOLDS = [0, 0.01, 1000, 1999.99, 2000, 2000.01, 4999.99, 5000, 5000.01, 7600.5, 999_999_999, MAX_AMOUNT]


def amounts_up_to(limit: float) -> st.SearchStrategy[float]:
    """Threshold amounts and arbitrary ones (to the cent) from 0 to `limit`."""
    return st.one_of(
        st.sampled_from([a for a in THRESHOLDS if a <= limit]),
        st.floats(min_value=0, max_value=limit).map(lambda x: round(x, 2)),
    )


amounts = amounts_up_to(MAX_AMOUNT)


# ---------------------------------------------------------------- the level follows the amount
@given(claimed=amounts, verified=st.none() | amounts, approved=st.none() | amounts)
@example(claimed=1000, verified=None, approved=999_999_999)  # the reported case
@example(claimed=4999.99, verified=None, approved=5000.01)
@example(claimed=3000, verified=5000.01, approved=None)
@HYPOTHESIS
def test_the_level_follows_the_largest_amount_anyone_would_authorise(api, claimed, verified, approved):
    case = compensation_case(api, claimed, verified)
    investigated = claimed > INVESTIGATION_LIMIT
    decision = {"decision": "approve", "comment": "按核实情况批准"}
    if approved is not None:
        decision["approved_amount"] = approved
    case = api.decide(case, "manager_approval", "chen.jie", **decision)
    authorised = [claimed, *([verified] if investigated and verified is not None else [])]
    if approved is not None:
        authorised.append(approved)
    if max(authorised) > MANAGER_LIMIT:
        assert api.open_elements(case) == ["general_manager_approval"]
    else:
        assert api.open_elements(case) == ["carry_out_remedy"]


# ---------------------------------------------------------------- a later level never silently approves more
@given(
    claimed=st.sampled_from([5000.01, 8000, 250_000.5, MAX_AMOUNT]),
    manager_share=st.sampled_from([0, 0.01, 0.5, 0.999, 1]),
    general_manager=st.none() | amounts,
    says_why=st.booleans(),
)
@example(claimed=8000, manager_share=0.5, general_manager=None, says_why=False)  # the reported case
@example(claimed=8000, manager_share=0.5, general_manager=8000, says_why=False)
@example(claimed=8000, manager_share=0.5, general_manager=8000, says_why=True)
@HYPOTHESIS
def test_a_later_level_never_approves_more_than_the_level_before_without_saying_so(
    api, claimed, manager_share, general_manager, says_why
):
    case = compensation_case(api, claimed, None)
    manager_amount = round(claimed * manager_share, 2)
    case = api.decide(
        case, "manager_approval", "chen.jie", decision="approve", approved_amount=manager_amount
    )
    assert api.open_elements(case) == ["general_manager_approval"]  # the claim is over the manager's limit
    decision: dict = {"decision": "approve"}
    if general_manager is not None:
        decision["approved_amount"] = general_manager
    if says_why:
        decision["comment"] = "总经理特批"
    silent_raise = general_manager is not None and general_manager > manager_amount and not says_why
    if silent_raise:
        refused = api.decide(case, "general_manager_approval", "liu.yang", expect=422, **decision).get_json()
        assert "approved_amount" in refused["errors"]
        assert decisions_of(api, case) == [("manager", "chen.jie", "approve", manager_amount)]
        assert api.open_elements(api.case(case["id"])) == ["general_manager_approval"]
        return
    case = api.decide(case, "general_manager_approval", "liu.yang", **decision)
    granted = manager_amount if general_manager is None else general_manager
    assert decisions_of(api, case) == [
        ("manager", "chen.jie", "approve", manager_amount),
        ("general_manager", "liu.yang", "approve", granted),
    ]
    case = api.complete(case, "carry_out_remedy", "zhao.min", {"remedy_carried_out": True})
    assert [o["amount"] for o in case["data"]["remedy_outcome"]] == [granted]


@given(claimed=amounts, approved=st.none() | amounts, says_why=st.booleans())
@example(claimed=1000, approved=1000.01, says_why=False)
@HYPOTHESIS
def test_the_first_level_never_approves_more_than_the_claim_without_saying_so(
    api, claimed, approved, says_why
):
    case = compensation_case(api, claimed, None)
    decision: dict = {"decision": "approve"}
    if approved is not None:
        decision["approved_amount"] = approved
    if says_why:
        decision["comment"] = "另有损失凭证"
    if approved is not None and approved > claimed and not says_why:
        refused = api.decide(case, "manager_approval", "chen.jie", expect=422, **decision).get_json()
        assert "approved_amount" in refused["errors"] and decisions_of(api, case) == []
        return
    api.decide(case, "manager_approval", "chen.jie", **decision)
    assert decisions_of(api, case) == [
        ("manager", "chen.jie", "approve", claimed if approved is None else approved)
    ]


# ---------------------------------------------------------------- what is paid never exceeds what was approved
@given(approved=amounts_up_to(MANAGER_LIMIT), paid=amounts)
@example(approved=1000, paid=50_000)  # the reported case
@example(approved=1000, paid=1000.01)
@example(approved=1000, paid=1000)
@HYPOTHESIS
def test_what_is_paid_never_exceeds_what_was_approved(api, approved, paid):
    case = compensation_case(api, MANAGER_LIMIT, None)
    case = api.decide(case, "manager_approval", "chen.jie", decision="approve", approved_amount=approved)
    carried = {"remedy_carried_out": True, "amount_paid": paid}
    if paid > approved:
        refused = api.complete(case, "carry_out_remedy", "zhao.min", carried, expect=422).get_json()
        assert "amount_paid" in refused["errors"]
        assert api.open_elements(api.case(case["id"])) == ["carry_out_remedy"]
    else:
        case = api.complete(case, "carry_out_remedy", "zhao.min", carried)
        assert [o["amount"] for o in case["data"]["remedy_outcome"]] == [approved]


def test_nothing_may_be_paid_on_an_exchange_approved_without_an_amount(api):
    data = start_data(
        request="exchange", customer={"id": customer()}, product={"purchase_date": "2026-10-20"}
    )
    case = apply(
        api, interim_reply(api, register(api, api.start(data))), remedy="exchange", same_fault_repairs=2
    )
    case = api.decide(case, "manager_approval", "chen.jie", decision="approve")
    refused = api.complete(
        case, "carry_out_remedy", "zhao.min", {"remedy_carried_out": True, "amount_paid": 1}, expect=422
    )
    assert "amount_paid" in refused.get_json()["errors"]


# ---------------------------------------------------------------- separation of duties
def users_yaml(users: dict[str, list[str]]) -> str:
    """A users file for the given users; user number i has the token `token_for(i)`."""
    entries = [
        {"username": name, "groups": groups, "token": token_for(index)}
        for index, (name, groups) in enumerate(users.items())
    ]
    return yaml.safe_dump({"users": entries}, allow_unicode=True)


def token_for(index: int) -> str:
    return f"token-{index:04d}-0123456789abcdef"


def service_for(database_url: str, users: dict[str, list[str]]) -> tuple[ServiceClient, Engine]:
    """The real app over the test database, with a directory of exactly the given users."""
    directory = Directory.from_yaml(users_yaml(users))
    engine = Engine(EngineConfig(database_url=database_url), directory)
    client = create_app(engine, directory, {"TESTING": True}).test_client()
    return NamedClient(client, {name: token_for(i) for i, name in enumerate(users)}), engine


class NamedClient(ServiceClient):
    """ServiceClient for users whose tokens are not the conftest ones (any username at all)."""

    def __init__(self, client, tokens: dict[str, str]):
        super().__init__(client)
        self.tokens = tokens

    def _headers(self, user):
        return {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}

    def get(self, path, user=None, **kw):
        return self.client.get(path, headers=self._headers(user), **kw)

    def post(self, path, user=None, json=None, headers=None, **kw):
        return self.client.post(path, headers={**self._headers(user), **(headers or {})}, json=json, **kw)


BASE_USERS = {
    "agent": ["agents"],
    "lead": ["after_sales_leads"],
    "sun.li": ["supervisors"],
}


def signoff_case(api: ServiceClient, applicant: str, claimed: float = 800) -> dict:
    data = start_data(
        request="compensation", customer={"id": customer()}, product={"purchase_date": "2026-10-20"}
    )
    case = interim_reply(api, register(api, api.start(data, user="agent"), user="agent"), user="agent")
    case = apply(api, case, user=applicant, remedy="compensation", injury_or_damage=True, loss_amount=claimed)
    if "investigate_claim" in api.open_elements(case):
        case = api.complete(case, "investigate_claim", "lead", {"investigation_findings": "属实"})
    return case


def claim(api: ServiceClient, task: dict, user: str):
    return api.post(f"/api/v1/tasks/{task['id']}/claim", user)


def pending_ids(api: ServiceClient, user: str) -> list[str]:
    return [t["id"] for t in api.get("/api/v1/approvals?per_page=100", user).get_json()["items"]]


def test_the_applicant_may_not_claim_their_own_sign_off(api):
    # ma.li is an after-sales lead and a manager.
    case = apply(
        api,
        interim_reply(api, register(api, api.start(start_data(request="exchange")))),
        user="ma.li",
        remedy="exchange",
    )
    task = api.open_task(case, "manager_approval")
    refused = claim(api, task, "ma.li")
    assert refused.status_code == 403 and refused.get_json()["type"] == "/problems/forbidden"
    assert api.case(case["id"])["tasks"][0]["assignee"] is None
    assert "task_claimed" not in api.event_types(case["id"])
    assert claim(api, task, "chen.jie").status_code == 200


# Usernames that fit the store, in any script, including ones that are prefixes of each other.
valid_usernames = st.text(
    alphabet=st.characters(blacklist_categories=("C", "Z")), min_size=1, max_size=USERNAME_MAX_LENGTH
).filter(lambda name: username_problem(name) is None)


@given(
    applicant=valid_usernames,
    other=valid_usernames,
    relation=st.sampled_from(["any", "prefix", "extension"]),
)
@example(applicant="a" * USERNAME_MAX_LENGTH, other="a" * (USERNAME_MAX_LENGTH - 1), relation="any")
@example(applicant="李娜", other="李娜娜", relation="any")
@HYPOTHESIS
def test_no_applicant_claims_or_decides_their_own_sign_off_whatever_the_usernames(
    database_url, applicant, other, relation
):
    if relation == "prefix" and len(applicant) > 1:
        other = applicant[:-1]
    elif relation == "extension" and len(applicant) < USERNAME_MAX_LENGTH:
        other = applicant + other[: USERNAME_MAX_LENGTH - len(applicant)]
    assume(other != applicant and username_problem(other) is None)
    assume(not {applicant, other} & set(BASE_USERS))
    users = {**BASE_USERS, applicant: ["after_sales_leads", "managers"], other: ["managers"]}
    try:
        api, engine = service_for(database_url, users)
    except UsersFileError:
        return  # the two names are one identity (same in case or Unicode form): refused at load
    try:
        case = signoff_case(api, applicant)
        assert case["data"]["applicant"] == applicant
        task = api.open_task(case, "manager_approval")
        assert claim(api, task, applicant).status_code == 403
        assert api.decide(case, "manager_approval", applicant, expect=403, decision="approve")
        assert task["id"] not in pending_ids(api, applicant)
        assert task["id"] in pending_ids(api, other)
        assert claim(api, task, other).status_code == 200
        case = api.decide(case, "manager_approval", other, decision="approve")
        assert decisions_of(api, case) == [("manager", other, "approve", 800)]
    finally:
        engine.close()


bad_usernames = st.one_of(
    st.text(min_size=USERNAME_MAX_LENGTH + 1, max_size=300).filter(
        lambda n: n.strip() == n and n.isprintable()
    ),
    st.builds(lambda n, s: s + n, valid_usernames, st.sampled_from([" ", "\t", "\u00a0", "\u3000"])),
    st.builds(lambda n, s: n + s, valid_usernames, st.sampled_from([" ", "\n", "\u200b", "\u202e", "\x00"])),
    st.just("e\u0301"),  # not NFC
)


@given(name=bad_usernames)
@example(name="x" * (USERNAME_MAX_LENGTH + 1))
@settings(max_examples=60, deadline=None)
def test_usernames_the_store_cannot_hold_whole_are_refused_at_load(name):
    assert username_problem(name) is not None
    with pytest.raises(UsersFileError):
        Directory.from_yaml(users_yaml({name: ["managers"]}))
    whole = "审" * USERNAME_MAX_LENGTH  # the widest name the store holds is accepted, whole
    assert Directory.from_yaml(users_yaml({whole: ["managers"]})).users[whole].username == whole


@given(name=valid_usernames, change=st.sampled_from(["swapcase", "upper", "lower", "fullwidth"]))
@example(name="ma.li", change="upper")
@example(name="ma.li", change="fullwidth")
@settings(max_examples=60, deadline=None)
def test_two_usernames_for_one_identity_are_refused_at_load(name, change):
    if change == "fullwidth":  # ASCII letters and digits in their fullwidth compatibility forms
        variant = "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in name)
    else:
        variant = getattr(name, change)()
    assume(variant != name and username_problem(variant) is None)
    with pytest.raises(UsersFileError, match="differ only in case or Unicode form"):
        Directory.from_yaml(users_yaml({name: ["managers"], variant: ["after_sales_leads"]}))


# Steps of a two-level sign-off: (who, act). "both" is a manager and a general manager.
ACTS = st.lists(
    st.tuples(st.sampled_from(["both", "mgr", "gm"]), st.sampled_from(["claim", "approve", "unclaim"])),
    min_size=1,
    max_size=8,
)


@given(acts=ACTS, applicant_is_both=st.booleans())
@example(acts=[("both", "approve"), ("both", "approve")], applicant_is_both=False)  # the reported case
@example(
    acts=[("both", "claim"), ("both", "approve"), ("both", "claim"), ("gm", "approve")],
    applicant_is_both=False,
)
@example(acts=[("mgr", "approve"), ("both", "claim"), ("both", "approve")], applicant_is_both=False)
@HYPOTHESIS
def test_two_levels_are_always_decided_by_two_different_people(database_url, acts, applicant_is_both):
    users = {
        **BASE_USERS,
        "both": ["managers", "general_managers"] + (["after_sales_leads"] if applicant_is_both else []),
        "mgr": ["managers"],
        "gm": ["general_managers"],
    }
    api, engine = service_for(database_url, users)
    try:
        applicant = "both" if applicant_is_both else "lead"
        case = signoff_case(api, applicant, claimed=8000)

        def approval_task():
            return next((t for t in api.case(case["id"])["tasks"] if t["is_approval"]), None)

        def check_invariants():
            approvers = [a for _, a, _, _ in decisions_of(api, case)]
            assert applicant not in approvers
            assert len(approvers) == len(set(approvers)), approvers
            task = approval_task()
            assert task is None or task["assignee"] not in (applicant, *approvers), task

        for who, act in acts:
            task = approval_task()
            if task is None:
                break
            if act == "approve":
                api.post(f"/api/v1/approvals/{task['id']}", who, json={"decision": "approve"})
            else:
                api.post(f"/api/v1/tasks/{task['id']}/{act}", who)
            check_invariants()
        # Whoever may, finishes the sign-off: it never gets stuck with someone who may not decide.
        while (task := approval_task()) is not None:
            candidates = [task["assignee"]] if task["assignee"] else ["mgr", "gm", "both"]
            answers = [
                api.post(f"/api/v1/approvals/{task['id']}", who, json={"decision": "approve"}).status_code
                for who in candidates
            ]
            assert 200 in answers, (task, answers)
            check_invariants()
        decided = decisions_of(api, case)
        assert [level for level, _, _, _ in decided] == ["manager", "general_manager"]
        assert decided[0][1] != decided[1][1]
    finally:
        engine.close()


def test_the_manager_who_approved_does_not_see_the_general_manager_level_pending(database_url):
    api, engine = service_for(
        database_url, {**BASE_USERS, "both": ["managers", "general_managers"], "gm": ["general_managers"]}
    )
    try:
        case = signoff_case(api, "lead", claimed=8000)
        case = api.decide(case, "manager_approval", "both", decision="approve")
        task = api.open_task(case, "general_manager_approval")
        assert task["id"] not in pending_ids(api, "both")
        assert claim(api, task, "both").status_code == 403
        assert api.decide(case, "general_manager_approval", "both", expect=403, decision="approve")
        assert task["id"] in pending_ids(api, "gm")
    finally:
        engine.close()


# ---------------------------------------------------------------- 三包 days counted at receipt
@given(
    days_at_receipt=st.integers(min_value=0, max_value=40),
    filled_later=st.integers(min_value=0, max_value=30),
)
@example(days_at_receipt=6, filled_later=3)  # the reported case: asked on day 6, filled in on day 9
@example(days_at_receipt=7, filled_later=30)
@example(days_at_receipt=8, filled_later=0)
@HYPOTHESIS
def test_days_since_sale_are_counted_to_the_day_of_receipt(api, days_at_receipt, filled_later):
    purchase = (TODAY - timedelta(days=days_at_receipt)).date().isoformat()
    data = start_data(request="refund", customer={"id": customer()}, product={"purchase_date": purchase})
    case = register(api, api.start(data))
    with time_machine.travel(TODAY + timedelta(days=filled_later), tick=True):
        case = apply(api, case, remedy="refund", purchase_date=purchase)
    assert case["data"]["days_since_sale"] == days_at_receipt
    assert ("refund" in case["data"]["legal_remedies"]) == (days_at_receipt <= 7)


@given(days_after=st.integers(min_value=1, max_value=3650), request=st.sampled_from(["repair", "refund"]))
@example(days_after=1, request="refund")
@HYPOTHESIS
def test_a_purchase_date_after_receipt_is_refused_at_start(api, days_after, request):
    before = api.get("/api/v1/cases?per_page=1", "sun.li").get_json()["total"]
    purchase = (TODAY + timedelta(days=days_after)).date().isoformat()
    data = start_data(request=request, customer={"id": customer()}, product={"purchase_date": purchase})
    refused = api.start(data, expect=422)
    assert "product.purchase_date" in refused["errors"]
    assert api.get("/api/v1/cases?per_page=1", "sun.li").get_json()["total"] == before
    same_day = start_data(
        request=request, customer={"id": customer()}, product={"purchase_date": TODAY.date().isoformat()}
    )
    assert api.start(same_day)["status"] == "running"  # bought on the day of receipt: accepted


# ---------------------------------------------------------------- the approver's view of earlier claims
def test_earlier_claims_are_listed_once_each_with_times_in_the_service_offset_and_none_filed_later(api):
    first = compensation_case(api, 8000, 7000)  # two levels: one claim, two decisions
    first_customer = first["data"]["customer"]["id"]
    api.decide(first, "manager_approval", "chen.jie", decision="approve", approved_amount=6000)
    api.decide(api.case(first["id"]), "general_manager_approval", "liu.yang", decision="approve")

    def claim_of(customer_id, amount):
        data = start_data(
            request="compensation", customer={"id": customer_id}, product={"purchase_date": "2026-10-20"}
        )
        case = register(api, api.start(data))
        return apply(api, case, remedy="compensation", injury_or_damage=True, loss_amount=amount)

    second = claim_of(first_customer, 900)
    third = claim_of(first_customer, 700)
    api.decide(third, "manager_approval", "chen.jie", decision="approve")  # decided before the second

    summaries = {
        t["case_id"]: t["application"] for t in api.get("/api/v1/approvals", "he.ping").get_json()["items"]
    }
    earlier = summaries[second["id"]]["earlier_compensation_claims"]
    assert [(c["case_id"], c["decision"], c["requested_amount"], c["approved_amount"]) for c in earlier] == [
        (first["id"], "approve", 8000, 6000)
    ]
    assert datetime.fromisoformat(earlier[0]["at"]).utcoffset() == timedelta(hours=8)


def test_claiming_a_task_you_already_hold_records_nothing(api):
    case = register(api, api.start())
    task = api.open_task(case, "diagnose_and_repair")
    for _ in range(3):
        response = claim(api, task, "wang.qiang")
        assert response.status_code == 200 and response.get_json()["assignee"] == "wang.qiang"
    assert api.event_types(case["id"]).count("task_claimed") == 1


@given(days_after=st.integers(min_value=1, max_value=3650))
@example(days_after=1)
@HYPOTHESIS
def test_an_application_dated_after_receipt_is_refused(api, days_after):
    # Bought on the day of receipt (intake and application agree: both count days to receipt).
    data = start_data(request="refund", customer={"id": customer()}, product={"purchase_date": "2026-11-20"})
    case = interim_reply(api, register(api, api.start(data)))
    later = (TODAY + timedelta(days=days_after)).date().isoformat()
    with time_machine.travel(TODAY + timedelta(days=days_after), tick=True):
        form = {**APPLICATION, "remedy": "refund", "purchase_date": later}
        refused = api.complete(case, "fill_application", "zhao.min", form, expect=422).get_json()
        assert "purchase_date" in refused["errors"]
        assert api.open_elements(api.case(case["id"])) == ["fill_application"]
        case = apply(api, case, remedy="refund", purchase_date=TODAY.date().isoformat())  # the day of receipt
    assert case["data"]["days_since_sale"] == 0
