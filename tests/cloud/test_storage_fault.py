"""The storage-fault state as plain data: a write refused by the disk enters it, one ERROR line a
minute names the cause and the path, too little headroom enters it too, and space back leaves it."""
import errno
import logging
import sqlite3

from cloud.storage_fault import StorageState, is_storage_error


class Disk:
    def __init__(self, free):
        self.free, self.probes, self.probe_fails = free, 0, False

    def free_bytes(self, directory):
        return self.free

    def probe(self, directory, size):
        self.probes += 1
        if self.probe_fails or size > self.free:
            raise OSError(errno.ENOSPC, "No space left on device")


def state(tmp_path, disk, now, min_free=1000):
    return StorageState({"outbox": tmp_path / "outbox.db", "event store": tmp_path / "events.db", "memory": None},
                        min_free, clock=lambda: now[0], free=disk.free_bytes, probe=disk.probe)


def test_what_counts_as_a_storage_error():
    assert is_storage_error(sqlite3.OperationalError("database or disk is full"))
    assert is_storage_error(sqlite3.OperationalError("disk I/O error"))
    assert is_storage_error(OSError(errno.ENOSPC, "No space left on device"))
    assert not is_storage_error(sqlite3.OperationalError("no such table: stages"))   # a bug, not the disk
    assert not is_storage_error(ValueError("x"))


def test_a_full_disk_is_a_state_said_once_a_minute_with_cause_and_path_and_left_by_itself(tmp_path, caplog):
    disk, now = Disk(free=10_000), [0.0]
    st = state(tmp_path, disk, now)
    caplog.set_level(logging.WARNING, "vigil.cloud")
    assert not st.refusing and st.snapshot() == []
    for i in range(100):                         # every packet's commit fails for a while
        now[0] = i * 0.5
        assert st.failed("outbox", sqlite3.OperationalError("database or disk is full"))
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and str(tmp_path / "outbox.db") in errors[0].getMessage()
    assert "database or disk is full" in errors[0].getMessage()
    assert st.refusing and "outbox" in st.reason()
    now[0] = 61.0
    st.failed("outbox", sqlite3.OperationalError("database or disk is full"))
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 2    # the next minute's line
    disk.probe_fails = True
    st.check()                                   # free space reads fine but the disk still refuses a write
    assert st.refusing
    disk.probe_fails = False
    st.check()
    assert not st.refusing and st.snapshot() == [] and st.entered == 1
    assert "can write again" in caplog.records[-1].getMessage()


def test_too_little_headroom_for_the_wal_is_a_fault_before_any_write_fails(tmp_path):
    disk, now = Disk(free=500), [0.0]
    st = state(tmp_path, disk, now, min_free=1000)
    st.check()
    assert st.refusing and {f["store"] for f in st.snapshot()} == {"outbox", "event store"}
    assert "below the 1000" in st.reason()
    disk.free = 5000
    st.check()
    assert not st.refusing


def test_other_errors_and_in_memory_stores_are_not_storage_faults(tmp_path):
    disk, now = Disk(free=10_000), [0.0]
    st = state(tmp_path, disk, now)
    assert not st.failed("outbox", sqlite3.OperationalError("no such table: stages"))
    assert not st.failed("memory", sqlite3.OperationalError("database or disk is full"))
    assert not st.refusing


def test_a_store_short_of_space_gives_its_wal_space_back_before_the_headroom_is_gone(tmp_path):
    disk, now = Disk(free=1500), [0.0]                 # under twice the headroom, over the headroom
    checkpoints = []

    def checkpoint():
        checkpoints.append(now[0])
        disk.free = 50_000                             # the WAL truncated

    st = StorageState({"outbox": tmp_path / "outbox.db"}, 1000, clock=lambda: now[0], free=disk.free_bytes,
                      probe=disk.probe, reclaim={"outbox": checkpoint})
    assert st.admit() and checkpoints == [0.0]
    disk.free = 1500
    now[0] = 0.05
    assert st.admit() and checkpoints == [0.0]         # not more often than RECLAIM_EVERY_S
    now[0] = 1.0
    disk.free = 500                                    # below the headroom, and the checkpoint cannot help
    st._reclaim["outbox"] = lambda: (_ for _ in ()).throw(OSError(28, "No space left on device"))
    assert not st.admit() and st.refusing


def test_near_the_bound_free_space_is_read_for_every_packet(tmp_path):
    disk, now = Disk(free=3000), [0.0]                 # three headrooms: not plenty
    st = state(tmp_path, disk, now, min_free=1000)
    assert st.admit()
    disk.free = 900                                    # one burst of commits later, same instant
    assert not st.admit()
    disk, now = Disk(free=100_000), [0.0]              # plenty: read at most every ADMIT_CHECK_EVERY_S
    st = state(tmp_path, disk, now, min_free=1000)
    assert st.admit()
    disk.free = 900
    assert st.admit()
    now[0] = 1.0
    assert not st.admit()
