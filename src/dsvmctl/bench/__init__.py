"""GPU-vs-CPU benchmark results: store (SQLite), prices, compare, report.

Import the submodules directly (dsvmctl.bench.store, .prices, .compare, .report); this package
imports nothing so that `import dsvmctl.bench` stays cheap for the CLI.
"""
