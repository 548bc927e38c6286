"""Merchants' HTTP API (API.md: Merchant). Thin: parse, call a service, shape."""

from __future__ import annotations

import html
import io
from typing import Annotated, Literal

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from identity import set_staff_password
from machipay.auth import AccessClaims, Role, require_roles
from machipay.deps import AppSettings, Cache, DbSession
from machipay.ratelimits import limit_applications
from machipay.schemas import Id
from machipay.timeutil import to_tokyo
from merchant_api import service, staff
from merchant_api.schemas import (
    MerchantApplicationIn,
    MerchantApplicationOut,
    MerchantProfileOut,
    MerchantStatusOut,
    StaffIn,
    StaffLimitIn,
    StaffListOut,
    StaffOut,
    StaffPasswordIn,
    SuspensionIn,
)

router = APIRouter(prefix="/api/v1", tags=["merchants"])

MerchantCaller = Annotated[
    AccessClaims, Depends(require_roles(Role.MERCHANT_OWNER, Role.MERCHANT_STAFF))
]
OwnerCaller = Annotated[AccessClaims, Depends(require_roles(Role.MERCHANT_OWNER))]
Approver = Annotated[AccessClaims, Depends(require_roles(Role.OFFICER, Role.OPERATOR))]


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
            owner_phone=body.owner_phone,
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
            suspension_reason=m.suspension_reason,
            suspended_at=to_tokyo(m.suspended_at) if m.suspended_at else None,
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
async def suspend(
    merchant_id: Id, body: SuspensionIn, caller: Approver, session: DbSession
) -> MerchantStatusOut:
    """A suspended shop cannot be paid; its stickers stop resolving. The reason is required,
    recorded with who and when, and shown to the shop."""
    merchant = await service.suspend(
        session, merchant_id, reason=body.reason, actor_id=caller.user_id
    )
    return MerchantStatusOut(id=merchant.id, status=merchant.status)


@router.post("/merchants/{merchant_id}/reinstate", response_model=MerchantStatusOut)
async def reinstate(merchant_id: Id, caller: Approver, session: DbSession) -> MerchantStatusOut:
    merchant = await service.reinstate(session, merchant_id)
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
        suspension_reason=merchant.suspension_reason if merchant.status == "suspended" else None,
        suspended_at=(
            to_tokyo(merchant.suspended_at)
            if merchant.status == "suspended" and merchant.suspended_at
            else None
        ),
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


# The resident app's own label for scanning (its bottom bar and home screen: web/messages/
# app.json "app.nav.scan"); a sticker that names a button the app does not have leaves
# residents looking for it (issue 22 item 4). A test holds the two together.
STICKER_SCAN_BUTTON = "支払う"


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
<ol><li>まちペイアプリの「{STICKER_SCAN_BUTTON}」をタップしてこのQRコードを読み取る</li>
<li>店名を確かめて金額を入力</li><li>「○○円を支払う」を押して完了画面を店員に見せる</li></ol>
<div class="en">In the machipay app tap “Pay”, scan this code, check the shop name, enter the
amount and pay.</div>
</div></body></html>"""
    )


def _staff_out(view: staff.StaffView) -> StaffOut:
    return StaffOut(
        id=view.id,
        username=view.username,
        refund_limit=view.refund_limit,
        refund_limit_is_default=view.refund_limit_is_default,
        added_at=to_tokyo(view.added_at),
    )


@router.get("/merchant/staff", response_model=StaffListOut)
async def list_staff(
    caller: OwnerCaller, session: DbSession, settings: AppSettings
) -> StaffListOut:
    """The shop's staff logins and each one's refund limit (owner only)."""
    shop = await service.merchant_of(session, caller.merchant_id, active=False)
    return StaffListOut(
        items=[_staff_out(v) for v in await staff.list_staff(session, settings, shop.id)],
        default_refund_limit=settings.merchant_staff_refund_limit,
        max_staff=staff.MAX_STAFF_PER_SHOP,
    )


@router.post("/merchant/staff", status_code=201, response_model=StaffOut)
async def add_staff(
    body: StaffIn, caller: OwnerCaller, session: DbSession, settings: AppSettings
) -> StaffOut:
    """A new staff login for the till (owner only): a unique login name, a password held to
    the same rules as everyone's, and optionally its own refund limit."""
    shop = await service.merchant_of(session, caller.merchant_id, active=False)
    view = await staff.add_staff(
        session,
        settings,
        merchant_id=shop.id,
        owner_id=caller.user_id,
        username=body.username,
        password=body.password,
        refund_limit=body.refund_limit,
    )
    return _staff_out(view)


@router.patch("/merchant/staff/{staff_id}", response_model=StaffOut)
async def set_staff_limit(
    staff_id: Id, body: StaffLimitIn, caller: OwnerCaller, session: DbSession, settings: AppSettings
) -> StaffOut:
    """Set a staff member's refund limit; ``null`` returns it to the platform's default."""
    shop = await service.merchant_of(session, caller.merchant_id, active=False)
    view = await staff.set_refund_limit(
        session,
        settings,
        merchant_id=shop.id,
        owner_id=caller.user_id,
        staff_id=staff_id,
        refund_limit=body.refund_limit,
    )
    return _staff_out(view)


@router.delete("/merchant/staff/{staff_id}", status_code=204)
async def remove_staff(
    staff_id: Id, caller: OwnerCaller, session: DbSession, cache: Cache, settings: AppSettings
) -> Response:
    """Remove a staff login: it cannot sign in again and its sessions end at once."""
    shop = await service.merchant_of(session, caller.merchant_id, active=False)
    await staff.remove_staff(
        session, cache, settings, merchant_id=shop.id, owner_id=caller.user_id, staff_id=staff_id
    )
    return Response(status_code=204)


@router.post("/merchant/staff/{staff_id}/password", status_code=204, response_class=Response)
async def staff_password(
    staff_id: Id,
    body: StaffPasswordIn,
    caller: OwnerCaller,
    session: DbSession,
    cache: Cache,
    settings: AppSettings,
) -> Response:
    """The owner sets a new password for one of the shop's staff, whose sessions end. Staff
    cannot reset their own by SMS: the shop owner is who vouches for them."""
    assert caller.merchant_id is not None
    await set_staff_password(
        session,
        cache,
        settings,
        merchant_id=caller.merchant_id,
        staff_id=staff_id,
        new_password=body.new_password,
    )
    return Response(status_code=204)
