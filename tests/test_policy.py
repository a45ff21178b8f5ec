"""Scoring policies as data: the built-ins, inheritance, validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from monitor.policy import (
    BUILTIN_NAMES,
    InquiryDeadlineRule,
    NoUpdateRule,
    Policy,
    PolicyError,
    PolicySpec,
    builtin_policies,
    resolve_policy,
)


def kinds(policy: Policy) -> dict[str, str]:
    return {r.id: r.kind for r in policy.rules}


def test_builtin_names() -> None:
    assert BUILTIN_NAMES == ("national-2019", "demo-default", "points-local")
    assert set(builtin_policies()) == set(BUILTIN_NAMES)
    for name, policy in builtin_policies().items():
        assert policy.name == name and policy.description
        assert all(r.label for r in policy.rules)


def test_national_2019_is_the_veto_items() -> None:
    p = builtin_policies()["national-2019"]
    assert p.mode == "veto"
    assert kinds(p) == {"stale": "no_update", "no_interaction": "no_interaction",
                        "security_incident": "security_incident", "privacy_leak": "privacy_leak"}
    assert all(r.veto for r in p.rules)
    stale = p.rule("stale")
    assert isinstance(stale, NoUpdateRule) and stale.days == 14 and stale.label == "超过2周未更新"
    assert p.rule("privacy_leak").max_findings == 0
    assert p.autoreply_counts_as_answer is False
    assert (p.confirm_failures, p.confirm_minutes) == (3, 60)


def test_demo_default_adds_inquiry_deadline_and_broken_columns() -> None:
    national = builtin_policies()["national-2019"]
    p = builtin_policies()["demo-default"]
    assert p.mode == "veto" and p.base == "national-2019"
    assert [r.id for r in p.rules][: len(national.rules)] == [r.id for r in national.rules]
    deadline = p.rule("inquiry_deadline")
    assert isinstance(deadline, InquiryDeadlineRule) and deadline.working_days == 3 and deadline.veto
    assert p.rule("broken_columns").max_broken == 0 and p.rule("broken_columns").veto
    assert all(r.veto for r in p.rules)


def test_points_local() -> None:
    p = builtin_policies()["points-local"]
    assert (p.mode, p.full_score, p.pass_score, p.veto_score) == ("points", 100, 60, 59)
    for rule_id in ("inquiry_deadline", "broken_columns"):
        rule = p.rule(rule_id)
        assert not rule.veto and rule.deduct == 10
    for rule_id in ("stale", "privacy_leak", "security_incident"):
        assert p.rule(rule_id).veto


def test_builtins_are_fresh_objects() -> None:
    a = builtin_policies()["national-2019"]
    a.rules.clear()
    assert builtin_policies()["national-2019"].rules


def test_resolve_builtin() -> None:
    assert resolve_policy("demo-default") == builtin_policies()["demo-default"]
    assert resolve_policy("national-2019", {}) == builtin_policies()["national-2019"]


def test_resolve_custom_overrides_adds_and_drops() -> None:
    custom = {
        "strict": {
            "base": "demo-default",
            "description": "2 working days",
            "autoreply_counts_as_answer": True,
            "rules": [
                {"id": "inquiry_deadline", "working_days": 2, "label": "留言超过2个工作日未答复"},
                {"id": "stale", "days": 7},
                {"id": "slow", "kind": "no_interaction", "label": "答复率低于50%", "min_response_rate": 0.5},
            ],
            "drop_rules": ["broken_columns"],
        },
    }
    p = resolve_policy("strict", custom)
    assert p.name == "strict" and p.base == "demo-default" and p.description == "2 working days"
    assert p.autoreply_counts_as_answer is True
    assert p.rule("inquiry_deadline").working_days == 2
    assert p.rule("inquiry_deadline").label == "留言超过2个工作日未答复"
    assert p.rule("stale").days == 7 and p.rule("stale").label == "超过2周未更新"  # label inherited
    assert p.rule("slow").min_response_rate == 0.5
    assert "broken_columns" not in kinds(p)
    assert p.confirm_failures == 3  # inherited


def test_resolve_custom_chain_and_points() -> None:
    custom = {
        "lenient": {"base": "points-local", "pass_score": 50, "veto_score": 49},
        "lenient2": PolicySpec(base="lenient", rules=[{"id": "broken_columns", "deduct": 5, "max_deduct": 20}]),
    }
    p = resolve_policy("lenient2", custom)
    assert (p.mode, p.pass_score, p.veto_score) == ("points", 50, 49)
    assert p.rule("broken_columns").deduct == 5 and p.rule("broken_columns").max_deduct == 20
    assert p.base == "lenient"


def test_resolve_custom_without_base() -> None:
    p = resolve_policy("own", {"own": {"rules": [{"id": "stale", "kind": "no_update", "days": 30,
                                                   "label": "超过30天未更新"}]}})
    assert p.mode == "veto" and [r.id for r in p.rules] == ["stale"]


def test_changing_a_rule_kind_replaces_its_parameters() -> None:
    p = resolve_policy("x", {"x": {"base": "national-2019",
                                   "rules": [{"id": "stale", "kind": "broken_columns", "label": "栏目不可用"}]}})
    assert p.rule("stale").kind == "broken_columns"


@pytest.mark.parametrize("custom,name,path,fragment", [
    ({}, "nope", (), "unknown policy 'nope'"),
    ({"a": {"base": "nope"}}, "a", ("a", "base"), "unknown policy 'nope'"),
    ({"a": {"base": "b"}, "b": {"base": "a"}}, "a", ("b", "base"), "cycle"),
    ({"national-2019": {"mode": "veto"}}, "national-2019", ("national-2019",), "built-in name"),
    ({"a": {"base": "demo-default", "drop_rules": ["zzz"]}}, "a", ("a", "drop_rules", 0), "no rule 'zzz'"),
    ({"a": {"base": "demo-default", "rules": [{"id": "new"}]}}, "a", ("a", "rules", 0, "kind"),
     "required for a new rule"),
    ({"a": {"base": "demo-default", "rules": [{"id": "new", "kind": "no_update"}]}}, "a",
     ("a", "rules", 0, "label"), "required"),
    ({"a": {"base": "demo-default", "rules": [{"id": "stale", "max_broken": 1}]}}, "a",
     ("a", "rules", 0, "max_broken"), "does not apply"),
    ({"a": {"base": "demo-default", "rules": [{"id": "x", "days": 0}]}}, "a", ("a", "rules", 0, "days"),
     "greater than or equal to 1"),
    ({"a": {"base": "demo-default", "rules": [{"id": "stale", "veto": False}]}}, "a",
     ("a", "rules", 0, "veto"), "in veto mode every rule vetoes"),
    ({"a": {"base": "points-local", "rules": [{"id": "broken_columns", "deduct": 0}]}}, "a",
     ("a", "rules", 0, "deduct"), "neither vetoes nor deducts"),
    ({"a": {"base": "points-local", "veto_score": 60}}, "a", ("a", "veto_score"), "below pass_score"),
    ({"a": {"base": "points-local", "mode": "veto"}}, "a", ("a",), "inherited rule 'inquiry_deadline' veto"),
    ({"a": {}}, "a", ("a", "rules"), "at least 1 item"),
    ({"a": {"mode": "sometimes"}}, "a", ("a", "mode"), "'veto' or 'points'"),
])
def test_resolve_errors(custom: dict, name: str, path: tuple, fragment: str) -> None:
    with pytest.raises(PolicyError) as exc:
        resolve_policy(name, custom)
    assert any(p == path and fragment in msg for p, msg in exc.value.problems), exc.value.problems


def test_policy_validation() -> None:
    base = builtin_policies()["national-2019"].model_dump()
    with pytest.raises(ValidationError, match="duplicate rule id 'stale'"):
        Policy.model_validate({**base, "rules": base["rules"] + [base["rules"][0]]})
    with pytest.raises(ValidationError):
        Policy.model_validate({**base, "rules": []})
    with pytest.raises(ValidationError):
        Policy.model_validate({**base, "rules": [{"id": "x", "kind": "nope", "label": "x"}]})
    with pytest.raises(ValidationError):
        Policy.model_validate({**base, "unknown": 1})
    with pytest.raises(ValidationError):
        Policy.model_validate({**base, "confirm_failures": 0})


def test_policy_round_trips_as_json() -> None:
    for policy in builtin_policies().values():
        assert Policy.model_validate_json(policy.model_dump_json()) == policy
