"""`rx-gateway export pde` end to end: a Part D member's claims paid over the real gRPC client
(below the threshold with a sales tax, crossing it, catastrophic, one reversed), then the
command, and the file read back here by fixed positions (not with the module's own code): one
DET per paid claim and a D record for the reversal, each field and both money identities as
worked out by hand. Then each mistake a user can make: one line, a non-zero exit, no file."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from rx_gateway.cli import main
from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.tools.synthetic.dataset import active_members
from rx_gateway.v1 import claims_pb2 as pb

PART_D_PLAN = "PARTD-STD-2026"
DEDUCTIBLE, OUT_OF_POCKET = 61_500, 210_000  # 2026 defined standard: $615, $2,100
RECORD = 1_000


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, loaded_dsn: str, capsys: pytest.CaptureFixture[str]
) -> Any:
    """``rx_gateway.cli.main`` on the session's database, in a thread (it runs its own event
    loop): (exit code, stdout, stderr). The root logger main configures is put back after."""
    monkeypatch.setenv("RX_GATEWAY_DATABASE_URL", loaded_dsn)
    monkeypatch.setenv("GRPC_ENABLE_FORK_SUPPORT", os.environ.get("GRPC_ENABLE_FORK_SUPPORT", "0"))
    root = logging.getLogger()

    async def run(*args: str) -> tuple[int, str, str]:
        handlers, level = root.handlers[:], root.level
        capsys.readouterr()
        try:
            code = await asyncio.to_thread(main, list(args))
        except SystemExit as stop:  # argparse: a usage error
            code = int(stop.code or 0)
        finally:
            root.handlers[:], root.level = handlers, level
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _one_line(code: int, err: str) -> str:
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("rx-gateway: ") and "Traceback" not in err
    return lines[0]


def _money(field: str) -> int:
    """S9(8)V99 as the README documents it: a sign, then ten digits of cents."""
    assert len(field) == 11 and field[0] in "+-" and field[1:].isdigit(), field
    return int(field[1:]) * (-1 if field[0] == "-" else 1)


def _det(line: str) -> dict[str, Any]:
    """One DET record by the README's positions (1-based, inclusive: a-b is line[a-1:b])."""
    return {
        "sequence": line[3:10],
        "icn": line[10:50].rstrip(),
        "mbi": line[50:61],
        "cardholder_id": line[61:81].rstrip(),
        "date_of_birth": line[81:89],
        "gender": line[89],
        "date_of_service": line[90:98],
        "paid_date": line[98:106],
        "rx": line[106:118],
        "ndc": line[118:137].rstrip(),
        "provider_qualifier": line[137:139],
        "provider": line[139:154].rstrip(),
        "prescriber_qualifier": line[154:156],
        "prescriber": line[156:191].rstrip(),
        "fill": line[191:193],
        "dispensing_status": line[193],
        "compound": line[194],
        "daw": line[195],
        "quantity": line[196:206],
        "days_supply": line[206:209],
        "coverage_status": line[209],
        "adjustment": line[210],
        "catastrophic": line[211],
        "phases": line[212:214],
        "ingredient": _money(line[214:225]),
        "fee": _money(line[225:236]),
        "tax": _money(line[236:247]),
        "vaccine": _money(line[247:258]),
        "gdcb": _money(line[258:269]),
        "gdca": _money(line[269:280]),
        "patient": _money(line[280:291]),
        "other_troop": _money(line[291:302]),
        "lics": _money(line[302:313]),
        "plro": _money(line[313:324]),
        "cpp": _money(line[324:335]),
        "npp": _money(line[335:346]),
        "filler": line[346:],
    }


def _identities(d: dict[str, Any]) -> None:
    gdc = d["gdcb"] + d["gdca"]
    assert gdc == d["ingredient"] + d["fee"] + d["tax"] + d["vaccine"], d
    assert gdc == (d["patient"] + d["other_troop"] + d["lics"] + d["plro"] + d["cpp"] + d["npp"]), d


@pytest.fixture(scope="module")
def member(dataset: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    """A Part D member no other test bills for (test_cob_hunt takes M001965, M001969 and
    M001985 of these)."""
    taken = {"M001965", "M001969", "M001985"}
    return next(
        m
        for m in active_members(dataset[0])[1950:2000]
        if m["plan_id"] == PART_D_PLAN and m["member_id"] not in taken
    )


def _fill(
    fixtures: dict[str, Any], member: dict[str, Any], rx: int, day: str, **kw: Any
) -> pb.ClaimRequest:
    return claim_request(
        fixtures,
        member,
        fixtures["drugs"][kw.pop("drug", "generic")],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx,
        date_of_service=day,
        **kw,
    )


async def _paid(client: GatewayClient, request: pb.ClaimRequest) -> pb.ClaimResponse:
    response = await client.submit(request)
    assert response.transaction_response_status == "P", (response.rejects, response.message)
    return response


async def test_a_part_d_year_exports_as_pdes(
    client: GatewayClient,
    conn: asyncpg.Connection,
    fixtures: dict[str, Any],
    member: dict[str, Any],
    rx_number: Any,
    cli: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Below the threshold (with a $0.25 sales tax the plan pays), crossing it (A),
    catastrophic (C), and a catastrophic fill reversed (its D record): every field in place,
    the amounts as worked out by hand from the $615 deductible and the $2,100 limit."""
    taxed = _fill(fixtures, member, rx_number(), "20260302")
    taxed.pricing.flat_sales_tax_amount_submitted_cents = 25
    taxed.pricing.gross_amount_due_cents += 25
    # 900 units of a brand for 90 days: about $9,000, past the deductible and the limit
    crossing = _fill(
        fixtures,
        member,
        rx_number(),
        "20260402",
        drug="preferred_brand",
        quantity_thousandths=900_000,
        days_supply=90,
    )
    catastrophic = _fill(fixtures, member, rx_number(), "20260504")
    catastrophic.claim.dispense_as_written = 5  # a generic dispensed under a brand's name
    reversed_fill = _fill(fixtures, member, rx_number(), "20260601")
    responses = [await _paid(client, r) for r in (taxed, crossing, catastrophic, reversed_fill)]
    reversal = await client.reverse(reversal_for(reversed_fill))
    assert reversal.transaction_response_status == "A", reversal.rejects
    requests = (taxed, crossing, catastrophic, reversed_fill)
    icns = [r.internal_control_number for r in responses]
    paid_on = {
        row["internal_control_number"]: row["paid"].strftime("%Y%m%d")
        for row in await conn.fetch(
            "SELECT internal_control_number, (created_at AT TIME ZONE 'UTC')::date AS paid"
            " FROM claim WHERE internal_control_number = ANY($1)",
            icns,
        )
    }
    reversed_on = await conn.fetchval(
        "SELECT (r.created_at AT TIME ZONE 'UTC')::date FROM claim_reversal r"
        " JOIN claim c USING (family_id, claim_id) WHERE c.internal_control_number = $1",
        icns[3],
    )

    today = dt.datetime.now(dt.UTC).date()
    out = tmp_path / "pde.txt"
    code, stdout, stderr = await cli(
        "export", "pde", "--plan", PART_D_PLAN,
        "--from", f"{today - dt.timedelta(days=1)}", "--to", f"{today + dt.timedelta(days=1)}",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    assert str(out) in stdout and "PDE record(s)" in stdout
    data = out.read_bytes()
    assert data.isascii() and b"\r" not in data and data.endswith(b"\n")
    lines = data.decode("ascii").split("\n")[:-1]
    assert all(len(line) == RECORD for line in lines)
    kinds = [line[:3] for line in lines]
    assert kinds[:2] == ["HDR", "BHD"] and kinds[-2:] == ["BTR", "TLR"]
    assert set(kinds[2:-2]) <= {"DET"}
    hdr, bhd, btr, tlr = lines[0], lines[1], lines[-2], lines[-1]
    assert hdr[3:23].rstrip() == "PDP-SPONSOR" and hdr[57:77].rstrip() == "RXGW-PDE-1"
    assert bhd[18:38].rstrip() == PART_D_PLAN
    details = [_det(line) for line in lines[2:-2]]
    # the file is never dated before its records (HDR 34-41 against each DET's paid date)
    assert hdr[33:41] >= max(d["paid_date"] for d in details)
    # every record of the file (other tests' Part D claims too) keeps both identities
    for d in details:
        _identities(d)
        assert d["filler"] == " " * (RECORD - 346) and d["coverage_status"] == "C"
    assert [d["sequence"] for d in details] == [f"{n:07d}" for n in range(1, len(details) + 1)]
    deletions = sum(d["adjustment"] == "D" for d in details)
    assert int(btr[10:19]) == len(details) and int(tlr[10:19]) == len(details)
    assert (int(btr[19:28]), int(btr[28:37])) == (len(details) - deletions, deletions)
    net = sum(
        -(d["gdcb"] + d["gdca"]) if d["adjustment"] == "D" else d["gdcb"] + d["gdca"]
        for d in details
    )
    assert int(btr[38:52]) * (-1 if btr[37] == "-" else 1) == net

    ours = [d for d in details if d["cardholder_id"] == member["cardholder_id"]]
    assert [d["icn"] for d in ours] == [*icns, icns[3]]  # paid in order, then the deletion
    pairs = zip(ours, [*requests, reversed_fill], [*responses, responses[3]], strict=True)
    for d, request, response in pairs:
        p = response.pricing
        assert d["mbi"] == " " * 11 and d["dispensing_status"] == " "
        assert d["daw"] == str(request.claim.dispense_as_written)  # 408-D8 as submitted
        assert (d["date_of_birth"], d["gender"]) == (
            member["date_of_birth"],
            str(member["gender_code"]),
        )
        assert d["date_of_service"] == request.header.date_of_service
        assert d["rx"] == request.claim.prescription_reference_number
        assert d["ndc"] == request.claim.product_id and d["compound"] == "1"
        assert (d["provider_qualifier"], d["provider"]) == (
            "01",
            request.header.service_provider_id,
        )
        assert (d["prescriber_qualifier"], d["prescriber"]) == (
            "01",
            request.prescriber.prescriber_id,
        )
        assert d["fill"] == "00"
        assert d["quantity"] == f"{request.claim.quantity_dispensed_thousandths:010d}"
        assert d["days_supply"] == f"{request.claim.days_supply:03d}"
        assert d["ingredient"] == p.ingredient_cost_paid_cents
        assert d["fee"] == p.dispensing_fee_paid_cents
        assert d["patient"] == p.patient_pay_amount_cents
        assert d["cpp"] == p.plan_paid_cents
        # no purse on the synthetic Part D plan, no SPAP, no low-income subsidy
        assert (d["plro"], d["other_troop"], d["lics"], d["npp"]) == (0, 0, 0, 0)
    first, second, third, fourth, deleted = ours
    assert [d["paid_date"] for d in ours[:4]] == [paid_on[i] for i in icns]
    assert deleted["paid_date"] == reversed_on.strftime("%Y%m%d")

    # 1. all in the deductible: the cost is the member's, the $0.25 tax the plan's
    cost1 = first["ingredient"] + first["fee"]
    assert cost1 < DEDUCTIBLE
    assert (first["tax"], first["gdcb"], first["gdca"]) == (25, cost1 + 25, 0)
    assert (first["patient"], first["cpp"]) == (cost1, 25)
    assert (first["catastrophic"], first["phases"], first["adjustment"]) == (" ", "DD", " ")
    # 2. the rest of the deductible, then 25% until $2,100: $1,485.00 of coinsurance is
    #    $5,940.00 of cost; the rest is catastrophic
    cost2 = second["ingredient"] + second["fee"]
    below2 = (DEDUCTIBLE - cost1) + (OUT_OF_POCKET - DEDUCTIBLE) * 4
    assert (second["gdcb"], second["gdca"]) == (below2, cost2 - below2)
    assert second["patient"] == OUT_OF_POCKET - cost1
    assert second["cpp"] == cost2 - (OUT_OF_POCKET - cost1)
    assert (second["catastrophic"], second["phases"]) == ("A", "DC")
    # 3. and 4. past the limit: all catastrophic, all the plan's
    for d in (third, fourth):
        cost = d["ingredient"] + d["fee"]
        assert (d["gdcb"], d["gdca"], d["patient"], d["cpp"]) == (0, cost, 0, cost)
        assert (d["catastrophic"], d["phases"], d["adjustment"]) == ("C", "CC", " ")
    # the reversal: the fourth record again, code D, dated the day it was reversed
    assert deleted["adjustment"] == "D"
    same = {k: v for k, v in deleted.items() if k not in ("sequence", "adjustment", "paid_date")}
    assert same == {
        k: v for k, v in fourth.items() if k not in ("sequence", "adjustment", "paid_date")
    }

    # to stdout: the same kind of file, nothing else
    code, stdout, stderr = await cli(
        "export", "pde", "--plan", PART_D_PLAN, "--from", f"{today}", "--to", f"{today}",
    )  # fmt: skip
    assert code == 0, stderr
    printed = stdout.split("\n")[:-1]
    assert printed[0][:3] == "HDR" and printed[-1][:3] == "TLR"
    assert all(len(line) == RECORD for line in printed)

    # a business date pinned before these claims were paid (a demo, a test) dated the HDR
    # before its DETs' paid dates (an outside tester: 20261123 against 20261201): the file
    # takes the later
    monkeypatch.setenv("RX_GATEWAY_BUSINESS_DATE", f"{today - dt.timedelta(days=30)}")
    code, stdout, stderr = await cli(
        "export", "pde", "--plan", PART_D_PLAN, "--from", f"{today}", "--to", f"{today}",
    )  # fmt: skip
    assert code == 0, stderr
    pinned = stdout.split("\n")[:-1]
    assert pinned[0][33:41] == max(_det(line)["paid_date"] for line in pinned[2:-2])
    assert pinned[0][33:41] == f"{today:%Y%m%d}"


async def test_an_empty_window_is_a_file_without_details(cli: Any, tmp_path: Path) -> None:
    """No claim paid or reversed in 2001: HDR, BHD, BTR (zero), TLR; exit 0."""
    out = tmp_path / "empty.txt"
    code, stdout, stderr = await cli(
        "export", "pde", "--plan", PART_D_PLAN, "--from", "2001-01-01", "--to", "2001-12-31",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    assert "0 PDE record(s)" in stdout
    lines = out.read_text().split("\n")[:-1]
    assert [line[:3] for line in lines] == ["HDR", "BHD", "BTR", "TLR"]
    assert lines[2][10:19] == "000000000"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--plan", "NO-SUCH-PLAN"), "no such plan"),
        (("--plan", "COMM-HRA-2026"), "not a Part D plan"),
        (("--plan", PART_D_PLAN, "--from", "2026-06-01", "--to", "2026-05-31"), "is after --to"),
        (("--plan", PART_D_PLAN, "--out", "{tmp}/missing/pde.txt"), "does not exist"),
        (("--plan", PART_D_PLAN, "--out", "{tmp}"), "is a directory"),
    ],
)
async def test_a_mistake_is_one_line_and_no_file(
    cli: Any, tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    """An unknown plan, a plan that is not Part D, --from after --to, an --out that cannot be
    written: one line naming the problem, exit 1, nothing written."""
    given = dict(zip(args[::2], args[1::2], strict=True))
    window = {"--from": "2026-01-01", "--to": "2026-12-31"} | given
    argv = [part.replace("{tmp}", str(tmp_path)) for k, v in window.items() for part in (k, v)]
    code, stdout, stderr = await cli("export", "pde", *argv)
    assert code == 1
    assert expected in _one_line(code, stderr)
    assert stdout == ""
    assert list(tmp_path.iterdir()) == []


async def test_a_date_that_is_not_a_date_is_a_usage_error(cli: Any) -> None:
    code, _, stderr = await cli(
        "export", "pde", "--plan", PART_D_PLAN, "--from", "2026-13-01", "--to", "2026-12-31"
    )
    assert code == 2 and "not a date YYYY-MM-DD" in stderr and "Traceback" not in stderr
