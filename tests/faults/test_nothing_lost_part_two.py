"""Nothing lost, with real processes: a full disk under the outbox, an edge killed mid-replay on a shaped
slow link, and one dead-letter replay after a long outage into a flaky receiver. Each scenario is the
one benchmarks/load.py puts in the ``faults`` table (benchmarks/fault_scenarios.py); each must end with
0 lost, 0 duplicated at the receiver (by webhook-id), every alert with a final ``described`` stage,
and (but for the replay under test) no operator."""
import pytest

from benchmarks.fault_scenarios import (fault_edge_killed_mid_replay, fault_full_disk,
                                        fault_replay_after_outage_flaky_receiver)


def _nothing_lost(row: dict) -> None:
    if "skipped" in row:
        pytest.skip(row["skipped"])
    assert row["sent"] > 0 and row["alerts"] > 0, row
    assert row["lost"] == 0 and row["duplicated"] == 0 and row["no_final_status"] == 0, row
    assert row["out_of_order"] == 0 and row["delivered"] == max(row["sent"], row["alerts"]), row


@pytest.mark.slow
def test_full_disk_under_the_outbox_is_a_state_and_the_cloud_recovers_by_itself(tmp_path):
    row = fault_full_disk(tmp_path)
    print(row)
    _nothing_lost(row)
    assert row["recovery_s_after_space_returned"] is not None and row["operator_actions"] == 0, row
    assert row["tracebacks"] == 0, row
    assert 1 <= row["storage_error_lines"] <= 4, row          # one line per store per minute, not one per packet
    assert 1 <= row["edge_log_lines_about_the_refusal"] <= 4 and row["edge_exit"] == 0, row   # said, not per packet


@pytest.mark.slow
@pytest.mark.netns
def test_edge_killed_mid_replay_on_a_shaped_link_delivers_every_spooled_event_once(tmp_path):
    row = fault_edge_killed_mid_replay(tmp_path)
    print(row)
    _nothing_lost(row)
    assert row["killed_mid_replay"] and 0 < row["alerts_complete_at_kill"] < row["alerts"], row
    assert 0 < row["spool_files_at_kill"] < row["spooled_packets"], row   # acknowledged files went, the rest stayed
    assert row["left_in_spool_at_end"] == 0 and row["edge_exit"] == 0, row
    assert set(row["described_status"]) == {"ok"}, row            # every semantic frame reached the cloud


@pytest.mark.slow
def test_one_dead_letter_replay_after_a_long_outage_delivers_everything_through_a_flaky_receiver(tmp_path):
    row = fault_replay_after_outage_flaky_receiver(tmp_path)
    print(row)
    _nothing_lost(row)
    assert row["all_dead_before_replay"] and row["replays"] == 1, row
    assert row["first_attempts_dropped_by_receiver"] >= row["alerts"], row   # the receiver really was flaky
    assert row["dead_letters_after_replay"] == 0, row
