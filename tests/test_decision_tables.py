"""Every row of every shipped decision table: inputs → the rows that hit and their outputs.

The tables are evaluated by SpiffWorkflow's DMN engine under the service's sandbox, exactly as a
business rule task does in a running case.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.calendar import WorkingCalendar
from engine.definitions.bundle import read_folder
from engine.definitions.decisions import evaluate, load_decisions
from engine.sandbox import SandboxScriptEngine

PROCESSES = Path(__file__).resolve().parents[1] / "processes"


@pytest.fixture(scope="module")
def decide():
    files = {n: t for n, t in read_folder(PROCESSES).items() if n.endswith(".dmn")}
    decisions = load_decisions(files)
    script_engine = SandboxScriptEngine(WorkingCalendar())

    def run(decision_id: str, inputs: dict) -> dict:
        return evaluate(decisions[decision_id], inputs, script_engine)

    return run


def rows(outcome: dict) -> list[str]:
    return [m["id"] for m in outcome["matched_rules"]]


# ---------------------------------------------------------------- complaint_urgency (COLLECT)
def urgency_inputs(**changes):
    inputs = {
        "channel": "phone",
        "flags": {
            "media_attention": False,
            "litigation_risk": False,
            "cross_region": False,
            "upgraded": False,
        },
        "facts": {"repeat": False, "batch_ordinary_complaints": 1, "batch_vip_customers": 0},
        "customer": {"tier": "ordinary"},
        "problem": {"category": "product_quality"},
    }
    for key, value in changes.items():
        if isinstance(value, dict):
            inputs[key] = {**inputs[key], **value}
        else:
            inputs[key] = value
    return inputs


@pytest.mark.parametrize(
    ("changes", "expected_rows", "expected_kinds"),
    [
        ({}, [], []),
        ({"flags": {"media_attention": True}}, ["rule_major_risk"], ["major"]),
        ({"flags": {"litigation_risk": True}}, ["rule_major_risk"], ["major"]),
        ({"channel": "media"}, ["rule_major_channel", "rule_over_level"], ["major", "over_level"]),
        ({"channel": "government"}, ["rule_major_channel", "rule_over_level"], ["major", "over_level"]),
        ({"channel": "hq"}, ["rule_over_level"], ["over_level"]),
        ({"channel": "consumer_association"}, ["rule_over_level"], ["over_level"]),
        ({"channel": "regulator"}, ["rule_over_level"], ["over_level"]),
        ({"facts": {"batch_ordinary_complaints": 10}}, [], []),
        ({"facts": {"batch_ordinary_complaints": 11}}, ["rule_batch_ordinary"], ["batch"]),
        ({"facts": {"batch_vip_customers": 5}}, [], []),
        ({"facts": {"batch_vip_customers": 6}}, ["rule_batch_vip"], ["batch"]),
        ({"facts": {"repeat": True}}, ["rule_repeat"], ["repeat"]),
        ({"flags": {"upgraded": True}}, ["rule_upgraded"], ["upgraded"]),
        ({"flags": {"cross_region": True}}, ["rule_cross_region"], ["cross_region"]),
        ({"customer": {"tier": "important"}}, ["rule_important_customer"], ["important_customer"]),
        ({"customer": {"tier": "sensitive"}}, ["rule_sensitive_customer"], ["sensitive_customer"]),
        ({"customer": {"tier": "vip"}}, [], []),
        ({"problem": {"category": "sudden_incident"}}, ["rule_sudden_incident"], ["sudden_incident"]),
    ],
)
def test_urgency_rows(decide, changes, expected_rows, expected_kinds):
    outcome = decide("complaint_urgency", urgency_inputs(**changes))
    assert rows(outcome) == expected_rows
    assert outcome["result"].get("urgent_kinds", []) == expected_kinds


# ---------------------------------------------------------------- sla_deadlines (FIRST)
@pytest.mark.parametrize(
    ("priority", "row", "outputs"),
    [
        (
            "urgent",
            "rule_sla_urgent",
            {
                "ack_hours": 2,
                "reply_hours": 24,
                "update_hours": 24,
                "signoff_working_days": 1,
                "followup_days": 7,
                "sanbao_days": 365,
                "interim_margin_hours": 6,
            },
        ),
        (
            "ordinary",
            "rule_sla_ordinary",
            {
                "ack_hours": 24,
                "reply_hours": 48,
                "update_hours": 24,
                "signoff_working_days": 2,
                "followup_days": 7,
                "sanbao_days": 365,
                "interim_margin_hours": 12,
            },
        ),
    ],
)
def test_sla_rows(decide, priority, row, outputs):
    outcome = decide("sla_deadlines", {"priority": priority})
    assert rows(outcome) == [row]
    assert outcome["result"] == outputs


# ---------------------------------------------------------------- complaint_routing (FIRST)
@pytest.mark.parametrize(
    ("category", "customer_request", "row", "nature", "path"),
    [
        ("inquiry", "explanation", "rule_route_communicative", "communicative", "communicative"),
        ("help", "other", "rule_route_communicative", "communicative", "communicative"),
        ("venting", "refund", "rule_route_communicative", "communicative", "communicative"),
        ("service_attitude", "other", "rule_route_attitude", "valid", "service"),
        ("service_quality", "other", "rule_route_service_quality", "valid", "service"),
        ("sudden_incident", "repair", "rule_route_sudden", "valid", "major"),
        ("product_quality", "exchange", "rule_route_remedy", "valid", "major"),
        ("product_quality", "refund", "rule_route_remedy", "valid", "major"),
        ("product_quality", "compensation", "rule_route_remedy", "valid", "major"),
        ("product_quality", "repair", "rule_route_quality", "valid", "quality"),
        ("product_quality", "other", "rule_route_quality", "valid", "quality"),
    ],
)
def test_routing_rows(decide, category, customer_request, row, nature, path):
    inputs = {"reopen_count": 0, "repeat_repair_step": "repair"}
    outcome = decide(
        "complaint_routing", {"problem": {"category": category}, "request": customer_request, **inputs}
    )
    assert rows(outcome) == [row]
    assert outcome["result"]["nature"] == nature and outcome["result"]["handling_path"] == path
    assert outcome["result"]["content"] == category


@pytest.mark.parametrize("category", ["inquiry", "help", "venting"])
def test_a_communicative_complaint_reopened_is_routed_as_valid(decide, category):
    inputs = {
        "problem": {"category": category},
        "request": "other",
        "reopen_count": 1,
        "repeat_repair_step": "repair",
    }
    outcome = decide("complaint_routing", inputs)
    assert rows(outcome) == ["rule_route_unsatisfied_communicative"]
    assert outcome["result"] == {"nature": "valid", "content": "service_quality", "handling_path": "service"}


@pytest.mark.parametrize("customer_request", ["repair", "other", "exchange"])
def test_two_failed_repairs_route_a_quality_complaint_to_the_major_path(decide, customer_request):
    inputs = {"reopen_count": 2, "repeat_repair_step": "exchange_or_refund"}
    outcome = decide(
        "complaint_routing",
        {"problem": {"category": "product_quality"}, "request": customer_request, **inputs},
    )
    assert rows(outcome) == ["rule_route_two_failed_repairs"]
    assert outcome["result"]["handling_path"] == "major"


# ---------------------------------------------------------------- repeat_repairs and repair_charge (FIRST)
@pytest.mark.parametrize(
    ("repairs", "within", "failing", "row", "step"),
    [
        (2, True, True, "rule_two_failed_repairs", "exchange_or_refund"),
        (3, True, True, "rule_two_failed_repairs", "exchange_or_refund"),
        (1, True, True, "rule_repair_again", "repair"),
        (0, True, True, "rule_repair_again", "repair"),
        (2, False, True, "rule_repair_again", "repair"),
        (2, True, False, "rule_repair_again", "repair"),
    ],
)
def test_repeat_repairs_rows(decide, repairs, within, failing, row, step):
    inputs = {"same_fault_repairs": repairs, "within_sanbao": within, "still_failing": failing}
    outcome = decide("repeat_repairs", inputs)
    assert rows(outcome) == [row]
    assert outcome["result"]["repeat_repair_step"] == step
    assert outcome["result"]["remedies_on_offer"] == (["exchange", "refund"] if step != "repair" else [])


@pytest.mark.parametrize(
    ("earlier", "external", "within", "row", "policy"),
    [
        (1, False, False, "rule_charge_re_repair", "free"),
        (2, True, False, "rule_charge_re_repair", "free"),
        (1, False, True, "rule_charge_re_repair", "free"),
        (0, True, True, "rule_charge_external_cause", "paid"),
        (0, False, True, "rule_charge_within_sanbao", "free"),
        (0, False, False, "rule_charge_outside_sanbao", "paid"),
    ],
)
def test_repair_charge_rows(decide, earlier, external, within, row, policy):
    outcome = decide(
        "repair_charge", {"earlier_repairs": earlier, "external_cause": external, "within_sanbao": within}
    )
    assert rows(outcome) == [row]
    assert outcome["result"]["charge_policy"] == policy


# ---------------------------------------------------------------- sanbao_legal_floor (COLLECT)
def legal(**changes):
    inputs = {
        "days_since_sale": 100,
        "days_in_warranty": 100,
        "performance_fault": True,
        "same_fault_repairs": 0,
        "parts_unavailable_days": 0,
        "repairer_fault_repair_days": 0,
        "misuse_or_force_majeure": False,
    }
    inputs.update(changes)
    return inputs


@pytest.mark.parametrize(
    ("changes", "expected_rows"),
    [
        ({}, ["rule_free_repair"]),
        ({"days_since_sale": 5, "days_in_warranty": 5}, ["rule_7_days", "rule_15_days", "rule_free_repair"]),
        ({"days_since_sale": 7, "days_in_warranty": 7}, ["rule_7_days", "rule_15_days", "rule_free_repair"]),
        ({"days_since_sale": 8, "days_in_warranty": 8}, ["rule_15_days", "rule_free_repair"]),
        ({"days_since_sale": 15, "days_in_warranty": 15}, ["rule_15_days", "rule_free_repair"]),
        ({"days_since_sale": 16, "days_in_warranty": 16}, ["rule_free_repair"]),
        ({"days_since_sale": 5, "performance_fault": False}, ["rule_free_repair"]),
        ({"same_fault_repairs": 2}, ["rule_two_repairs", "rule_free_repair"]),
        ({"same_fault_repairs": 1}, ["rule_free_repair"]),
        ({"parts_unavailable_days": 91}, ["rule_parts_unavailable", "rule_free_repair"]),
        ({"parts_unavailable_days": 90}, ["rule_free_repair"]),
        ({"repairer_fault_repair_days": 31}, ["rule_repair_overdue", "rule_free_repair"]),
        ({"repairer_fault_repair_days": 30}, ["rule_free_repair"]),
        ({"days_since_sale": 400, "days_in_warranty": 365}, ["rule_free_repair"]),
        ({"days_since_sale": 400, "days_in_warranty": 366}, ["rule_outside_period"]),
        ({"days_since_sale": 3, "days_in_warranty": 3, "misuse_or_force_majeure": True}, ["rule_misuse"]),
    ],
)
def test_legal_floor_rows(decide, changes, expected_rows):
    assert rows(decide("sanbao_legal_floor", legal(**changes))) == expected_rows


def test_legal_floor_outputs_are_the_remedies_of_each_row(decide):
    outcome = decide("sanbao_legal_floor", legal(days_since_sale=5, days_in_warranty=5))
    assert outcome["result"]["legal_options"] == [
        ["refund", "exchange", "free_repair"],
        ["exchange", "free_repair"],
        ["free_repair"],
    ]


# ---------------------------------------------------------------- company_policy (COLLECT)
def policy(**changes):
    inputs = {
        "hard_to_repair": False,
        "major_distress": False,
        "same_fault_repairs": 0,
        "still_unusable": False,
        "injury_or_damage": False,
        "days_in_warranty": 100,
        "misuse_or_force_majeure": False,
        "service_failure": False,
    }
    inputs.update(changes)
    return inputs


@pytest.mark.parametrize(
    ("changes", "expected_rows", "options"),
    [
        ({}, [], []),
        ({"hard_to_repair": True}, ["rule_policy_hard_to_repair"], [["refund"]]),
        ({"hard_to_repair": True, "days_in_warranty": 400}, [], []),
        ({"hard_to_repair": True, "misuse_or_force_majeure": True}, [], []),
        ({"major_distress": True}, ["rule_policy_distress"], [["refund"]]),
        ({"same_fault_repairs": 2, "still_unusable": True}, ["rule_policy_repeated_fault"], [["exchange"]]),
        ({"same_fault_repairs": 2, "still_unusable": False}, [], []),
        ({"injury_or_damage": True, "days_in_warranty": 900}, ["rule_policy_injury"], [["compensation"]]),
        # Misuse, tampering or force majeure rule compensation out (DOMAIN.md §5).
        ({"injury_or_damage": True, "misuse_or_force_majeure": True}, [], []),
        # A service failure that cost the customer time or money (002 原则9).
        ({"service_failure": True}, ["rule_policy_service_failure"], [["compensation"]]),
        ({"service_failure": True, "misuse_or_force_majeure": True}, [], []),
        (
            {"service_failure": True, "injury_or_damage": True},
            ["rule_policy_injury", "rule_policy_service_failure"],
            [["compensation"], ["compensation"]],
        ),
    ],
)
def test_company_policy_rows(decide, changes, expected_rows, options):
    outcome = decide("company_policy", policy(**changes))
    assert rows(outcome) == expected_rows
    assert outcome["result"].get("policy_options", []) == options


# ---------------------------------------------------------------- compensation_exclusions (FIRST)
@pytest.mark.parametrize(
    ("misuse", "row", "ruled_out", "reason"),
    [
        (True, "rule_compensation_misuse", True, "misuse_or_force_majeure"),
        (False, "rule_compensation_allowed", False, None),
    ],
)
def test_compensation_exclusion_rows(decide, misuse, row, ruled_out, reason):
    outcome = decide("compensation_exclusions", {"misuse_or_force_majeure": misuse})
    assert rows(outcome) == [row]
    assert outcome["result"] == {"compensation_ruled_out": ruled_out, "compensation_exclusion": reason}


# ---------------------------------------------------------------- approval_levels (FIRST)
@pytest.mark.parametrize(
    ("remedy", "amount", "row", "investigate", "general_manager"),
    [
        ("compensation", 5001, "rule_level_large_compensation", True, True),
        ("compensation", 5000, "rule_level_medium_compensation", True, False),
        ("compensation", 2001, "rule_level_medium_compensation", True, False),
        ("compensation", 2000, "rule_level_default", False, False),
        ("refund", 5000, "rule_level_default", False, False),
        ("refund", 5001, "rule_level_large_amount", False, True),
        ("exchange", 99999, "rule_level_large_amount", False, True),
        ("exchange", 0, "rule_level_default", False, False),
    ],
)
def test_approval_level_rows(decide, remedy, amount, row, investigate, general_manager):
    outcome = decide("approval_levels", {"remedy": remedy, "signoff_amount": amount})
    assert rows(outcome) == [row]
    assert outcome["result"] == {"needs_investigation": investigate, "needs_general_manager": general_manager}


def test_every_row_of_every_table_is_covered_by_a_test(decide):
    """Adding a row without a test fails here, so the tables stay fully specified."""
    files = {n: t for n, t in read_folder(PROCESSES).items() if n.endswith(".dmn")}
    defined = {rule.id for engine in load_decisions(files).values() for rule in engine.decision_table.rules}
    source = Path(__file__).read_text(encoding="utf-8")
    untested = sorted(rule_id for rule_id in defined if f'"{rule_id}"' not in source)
    assert untested == []


# ---------------------------------------------------------------- urgent_owner (FIRST)
@pytest.mark.parametrize(
    ("priority", "kinds", "row", "owner"),
    [
        ("ordinary", [], "rule_owner_ordinary", None),
        ("urgent", ["major"], "rule_owner_major_over_level", "li.na"),
        ("urgent", ["over_level", "batch"], "rule_owner_major_over_level", "li.na"),
        ("urgent", ["cross_region"], "rule_owner_other_urgent", "li.na"),
    ],
)
def test_urgent_owner_rows(decide, priority, kinds, row, owner):
    outcome = decide("urgent_owner", {"priority": priority, "urgent_kinds": kinds})
    assert rows(outcome) == [row]
    assert outcome["result"]["dedicated_owner"] == owner
