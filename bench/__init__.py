"""Benchmarks for EmailBot; see bench/README.md. Run with `uv run python -m bench.pipeline`."""
