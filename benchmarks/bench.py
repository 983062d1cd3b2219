"""The benchmark of issue 4, runnable from a checkout: the same as `rx-gateway bench`.

    python benchmarks/bench.py --quick          # under 3 minutes, with the claim-shaped floor
    python benchmarks/bench.py                  # the full step and bisection, under 10 minutes
    python benchmarks/bench.py --workers 2      # two server processes on one port (SO_REUSEPORT),
                                                # each one's CPU per claim reported

See src/rx_gateway/tools/bench/ (its __init__.py) for what it measures and how.
"""

import sys

from rx_gateway.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
