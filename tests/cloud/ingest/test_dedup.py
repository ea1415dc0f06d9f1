from cloud.ingest.dedup import SeenWindow


def test_seen_window_detects_duplicates_and_is_bounded():
    w = SeenWindow(capacity=100)
    assert w.check_and_add("e", "c", 1) and not w.check_and_add("e", "c", 1)
    assert w.check_and_add("e", "other", 1) and w.check_and_add("e2", "c", 1)
    for s in range(2, 300):
        w.check_and_add("e", "c", s)
    assert len(w) == 100


def test_a_restarted_edge_is_new_but_its_old_runs_replays_are_duplicates():
    w = SeenWindow(capacity=100)
    assert w.check_and_add("e", "c", 1, "run-a")
    assert w.check_and_add("e", "c", 1, "run-b")          # new process numbers from 1 again: new
    assert not w.check_and_add("e", "c", 1, "run-a")      # the old run's spooled packet: duplicate
