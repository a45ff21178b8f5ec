from datetime import UTC, datetime, timedelta

from probes.confirm import ColumnTrack, ConfirmRule, advance

T0 = datetime(2023, 7, 3, 2, 0, tzinfo=UTC)
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


def test_a_verification_page_between_failures_neither_counts_nor_resets():
    """A broken page seen through an occasional verification page is still confirmed; the
    verification rounds themselves are shown as unverifiable, never as broken or as recovered."""
    track = run(["fail", "unverifiable", "fail", "unverifiable"])
    assert track.status == "unverifiable" and track.consecutive_failures == 2
    assert advance(track, "fail", T0 + timedelta(hours=2), RULE).status == "broken"
    broken = run(["fail", "fail", "fail"])
    assert advance(broken, "unverifiable", T0 + timedelta(hours=2), RULE).consecutive_failures == 3
    assert run(["fail", "fail", "unverifiable", "ok"]) == ColumnTrack("ok")  # only ok resets


def test_failures_without_a_start_time_count_the_span_from_this_failure():
    """A stored track with failures but no first_failure_at (a NULL in the store): the span is
    measured from the earliest failure whose time is known, so it is never confirmed early."""
    track = advance(ColumnTrack("failing", 2, None), "fail", T0, RULE)
    assert track == ColumnTrack("failing", 3, T0)  # three failures, but no hour known to span them
    assert advance(track, "fail", T0 + timedelta(minutes=30), RULE).status == "failing"
    assert advance(track, "fail", T0 + timedelta(minutes=60), RULE) == ColumnTrack("broken", 4, T0)
    # A monitor error keeps the counters as they are, and the next failure still starts the span.
    errored = advance(ColumnTrack("failing", 2, None), "error", T0, RULE)
    assert errored == ColumnTrack("error", 2, None)
    assert advance(errored, "fail", T0, RULE) == ColumnTrack("failing", 3, T0)
