"""BatchLimit as plain data: the batch grows while descriptions finish early, halves when one is late."""
import pytest

from cloud.answer.batch_limit import BatchLimit


def test_it_starts_at_one_row():
    assert BatchLimit(8).current == 1


@pytest.mark.parametrize("took,had,backlog,before,after", [
    (3.0, 30.0, True, 1, 2),     # fast, events waiting: one more row
    (3.0, 30.0, False, 1, 1),    # fast but nothing waits: no reason to grow
    (3.0, 30.0, True, 4, 4),     # at the maximum
    (15.0, 30.0, True, 2, 2),    # in between: hold
    (25.0, 30.0, True, 4, 2),    # too close to the deadline: halve
    (25.0, 30.0, True, 1, 1),    # never below one
])
def test_additive_increase_multiplicative_decrease(took, had, backlog, before, after):
    lim = BatchLimit(4, current=before)
    assert lim.finished(took, had, backlog) == after


def test_a_missed_deadline_halves_the_batch():
    lim = BatchLimit(8, current=6)
    assert lim.missed() == 3 and lim.missed() == 1 and lim.missed() == 1


def test_a_machine_that_slows_with_batch_size_settles_where_descriptions_still_fit():
    """Service time = 4 s per row in the batch, 30 s to spare: the limit must stay where a description
    keeps inside SHRINK_ABOVE of its time (at most 5 rows: 20 s < 21 s) and never miss."""
    lim = BatchLimit(16)
    for _ in range(200):
        took = 4.0 * lim.current
        assert took <= 30.0
        lim.finished(took, 30.0, backlog=True)
    assert 2 <= lim.current <= 5
