"""The help desk's HTTP API (API.md "Help desk (role desk)") and the resident's access log.
Thin: parse, call the service, shape."""

from __future__ import annotations

import html
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from desk import cash_up, service
from desk.models import DeskCashUp, DeskClosure, DeskTopUp
from desk.schemas import (
    AccessLineOut,
    AccessLogOut,
    CashUpIn,
    CashUpOut,
    ClosureIn,
    ClosureOut,
    DistrictIn,
    HistoryLineOut,
    LotOut,
    ReasonIn,
    ResidentSummaryOut,
    TopUpIn,
    TopUpOut,
)
from machipay.auth import AccessClaims, Role, require_roles
from machipay.deps import AppSettings, Cache, DbSession
from machipay.idempotency import idempotency_key_header, respond_idempotently
from machipay.timeutil import to_tokyo
from merchant_api import BankAccount
from wallet_api import resident_of

router = APIRouter(prefix="/api/v1", tags=["help desk"])

DeskCaller = Annotated[AccessClaims, Depends(require_roles(Role.DESK))]
# A closure's second person: another member of desk staff, or an approver.
ClosureApprover = Annotated[AccessClaims, Depends(require_roles(Role.DESK, Role.APPROVER))]
# A cash-up's second person: another member of desk staff, or an officer.
CashUpConfirmer = Annotated[AccessClaims, Depends(require_roles(Role.DESK, Role.OFFICER))]
ResidentCaller = Annotated[AccessClaims, Depends(require_roles(Role.RESIDENT))]
IdempotencyKey = Annotated[str, Depends(idempotency_key_header)]
ResidentId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def closure_out(closure: DeskClosure, payout_status: str | None = None) -> ClosureOut:
    return ClosureOut(
        id=closure.id,
        resident_id=closure.resident_id,
        status=closure.status,
        reason=closure.reason,
        requested_by=closure.requested_by,
        requested_at=to_tokyo(closure.requested_at),
        approved_by=closure.approved_by,
        approved_at=to_tokyo(closure.approved_at) if closure.approved_at else None,
        refund=closure.refund,
        points_forfeited=closure.points_forfeited,
        payout_id=closure.payout_id,
        payout_status=payout_status,
    )


def summary_out(found: service.ResidentSummary) -> ResidentSummaryOut:
    return ResidentSummaryOut(
        id=found.resident_id,
        wallet_id=found.wallet_id,
        name=found.name,
        phone=found.phone,
        phone_verified=found.phone_verified_at is not None,
        phone_verified_at=to_tokyo(found.phone_verified_at) if found.phone_verified_at else None,
        district=found.district,
        status=found.status,
        money=found.money,
        points=found.points,
        refund_in_transit=found.refund_in_transit,
        points_lots=[LotOut(amount=a, expires_at=to_tokyo(at)) for a, at in found.lots],
        history=[
            HistoryLineOut(**(line | {"created_at": to_tokyo(line["created_at"])}))
            for line in found.history
        ],
        closures=[
            closure_out(
                c, found.payouts[c.payout_id].status if c.payout_id in found.payouts else None
            )
            for c in found.closures
        ],
    )


@router.get("/desk/residents", response_model=ResidentSummaryOut)
async def look_up(
    caller: DeskCaller,
    session: DbSession,
    cache: Cache,
    settings: AppSettings,
    reason: Annotated[str, Query(min_length=1, max_length=200)],
    phone: Annotated[str | None, Query(min_length=1, max_length=20)] = None,
    wallet_id: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
) -> ResidentSummaryOut:
    """A resident's summary for the person at the counter. The reason is required; every
    look-up, hit or miss, is audited and shown to the resident in their access log."""
    found = await service.look_up(
        session,
        cache,
        settings,
        staff_id=caller.user_id,
        reason=reason,
        phone=phone,
        wallet_id=wallet_id,
    )
    return summary_out(found)


@router.post("/desk/residents/{resident_id}/freeze", response_model=ResidentSummaryOut)
async def freeze(
    resident_id: ResidentId, body: ReasonIn, caller: DeskCaller, session: DbSession
) -> ResidentSummaryOut:
    """No money leaves the wallet (payments, transfers, one-time codes); top-ups still land."""
    return summary_out(
        await service.freeze(
            session,
            staff_id=caller.user_id,
            resident_id=resident_id,
            reason=body.reason,
            frozen=True,
        )
    )


@router.post("/desk/residents/{resident_id}/unfreeze", response_model=ResidentSummaryOut)
async def unfreeze(
    resident_id: ResidentId, body: ReasonIn, caller: DeskCaller, session: DbSession
) -> ResidentSummaryOut:
    return summary_out(
        await service.freeze(
            session,
            staff_id=caller.user_id,
            resident_id=resident_id,
            reason=body.reason,
            frozen=False,
        )
    )


@router.post("/desk/residents/{resident_id}/district", response_model=ResidentSummaryOut)
async def move_district(
    resident_id: ResidentId, body: DistrictIn, caller: DeskCaller, session: DbSession
) -> ResidentSummaryOut:
    """The resident moved within the ward (転居): their home district changes, audited."""
    return summary_out(
        await service.move_district(
            session,
            staff_id=caller.user_id,
            resident_id=resident_id,
            district=body.district,
            reason=body.reason,
        )
    )


@router.post("/desk/residents/{resident_id}/closure", status_code=201, response_model=ClosureOut)
async def request_closure(
    resident_id: ResidentId, body: ClosureIn, caller: DeskCaller, session: DbSession
) -> ClosureOut:
    """Ask to close the wallet and refund its money to the given account; pending until a
    second person approves it."""
    closure = await service.request_closure(
        session,
        staff_id=caller.user_id,
        resident_id=resident_id,
        reason=body.reason,
        bank=BankAccount(
            body.bank.bank_code,
            body.bank.branch_code,
            body.bank.account_type,
            body.bank.account_number,
            body.bank.account_name_kana,
        ),
    )
    return closure_out(closure)


@router.get("/desk/closures", response_model=list[ClosureOut])
async def pending_closures(caller: ClosureApprover, session: DbSession) -> list[ClosureOut]:
    """Closure requests waiting for a second person."""
    return [closure_out(c) for c in await service.pending_closures(session)]


@router.post("/desk/closures/{closure_id}/approve", response_model=ClosureOut)
async def approve_closure(
    closure_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    caller: ClosureApprover,
    session: DbSession,
    cache: Cache,
    settings: AppSettings,
) -> ClosureOut:
    """The second person (not the requester → 403): the wallet closes, points go to breakage,
    the money goes out in the next Zengin payout file, the number is freed, sign-in ends."""
    closure = await service.approve_closure(
        session, cache, settings, staff_id=caller.user_id, closure_id=closure_id
    )
    return closure_out(closure, "pending" if closure.payout_id else None)


def top_up_out(top_up: DeskTopUp) -> TopUpOut:
    return TopUpOut(
        id=top_up.reference,
        wallet_id=top_up.wallet_id,
        amount=top_up.amount,
        office=top_up.office,
        staff=top_up.staff_name,
        created_at=to_tokyo(top_up.created_at),
        receipt_url=f"/api/v1/desk/top-ups/{top_up.reference}/receipt",
    )


@router.post("/desk/top-ups", status_code=201, response_model=TopUpOut)
async def cash_top_up(
    body: TopUpIn,
    caller: DeskCaller,
    key: IdempotencyKey,
    request: Request,
    session: DbSession,
    settings: AppSettings,
) -> Response:
    """Cash taken at a ward counter, credited like a bank top-up (source ``desk``)."""

    async def produce() -> tuple[int, object]:
        top_up = await service.cash_top_up(
            session,
            settings,
            staff_id=caller.user_id,
            wallet_id=body.wallet_id,
            amount=body.amount,
            reason=body.reason,
            idempotency_key=key,
        )
        return 201, top_up_out(top_up).model_dump(mode="json")

    return await respond_idempotently(
        session, request, scope=f"user:{caller.user_id}", key=key, body=body, produce=produce
    )


@router.get(
    "/desk/top-ups/{reference}/receipt",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}}},
)
async def receipt(
    reference: Annotated[str, Path(min_length=1, max_length=24, pattern=r"^[A-Z0-9]+$")],
    caller: DeskCaller,
    session: DbSession,
) -> HTMLResponse:
    """The receipt (領収書) to print and hand over with the counter top-up."""
    top_up = await service.top_up_by_reference(session, reference)
    return HTMLResponse(render_receipt(top_up))


def render_receipt(top_up: DeskTopUp) -> str:
    at = to_tokyo(top_up.created_at).strftime("%Y年%m月%d日 %H:%M")
    rows = [
        ("取引番号", top_up.reference),
        ("日時", at),
        ("ウォレットID", top_up.wallet_id),
        ("金額", f"¥{top_up.amount:,}"),
        ("取扱窓口", top_up.office),
        ("担当", top_up.staff_name),
    ]
    cells = "".join(
        f'<tr><th scope="row">{html.escape(k)}</th><td>{html.escape(v)}</td></tr>' for k, v in rows
    )
    return (
        '<!doctype html><html lang="ja"><head><meta charset="utf-8">'
        f"<title>領収書 {html.escape(top_up.reference)}</title>"
        '<link rel="stylesheet" href="/static/console/receipt.css"></head><body>'
        '<main class="receipt" data-receipt>'
        "<h1>領収書</h1>"
        f'<p class="receipt-amount">¥{top_up.amount:,}<span>（税対象外）</span></p>'
        "<p>上記金額を、まちペイのウォレットへのチャージ代金として現金にて領収いたしました。</p>"
        f'<table class="receipt-table">{cells}</table>'
        '<p class="receipt-issuer">世田谷区 まちペイ窓口</p>'
        "</main></body></html>"
    )


def cash_up_out(row: DeskCashUp) -> CashUpOut:
    return CashUpOut(
        id=row.id,
        office=row.office,
        day=row.day,
        status=row.status,
        counted=row.counted,
        note=row.note,
        declared_by=row.declared_by,
        declared_at=to_tokyo(row.declared_at),
        confirmed_by=row.confirmed_by,
        confirmed_at=to_tokyo(row.confirmed_at) if row.confirmed_at else None,
        expected=row.expected,
        top_ups=row.top_ups,
        difference=row.difference,
    )


@router.post("/desk/cash-ups", status_code=201, response_model=CashUpOut)
async def declare_cash_up(body: CashUpIn, caller: DeskCaller, session: DbSession) -> CashUpOut:
    """Day end at the caller's counter: the cash counted (blind: the expected sum is shown
    only once a second person confirms). One per counter and day (409)."""
    return cash_up_out(
        await cash_up.declare(
            session, staff_id=caller.user_id, day=body.day, counted=body.counted, note=body.note
        )
    )


@router.get("/desk/cash-ups", response_model=list[CashUpOut])
async def cash_ups(
    caller: CashUpConfirmer,
    session: DbSession,
    status: Annotated[Literal["declared", "confirmed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[CashUpOut]:
    """Cash-ups, newest first (``status=declared``: those waiting for a second person)."""
    rows = await cash_up.list_cash_ups(session, status=status, limit=limit)
    return [cash_up_out(r) for r in rows]


@router.post("/desk/cash-ups/{cash_up_id}/confirm", response_model=CashUpOut)
async def confirm_cash_up(
    cash_up_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    caller: CashUpConfirmer,
    session: DbSession,
) -> CashUpOut:
    """The second person (not the declarer → 403): compares the count with the day's
    counter top-ups and records the difference (過不足) in the append-only desk audit."""
    return cash_up_out(
        await cash_up.confirm(session, staff_id=caller.user_id, cash_up_id=cash_up_id)
    )


@router.get("/wallet/access-log", response_model=AccessLogOut, tags=["residents"])
async def access_log(
    caller: ResidentCaller,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> AccessLogOut:
    """Who at the ward looked at or acted on this account, when and why."""
    resident = await resident_of(session, caller.user_id)
    lines = await service.access_log(session, resident.user_id, limit=limit)
    return AccessLogOut(
        items=[
            AccessLineOut(
                at=to_tokyo(line.at),
                action=line.action,
                reason=line.reason,
                staff=line.staff,
                office=line.office,
            )
            for line in lines
        ]
    )
