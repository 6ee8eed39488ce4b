"""`uv run python -m bench`: the portal suite (pages, load, downloads, zips, growth; see
bench/suite.py).

`python -m bench pages|load|downloads|zips|growth [options]` runs parts of the suite;
`python -m bench gateway|emulator|demo_data` runs those components' own benchmarks.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "gateway": "bench.gateway",
    "emulator": "bench.emulator",
    "demo_data": "bench.demo_data",
    "relay": "bench.relay",
}


def main(argv: list[str]) -> int:
    if len(argv) == 1 and argv[0] in BENCHMARKS:
        try:
            module = importlib.import_module(BENCHMARKS[argv[0]])
        except ImportError as error:
            print(f"benchmark {argv[0]!r} is not available: {error}", file=sys.stderr)
            return 2
        return int(module.main() or 0)
    from bench import suite

    return suite.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
