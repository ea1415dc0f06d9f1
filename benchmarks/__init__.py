"""Benchmarks: each measures its baseline in the same run and writes benchmarks/results/<name>.json."""
