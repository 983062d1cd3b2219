"""The admin interface: its own gRPC server, every call authenticated by a bearer token."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc
from grpc import aio

from rx_gateway.domain.errors import InvalidRequest, PreconditionFailed, Unauthenticated
from rx_gateway.domain.reference import Plan
from rx_gateway.grpc_api.registration import HandlerWrapping
from rx_gateway.grpc_api.security import listen
from rx_gateway.grpc_api.status import ErrorToStatusInterceptor
from rx_gateway.service_layer import admin, enrollment, settlement
from rx_gateway.service_layer.ports import AdminStore, EobSource, ReferenceSource
from rx_gateway.v1 import admin_pb2 as pb
from rx_gateway.v1 import admin_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)
Context = aio.ServicerContext[Any, Any]
# ("settle" or "invoice", through) -> what closed: run out of the claim path's event loop
# (kind, through, actor): the closes, each cycle closed now audited as the actor's
CloseCycles = Callable[[str, dt.date, str], Awaitable[list[settlement.Closed]]]


UNCHANGED = "already as asked: nothing changed"


class AdminServicer(pb_grpc.AdminServiceServicer):
    def __init__(
        self,
        store: AdminStore,
        credentials: admin.AdminCredentials,
        settlement_store: settlement.SettlementStore | None = None,
        reference: ReferenceSource | None = None,
        close_cycles: CloseCycles | None = None,
        *,
        eob: EobSource | None = None,
        enrollment_reader: enrollment.EnrollmentReader | None = None,
        enrollment_store: enrollment.EnrollmentStore | None = None,
    ) -> None:
        self._store = store
        self._credentials = credentials
        self._settlement = settlement_store
        self._reference = reference
        self._close_cycles = close_cycles
        self._eob = eob
        self._enrollment_reader = enrollment_reader
        self._enrollment_store = enrollment_store

    def _settling(self) -> tuple[settlement.SettlementStore, list[Plan], CloseCycles]:
        if self._settlement is None or self._reference is None or self._close_cycles is None:
            msg = "settlement is not configured on this gateway"
            raise PreconditionFailed(msg)
        return self._settlement, list(self._reference.snapshot.plans.values()), self._close_cycles

    def _operator(self, context: Context) -> str:
        """The operator the call's one authorization header names. Two headers are refused:
        which one a proxy added cannot be told (the last one counted)."""
        values = [v for k, v in context.invocation_metadata() or () if k == "authorization"]
        if len(values) > 1:
            msg = "admin calls carry one 'authorization: Bearer <token>' header, not several"
            raise Unauthenticated(msg)
        value = values[0] if values else None
        return self._credentials.operator(value if isinstance(value, str) else None)

    async def FundPurse(self, request: pb.FundPurseRequest, context: Context) -> pb.AdminReply:
        actor = self._operator(context)
        funding = admin.purse_funding(
            request.funding_id,
            request.purse_id,
            request.amount_cents,
            request.available_on,
            request.memo,
        )
        applied = await self._store.fund_purse(funding, actor=actor)
        when = f"from {funding.available_on}" if funding.available_on else "now"
        detail = f"{'funded' if applied else 'already applied'} ({when})"
        log.info("admin change", extra={"action": "fund_purse", "actor": actor})
        return pb.AdminReply(applied=applied, actor=actor, detail=detail)

    async def SetCoverage(self, request: pb.CoverageChange, context: Context) -> pb.AdminReply:
        actor = self._operator(context)
        change = admin.coverage_change(
            request.member_id,
            request.plan_id,
            request.group_id,
            request.start_date,
            request.end_date,
            request.end_reason,
            request.line_of_business,
            request.coverage_level,
            request.payer_order,
            self._reference.snapshot.plans if self._reference is not None else None,
        )
        applied = await self._store.set_coverage(change, actor=actor)
        log.info("admin change", extra={"action": "set_coverage", "actor": actor})
        return pb.AdminReply(
            applied=applied, actor=actor, detail="coverage span recorded" if applied else UNCHANGED
        )

    async def SetOtherCoverage(
        self, request: pb.OtherCoverageChange, context: Context
    ) -> pb.AdminReply:
        actor = self._operator(context)
        change = admin.other_coverage_change(
            request.member_id,
            request.payer_order,
            request.payer_name,
            request.bin,
            request.processor_control_number,
            request.group_id,
            request.cardholder_id,
            request.person_code,
            request.help_desk_phone,
            request.start_date,
            request.end_date,
        )
        applied = await self._store.set_other_coverage(change, actor=actor)
        log.info("admin change", extra={"action": "set_other_coverage", "actor": actor})
        return pb.AdminReply(
            applied=applied, actor=actor, detail="other coverage recorded" if applied else UNCHANGED
        )

    async def GrantPriorAuthorization(
        self, request: pb.PriorAuthorizationGrant, context: Context
    ) -> pb.AdminReply:
        actor = self._operator(context)
        grant = admin.authorization_grant(
            request.pa_number,
            request.member_id,
            request.ndc,
            request.drug_group,
            request.start_date,
            request.end_date,
            request.quantity_thousandths,
            self._reference.snapshot if self._reference is not None else None,
        )
        applied = await self._store.grant_prior_authorization(grant, actor=actor)
        log.info("admin change", extra={"action": "grant_prior_authorization", "actor": actor})
        return pb.AdminReply(
            applied=applied,
            actor=actor,
            detail="prior authorization recorded" if applied else UNCHANGED,
        )

    async def _close(
        self, request: pb.CloseCyclesRequest, context: Context, kind: str
    ) -> pb.CloseCyclesReply:
        actor = self._operator(context)
        through = settlement.check_day("through", admin.required_date("through", request.through))
        _, _, close_cycles = self._settling()
        # in a worker: the claim loop keeps going
        closed = await close_cycles(kind, through, actor)
        log.info(
            "admin change",
            extra={
                "action": kind,
                "actor": actor,
                "closed_now": [c.cycle_id for c in closed if c.closed_now],
            },
        )
        reply = pb.CloseCyclesReply(actor=actor)
        for cycle in closed:
            message = reply.cycles.add(cycle_id=cycle.cycle_id, closed_now=cycle.closed_now)
            for r in cycle.remittances:
                message.documents.add(
                    party_id=r.payee_id,
                    line_count=r.line_count,
                    amount_cents=r.payment_cents,
                    settles_on=f"{r.pay_date:%Y%m%d}",
                    reference=r.trace_number,
                    paths=[str(p) for p in cycle.paths_by_party.get(r.payee_id, ())],
                )
            for i in cycle.invoices:
                message.documents.add(
                    party_id=i.sponsor_id,
                    line_count=i.line_count,
                    amount_cents=i.total_cents,
                    settles_on=f"{i.due_on:%Y%m%d}",
                    reference=i.invoice_id,
                    paths=[str(p) for p in cycle.paths_by_party.get(i.sponsor_id, ())],
                )
        return reply

    async def Settle(self, request: pb.CloseCyclesRequest, context: Context) -> pb.CloseCyclesReply:
        return await self._close(request, context, "settle")

    async def Invoice(
        self, request: pb.CloseCyclesRequest, context: Context
    ) -> pb.CloseCyclesReply:
        return await self._close(request, context, "invoice")

    async def GetBalances(self, request: pb.BalancesRequest, context: Context) -> pb.BalancesReply:
        self._operator(context)
        as_of = settlement.check_day(
            "as_of",
            admin.required_date("as_of", request.as_of)
            if request.as_of
            else dt.datetime.now(dt.UTC).date(),
        )
        store, plans, _ = self._settling()
        payees, sponsors = await settlement.balances(store, plans, as_of)
        return pb.BalancesReply(
            payees=[
                pb.PayeeBalance(
                    payee_id=p.payee_id,
                    accrued_cents=p.accrued_cents,
                    remitted_unconfirmed_cents=p.remitted_unconfirmed_cents,
                    carried_cents=p.carried_cents,
                    next_pay_date=f"{p.next_pay_date:%Y%m%d}" if p.next_pay_date else "",
                )
                for p in payees
            ],
            sponsors=[
                pb.SponsorBalance(
                    sponsor_id=s.sponsor_id,
                    funding_model=s.funding_model,
                    billed_cents=s.billed_cents,
                    received_cents=s.received_cents,
                    overdue_cents=s.overdue_cents,
                    deposit_cents=s.deposit_cents,
                    unbilled_cents=s.unbilled_cents,
                )
                for s in sponsors
            ],
        )

    async def ListAlerts(self, request: pb.AlertsRequest, context: Context) -> pb.AlertsReply:
        self._operator(context)
        if not 0 <= request.limit <= ALERTS_MAX:
            raise InvalidRequest("limit", f"must be 0-{ALERTS_MAX}")
        store, _, _ = self._settling()
        rows = await store.alerts(request.limit or ALERTS_DEFAULT)
        return pb.AlertsReply(
            alerts=[
                pb.Alert(
                    alert_id=int(str(r["alert_id"])),
                    raised_at=r["raised_at"].isoformat(),  # type: ignore[attr-defined]
                    kind=str(r["kind"]),
                    sponsor_id=str(r["sponsor_id"]),
                    balance_cents=int(str(r["balance_cents"])),
                    threshold_cents=int(str(r["threshold_cents"])),
                    detail=str(r["detail"]),
                )
                for r in rows
            ]
        )

    async def ExportEob(self, request: pb.ExportEobRequest, context: Context) -> pb.ExportEobReply:
        actor = self._operator(context)
        export = admin.eob_request(
            request.member_id,
            admin.optional_date("date_from", request.date_from),
            admin.optional_date("date_to", request.date_to),
        )
        if self._eob is None:
            msg = "EOB export is not configured on this gateway"
            raise PreconditionFailed(msg)
        bundle, claims = await admin.export_eob(
            self._eob, export, actor=actor, generated_at=dt.datetime.now(dt.UTC)
        )
        log.info("admin read", extra={"action": "export_eob", "actor": actor})
        return pb.ExportEobReply(bundle=bundle, claims=claims, actor=actor)

    def _enrolling(
        self, *, with_plans: bool
    ) -> tuple[enrollment.EnrollmentReader, enrollment.EnrollmentStore, Mapping[str, Plan]]:
        """The enrollment adapters, and the loaded plans when the call reads them (Enroll
        does, Acknowledge does not)."""
        reader, store = self._enrollment_reader, self._enrollment_store
        if reader is None or store is None or (with_plans and self._reference is None):
            msg = "enrollment is not configured on this gateway"
            raise PreconditionFailed(msg)
        plans = self._reference.snapshot.plans if self._reference is not None else {}
        return reader, store, plans

    async def Acknowledge(self, request: pb.EnrollRequest, context: Context) -> pb.AcknowledgeReply:
        actor = self._operator(context)
        source = enrollment.source_name(request.name)
        reader, store, _ = self._enrolling(with_plans=False)
        answer = await enrollment.acknowledge(reader, store, request.content, source)
        log.info("admin read", extra={"action": "acknowledge", "actor": actor})
        return pb.AcknowledgeReply(
            acknowledgment=answer.text.encode("ascii"), accepted=answer.accepted, actor=actor
        )

    async def Enroll(self, request: pb.EnrollRequest, context: Context) -> pb.EnrollReply:
        actor = self._operator(context)
        source = enrollment.source_name(request.name)
        reader, store, plans = self._enrolling(with_plans=True)
        outcome = await enrollment.enroll(
            reader, store, request.content, source, plans, actor=actor
        )
        log.info("admin change", extra={"action": "enroll", "actor": actor})
        c = outcome.counts
        return pb.EnrollReply(
            applied=outcome.applied,
            actor=actor,
            detail=outcome.summary(),
            file_id=outcome.file_id,
            interchange_control_number=outcome.interchange_control_number,
            members_added=c.members_added,
            members_changed=c.members_changed,
            members_terminated=c.members_terminated,
            members_reinstated=c.members_reinstated,
            coverage_spans_added=c.spans_added,
            coverage_spans_changed=c.spans_changed,
            claims_for_review=outcome.claims_for_review,
        )


ALERTS_DEFAULT, ALERTS_MAX = 100, 1_000
# The admin listener's largest request (an 834 sent to Enroll or Acknowledge, about 75,000
# members); a larger file is grpc's RESOURCE_EXHAUSTED: `rx-gateway enroll` takes up to 256 MB
ADMIN_MESSAGE_BYTES_MAX = 64 * 1024 * 1024


class AdminServer:
    """The admin listener: separate from the claim port, so it can be bound to a private
    interface and firewalled on its own."""

    def __init__(
        self,
        servicer: AdminServicer,
        *,
        listen_address: str,
        credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        self.server = aio.server(
            options=[
                ("grpc.so_reuseport", 0),  # one admin listener a port, never shared
                # an 834 for Enroll or Acknowledge: grpc's default is 4 MiB
                ("grpc.max_receive_message_length", ADMIN_MESSAGE_BYTES_MAX),
            ],
        )
        registrar: Any = HandlerWrapping(self.server, ErrorToStatusInterceptor.wrap)
        pb_grpc.add_AdminServiceServicer_to_server(servicer, registrar)
        self.port = listen(self.server, listen_address, credentials)

    async def start(self) -> None:
        await self.server.start()
        log.info("admin interface serving", extra={"port": self.port})

    async def stop(self, grace_s: float) -> None:
        await self.server.stop(grace_s)
