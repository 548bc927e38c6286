"""Merchants' HTTP API (API.md: Merchant). Thin: parse, call a service, shape."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import json
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Literal

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from machipay.auth import AccessClaims, Role, require_roles
from machipay.deps import AppSettings, Cache, DbSession, EventBroker
from machipay.errors import ValidationFailed
from machipay.idempotency import idempotency_key_header, respond_idempotently
from machipay.ratelimits import limit_applications, limit_money_moves
from machipay.schemas import Id
from machipay.timeutil import to_tokyo, tokyo_day_bounds, utcnow
from merchant_api import service
from merchant_api.schemas import (
    ChargeIn,
    ChargeOut,
    CpmPaymentIn,
    MerchantApplicationIn,
    MerchantApplicationOut,
    MerchantDayOut,
    MerchantPaymentOut,
    MerchantProfileOut,
    MerchantStatusOut,
    RefundIn,
    RefundOut,
    RevokedRewardsOut,
)
from wallet_api import codes, payments
from wallet_api.routes import payment_out

router = APIRouter(prefix="/api/v1", tags=["merchants"])

MerchantCaller = Annotated[
    AccessClaims, Depends(require_roles(Role.MERCHANT_OWNER, Role.MERCHANT_STAFF))
]
OwnerCaller = Annotated[AccessClaims, Depends(require_roles(Role.MERCHANT_OWNER))]
Approver = Annotated[AccessClaims, Depends(require_roles(Role.OFFICER, Role.OPERATOR))]
IdempotencyKey = Annotated[str, Depends(idempotency_key_header)]
HEARTBEAT_SECONDS = 15.0


@router.post(
    "/merchants",
    status_code=201,
    response_model=MerchantStatusOut,
    dependencies=[Depends(limit_applications)],
)
async def apply(body: MerchantApplicationIn, session: DbSession) -> MerchantStatusOut:
    """A shop applies (public). Two officers or operators approve it before it can be paid."""
    merchant = await service.apply(
        session,
        service.MerchantApplication(
            name=body.name,
            name_kana=body.name_kana,
            category=body.category,
            store_type=body.store_type,
            shopping_street_id=body.shopping_street_id,
            postal_code=body.postal_code,
            address=body.address,
            owner_username=body.owner_username,
            owner_password=body.owner_password,
            bank=service.BankAccount(**body.bank.model_dump()),
            settlement_schedule=body.settlement_schedule,
        ),
    )
    return MerchantStatusOut(id=merchant.id, status=merchant.status)


@router.get("/merchants", response_model=list[MerchantApplicationOut])
async def merchants(
    caller: Annotated[
        AccessClaims, Depends(require_roles(Role.OFFICER, Role.APPROVER, Role.OPERATOR))
    ],
    session: DbSession,
    status: Literal["pending", "active", "suspended", "rejected"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[MerchantApplicationOut]:
    """Shops by status: the console's queue of applications to approve."""
    return [
        MerchantApplicationOut(
            id=m.id,
            name=m.name,
            name_kana=m.name_kana,
            category=m.category_code,
            store_type=m.store_type,
            shopping_street_id=m.shopping_street_id,
            postal_code=m.postal_code,
            address=m.address,
            status=m.status,
            created_at=to_tokyo(m.created_at),
            first_approved_by=m.first_approved_by,
            first_approved_at=to_tokyo(m.first_approved_at) if m.first_approved_at else None,
        )
        for m in await service.list_merchants(session, status=status, limit=limit)
    ]


@router.post("/merchants/{merchant_id}/approve", response_model=MerchantStatusOut)
async def approve(merchant_id: Id, caller: Approver, session: DbSession) -> MerchantStatusOut:
    """Two people approve a shop: the first approval leaves it pending (awaiting the second),
    a different officer's or operator's activates it; the same person twice → 403."""
    merchant = await service.approve(session, merchant_id, approver_id=caller.user_id)
    return MerchantStatusOut(
        id=merchant.id,
        status=merchant.status,
        awaiting_second_approval=merchant.status == "pending",
    )


@router.post("/merchants/{merchant_id}/suspend", response_model=MerchantStatusOut)
async def suspend(merchant_id: Id, caller: Approver, session: DbSession) -> MerchantStatusOut:
    """A suspended shop cannot be paid; its stickers stop resolving."""
    merchant = await service.set_suspended(session, merchant_id, suspended=True)
    return MerchantStatusOut(id=merchant.id, status=merchant.status)


@router.post("/merchants/{merchant_id}/reinstate", response_model=MerchantStatusOut)
async def reinstate(merchant_id: Id, caller: Approver, session: DbSession) -> MerchantStatusOut:
    merchant = await service.set_suspended(session, merchant_id, suspended=False)
    return MerchantStatusOut(id=merchant.id, status=merchant.status)


def _qr_image(payload: str, kind: Literal["png", "svg"]) -> bytes:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=4)
    qr.add_data(payload.encode("utf-8"))
    qr.make(fit=True)
    buffer = io.BytesIO()
    if kind == "svg":
        qr.make_image(image_factory=qrcode.image.svg.SvgPathImage).save(buffer)
    else:
        qr.make_image().save(buffer)
    return buffer.getvalue()


@router.get("/merchant", response_model=MerchantProfileOut)
async def profile(caller: MerchantCaller, session: DbSession) -> MerchantProfileOut:
    """The signed-in shop: name, street, category and status."""
    # A pending or suspended shop may still read its own status.
    merchant = await service.merchant_of(session, caller.merchant_id, active=False)
    view = await service.view_of(session, merchant)
    return MerchantProfileOut(
        id=merchant.id,
        name=merchant.name,
        name_kana=merchant.name_kana,
        category=merchant.category_code,
        store_type=merchant.store_type,
        shopping_street_id=merchant.shopping_street_id,
        shopping_street=view.shopping_street,
        status=merchant.status,
    )


@router.get(
    "/merchant/qr",
    responses={200: {"content": {"image/png": {}, "image/svg+xml": {}, "text/plain": {}}}},
)
async def static_qr(
    caller: MerchantCaller,
    session: DbSession,
    settings: AppSettings,
    format: Annotated[Literal["payload", "png", "svg"], Query()] = "payload",
) -> Response:
    """The shop's sticker code (static QR) as the EMVCo payload, a PNG or an SVG."""
    merchant = await service.merchant_of(session, caller.merchant_id)
    payload = await service.static_payload(session, settings, merchant)
    if format == "payload":
        return Response(payload, media_type="text/plain; charset=utf-8")
    media = "image/png" if format == "png" else "image/svg+xml"
    filename = f"machipay-{merchant.public_id}.{format}"
    return Response(
        _qr_image(payload, format),
        media_type=media,
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


@router.get("/merchant/qr/sticker", response_class=HTMLResponse)
async def sticker(
    caller: MerchantCaller, session: DbSession, settings: AppSettings, request: Request
) -> HTMLResponse:
    """A printable A6 sticker for the counter: shop name, the code, how to pay."""
    merchant = await service.merchant_of(session, caller.merchant_id)
    payload = await service.static_payload(session, settings, merchant)
    svg = _qr_image(payload, "svg").decode("utf-8").split("?>", 1)[-1]
    # Absolute: the dashboard opens this page from a blob: URL, against which a path would
    # not resolve. An inline <style> would be refused by the page's CSP.
    stylesheet = html.escape(f"{request.base_url}static/css/sticker.css")
    return HTMLResponse(
        f"""<!doctype html><html lang="ja"><head><meta charset="utf-8">
<title>{html.escape(merchant.name)} — machipay</title>
<link rel="stylesheet" href="{stylesheet}"></head><body><div class="card">
<div class="brand">まちペイ machipay</div>
<h1>{html.escape(merchant.name)}</h1>
<div class="qr">{svg}</div>
<ol><li>アプリで「スキャン」をタップ</li><li>店名を確かめて金額を入力</li><li>「支払う」を押して画面を店員に見せる</li></ol>
<div class="en">Scan with the machipay app, check the shop name, enter the amount, pay.</div>
</div></body></html>"""
    )


@router.post("/merchant/charges", status_code=201, response_model=ChargeOut)
async def create_charge(
    body: ChargeIn, caller: MerchantCaller, session: DbSession, settings: AppSettings
) -> ChargeOut:
    """A dynamic QR for one amount: single use, expires in a few minutes."""
    merchant = await service.merchant_of(session, caller.merchant_id)
    if body.amount > settings.max_payment:
        raise ValidationFailed(f"One payment is at most ¥{settings.max_payment:,}.", field="amount")
    charge, payload = await service.create_charge(session, settings, merchant, body.amount)
    return ChargeOut(
        id=charge.reference,
        qr_payload=payload,
        amount=charge.amount,
        expires_at=to_tokyo(charge.expires_at),
    )


@router.post("/merchant/cpm-payments", status_code=201)
async def capture_code(
    body: CpmPaymentIn,
    caller: MerchantCaller,
    key: IdempotencyKey,
    request: Request,
    session: DbSession,
    cache: Cache,
    settings: AppSettings,
) -> JSONResponse:
    """Take payment from the one-time code a resident shows at the till."""
    merchant = await service.merchant_of(session, caller.merchant_id)

    async def produce() -> tuple[int, object]:
        resident_id = await codes.take_code(cache, body.code)
        done = await payments.pay(
            session,
            settings,
            resident_id=resident_id,
            merchant=await service.view_of(session, merchant),
            amount=body.amount,
            method="cpm",
            idempotency_key=f"cpm:{merchant.id}:{key}",
            rewards=request.app.state.campaign_rewards,
        )
        return 201, payment_out(done)

    return await respond_idempotently(
        session, request, scope=f"merchant:{merchant.id}", key=key, body=body, produce=produce
    )


@router.post(
    "/merchant/payments/{payment_id}/refunds",
    status_code=201,
    response_model=RefundOut,
    dependencies=[Depends(limit_money_moves)],
)
async def refund(
    payment_id: Annotated[str, Path(pattern=r"^pay_[0-9a-f]{20}$")],
    body: RefundIn,
    caller: MerchantCaller,
    key: IdempotencyKey,
    request: Request,
    session: DbSession,
    settings: AppSettings,
) -> JSONResponse:
    """Refund all or part of a payment to the resident, in points and money as it was paid.

    Only an active shop refunds (a suspended one is refused: its money is frozen with it);
    staff refund up to ``MACHIPAY_MERCHANT_STAFF_REFUND_LIMIT`` at a time, the owner any
    amount."""
    merchant = await service.merchant_of(session, caller.merchant_id)
    service.check_refund_power(caller.role, body.amount, settings)

    async def produce() -> tuple[int, object]:
        done = await payments.refund(
            session,
            settings,
            merchant_id=merchant.id,
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
        session, request, scope=f"merchant:{merchant.id}", key=key, body=body, produce=produce
    )


def csv_attachment(text: str, filename: str) -> Response:
    """A CSV download, UTF-8 with a BOM so that Excel in Japan opens it as it is."""
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def _day(session: DbSession, merchant_id: int, day: date | None) -> MerchantDayOut:
    the_day = day or to_tokyo(utcnow()).date()
    start, end = tokyo_day_bounds(the_day)
    rows = await payments.payments_on(session, merchant_id, start, end)
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


@router.get("/merchant/payments", response_model=MerchantDayOut)
async def day_payments(
    caller: MerchantCaller,
    session: DbSession,
    day: Annotated[date | None, Query(alias="date")] = None,
) -> MerchantDayOut:
    """The shop's payments on one day (Asia/Tokyo; default today), with totals."""
    merchant = await service.merchant_of(session, caller.merchant_id, active=False)
    return await _day(session, merchant.id, day)


@router.get("/merchant/payments.csv", response_class=Response)
async def day_payments_csv(
    caller: MerchantCaller,
    session: DbSession,
    day: Annotated[date | None, Query(alias="date")] = None,
) -> Response:
    """The same as CSV, UTF-8 with a BOM so that Excel in Japan opens it as it is."""
    merchant = await service.merchant_of(session, caller.merchant_id, active=False)
    report = await _day(session, merchant.id, day)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["日時", "支払ID", "金額", "ポイント", "残高", "方法", "返金額", "返金状況"])
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
            ]
        )
    writer.writerow(["合計", "", report.gross, "", "", "", report.refunded, f"差引 {report.net}"])
    return csv_attachment(buffer.getvalue(), f"machipay-{report.date}.csv")


@router.get("/merchant/events", response_class=StreamingResponse)
async def events(
    caller: MerchantCaller, session: DbSession, broker: EventBroker, request: Request
) -> StreamingResponse:
    """Server-Sent Events: one ``payment`` or ``refund`` event per movement at this shop."""
    merchant = await service.merchant_of(session, caller.merchant_id, active=False)
    channel = payments.merchant_channel(merchant.id)

    async def stream() -> AsyncIterator[str]:
        async with broker.subscribe(channel) as messages:
            yield ": connected\n\n"
            iterator = messages.__aiter__()
            while not await request.is_disconnected():
                try:
                    message = await asyncio.wait_for(
                        iterator.__anext__(), timeout=HEARTBEAT_SECONDS
                    )
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                data = json.dumps(message, ensure_ascii=False)
                yield f"event: {message['type']}\ndata: {data}\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
