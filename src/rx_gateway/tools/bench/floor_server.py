"""The claim-shaped floor: what the gateway would cost if reading member state and adjudicating
were free.

A bare grpc.aio server process, set up as the gateway is (the same server options and limits,
the same event loop: uvloop unless RX_GATEWAY_UVLOOP=0, the same asyncpg pool from
``create_pool``: its size, codecs, reset hook and timeouts, every connection warmed before the
first call, ``gc.freeze()`` after start-up). Its one RPC is ClaimService/Submit: it takes the
same ``ClaimRequest`` bytes the gateway gets, decodes them, makes ONE asyncpg call that inserts
a claim's row set in one statement (FLOOR_CLAIM_SQL: a journal entry, its four postings, the
claim row with a response-sized JSON, an audit row) and answers a ``ClaimResponse`` the size of
the gateway's (a paid answer of the gateway's, read from --response, with this claim's control
number, authorization and prescription number).

It writes only tables of its own (``floor_*``, created here in the benchmark's database); they
carry the keys a claim store cannot do without (primary keys, the claim key and generation,
the internal control number, postings by entry) and no foreign key, trigger or other index.

    python -m rx_gateway.tools.bench.floor_server --listen 127.0.0.1:PORT --response FILE

reads RX_GATEWAY_DATABASE_URL and the gateway's other RX_GATEWAY_* settings, prints
``rx-gateway floor listening on port N`` when it serves, and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import hashlib
import itertools
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import grpc
from google.protobuf.json_format import MessageToDict
from grpc import aio

from rx_gateway.adapters.postgres.database import create_pool
from rx_gateway.config import Settings
from rx_gateway.v1 import claims_pb2 as pb

SERVICE = "rx_gateway.v1.ClaimService"
READY = "rx-gateway floor listening on port"
LOCK_KEY = 0x52584746  # "RXGF": one process creates the tables when several start together

TABLES_SQL = """
CREATE TABLE IF NOT EXISTS floor_entry (
    family_id   text NOT NULL,
    entry_id    bigserial,
    kind        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (family_id, entry_id)
);
CREATE TABLE IF NOT EXISTS floor_posting (
    family_id     text NOT NULL,
    posting_id    bigserial,
    entry_id      bigint NOT NULL,
    account_key   text NOT NULL,
    amount_cents  bigint NOT NULL,
    PRIMARY KEY (family_id, posting_id)
);
CREATE INDEX IF NOT EXISTS floor_posting_entry ON floor_posting (family_id, entry_id);
CREATE TABLE IF NOT EXISTS floor_claim (
    family_id                text NOT NULL,
    claim_id                 bigserial,
    claim_key                text NOT NULL,
    generation               bigint NOT NULL,
    request_hash             text NOT NULL,
    internal_control_number  text NOT NULL,
    authorization_number     text NOT NULL,
    member_id                text NOT NULL,
    plan_id                  text NOT NULL,
    service_provider_id      text NOT NULL,
    product_id               text NOT NULL,
    date_of_service          date NOT NULL,
    days_supply              int NOT NULL,
    entry_id                 bigint NOT NULL,
    reference_data_version   text NOT NULL,
    response                 jsonb NOT NULL,
    created_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (family_id, claim_id),
    UNIQUE (family_id, claim_key, generation),
    UNIQUE (family_id, internal_control_number)
);
CREATE TABLE IF NOT EXISTS floor_audit (
    audit_id                 bigserial PRIMARY KEY,
    occurred_at              timestamptz NOT NULL DEFAULT now(),
    family_id                text NOT NULL,
    actor                    text NOT NULL,
    action                   text NOT NULL,
    internal_control_number  text,
    outcome                  text NOT NULL,
    detail                   jsonb NOT NULL
);
"""

# One statement, one round trip, one transaction: the entry, its postings, the claim, the audit.
FLOOR_CLAIM_SQL = """
WITH entry AS (
    INSERT INTO floor_entry (family_id, kind) VALUES ($1, 'claim') RETURNING entry_id
), postings AS (
    INSERT INTO floor_posting (family_id, entry_id, account_key, amount_cents)
    SELECT $1, entry.entry_id, p.account_key, p.amount_cents
    FROM entry, unnest($13::text[], $14::bigint[]) AS p (account_key, amount_cents)
), claim AS (
    INSERT INTO floor_claim (family_id, claim_key, generation, request_hash,
                             internal_control_number, authorization_number, member_id, plan_id,
                             service_provider_id, product_id, date_of_service, days_supply,
                             entry_id, reference_data_version, response)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, entry.entry_id, $15, $16
    FROM entry
)
INSERT INTO floor_audit (family_id, actor, action, internal_control_number, outcome, detail)
VALUES ($1, 'floor', 'B1', $5, 'P', $17)
"""


def template_record(response: pb.ClaimResponse) -> dict[str, Any]:
    """The answer as a JSON-ready dict, every field present (as the gateway stores its
    responses): what the floor stores as the claim's response."""
    return MessageToDict(
        response,
        always_print_fields_with_no_presence=True,
        preserving_proto_field_name=True,
        unquote_int64_if_possible=True,
    )


def claim_arguments(
    request: pb.ClaimRequest, request_bytes: bytes, serial: int, template: dict[str, Any]
) -> list[Any]:
    """FLOOR_CLAIM_SQL's arguments for one claim (pure). ``serial`` is unique in the run: the
    claim's control number, authorization and generation (a retransmission is stored again,
    so no key ever collides)."""
    header, claim = request.header, request.claim
    control = f"F{serial:012d}"
    authorization = f"A{serial:011d}"
    family = request.insurance.cardholder_id
    member = f"{family}-{request.insurance.person_code}"
    gross = max(request.pricing.gross_amount_due_cents, 4)
    patient = gross // 4
    plan = str(template.get("plan_id", ""))
    version = str(template.get("reference_data_version", ""))
    response = dict(
        template,
        internal_control_number=control,
        authorization_number=authorization,
        prescription_reference_number=claim.prescription_reference_number,
    )
    audit = {
        "member_id": member,
        "plan_id": plan,
        "service_provider_id": header.service_provider_id,
        "product_id": claim.product_id,
        "reference_data_version": version,
        "rule_trace": template.get("rule_trace", []),
        "patient_paid_amount_submitted_cents": request.pricing.patient_paid_amount_submitted_cents,
    }
    return [
        family,
        f"{header.bin}|{header.processor_control_number}|{header.service_provider_id}"
        f"|{claim.prescription_reference_number}|{claim.fill_number}",
        serial,
        hashlib.sha256(request_bytes).hexdigest(),
        control,
        authorization,
        member,
        plan,
        header.service_provider_id,
        claim.product_id,
        service_date(header.date_of_service),
        claim.days_supply,
        [
            f"plan:{plan}",
            f"pharmacy_payable:{header.service_provider_id}",
            f"member_paid:{member}",
            f"pharmacy_collected:{header.service_provider_id}",
        ],
        [-(gross - patient), gross - patient, -patient, patient],  # balanced: sums to zero
        version,
        response,
        audit,
    ]


def service_date(ccyymmdd: str) -> dt.date:
    try:
        return dt.date(int(ccyymmdd[:4]), int(ccyymmdd[4:6]), int(ccyymmdd[6:8]))
    except ValueError:
        return dt.date(2026, 1, 1)


class FloorService:
    """Submit: decode, one statement, answer."""

    def __init__(self, pool: asyncpg.Pool, template: pb.ClaimResponse, first_serial: int) -> None:
        self._pool = pool
        self._template = template
        self._record = template_record(template)
        self._serials = itertools.count(first_serial)

    async def submit(self, request_bytes: bytes, _context: aio.ServicerContext[Any, Any]) -> bytes:
        request = pb.ClaimRequest.FromString(request_bytes)
        serial = next(self._serials)
        arguments = claim_arguments(request, request_bytes, serial, self._record)
        await self._pool.execute(FLOOR_CLAIM_SQL, *arguments)
        response = pb.ClaimResponse()
        response.CopyFrom(self._template)
        response.internal_control_number = arguments[4]
        response.authorization_number = arguments[5]
        response.prescription_reference_number = request.claim.prescription_reference_number
        return response.SerializeToString()

    async def warm(self, connections: int) -> None:
        """Every connection makes the floor's call once before the first claim (as the
        gateway warms each of its connections): no claim pays a backend's first plan."""
        request = pb.ClaimRequest()
        request.insurance.cardholder_id = "WARM"
        request.header.date_of_service = "20260101"
        held = [await self._pool.acquire() for _ in range(connections)]
        try:
            for conn in held:
                serial = next(self._serials)
                await conn.execute(
                    FLOOR_CLAIM_SQL, *claim_arguments(request, b"", serial, self._record)
                )
        finally:
            for conn in held:
                await self._pool.release(conn)


async def create_tables(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
            await conn.execute(TABLES_SQL)
    finally:
        await conn.close()


def build_server(settings: Settings, service: FloorService) -> tuple[aio.Server, int]:
    """A bare grpc.aio server with the gateway's options and limits (no interceptor, health,
    reflection or other service), ClaimService/Submit on raw bytes."""
    server = aio.server(
        maximum_concurrent_rpcs=settings.grpc_concurrent_rpcs_max,
        options=[
            ("grpc.max_receive_message_length", settings.grpc_message_bytes_max),
            ("grpc.max_send_message_length", settings.grpc_message_bytes_max),
            ("grpc.so_reuseport", 1 if settings.reuse_port else 0),
        ],
    )
    handler = grpc.unary_unary_rpc_method_handler(service.submit)  # bytes in, bytes out
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"Submit": handler}),)
    )
    port = server.add_insecure_port(settings.listen_address)
    return server, port


async def serve(settings: Settings, template: pb.ClaimResponse) -> int:
    if settings.database_url is None:
        print("rx-gateway floor: RX_GATEWAY_DATABASE_URL is not set", file=sys.stderr)
        return 2
    await create_tables(settings.database_url)
    # the gateway's pool (size, codecs, reset hook, timeouts, plans made once) as the login:
    # the tables are ours
    limits = replace(settings.pool, role=None)
    pool = await create_pool(settings.database_url, limits, generic_plans=True)
    try:
        # control numbers unique across several floor processes (--workers) in one run
        service = FloorService(pool, template, first_serial=os.getpid() * 10_000_000)
        await service.warm(limits.size_min)
        server, port = build_server(settings, service)
        await server.start()
        gc.freeze()  # as the gateway: what start-up built stays out of full collections
        print(f"{READY} {port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop(1.0)
    finally:
        await pool.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--listen", required=True, help="HOST:PORT (127.0.0.1)")
    parser.add_argument("--response", type=Path, required=True, help="a ClaimResponse, bytes")
    args = parser.parse_args(argv)
    settings = replace(Settings.from_env(os.environ), listen_address=args.listen)
    template = pb.ClaimResponse.FromString(args.response.read_bytes())
    if settings.use_uvloop:
        import uvloop  # noqa: PLC0415 - the gateway's loop, when it uses it

        return uvloop.run(serve(settings, template))
    return asyncio.run(serve(settings, template))


if __name__ == "__main__":
    sys.exit(main())
