"""How long the ARM engine takes to expand (and lint) the shipped templates.

    .venv/bin/python benchmarks/bench_arm.py

Reference (this repository's dev container, CPython 3.11): about 1 ms per warm expansion,
about 8 ms cold (first parse of every expression); the budget is 50 ms.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from dsvmctl.arm import expand, load_parameters, load_template
from dsvmctl.arm.lint import lint
from dsvmctl.arm.parse import parse_expression

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
WINDOWS_EXTRA = {"adminPassword": {"value": "Example-Passw0rd-123"}}


def measure(fn, repeat: int = 50) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    for name in ("dsvm-ubuntu", "dsvm-windows"):
        template = load_template(TEMPLATES / f"{name}.json")
        parameters = load_parameters(TEMPLATES / f"{name}.parameters.json")
        if name == "dsvm-windows":
            parameters.update(WINDOWS_EXTRA)

        def cold():
            parse_expression.cache_clear()
            expand(template, parameters)

        warm = measure(lambda: expand(template, parameters))
        cold_ms = measure(cold)
        linted = measure(lambda: lint(template, expand(template, parameters)))
        print(f"{name:14} expand warm {warm:6.2f} ms   cold {cold_ms:6.2f} ms   expand+lint {linted:6.2f} ms")


if __name__ == "__main__":
    main()
