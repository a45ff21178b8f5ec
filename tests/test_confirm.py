from datetime import datetime, timedelta, timezone

from probes.confirm import ColumnTrack, ConfirmRule, advance

T0 = datetime(2023, 7, 3, 2, 0, tzinfo=timezone.utc)
RULE = ConfirmRule(failures=3, minutes=60)


def run(outcomes, step_minutes=30):
    track = None
    for i, outcome in enumerate(outcomes):
        track = advance(track, outcome, T0 + timedelta(minutes=step_minutes * i), RULE)
    return track


def test_three_failures_over_an_hour_confirm_broken():
    assert run(["fail", "fail", "fail"]).status == "broken"  # 0, 30, 60 minutes


def test_failures_too_close_together_stay_failing():
    assert run(["fail"] * 5, step_minutes=5).status == "failing"  # 20 minutes of failures


def test_a_success_resets_the_count():
    track = run(["fail", "fail", "ok", "fail", "fail"])
    assert track.status == "failing" and track.consecutive_failures == 2


def test_monitor_errors_neither_count_nor_reset():
    track = run(["fail", "error", "error", "fail"])
    assert track.consecutive_failures == 2 and track.status == "failing"
    assert advance(track, "fail", T0 + timedelta(hours=3), RULE).status == "broken"
    assert run(["error"] * 10).status == "error"


def test_unverifiable_is_never_broken():
    assert run(["unverifiable"] * 10).status == "unverifiable"
    assert ColumnTrack().status == "ok"
