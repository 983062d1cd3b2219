"""CheckPrice over a real gRPC channel: the cheaper generic, a preferred pharmacy, a 90-day mail
fill, a prior authorization's restriction, nothing written, malformed fields named; and the
property that a price check and the same claim, sent right after, answer the same amounts.

Members are active members 1880-1929 (a range no other test bills for on purpose); the fixed
scenarios price on a date before any other test's claims, so no other test's fill is a prior
fill of theirs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rx_gateway.bootstrap import App
from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.domain.money import apply_basis_points
from rx_gateway.tools.synthetic import active_members
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import claims_pb2 as pb
from rx_gateway.v1 import claims_pb2_grpc as pb_grpc

DAY = "20260915"  # before the business date (2026-11-23) and before other tests' claims
PROPERTY_DAYS = ("20261116", "20261119", "20261121")
# The property's claims charge AWP and a $20 fee: at or above every network contract's price,
# so that the plan's price is what is allowed, as in a price check.
CLAIM_FEE_CENTS = 2_000
INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)


@pytest.fixture(scope="module")
def members(dataset: tuple[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    return active_members(dataset[0])[1880:1930]


@pytest.fixture(scope="module")
def commercial(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Commercial members of the range, one per family."""
    by_card = {m["cardholder_id"]: m for m in members if m["plan_id"] == "COMM-HRA-2026"}
    return list(by_card.values())


def price_request(
    fixtures: dict[str, Any],
    member: dict[str, Any],
    drug: dict[str, Any],
    *,
    pharmacy: str = "",
    day: str = DAY,
    quantity_thousandths: int = 30_000,
    days_supply: int = 30,
) -> pb.PriceCheckRequest:
    plan = fixtures["plans"][member["plan_id"]]
    return pb.PriceCheckRequest(
        header=pb.Header(
            bin=plan["bin"],
            processor_control_number=plan["pcn"],
            service_provider_id=pharmacy,
            date_of_service=day,
        ),
        insurance=pb.Insurance(
            cardholder_id=member["cardholder_id"],
            group_id=member["group_id"],
            person_code=member["person_code"],
            patient_relationship_code=1 if member["person_code"] == "001" else 3,
        ),
        patient=pb.Patient(date_of_birth=member["date_of_birth"]),
        product_id=drug["ndc"],
        quantity_thousandths=quantity_thousandths,
        days_supply=days_supply,
    )


def _by_changes(answer: pb.PriceCheckResponse) -> dict[tuple[str, ...], pb.PriceQuote]:
    return {tuple(q.changes): q for q in answer.alternatives}


async def test_a_brand_shows_its_cheaper_generic(
    client: GatewayClient, fixtures: dict[str, Any], commercial: list[dict[str, Any]]
) -> None:
    """A multi-source brand: its generic is offered, costs the member no more and the plan
    less, and the cheapest alternative is a generic of the molecule."""
    brand = fixtures["drugs"]["multi_source_brand"]
    answer = await client.check_price(
        price_request(fixtures, commercial[0], brand, pharmacy=fixtures["pharmacies"]["preferred"])
    )
    asked = answer.quote
    assert (asked.transaction_response_status, list(asked.changes)) == ("P", [])
    assert asked.benefit_restrictions == ["covered"]
    assert asked.brand
    assert (answer.plan_id, answer.date_of_service) == ("COMM-HRA-2026", DAY)
    generic = _by_changes(answer)[("generic",)]
    assert generic.product_id == brand["generic_ndc"]
    assert not generic.brand
    assert generic.transaction_response_status == "P"
    assert generic.member_pay_cents <= asked.member_pay_cents
    assert generic.plan_cost_cents < asked.plan_cost_cents
    # the cheapest is a generic of the molecule: the brand's own, or the plan's preferred one
    cheapest = answer.alternatives[0]
    assert not cheapest.brand
    assert {"generic", "preferred_product"} & set(cheapest.changes)
    # the amounts add up as a claim's do: the member's part and the plan's make the allowed
    for q in (asked, *answer.alternatives):
        assert q.member_pay_cents == q.pricing.patient_pay_amount_cents
        assert q.member_pay_cents + q.plan_cost_cents == q.pricing.allowed_amount_cents
        assert q.pricing.plan_paid_cents + sum(p.paid_cents for p in q.purses) == q.plan_cost_cents


async def test_a_standard_pharmacy_shows_a_preferred_one(
    client: GatewayClient, fixtures: dict[str, Any], commercial: list[dict[str, Any]]
) -> None:
    """A brand at a standard pharmacy: a preferred retail pharmacy is offered, where the plan
    allows less and the member pays no more."""
    answer = await client.check_price(
        price_request(
            fixtures,
            commercial[1],
            fixtures["drugs"]["preferred_brand"],
            pharmacy=fixtures["pharmacies"]["standard"],
        )
    )
    asked = answer.quote
    assert (asked.transaction_response_status, asked.pharmacy_network) == ("P", "standard")
    preferred = _by_changes(answer)[("preferred_pharmacy",)]
    assert (preferred.pharmacy_network, preferred.pharmacy_kind) == ("preferred", "retail")
    assert preferred.product_id == asked.product_id
    assert preferred.member_pay_cents <= asked.member_pay_cents
    assert preferred.pricing.allowed_amount_cents < asked.pricing.allowed_amount_cents


async def test_a_maintenance_drug_shows_a_90_day_mail_fill(
    client: GatewayClient, fixtures: dict[str, Any], commercial: list[dict[str, Any]]
) -> None:
    """A 30-day generic at a retail pharmacy: 90 days by mail, three times the quantity, paid,
    costing the member no more per 30 days. Without a pharmacy asked, the price is a
    preferred retail pharmacy's."""
    answer = await client.check_price(
        price_request(fixtures, commercial[2], fixtures["drugs"]["generic_copay"])
    )
    asked = answer.quote
    assert (asked.pharmacy_network, asked.pharmacy_kind) == ("preferred", "retail")
    assert asked.service_provider_id  # the one priced at
    mail = _by_changes(answer)[("mail_90_day",)]
    assert (mail.pharmacy_kind, mail.days_supply, mail.quantity_thousandths) == ("mail", 90, 90_000)
    assert mail.transaction_response_status == "P"
    assert mail.member_pay_per_30_days_cents <= asked.member_pay_per_30_days_cents


async def test_a_prior_authorization_drug_shows_the_restriction(
    client: GatewayClient,
    conn: asyncpg.Connection,
    fixtures: dict[str, Any],
    commercial: list[dict[str, Any]],
) -> None:
    """Without a PA on file: status R, the claim's 75 and its text, prior-auth, formulary
    status X, nothing to pay; the restriction is an answer, not an error."""
    authorized = {
        r["member_id"] for r in await conn.fetch("SELECT member_id FROM prior_authorization")
    }
    member = next(m for m in commercial[3:] if m["member_id"] not in authorized)
    answer = await client.check_price(
        price_request(fixtures, member, fixtures["drugs"]["prior_authorization"])
    )
    asked = answer.quote
    assert asked.transaction_response_status == "R"
    assert [r.code for r in asked.rejects] == ["75"]
    assert "Prior authorization required" in asked.message
    assert list(asked.benefit_restrictions) == ["prior-auth"]
    assert asked.formulary_status == "X"
    assert (asked.member_pay_cents, asked.plan_cost_cents) == (0, 0)
    assert not asked.HasField("pricing")
    assert all(q.transaction_response_status == "P" for q in answer.alternatives)


async def test_an_unknown_member_is_the_claims_reject(
    client: GatewayClient, fixtures: dict[str, Any], commercial: list[dict[str, Any]]
) -> None:
    """Nobody under the card: the claim's 52, no plan, no alternatives (not an RPC error)."""
    request = price_request(fixtures, commercial[0], fixtures["drugs"]["generic"])
    request.insurance.cardholder_id = "NOBODY00"
    answer = await client.check_price(request)
    assert answer.quote.transaction_response_status == "R"
    assert [r.code for r in answer.quote.rejects] == ["52"]
    assert answer.plan_id == ""
    assert list(answer.alternatives) == []


async def _ledger_state(conn: asyncpg.Connection) -> dict[str, int]:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM claim) AS claims,"
        " (SELECT count(*) FROM claim_reversal) AS reversals,"
        " (SELECT count(*) FROM journal_entry) AS entries,"
        " (SELECT count(*) FROM posting) AS postings,"
        " (SELECT count(*) FROM accumulator_move) AS accumulator_moves,"
        " (SELECT coalesce(sum(amount_cents), 0) FROM accumulator) AS accumulated_cents,"
        " (SELECT count(*) FROM claim_purse_spend) AS purse_spends,"
        " (SELECT coalesce(sum(posted_cents), 0) FROM purse) AS purse_cents,"
        " (SELECT coalesce(sum(version), 0) FROM family) AS family_versions,"
        " (SELECT count(*) FROM audit_log) AS audit_rows"
    )
    return dict(row)


async def test_nothing_is_written(
    client: GatewayClient,
    conn: asyncpg.Connection,
    fixtures: dict[str, Any],
    commercial: list[dict[str, Any]],
) -> None:
    """Paid, rejected, unknown-member and malformed price checks: no claim, entry, posting,
    accumulator, purse, family version or audit row changes."""
    before = await _ledger_state(conn)
    drugs = fixtures["drugs"]
    for role in ("generic", "multi_source_brand", "insulin", "prior_authorization", "excluded"):
        await client.check_price(price_request(fixtures, commercial[4], drugs[role]))
    nobody = price_request(fixtures, commercial[4], drugs["generic"])
    nobody.insurance.cardholder_id = "NOBODY00"
    await client.check_price(nobody)
    malformed = price_request(fixtures, commercial[4], drugs["generic"], days_supply=0)
    with pytest.raises(grpc.aio.AioRpcError):
        await client.check_price(malformed)
    assert await _ledger_state(conn) == before


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("header.bin", lambda r: setattr(r.header, "bin", "12")),
        ("header.date_of_service", lambda r: setattr(r.header, "date_of_service", "2026-09-15")),
        ("header.service_provider_id", lambda r: setattr(r.header, "service_provider_id", " 1")),
        ("insurance.cardholder_id", lambda r: setattr(r.insurance, "cardholder_id", "")),
        ("insurance.person_code", lambda r: setattr(r.insurance, "person_code", "AB")),
        ("patient.date_of_birth", lambda r: setattr(r.patient, "date_of_birth", "")),
        ("patient.gender_code", lambda r: setattr(r.patient, "gender_code", 9)),
        ("product_id", lambda r: setattr(r, "product_id", "12-34")),
        ("quantity_thousandths", lambda r: setattr(r, "quantity_thousandths", -1)),
        ("days_supply", lambda r: setattr(r, "days_supply", 400)),
        ("dispense_as_written", lambda r: setattr(r, "dispense_as_written", 10)),
        ("prescriber_id", lambda r: setattr(r, "prescriber_id", "123")),
        ("patient", lambda r: r.ClearField("patient")),
        ("insurance.group_id", lambda r: setattr(r.insurance, "group_id", "G" * 300)),
    ],
)
async def test_a_malformed_field_is_invalid_argument_naming_it(
    client: GatewayClient,
    fixtures: dict[str, Any],
    commercial: list[dict[str, Any]],
    field: str,
    change: Any,
) -> None:
    """INVALID_ARGUMENT, and the details name the field."""
    request = price_request(fixtures, commercial[0], fixtures["drugs"]["generic"])
    change(request)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.check_price(request)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field in (caught.value.details() or "")


def _texts(*valid: str) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(valid), st.text(max_size=30))


async def test_arbitrary_price_checks_answer_or_name_a_field(
    app: App, fixtures: dict[str, Any], commercial: list[dict[str, Any]]
) -> None:
    """Garbage in any field: an answer (P or R) or INVALID_ARGUMENT, never INTERNAL."""
    member = commercial[0]
    valid = price_request(fixtures, member, fixtures["drugs"]["generic"])
    target = f"127.0.0.1:{app.port}"
    requests = st.builds(
        lambda h, i, p, product, quantity, days, daw: pb.PriceCheckRequest(
            header=h,
            insurance=i,
            patient=p,
            product_id=product,
            quantity_thousandths=quantity,
            days_supply=days,
            dispense_as_written=daw,
        ),
        st.builds(
            pb.Header,
            bin=_texts(valid.header.bin),
            processor_control_number=_texts(valid.header.processor_control_number),
            service_provider_id=_texts("", fixtures["pharmacies"]["mail"]),
            date_of_service=_texts("", DAY, "00010101", "99991231"),
        ),
        st.builds(
            pb.Insurance,
            cardholder_id=_texts(member["cardholder_id"]),
            group_id=_texts(member["group_id"]),
            person_code=_texts(member["person_code"], ""),
            patient_relationship_code=INT32,
        ),
        st.builds(pb.Patient, date_of_birth=_texts(member["date_of_birth"]), gender_code=INT32),
        _texts(*(d["ndc"] for d in fixtures["drugs"].values() if isinstance(d, dict))),
        st.one_of(st.just(30_000), INT64),
        st.one_of(st.sampled_from([1, 30, 90, 365]), INT32),
        st.one_of(st.just(0), INT32),
    )

    @settings(
        max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(request=requests)
    def run(request: pb.PriceCheckRequest) -> None:
        with grpc.insecure_channel(target) as channel:
            try:
                answer = pb_grpc.ClaimServiceStub(channel).CheckPrice(request, timeout=10)
            except grpc.RpcError as error:
                assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error
                return
        assert answer.quote.transaction_response_status in {"P", "R"}
        assert all(q.transaction_response_status == "P" for q in answer.alternatives)

    await asyncio.to_thread(run)


def _claim(
    fixtures: dict[str, Any],
    member: dict[str, Any],
    drug: dict[str, Any],
    *,
    pharmacy: str,
    rx: int,
    day: str,
    quantity_thousandths: int,
    days_supply: int,
) -> pb.ClaimRequest:
    """The claim a pharmacy sends for the fill priced: AWP and a $20 fee submitted (at or above
    the plan's price), the patient's date of birth as in the price check."""
    request = claim_request(
        fixtures,
        member,
        drug,
        pharmacy=pharmacy,
        rx_number=rx,
        date_of_service=day,
        quantity_thousandths=quantity_thousandths,
        days_supply=days_supply,
    )
    pricing = request.pricing
    pricing.dispensing_fee_submitted_cents = CLAIM_FEE_CENTS
    pricing.gross_amount_due_cents = pricing.ingredient_cost_submitted_cents + CLAIM_FEE_CENTS
    pricing.usual_and_customary_charge_cents = apply_basis_points(
        pricing.gross_amount_due_cents, 12_000
    )
    request.patient.date_of_birth = member["date_of_birth"]
    return request


DRUG_ROLES = (
    "generic",
    "generic_copay",
    "multi_source_brand",
    "preferred_brand",
    "insulin",
    "specialty",
    "prior_authorization",
    "quantity_limited",
    "step_therapy",
    "period_limited",
    "excluded",
    "non_formulary",
)
PHARMACY_ROLES = ("preferred", "preferred", "standard", "mail", "specialty", "out_of_network")


async def test_a_price_check_then_the_same_claim_answer_the_same(
    app: App, fixtures: dict[str, Any], members: list[dict[str, Any]], rx_number: Any
) -> None:
    """For random members, drugs, pharmacies, quantities and days supply: the claim sent right
    after a price check is paid exactly when the price check said so, with the same member pay
    (505-F5), plan pay and whole pricing, purses and accumulators; or rejected with the same
    codes; a price check refused as malformed (INVALID_ARGUMENT) is a claim rejected. Each
    paid claim is reversed, so every example starts from the same state."""
    target = f"127.0.0.1:{app.port}"
    outcomes: list[str] = []

    @settings(
        max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(
        member=st.sampled_from(members),
        role=st.sampled_from(DRUG_ROLES),
        pharmacy=st.sampled_from(PHARMACY_ROLES),
        units=st.integers(1, 120),
        days=st.sampled_from([7, 30, 34, 60, 84, 90]),
        day=st.sampled_from(PROPERTY_DAYS),
    )
    def run(
        member: dict[str, Any], role: str, pharmacy: str, units: int, days: int, day: str
    ) -> None:
        drug, npi = fixtures["drugs"][role], fixtures["pharmacies"][pharmacy]
        quantity = units * 1_000
        check = price_request(
            fixtures,
            member,
            drug,
            pharmacy=npi,
            day=day,
            quantity_thousandths=quantity,
            days_supply=days,
        )
        claim = _claim(
            fixtures,
            member,
            drug,
            pharmacy=npi,
            rx=rx_number(),
            day=day,
            quantity_thousandths=quantity,
            days_supply=days,
        )
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.ClaimServiceStub(channel)
            try:
                quoted = stub.CheckPrice(check, timeout=10).quote
            except grpc.RpcError as error:
                # a field the claim rejects as M/I (a member born after the date asked): the
                # price check names it, the claim is rejected
                assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error
                answered = stub.Submit(claim, timeout=10)
                assert answered.transaction_response_status == "R", answered
                outcomes.append("invalid")
                return
            answered = stub.Submit(claim, timeout=10)
            if answered.transaction_response_status == "P":
                reversed_ = stub.Reverse(reversal_for(claim), timeout=10)
                assert reversed_.transaction_response_status == "A", reversed_
        outcomes.append(answered.transaction_response_status)
        assert quoted.transaction_response_status == answered.transaction_response_status
        assert [r.code for r in quoted.rejects] == [r.code for r in answered.rejects]
        if answered.transaction_response_status != "P":
            return
        assert quoted.member_pay_cents == answered.pricing.patient_pay_amount_cents
        assert quoted.pricing.plan_paid_cents == answered.pricing.plan_paid_cents
        assert quoted.plan_cost_cents == answered.pricing.total_amount_paid_cents
        assert quoted.pricing == answered.pricing
        assert [(p.kind, p.paid_cents, p.available_cents) for p in quoted.purses] == [
            (p.kind, p.paid_cents, p.available_cents) for p in answered.purses
        ]
        assert quoted.accumulators == answered.accumulators

    await asyncio.to_thread(run)
    assert "P" in outcomes, outcomes
