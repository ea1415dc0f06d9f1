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


class SmallDisk:
    """A disk of ``size`` bytes holding named files, for the reserve: a checkpoint needs ``needs`` bytes
    free to run (the database file grows before the WAL is truncated) and then frees the WAL."""
    def __init__(self, size, wal, needs):
        self.size, self.files, self.needs = size, {"outbox.db": 32_000, "outbox.db-wal": wal}, needs

    def free_bytes(self, directory):
        return self.size - sum(self.files.values())

    def checkpoint(self):
        if self.free_bytes(None) < self.needs:
            raise sqlite3.OperationalError("database or disk is full")
        self.files["outbox.db"] += self.needs
        self.files["outbox.db-wal"] = 0


class FakeReserve:
    def __init__(self, disk, size):
        self.disk, self.size = disk, size

    def path(self, directory):
        return directory / ".vigil-reserve"

    def held(self, directory):
        return "reserve" in self.disk.files

    def make(self, directory):
        if self.disk.free_bytes(directory) < self.size:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.disk.files["reserve"] = self.size

    def release(self, directory):
        return self.disk.files.pop("reserve", None) is not None


def test_a_wal_that_filled_the_disk_is_checkpointed_with_the_reserve_and_the_reserve_comes_back(tmp_path, caplog):
    """The deadlock the full-disk fault test found: the WAL grew into every byte the filler freed, and the
    checkpoint that would shrink it needed space itself. The reserve breaks it, and is written back."""
    disk, now = SmallDisk(256_000, wal=10_000, needs=8_000), [0.0]
    st = StorageState({"outbox": tmp_path / "outbox.db"}, 48_000, clock=lambda: now[0], free=disk.free_bytes,
                      probe=lambda d, n: None, reclaim={"outbox": disk.checkpoint}, reserve=FakeReserve(disk, 48_000))
    st.ensure_reserves()
    assert disk.files["reserve"] == 48_000
    disk.files["outbox.db-wal"] = 256_000 - 32_000 - 48_000       # commits ate every free byte
    caplog.set_level(logging.WARNING, "vigil.cloud")
    assert st.failed("outbox", sqlite3.OperationalError("database or disk is full"))
    now[0] = 1.0
    st.check()                                                    # checkpoint fails, reserve given up, tried again
    assert st.reserve_released == 1 and disk.files["outbox.db-wal"] == 0
    assert not st.refusing and disk.files.get("reserve") == 48_000   # written back before leaving the state
    assert any("released the 48000-byte reserve" in r.getMessage() for r in caplog.records)


def test_without_room_for_the_reserve_the_store_stays_refusing(tmp_path):
    disk, now = SmallDisk(100_000, wal=0, needs=0), [0.0]
    disk.files["other"] = 100_000 - 32_000 - 50_000              # someone else's files: 50 kB free
    st = StorageState({"outbox": tmp_path / "outbox.db"}, 30_000, clock=lambda: now[0], free=disk.free_bytes,
                      probe=lambda d, n: None, reclaim={"outbox": disk.checkpoint}, reserve=FakeReserve(disk, 30_000))
    st.ensure_reserves()
    assert "reserve" not in disk.files                            # 50 kB < reserve + two headrooms: not yet
    st.failed("outbox", sqlite3.OperationalError("database or disk is full"))
    st.check()                                                    # reserve written (30 kB), then 20 kB < headroom
    assert st.refusing and "below the 30000" in st.reason()
    del disk.files["other"]
    st.check()
    assert not st.refusing


def test_the_reserve_file_on_a_real_directory(tmp_path):
    from cloud.storage_fault import Reserve
    r = Reserve(4096)
    assert not r.held(tmp_path) and not r.release(tmp_path)
    r.make(tmp_path)
    assert r.held(tmp_path) and r.path(tmp_path).stat().st_size == 4096
    assert r.release(tmp_path) and not r.path(tmp_path).exists()
