"""CI short version of benchmarks/dat.py: the baselines and DAT for a few seconds per profile on a real
namespaced, tbf-shaped link when root can build namespaces; otherwise it says so (a warning and the
recorded ``link_mode``) and runs the same processes over the in-process link emulator."""
import warnings

import pytest

from benchmarks import dat
from benchmarks.netlink import netns

TINY = {"duration": 9.0, "events_per_camera": 1, "event_len": 3.0, "gate_fps": 2.0, "repeats": 1,
        "outage_duration": 24.0, "outage_at": 4.0, "outage_s": 11.0, "max_drain": 45.0, "concurrency": 4}


@pytest.mark.netns
@pytest.mark.slow
def test_dat_and_its_baselines_on_a_shaped_link_lose_no_alert(tmp_path):
    ok, why = netns.available()
    if not ok:
        warnings.warn(f"network namespaces unavailable ({why}): running over the in-process link emulator")
    out = dat.run_benchmark(["severe", "outage"], TINY, force_emulator=not ok, out_json=tmp_path / "dat.json")
    assert out["link_mode"].startswith("netns") == ok, out["link_mode"]
    assert out["packet_loss_emulated"] is False
    assert out["baselines"] == ["fifo_naive", "fifo_adaptive", "priority"]
    sev = out["profiles"]["severe"]
    assert all(sev[p]["events"] == 4 for p in out["policies"])
    assert out["alerts_lost_by_policy"] == {p: 0 for p in out["policies"]}, out["alerts_lost_by_policy"]
    assert sev["dat"]["weighted_delay_s"] < 0.6 * sev["fifo_naive"]["weighted_delay_s"]
    assert sev["dat"]["bytes_sent_per_run"]["median"] < sev["fifo_naive"]["bytes_sent_per_run"]["median"]
    assert out["strongest_baseline_severe"] in out["baselines"] and "delay_reduction_severe" in out
    ev = sev["dat"]["per_run"][0]["events"][0]["evidence"]
    assert ev is None or {"width", "height", "jpeg_quality", "jpeg_bytes", "from_onset_s"} <= set(ev)
    assert out["evidence_min_width"] is None or out["evidence_min_width"] >= 224
    assert out["provenance"]["commit"] and out["provenance"]["repeats"] == 1
    outage = out["profiles"]["outage"]["dat"]["per_run"][0]
    assert outage["events_during_outage"] >= 4 and outage["described_while_down"] == 0, "the link was not down"
