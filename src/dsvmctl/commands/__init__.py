"""CLI command modules. Each exposes `register(cli)` and keeps heavy imports inside functions,
so `dsvmctl --help` stays fast."""

MODULES = ("emulator", "validate", "machines", "resize", "remote", "bench", "agent")
