"""Benchmarks: each prints its figures and writes JSON under bench/out/. Run from a clone."""
