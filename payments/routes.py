"""Payments' HTTP API (API.md: Wallet, Merchant): residents pay by QR or show a one-time
code; shops charge, capture codes, refund, read their day and watch payments arrive.
Thin: parse, call a service, shape. Each route keeps the OpenAPI tag of the client that
calls it."""

from __future__ import annotations

import csv
import io
from datetime import date
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from identity import usernames
from machipay.admission import admission_controlled
from machipay.auth import AccessClaims, Role, require_roles
from machipay.deps import AppSettings, Cache, DbSession, EventBroker
from machipay.downloads import csv_attachment
from machipay.errors import ValidationFailed
from machipay.idempotency import (
    IdempotentRequest,
    idempotency_key_header,
    respond_idempotently,
)
from machipay.ratelimits import limit_money_moves
from machipay.timeutil import to_tokyo, tokyo_day_bounds, utcnow
from merchant_api import caller_shop
from payments import charges, live, lookups, one_time_codes, qr_pay, receipts, refunds
from payments.group_commit import PaymentGroupCommit
from payments.schemas import (
    ChargeIn,
    ChargeOut,
    CpmPaymentIn,
    MerchantDayOut,
    MerchantOut,
    MerchantPaymentOut,
    OneTimeCode,
    OneTimeCodeIn,
    PaidWith,
    PaymentOut,
    PaymentRequest,
    QrResolved,
    QrResolveRequest,
    ReceiptOut,
    ReceiptRefundOut,
    ReceiptRewardsOut,
    RefundIn,
    RefundOut,
    RevokedRewardsOut,
    RewardPreviewOut,
    RewardsOut,
    TakenByOut,
)
from payments.service import PaymentClaim, PaymentDone, preview_reward

RESIDENTS: list[str | Enum] = ["residents"]
MERCHANTS: list[str | Enum] = ["merchants"]

router = APIRouter(prefix="/api/v1")

ResidentCaller = Annotated[AccessClaims, Depends(require_roles(Role.RESIDENT))]
MerchantCaller = Annotated[
    AccessClaims, Depends(require_roles(Role.MERCHANT_OWNER, Role.MERCHANT_STAFF))
]
IdempotencyKey = Annotated[str, Depends(idempotency_key_header)]


def payment_out(done: PaymentDone) -> dict[str, object]:
    payment = done.payment
    return PaymentOut(
        id=payment.reference,
        amount=payment.amount,
        paid_with=PaidWith(points=payment.points_used, money=payment.money_used),
        rewards=RewardsOut(
            resident_points=done.rewards.resident_points,
            merchant_cashback=done.rewards.merchant_cashback,
            granted=done.rewards.granted,
        ),
        merchant=MerchantOut(
            id=done.merchant.id,
            name=done.merchant.name,
            shopping_street=done.merchant.shopping_street,
        ),
        created_at=to_tokyo(payment.created_at),
    ).model_dump(mode="json")


# -- residents -------------------------------------------------------------------------------


@router.post("/qr/resolve", response_model=QrResolved, tags=RESIDENTS)
async def resolve_qr(
    body: QrResolveRequest,
    caller: ResidentCaller,
    request: Request,
    session: DbSession,
    settings: AppSettings,
) -> QrResolved:
    """Who a scanned code pays (shown before the resident confirms), its amount if fixed,
    and the campaign reward paying it now would earn this resident (``+N pt``)."""
    resolved = await qr_pay.resolve_qr(session, settings, body.payload)
    view = resolved.view
    amount = resolved.charge.amount if resolved.charge else body.amount
    preview = await preview_reward(
        session,
        resident_id=caller.user_id,
        merchant=view,
        amount=amount,
        use_points=body.use_points,
        rewards=request.app.state.campaign_rewards,
    )
    return QrResolved(
        merchant=MerchantOut(id=view.id, name=view.name, shopping_street=view.shopping_street),
        amount=resolved.parsed.amount,
        charge_id=resolved.charge.reference if resolved.charge else None,
        reward=RewardPreviewOut(
            resident_points=preview.resident_points,
            rate_bp=preview.rate_bp,
            cap_left=preview.cap_left,
            campaign_id=preview.campaign_id,
            campaign_name=preview.campaign_name,
        )
        if preview is not None
        else None,
    )


@router.post(
    "/payments",
    status_code=201,
    response_model=PaymentOut,
    dependencies=[Depends(limit_money_moves)],
    tags=RESIDENTS,
)
@admission_controlled
async def create_payment(
    body: PaymentRequest,
    caller: ResidentCaller,
    key: IdempotencyKey,
    request: Request,
    session: DbSession,
    settings: AppSettings,
) -> Response:
    """Pay a shop by its QR: points first (oldest expiry first), then money."""
    idempotent = IdempotentRequest.of(request, scope=f"user:{caller.user_id}", key=key, body=body)
    payment = qr_pay.QrPayment(
        caller.user_id,
        body.qr_payload,
        body.amount,
        body.use_points,
        PaymentClaim(idempotent, answer=lambda done: (201, payment_out(done))),
    )
    rewards = request.app.state.campaign_rewards
    batches: PaymentGroupCommit | None = request.app.state.payment_batches
    sticker = payment.sticker(settings) if batches is not None else None
    if batches is not None and sticker is not None:
        stored = await batches.pay(payment, sticker)
    else:
        stored = await qr_pay.pay_qr_idempotently(session, settings, payment, rewards=rewards)
    return stored.as_response()


@router.post(
    "/wallet/one-time-code",
    status_code=201,
    response_model=OneTimeCode,
    dependencies=[Depends(limit_money_moves)],
    tags=RESIDENTS,
)
async def one_time_code(
    caller: ResidentCaller,
    session: DbSession,
    cache: Cache,
    settings: AppSettings,
    body: OneTimeCodeIn | None = None,
) -> OneTimeCode:
    """A code to show at the till (and its QR): valid for 60 seconds, once. With
    ``{"use_points": false}`` the payment it makes spends money only."""
    code, expires_at = await one_time_codes.issue_code(
        session,
        cache,
        settings,
        caller.user_id,
        use_points=body.use_points if body is not None else True,
    )
    return OneTimeCode(code=code, qr_payload=code, expires_at=to_tokyo(expires_at))


TransactionReference = Annotated[
    str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
]


@router.get("/wallet/transactions/{reference}", response_model=ReceiptOut, tags=RESIDENTS)
async def transaction_receipt(
    reference: TransactionReference, caller: ResidentCaller, session: DbSession
) -> ReceiptOut:
    """One line of the caller's history as a receipt: the transaction number, the shop, the
    amount, points and money, rewards, the time (JST). Another resident's line: 404."""
    found = await receipts.receipt(session, resident_id=caller.user_id, reference=reference)
    line, payment, shop = found.line, found.payment, found.merchant
    return ReceiptOut(
        id=line.reference,
        kind=line.kind,
        amount=line.amount,
        money_change=line.money_change,
        points_change=line.points_change,
        counterparty=line.counterparty,
        message=line.message,
        created_at=to_tokyo(line.created_at),
        merchant=MerchantOut(id=shop.id, name=shop.name, shopping_street=shop.shopping_street)
        if shop
        else None,
        paid_with=PaidWith(points=payment.points_used, money=payment.money_used)
        if payment and line.kind == "payment"
        else None,
        rewards=ReceiptRewardsOut(
            resident_points=payment.resident_reward, granted=found.rewards_granted
        )
        if payment and line.kind == "payment"
        else None,
        refunded_amount=payment.refunded_amount if payment and line.kind == "payment" else None,
        refund=ReceiptRefundOut(
            payment_id=found.refund.payment_reference,
            points_back=found.refund.points_back,
            money_back=found.refund.money_back,
            points_revoked=found.refund.points_revoked,
            money_withheld=found.refund.money_withheld,
        )
        if found.refund
        else None,
    )


# -- shops -----------------------------------------------------------------------------------


@router.post("/merchant/charges", status_code=201, response_model=ChargeOut, tags=MERCHANTS)
async def create_charge(
    body: ChargeIn, caller: MerchantCaller, session: DbSession, settings: AppSettings
) -> ChargeOut:
    """A dynamic QR for one amount: single use, expires in a few minutes."""
    shop = await caller_shop(session, caller.merchant_id)
    if body.amount > settings.max_payment:
        raise ValidationFailed(f"One payment is at most ¥{settings.max_payment:,}.", field="amount")
    charge, payload = await charges.create_charge(
        session, settings, shop.id, body.amount, created_by=caller.user_id
    )
    return ChargeOut(
        id=charge.reference,
        qr_payload=payload,
        amount=charge.amount,
        expires_at=to_tokyo(charge.expires_at),
    )


@router.post("/merchant/cpm-payments", status_code=201, tags=MERCHANTS)
@admission_controlled
async def capture_code(
    body: CpmPaymentIn,
    caller: MerchantCaller,
    key: IdempotencyKey,
    request: Request,
    session: DbSession,
    cache: Cache,
    settings: AppSettings,
) -> Response:
    """Take payment from the one-time code a resident shows at the till."""
    shop = await caller_shop(session, caller.merchant_id)

    async def produce() -> tuple[int, object]:
        done = await one_time_codes.pay_by_code(
            session,
            cache,
            settings,
            shop=shop,
            code=body.code,
            amount=body.amount,
            taken_by=caller.user_id,
            idempotency_key=key,
            rewards=request.app.state.campaign_rewards,
        )
        return 201, payment_out(done)

    return await respond_idempotently(
        session, request, scope=f"merchant:{shop.id}", key=key, body=body, produce=produce
    )


@router.post(
    "/merchant/payments/{payment_id}/refunds",
    status_code=201,
    response_model=RefundOut,
    dependencies=[Depends(limit_money_moves)],
    tags=MERCHANTS,
)
@admission_controlled
async def refund(
    payment_id: Annotated[str, Path(pattern=r"^pay_[0-9a-f]{20}$")],
    body: RefundIn,
    caller: MerchantCaller,
    key: IdempotencyKey,
    request: Request,
    session: DbSession,
    settings: AppSettings,
) -> Response:
    """Refund all or part of a payment to the resident, in points and money as it was paid.

    Only an active shop refunds (a suspended one is refused: its money is frozen with it);
    staff refund up to their own limit at a time (the owner sets it, GET/PATCH
    /merchant/staff; ``MACHIPAY_MERCHANT_STAFF_REFUND_LIMIT`` until then), the owner any
    amount."""
    shop = await caller_shop(session, caller.merchant_id)
    await refunds.check_refund_power(
        session, settings, role=caller.role, user_id=caller.user_id, amount=body.amount
    )

    async def produce() -> tuple[int, object]:
        done = await refunds.refund(
            session,
            settings,
            merchant_id=shop.id,
            payment_reference=payment_id,
            amount=body.amount,
            idempotency_key=key,
            rewards=request.app.state.campaign_rewards,
        )
        out = RefundOut(
            id=done.refund.reference,
            amount=done.refund.amount,
            payment_id=done.payment.reference,
            points_back=done.refund.points_back,
            money_back=done.refund.money_back,
            rewards_revoked=RevokedRewardsOut(
                resident_points=done.revocation.points_taken + done.revocation.money_taken,
                from_money=done.revocation.money_taken,
                unrecovered=done.revocation.unrecovered,
                merchant_cashback=done.revocation.cashback_taken,
            ),
            created_at=to_tokyo(done.refund.created_at),
        )
        return 201, out.model_dump(mode="json")

    return await respond_idempotently(
        session, request, scope=f"merchant:{shop.id}", key=key, body=body, produce=produce
    )


async def _day(session: DbSession, merchant_id: int, day: date | None) -> MerchantDayOut:
    the_day = day or to_tokyo(utcnow()).date()
    start, end = tokyo_day_bounds(the_day)
    rows = await lookups.payments_on(session, merchant_id, start, end)
    takers = await usernames(session, {p.taken_by for p in rows if p.taken_by is not None})
    items = [
        MerchantPaymentOut(
            id=p.reference,
            amount=p.amount,
            points_used=p.points_used,
            money_used=p.money_used,
            method=p.method,
            refunded_amount=p.refunded_amount,
            refund_status="none"
            if not p.refunded_amount
            else "full"
            if p.refunded_amount == p.amount
            else "partial",
            created_at=to_tokyo(p.created_at),
            taken_by=TakenByOut(id=p.taken_by, username=takers.get(p.taken_by, "?"))
            if p.taken_by is not None
            else None,
        )
        for p in rows
    ]
    gross, refunded = sum(p.amount for p in rows), sum(p.refunded_amount for p in rows)
    return MerchantDayOut(
        date=the_day.isoformat(),
        count=len(rows),
        gross=gross,
        refunded=refunded,
        net=gross - refunded,
        payments=items,
    )


@router.get("/merchant/payments", response_model=MerchantDayOut, tags=MERCHANTS)
async def day_payments(
    caller: MerchantCaller,
    session: DbSession,
    day: Annotated[date | None, Query(alias="date")] = None,
) -> MerchantDayOut:
    """The shop's payments on one day (Asia/Tokyo; default today), with totals."""
    shop = await caller_shop(session, caller.merchant_id, active=False)
    return await _day(session, shop.id, day)


@router.get("/merchant/payments.csv", response_class=Response, tags=MERCHANTS)
async def day_payments_csv(
    caller: MerchantCaller,
    session: DbSession,
    day: Annotated[date | None, Query(alias="date")] = None,
) -> Response:
    """The same as CSV, UTF-8 with a BOM so that Excel in Japan opens it as it is."""
    shop = await caller_shop(session, caller.merchant_id, active=False)
    report = await _day(session, shop.id, day)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(
        ["日時", "支払ID", "金額", "ポイント", "残高", "方法", "返金額", "返金状況", "担当"]
    )
    for p in report.payments:
        writer.writerow(
            [
                p.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                p.id,
                p.amount,
                p.points_used,
                p.money_used,
                p.method,
                p.refunded_amount,
                p.refund_status,
                p.taken_by.username if p.taken_by else "店頭QR",
            ]
        )
    writer.writerow(["合計", "", report.gross, "", "", "", report.refunded, f"差引 {report.net}"])
    return csv_attachment(buffer.getvalue(), f"machipay-{report.date}.csv")


@router.get("/merchant/events", response_class=StreamingResponse, tags=MERCHANTS)
async def events(
    caller: MerchantCaller, session: DbSession, broker: EventBroker, request: Request
) -> StreamingResponse:
    """Server-Sent Events: one ``payment`` or ``refund`` event per movement at this shop."""
    shop = await caller_shop(session, caller.merchant_id, active=False)
    return StreamingResponse(
        live.merchant_event_stream(broker, shop.id, request.is_disconnected),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
