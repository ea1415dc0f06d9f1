"""CI short version of benchmarks/dat.py: FIFO vs DAT for a few seconds per profile on a real
namespaced, tbf-shaped link when root can build namespaces; otherwise it says so (a warning and the
recorded ``link_mode``) and runs the same processes over the in-process link emulator."""
import warnings

import pytest

from benchmarks import dat
from benchmarks.netlink import netns

TINY = {"duration": 9.0, "events_per_camera": 1, "event_len": 3.0, "gate_fps": 2.0,
        "outage_duration": 24.0, "outage_at": 4.0, "outage_s": 11.0, "max_drain": 45.0}


@pytest.mark.netns
@pytest.mark.slow
def test_dat_beats_fifo_on_a_shaped_link_and_loses_no_alert(tmp_path):
    ok, why = netns.available()
    if not ok:
        warnings.warn(f"network namespaces unavailable ({why}): running over the in-process link emulator")
    out = dat.run_benchmark(["severe", "outage"], TINY, force_emulator=not ok, out_json=tmp_path / "dat.json")
    assert out["link_mode"].startswith("netns") == ok, out["link_mode"]
    assert out["packet_loss_emulated"] is False
    sev = out["profiles"]["severe"]
    assert sev["dat"]["alerts_lost"] == 0 and sev["fifo"]["events"] == sev["dat"]["events"] == 4
    assert out["alerts_lost"] == 0, out["profiles"]["outage"]["dat"]["lost_event_ids"]
    assert sev["dat"]["weighted_delay_s"] < 0.6 * sev["fifo"]["weighted_delay_s"]
    assert sev["dat"]["bytes_sent"] < sev["fifo"]["bytes_sent"]
    assert sev["dat"]["evidence_within_0_5s"] >= 0.75
    outage = out["profiles"]["outage"]["dat"]
    assert outage["events_during_outage"] >= 4 and outage["described_while_down"] == 0, "the link was not down"
    assert outage["described"] == outage["events"]
