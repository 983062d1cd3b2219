"""Running the demo: the script over a gateway client, and the whole `rx-gateway demo` (an
embedded database, the synthetic data, a gateway on a free port, the table)."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from rx_gateway.bootstrap import Database, build_app
from rx_gateway.client import GatewayClient
from rx_gateway.config import Settings
from rx_gateway.tools.demo.enrollment import (
    COMMERCIAL,
    enroll_newcomer,
    files_out,
    load_through_834,
    newcomer,
    simulate_design,
)
from rx_gateway.tools.demo.scenarios import (
    Outcome,
    Step,
    price_check,
    price_check_line,
    script,
)
from rx_gateway.tools.demo.settlement import settle_the_week
from rx_gateway.tools.demo.table import render
from rx_gateway.tools.synthetic.dataset import generate
from rx_gateway.tools.synthetic.plans import MEDICAID
from rx_gateway.v1 import claims_pb2 as pb

# The demo's day at the counter: the scripted claims are dated around it.
DEMO_BUSINESS_DATE = dt.date(2026, 11, 23)


async def run_script(client: GatewayClient, steps: list[Step]) -> list[Outcome]:
    outcomes = []
    first_auth: dict[bytes, str] = {}
    for step in steps:
        request = step.request
        if isinstance(request, pb.EligibilityRequest):
            e1 = await client.check_eligibility(request)
            outcomes.append(
                Outcome(
                    step,
                    e1.transaction_response_status,
                    tuple(r.code for r in e1.rejects),
                    0,
                    0,
                    0,
                    f"plan {e1.plan_id}",
                    e1.transaction_response_status == step.status,
                )
            )
            continue
        if isinstance(request, pb.ReversalRequest):
            response = await client.reverse(request)
        else:
            response = await client.submit(request)
        key = request.SerializeToString()
        codes = tuple(r.code for r in response.rejects)
        passed = (
            response.transaction_response_status == step.status
            and codes[: len(step.rejects)] == step.rejects
        )
        if step.check is not None and passed:
            passed = step.check(response)
        if step.status == "D":
            passed = passed and response.authorization_number == first_auth.get(key)
        elif response.transaction_response_status == "P" and key not in first_auth:
            first_auth[key] = response.authorization_number
        purse = sum(p.paid_cents for p in response.purses)
        detail = step.check_text or (
            response.additional_messages[0] if response.additional_messages else response.message
        )
        outcomes.append(
            Outcome(
                step,
                response.transaction_response_status,
                codes,
                response.pricing.patient_pay_amount_cents,
                response.pricing.plan_paid_cents,
                purse,
                detail,
                passed,
            )
        )
    return outcomes


async def run_demo(
    settings: Settings,
    *,
    keep: bool = False,
    verbose: bool = False,
    out: Path = Path("demo-settlement"),
) -> int:
    """Prints the table, then the week's settlement (835s and invoices written under
    ``out``), and where the database was kept with ``keep``; ``verbose`` adds what was
    loaded. The CLI sets the log level."""
    workdir = Path(tempfile.mkdtemp(prefix="rxgw-demo-"))
    demo_settings = replace(
        settings,
        database_url=None,
        data_dir=workdir,
        listen_address="127.0.0.1:0",
        business_date=DEMO_BUSINESS_DATE,
        dev_mode=True,  # the demo listens in plaintext on 127.0.0.1 only
    )
    database = await Database.open(demo_settings)
    try:
        fixtures = generate(workdir / "data")
        await database.migrate()
        counts = await load_through_834(database, workdir / "data")
        if verbose:
            loaded = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
            print(f"loaded synthetic data: {loaded}", flush=True)
        # a member who arrives by X12 834 (two sponsors' files), billed in the script
        await enroll_newcomer(database.dsn, workdir / "834")
        fixtures["members"]["enrolled_by_834"] = newcomer(MEDICAID)
        fixtures["members"]["enrolled_by_834_employer"] = newcomer(COMMERCIAL)
        app = await build_app(demo_settings, database.dsn)
        try:
            async with GatewayClient(f"127.0.0.1:{app.port}") as client:
                outcomes = await run_script(client, script(fixtures))
                priced = price_check_line(await client.check_price(price_check(fixtures)))
        finally:
            await app.stop()
        summary, settled = await settle_the_week(database.dsn, out)
        files = await files_out(demo_settings, database.dsn, out)
        simulated = await simulate_design(demo_settings, database.dsn, out / "simulation")
    finally:
        database.close()
        if keep:
            print(f"demo database kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(render(outcomes))
    print(priced)
    print(summary)
    print(files)
    print(simulated)
    return 0 if all(o.passed for o in outcomes) and settled else 1
