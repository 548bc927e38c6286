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
from machipay.errors import TYPE_BASE, ValidationFailed
from machipay.ratelimits import limit_applications
from machipay.schemas import Id
from machipay.timeutil import to_tokyo
from merchant_api import review, service, shop_import, staff
from merchant_api.models import Merchant
from merchant_api.schemas import (
    BankOut,
    BatchApprovalIn,
    BatchApprovalOut,
    BatchRefusal,
    ImportRowError,
    LocationOut,
    MerchantApplicationDetailOut,
    MerchantApplicationIn,
    MerchantApplicationOut,
    MerchantProfileOut,
    MerchantStatusOut,
    OwnApplicationOut,
    RejectionIn,
    ShopImportOut,
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
Officer = Annotated[AccessClaims, Depends(require_roles(Role.OFFICER))]


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
            latitude=body.latitude,
            longitude=body.longitude,
            opening_hours=body.opening_hours,
            phone=body.phone,
            consented=body.consent,
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
    return [_listed(m) for m in await service.list_merchants(session, status=status, limit=limit)]


def _listed(m: Merchant) -> MerchantApplicationOut:
    return MerchantApplicationOut(
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


@router.post(
    "/merchants/import",
    response_model=ShopImportOut,
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def import_shops(
    caller: Officer,
    session: DbSession,
    request: Request,
    dry_run: bool = False,
) -> ShopImportOut:
    """The ward's recruitment list as CSV (UTF-8 or Shift_JIS, a heading row, at most 5,000
    shops and 8 MB): each shop is created pending, keyed by ``import_ref`` (a shop already
    imported is skipped). ``dry_run=true`` checks every row and writes nothing; otherwise
    all rows are written, or none if any is bad (422 with the same row-level errors)."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in ("text/csv", "text/plain"):
        raise ValidationFailed("Send the list as text/csv.")
    raw = await _bounded_body(request, shop_import.MAX_BYTES)
    result = await shop_import.import_shops(
        session, raw, officer_id=caller.user_id, dry_run=dry_run
    )
    return ShopImportOut(
        dry_run=dry_run,
        rows=result.rows,
        valid=result.valid,
        already_imported=result.already_imported,
        created=result.created,
        error_count=len(result.errors),
        errors=[
            ImportRowError(row=e.row, column=e.column, message=e.message)
            for e in result.errors[: shop_import.MAX_ERRORS_SHOWN]
        ],
    )


async def _bounded_body(request: Request, max_bytes: int) -> bytes:
    """The body, refused as soon as it passes ``max_bytes`` (never held whole beyond it)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ValidationFailed(f"The file is larger than {max_bytes // (1024 * 1024)} MB.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ValidationFailed(f"The file is larger than {max_bytes // (1024 * 1024)} MB.")
        chunks.append(chunk)
    return b"".join(chunks)


@router.get("/merchants/{merchant_id}", response_model=MerchantApplicationDetailOut)
async def application(
    merchant_id: Id,
    caller: Annotated[
        AccessClaims, Depends(require_roles(Role.OFFICER, Role.APPROVER, Role.OPERATOR))
    ],
    session: DbSession,
) -> MerchantApplicationDetailOut:
    """The whole application, bank account and owner included, for the officer deciding."""
    found = await review.application(session, merchant_id)
    m, names = found.merchant, found.staff_names

    def name(user_id: int | None) -> str | None:
        return None if user_id is None else names.get(user_id)

    return MerchantApplicationDetailOut(
        **_listed(m).model_dump(),
        name_latin=m.name_latin,
        bank=BankOut(
            bank_code=m.bank_code,
            branch_code=m.branch_code,
            account_type=m.account_type,
            account_number=m.account_number,
            account_name_kana=m.account_name_kana,
        ),
        owner_username=found.owner_username,
        owner_phone=found.owner_phone,
        phone=m.phone,
        opening_hours=m.opening_hours,
        location=None
        if m.latitude is None or m.longitude is None
        else LocationOut(lat=float(m.latitude), lon=float(m.longitude)),
        settlement_schedule=m.settlement_schedule,
        consented_at=to_tokyo(m.consented_at) if m.consented_at else None,
        first_approved_by_name=name(m.first_approved_by),
        approved_at=to_tokyo(m.approved_at) if m.approved_at else None,
        approved_by_name=name(m.approved_by),
        rejection_reason=m.rejection_reason,
        rejected_at=to_tokyo(m.rejected_at) if m.rejected_at else None,
        rejected_by_name=name(m.rejected_by),
        import_ref=m.import_ref,
        imported_by_name=name(m.imported_by),
    )


@router.post("/merchants/{merchant_id}/reject", response_model=MerchantStatusOut)
async def reject(
    merchant_id: Id, body: RejectionIn, caller: Approver, session: DbSession
) -> MerchantStatusOut:
    """Refuse a pending application with a reason the applicant reads (one officer's or
    operator's act: it opens nothing). Only a pending shop; who and when are recorded."""
    merchant = await review.reject(
        session, merchant_id, officer_id=caller.user_id, reason=body.reason
    )
    return MerchantStatusOut(id=merchant.id, status=merchant.status)


@router.get("/merchant/application", response_model=OwnApplicationOut)
async def own_application(caller: OwnerCaller, session: DbSession) -> OwnApplicationOut:
    """The applicant's status page: where the application stands and, if refused, why."""
    m = await service.merchant_of(session, caller.merchant_id, active=False)
    return OwnApplicationOut(
        id=m.id,
        name=m.name,
        status=m.status,
        applied_at=to_tokyo(m.created_at),
        first_approval_given=m.first_approved_by is not None,
        approved_at=to_tokyo(m.approved_at) if m.approved_at else None,
        rejected_at=to_tokyo(m.rejected_at) if m.rejected_at else None,
        rejection_reason=m.rejection_reason,
    )


@router.post("/merchants/approvals", response_model=BatchApprovalOut)
async def approve_batch(
    body: BatchApprovalIn, caller: Approver, session: DbSession
) -> BatchApprovalOut:
    """One person's approval of many pending shops (an imported batch): each gets the first
    or the second of its two approvals; shops this person may not approve (their own first
    approval, their own import, not pending) are listed with the problem type and left."""
    done = await service.approve_many(session, body.merchant_ids, approver_id=caller.user_id)
    return BatchApprovalOut(
        first_approvals=done.first,
        activated=done.activated,
        refused=[BatchRefusal(id=i, type=TYPE_BASE + slug) for i, slug in done.refused.items()],
    )


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
