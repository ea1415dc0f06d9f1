"""Top-down budget allocation is plain bookkeeping: sums, caps, proportions; no torch."""
import subprocess
import sys

from cloud.kvcache.allocation import allocate, split, uniform


def test_parts_sum_to_the_total_and_respect_caps():
    out = split(100, [1.0, 1.0, 8.0], [50, 50, 30])
    assert sum(out) == 100 and out[2] == 30 and out[0] == out[1] == 35


def test_more_need_gets_more_budget_and_no_head_starves():
    out = allocate(120, [[1.0, 3.0], [0.0, 0.0]], cap=100)
    assert sum(map(sum, out)) == 120
    assert out[0][1] > out[0][0] > 0
    assert sum(out[0]) > sum(out[1]) > 0        # a zero-need layer keeps a minimum share
    assert all(b <= 100 for row in out for b in row)


def test_total_larger_than_capacity_is_capped():
    assert allocate(10_000, [[1.0, 2.0]], cap=7) == [[7, 7]]


def test_uniform_gives_every_head_the_same():
    out = uniform(24, 3, 2, cap=100)
    assert out == [[4, 4]] * 3


def test_allocation_imports_no_torch():
    code = "import sys, cloud.kvcache.allocation; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
