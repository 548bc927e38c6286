"""Residents' HTTP API (API.md: Wallet, Funding). Thin: parse, call a service, shape."""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from pydantic import ValidationError

import ledger
from machipay.admission import admission_controlled
from machipay.auth import AccessClaims, Role, client_ip, require_roles
from machipay.deps import AppSettings, Cache, DbSession
from machipay.errors import ValidationFailed
from machipay.idempotency import idempotency_key_header, respond_idempotently
from machipay.problems import field_errors
from machipay.ratelimits import limit_money_moves, limit_recipient_lookups
from machipay.schemas import MAX_ID
from machipay.sms import Sms, send_after_response
from machipay.timeutil import to_tokyo, utcnow
from wallet_api import funding, recipients, references, service
from wallet_api.benefit_lots import benefits_received
from wallet_api.history import reward_points_revoked
from wallet_api.schemas import (
    BenefitReceivedOut,
    Counterparty,
    FundingBankOut,
    FundingEvent,
    FundingOut,
    FundingResult,
    PhoneVerification,
    PhoneVerified,
    PointsLotOut,
    RecipientLookup,
    RecipientOut,
    ResendRequest,
    ResidentCreated,
    ResidentRegistration,
    TransactionOut,
    TransactionPage,
    TransferOut,
    TransferRequest,
    WalletOut,
    WardCounterOut,
)
from ward import NoticeOut, list_notices, notice_out, ward_counter

EXPIRING_SOON = timedelta(days=30)
BENEFIT_NOTICE_DAYS = timedelta(days=30)

router = APIRouter(prefix="/api/v1", tags=["residents"])

ResidentCaller = Annotated[AccessClaims, Depends(require_roles(Role.RESIDENT))]
IdempotencyKey = Annotated[str, Depends(idempotency_key_header)]


@router.post("/residents", status_code=201, response_model=ResidentCreated)
async def register(
    body: ResidentRegistration,
    request: Request,
    session: DbSession,
    cache: Cache,
    settings: AppSettings,
    sms: Sms,
) -> ResidentCreated:
    """Register a resident: a user, a wallet, and money and points accounts, waiting for
    the code sent by SMS. A number already registered gets the same answer (and its owner
    an SMS about it): the answer never tells whether a number is registered."""
    created = await service.register_resident(
        session,
        cache,
        settings,
        sms,
        phone=body.phone,
        password=body.password,
        display_name=body.display_name,
        birth_year=body.birth_year,
        district=body.district,
        ip=client_ip(request),
    )
    return ResidentCreated(id=created.id, wallet_id=created.wallet_id)


@router.post("/residents/verify", response_model=PhoneVerified)
async def verify(
    body: PhoneVerification,
    request: Request,
    session: DbSession,
    cache: Cache,
    settings: AppSettings,
) -> PhoneVerified:
    """Enter the code sent by SMS; the wallet can then pay, send and receive."""
    await service.verify_phone(
        session, cache, settings, phone=body.phone, code=body.code, ip=client_ip(request)
    )
    return PhoneVerified()


@router.post("/residents/verify/resend", status_code=202, response_class=Response)
async def resend(
    body: ResendRequest,
    request: Request,
    tasks: BackgroundTasks,
    session: DbSession,
    cache: Cache,
    settings: AppSettings,
    sms: Sms,
) -> Response:
    """A new code for a registration still waiting for one (the last one stops working).
    202 whatever the number; the SMS goes out after the response, so no answer or timing
    tells whether the number has a pending registration."""
    to_send = await service.resend_verification(
        session, cache, settings, phone=body.phone, ip=client_ip(request)
    )
    if to_send is not None:
        tasks.add_task(send_after_response, sms, *to_send)
    return Response(status_code=202)


@router.get("/wallet", response_model=WalletOut)
async def wallet(caller: ResidentCaller, session: DbSession, settings: AppSettings) -> WalletOut:
    """Money and points (with each lot's expiry) and the limits that apply."""
    resident = await service.resident_of(session, caller.user_id)
    view = await service.wallet_view(session, settings, resident)
    received = await benefits_received(
        session, resident.user_id, since=utcnow() - BENEFIT_NOTICE_DAYS
    )
    lots = [
        PointsLotOut(amount=lot.remaining, expires_at=to_tokyo(lot.expires_at)) for lot in view.lots
    ]
    return WalletOut(
        wallet_id=view.wallet_id,
        money=view.money,
        points=view.points,
        points_lots=lots,
        next_points_expiry=lots[0].expires_at if lots else None,
        points_expiring_soon=sum(
            lot.amount for lot in lots if lot.expires_at <= utcnow() + EXPIRING_SOON
        ),
        limits=view.limits,
        verification="pending" if resident.phone_verified_at is None else "verified",
        benefits_received=[
            BenefitReceivedOut(name=b.name, points=b.points, granted_at=to_tokyo(b.granted_at))
            for b in received
        ],
    )


@router.get("/wallet/funding", response_model=FundingOut)
async def wallet_funding(
    caller: ResidentCaller, session: DbSession, settings: AppSettings
) -> FundingOut:
    """Where to send money from: the wallet's own transfer account, its konbini number and
    the ward counter of the resident's district (cash at the desk)."""
    resident = await service.resident_of(session, caller.user_id)
    refs = await references.funding_references(session, resident.user_id)
    money = await ledger.get_balance(session, ledger.resident_money(resident.user_id))
    counter = ward_counter(resident.district_id)
    return FundingOut(
        wallet_id=resident.wallet_id,
        bank=FundingBankOut(
            bank_code=settings.funding_bank_code,
            bank_name=settings.funding_bank_name,
            branch_code=settings.funding_branch_code,
            branch_name=settings.funding_branch_name,
            account_type=settings.funding_account_type,
            account_number=refs.virtual_account,
            account_name_kana=settings.funding_account_name_kana,
        ),
        konbini_number=refs.konbini_number,
        counter=WardCounterOut(
            district_id=counter.district_id,
            district_name=counter.district_name,
            name=counter.name,
            name_en=counter.name_en,
            address=counter.address,
            hours=counter.hours,
            hours_en=counter.hours_en,
        )
        if counter
        else None,
        balance_cap=settings.wallet_balance_cap,
        room=max(0, settings.wallet_balance_cap - money),
    )


@router.get("/wallet/notices", response_model=list[NoticeOut])
async def wallet_notices(
    caller: ResidentCaller,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
) -> list[NoticeOut]:
    """The ward's notices for this resident: ward-wide ones and those for their district."""
    resident = await service.resident_of(session, caller.user_id)
    found = await list_notices(session, for_district=resident.district_id, limit=limit)
    return [notice_out(n) for n in found]


def _decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        value = int(base64.urlsafe_b64decode(cursor.encode("ascii") + b"==").decode("ascii"))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise ValidationFailed("Invalid cursor.", field="cursor") from exc
    if not 1 <= value <= MAX_ID:
        raise ValidationFailed("Invalid cursor.", field="cursor")
    return value


def _encode_cursor(value: int | None) -> str | None:
    return (
        None
        if value is None
        else base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")
    )


@router.get("/wallet/transactions", response_model=TransactionPage)
async def transactions(
    caller: ResidentCaller,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> TransactionPage:
    """The caller's history, newest first; pass ``next_cursor`` back as ``cursor`` for more."""
    rows, next_id = await service.transactions_page(
        session, caller.user_id, limit=limit, before_id=_decode_cursor(cursor)
    )
    items = [
        TransactionOut(
            id=row.reference,
            kind=row.kind,
            amount=row.amount,
            money_change=row.money_change,
            points_change=row.points_change,
            counterparty=row.counterparty,
            message=row.message,
            created_at=to_tokyo(row.created_at),
            points_revoked=reward_points_revoked(row),
        )
        for row in rows
    ]
    return TransactionPage(items=items, next_cursor=_encode_cursor(next_id))


@router.post(
    "/funding/webhook",
    response_model=FundingResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": FundingEvent.model_json_schema()}},
        }
    },
)
async def funding_webhook(
    request: Request, session: DbSession, settings: AppSettings
) -> FundingResult:
    """Called by the bank / ATM / convenience-store network, signed with the shared secret."""
    raw = await request.body()
    funding.verify(
        settings.funding_webhook_secret,
        request.headers.get(funding.HEADER),
        raw,
        tolerance_seconds=settings.funding_webhook_tolerance_seconds,
    )
    try:
        event = FundingEvent.model_validate_json(raw)
    except ValidationError as exc:
        raise ValidationFailed(
            "The funding event does not match the schema.",
            errors=field_errors(exc.errors(), "body"),
        ) from exc
    credited = await service.credit_top_up(
        session,
        settings,
        event_id=event.event_id,
        wallet_id=event.wallet_id,
        virtual_account=event.virtual_account,
        konbini_number=event.konbini_number,
        amount=event.amount,
        source=event.source,
    )
    return FundingResult(status="credited" if credited else "duplicate")


@router.post(
    "/transfers/recipient",
    response_model=RecipientOut,
    dependencies=[Depends(limit_recipient_lookups)],
    responses={404: {"description": "No resident who can receive has this number"}},
)
async def transfer_recipient(
    body: RecipientLookup, caller: ResidentCaller, session: DbSession
) -> RecipientOut:
    """受取人名義の確認: the masked name a transfer to this number would reach, or 404.
    Limited per account and address per day, found or not (docs/SECURITY.md)."""
    name = await recipients.recipient_name(
        session, sender_id=caller.user_id, to_phone=body.to_phone
    )
    return RecipientOut(name=name)


@router.post(
    "/transfers",
    status_code=201,
    response_model=TransferOut,
    dependencies=[Depends(limit_money_moves)],
)
@admission_controlled
async def transfer(
    body: TransferRequest,
    caller: ResidentCaller,
    key: IdempotencyKey,
    request: Request,
    session: DbSession,
    cache: Cache,
    settings: AppSettings,
) -> Response:
    """Send money (never points) to another resident by phone number."""

    async def produce() -> tuple[int, object]:
        done = await service.transfer_money(
            session,
            cache,
            settings,
            sender_id=caller.user_id,
            to_phone=body.to_phone,
            amount=body.amount,
            message=body.message,
            idempotency_key=key,
        )
        out = TransferOut(
            id=done.reference,
            amount=done.amount,
            to=Counterparty(display_name=done.recipient_name, phone=done.recipient_phone),
            message=done.message,
            created_at=to_tokyo(done.created_at),
        )
        return 201, out.model_dump(mode="json")

    return await respond_idempotently(
        session, request, scope=f"user:{caller.user_id}", key=key, body=body, produce=produce
    )
