"""wxmon: the product's entry points and orchestration (cli, daemon, demo, jobs, reports, runner, status).

This package sits above the others: it wires monitor/ (the core), probes/,
dashboards/ and emulator/ together. Nothing below imports it.
"""
