"""`rx-gateway demo`: a scripted day at the counter, over real gRPC, on an embedded database.

Each step sends one claim (or reversal, or eligibility check) and states what the answer must
be. The demo prints a table and exits 0 only if every step got the answer the script expects.
The end-to-end tests run the same script.

    scenarios   the scripted steps and what each must answer (Step, Outcome, script)
    run         run_script (the steps over a client) and run_demo (the whole demo)
    table       render: the table the demo prints
"""

from rx_gateway.tools.demo.run import run_demo, run_script
from rx_gateway.tools.demo.scenarios import Outcome, Step, script
from rx_gateway.tools.demo.table import render

__all__ = ["Outcome", "Step", "render", "run_demo", "run_script", "script"]
