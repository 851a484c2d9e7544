"""Benchmarks behind `make bench`: numbers, each beside its target, never timed tests."""
