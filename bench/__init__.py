"""Benchmarks (not tests): `uv run python -m bench gateway|emulator|demo_data`."""
