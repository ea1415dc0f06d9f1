"""DAT against a baseline, paired per scripted event and repeat (pure), and the 16-camera site."""
import pytest

from benchmarks.netlink.paired import bootstrap_reduction, compare, paired_events, reduction
from benchmarks.netlink.scenario import CAMERAS, build_events, site_cameras


def _run(repeat, delays, described=None):
    """One run: events e0.. with (severity, delay); a lost alert has only its censored delay."""
    described = described or [True] * len(delays)
    return {"repeat": repeat, "events": [
        {"camera_id": "c", "event_id": f"e{i}", "severity": sev, "described": ok,
         "delay_s": d if ok else None, "delay_or_censored_s": d}
        for i, ((sev, d), ok) in enumerate(zip(delays, described))]}


def test_pairs_match_the_same_event_of_the_same_repeat_only():
    a = [_run(0, [(1.0, 1.0), (0.5, 2.0)]), _run(1, [(1.0, 1.5)])]
    b = [_run(1, [(1.0, 3.0), (0.5, 9.0)]), _run(0, [(1.0, 2.0)])]
    pairs = paired_events(a, b)
    assert sorted((p["repeat"], p["event"], p["a"], p["b"]) for p in pairs) == [
        (0, "c/e0", 1.0, 2.0), (1, "c/e0", 1.5, 3.0)]


def test_reduction_is_severity_weighted_and_a_tie_is_not_a_win():
    pairs = [{"repeat": 0, "severity": 1.0, "a": 1.0, "b": 2.0}, {"repeat": 0, "severity": 0.25, "a": 4.0, "b": 2.0}]
    assert reduction(pairs) == pytest.approx(1 - (1.0 + 1.0) / (2.0 + 0.5))
    same = [_run(r, [(1.0, 1.0 + 0.1 * i) for i in range(6)]) for r in range(3)]
    out = compare(same, same, floor=0.5)
    assert out["reduction"] == 0.0 and out["ci95"] == [0.0, 0.0]
    assert out["verdict"] == "tie" and not out["floor_met"]


def test_a_clear_win_has_an_interval_above_zero_and_lost_alerts_count_against_the_arm():
    rng = [0.9, 1.1, 1.0, 1.3, 0.8, 1.2, 1.05, 0.95]
    dat = [_run(r, [(1.0, x) for x in rng]) for r in range(3)]
    base = [_run(r, [(1.0, 3 * x) for x in rng]) for r in range(3)]
    out = compare(dat, base, floor=0.5)
    assert out["reduction"] == pytest.approx(2 / 3) and out["ci95"][0] > 0.5 and out["verdict"] == "win"
    assert out["floor_met"] and out["floor_met_at_ci_low"] and set(out["per_repeat"]) == {"0", "1", "2"}
    assert out["mean_delay_saved_s"]["diff"] > 0 and out["pairs"] == 24
    lossy = [_run(r, [(1.0, 60.0)] * len(rng), described=[False] * len(rng)) for r in range(3)]
    worse = compare(lossy, base)
    assert worse["verdict"] == "loss" and worse["pairs_with_a_lost_alert"] == 24


def test_bootstrap_resamples_within_repeats():
    pairs = [{"repeat": r, "severity": 1.0, "a": 1.0, "b": 2.0 + r} for r in range(3)]
    lo, hi = bootstrap_reduction(pairs, samples=200)
    assert lo == pytest.approx(hi) == pytest.approx(reduction(pairs)), "one event per repeat: nothing to resample"


def test_site16_cameras_overlap_with_every_severity_in_every_round():
    assert site_cameras(4) == CAMERAS
    cams = site_cameras(16)
    assert len({c for c, _, _ in cams}) == 16 and len({(clip, off) for _, clip, off in cams}) == 16
    events = build_events(40.0, 3, 6.0, cameras=cams, stagger_s=0.4)
    assert len(events) == 48
    first = [e for e in events if e.event_id.endswith("ev0")]
    assert max(e.onset for e in first) - min(e.onset for e in first) <= 6.0    # a round spans one event
    assert {e.severity for e in first} == {1.0, 0.7, 0.4, 0.15}
    assert sorted(sum(1 for e in first if e.severity == s) for s in {1.0, 0.7, 0.4, 0.15}) == [4, 4, 4, 4]


def test_ablation_arms_join_the_severe_repeats_interleaved():
    from benchmarks.dat import _jobs, split_arm
    assert split_arm("dat@0") == ("dat", 0) and split_arm("fifo_adaptive") == ("fifo_adaptive", None)
    jobs = _jobs(["normal", "severe"], 2, ("fifo_adaptive", "dat"), {"severe": ("fifo_adaptive@0", "dat@0")})
    assert jobs[:2] == [("normal", 0, "fifo_adaptive"), ("normal", 0, "dat")]
    assert [j for j in jobs if j[0] == "severe"][:4] == [("severe", 0, "fifo_adaptive"), ("severe", 0, "dat"),
                                                          ("severe", 0, "fifo_adaptive@0"), ("severe", 0, "dat@0")]


def test_site16_goes_into_the_same_json_with_its_own_goals_and_flags():
    from benchmarks.dat import FLOORS, combine

    def out(red, ev1s, cams):
        met = {"delay_reduction_severe": red >= 0.5, "evidence_within_1s_severe": ev1s >= 0.99,
               "evidence_min_width": True, "alerts_lost_every_policy": True}
        return {"scenario": {"cameras": cams, "stagger_s": 0.4}, "profiles": {"severe": {}}, "floors_met": met,
                "delay_reduction_severe": red, "delay_reduction_severe_ci95": [red - 0.1, red + 0.1],
                "evidence_within_1s_severe": ev1s}
    both = combine({"four": out(0.2, 1.0, 4), "site16": out(0.7, 0.9, 16)})
    assert both["delay_reduction_severe"] == 0.2 and both["site16_delay_reduction_severe"] == 0.7
    assert both["site16_delay_reduction_severe_ci95"] == pytest.approx([0.6, 0.8]) and both["site16"]["scenario"]["cameras"] == 16
    assert both["goals"]["site16_delay_reduction_severe"] == FLOORS["delay_reduction_severe"] == 0.5
    assert both["goals_met"] == {"delay_reduction_severe": False, "evidence_within_1s_severe": True,
                                 "evidence_min_width": True, "site16_delay_reduction_severe": True,
                                 "site16_evidence_within_1s_severe": False, "site16_evidence_min_width": True}
    assert both["workloads"]["site16"]["cameras"] == 16
