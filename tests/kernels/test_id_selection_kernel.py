"""The Triton selection kernel against the torch reference, under TRITON_INTERPRET=1.

The interpreter flag is read when Triton decorates the kernel, so the comparison
runs in a fresh interpreter process with the flag set (other tests may have
imported Triton without it).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from kernels.id_selection import id_select
from kernels.id_selection.reference import id_select_reference

ROOT = Path(__file__).resolve().parents[2]

CASES = [(10, 8, 4, 20.0), (37, 20, 12, 20.0), (64, 33, 64, 5.0), (100, 16, 30, 0.0), (130, 70, 16, 20.0)]

SCRIPT = """
import json, sys, torch
from kernels.id_selection.triton_kernel import id_select_triton
from kernels.id_selection.reference import id_select_reference
out = []
for n, d, k, g in json.loads(sys.argv[1]):
    gen = torch.Generator().manual_seed(n)
    s, f = torch.rand(n, generator=gen), torch.randn(n, d, generator=gen)
    out.append([id_select_triton(s, f, k, g).tolist(), id_select_reference(s, f, k, g).tolist()])
print(json.dumps(out))
"""


def test_triton_kernel_picks_exactly_what_the_reference_picks():
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(CASES)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    for (n, d, k, g), (kernel, ref) in zip(CASES, json.loads(res.stdout.strip().splitlines()[-1])):
        assert kernel == ref, (n, d, k, g)
        assert len(set(kernel)) == k


def test_reference_first_pick_is_the_most_important_and_all_picks_distinct():
    gen = torch.Generator().manual_seed(0)
    s, f = torch.rand(50, generator=gen), torch.randn(50, 8, generator=gen)
    picks = id_select_reference(s, f, 50, 20.0)
    assert int(picks[0]) == int(torch.argmax(s))
    assert sorted(picks.tolist()) == list(range(50))


def test_cpu_dispatch_uses_the_reference():
    gen = torch.Generator().manual_seed(2)
    s, f = torch.rand(40, generator=gen), torch.randn(40, 8, generator=gen)
    assert torch.equal(id_select(s, f, 10, 20.0), id_select_reference(s, f, 10, 20.0))
