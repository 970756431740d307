"""Simulated devices for demos, tests and benchmarks."""
