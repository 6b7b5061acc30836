"""The fuzz slice of the suite: a bounded, reproducible budget per target (benchmarks/fuzz.py
runs the same targets for >= 10,000 inputs each)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# derandomize: the suite replays the same inputs every run (no flaky CI); the long run explores.
settings.register_profile("fuzz-suite", deadline=None, derandomize=True, database=None, print_blob=True,
                          suppress_health_check=list(HealthCheck))


def budget(examples: int):
    return settings(settings.get_profile("fuzz-suite"), max_examples=examples)
