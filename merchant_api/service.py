"""Merchants: application, approval, suspension, the shop as others see it, QR codes."""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession

import ledger
from identity import create_user, create_users_bulk
from machipay.auth import Role
from machipay.errors import Conflict, Forbidden, NotFound, ValidationFailed
from machipay.hotsql import HotStatement
from machipay.phone import normalize_phone
from machipay.settings import Settings
from machipay.timeutil import utcnow
from machipay.zengin_kana import ZenginError, to_zengin_kana
from merchant_api.models import Merchant
from merchant_api.qr import InvalidQr, MerchantQrData, ParsedQr, build_payload, parse_payload
from ward import (
    ShoppingStreet,
    get_category,
    get_shopping_street,
    list_categories,
    list_shopping_streets,
    ward_reference,
)

STORE_TYPES = ("small", "chain", "large")
ACCOUNT_TYPES = ("ordinary", "current", "savings")
_KANA = re.compile(r"[\u30A0-\u30FF\u3000 A-Z0-9().,/\-]+")  # Zengin's character set, after NFKC


class MerchantNotFound(NotFound):
    type_slug = "merchant-not-found"
    title = "Unknown merchant"


class MerchantNotActive(Conflict):
    type_slug = "merchant-not-active"
    title = "The shop cannot take payments"


class MerchantSelfApproval(Forbidden):
    type_slug = "merchant-self-approval"
    title = "A shop needs a second person's approval"


@dataclass(frozen=True, slots=True)
class BankAccount:
    bank_code: str
    branch_code: str
    account_type: str
    account_number: str
    account_name_kana: str


@dataclass(frozen=True, slots=True)
class MerchantApplication:
    name: str
    name_kana: str
    category: str
    store_type: str
    shopping_street_id: int | None
    postal_code: str
    address: str
    owner_username: str
    owner_password: str
    bank: BankAccount
    settlement_schedule: str | None = None
    owner_phone: str | None = None
    # Pinned on the application's map, or typed (both or neither).
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    opening_hours: str | None = None
    phone: str | None = None
    # The applicant accepted the terms (加盟店規約); None: not asked (API callers, imports).
    consented: bool | None = None


@dataclass(frozen=True, slots=True)
class ShopReference:
    """What an application is checked against: the ward's categories and streets."""

    categories: frozenset[str]
    street_ids: frozenset[int]


async def shop_reference(session: AsyncSession) -> ShopReference:
    return ShopReference(
        frozenset(c.code for c in await list_categories(session)),
        frozenset(s.id for s in await list_shopping_streets(session)),
    )


# Japan's bounding box (the database holds the same check): a pin in the sea is a typo.
_LATITUDES = (Decimal(20), Decimal(46))
_LONGITUDES = (Decimal(122), Decimal(154))


@cache
def _kakasi() -> object:
    import pykakasi

    return pykakasi.kakasi()  # type: ignore[no-untyped-call]


def romanize(kana: str) -> str:
    """A Latin name for EMVCo tag 59 (≤25 characters): the kana reading in Hepburn."""
    converted = " ".join(part["hepburn"] for part in _kakasi().convert(kana))  # type: ignore[attr-defined]
    latin = re.sub(r"[^A-Z0-9 ]", "", converted.upper())
    return re.sub(r" +", " ", latin).strip()[:25] or "MACHIPAY SHOP"


def _normalize_postal(postal: str) -> str:
    digits = postal.replace("-", "").replace("〒", "").strip()
    prefixes = tuple(ward_reference()["ward"]["postal_prefixes"])
    if not re.fullmatch(r"\d{7}", digits):
        raise ValidationFailed("postal_code is 7 digits, e.g. 155-0031.", field="postal_code")
    if not digits.startswith(prefixes):
        raise ValidationFailed(
            "The shop must be in the ward (postal code 154-158).", field="postal_code"
        )
    return digits


def _fits_zengin(name: str) -> bool:
    """The payout file has 30 half-width characters for the name (ガ takes two: ｶﾞ)."""
    try:
        return len(to_zengin_kana(name)) <= 30
    except ZenginError:
        return False


def _ascii_digits(value: str) -> str:
    """Digits as an IME types them (全角 ０-９) become ASCII; other scripts' digits stay as
    they are and are refused, because the bank file takes only 0-9."""
    return unicodedata.normalize("NFKC", value).strip()


def validate_bank(bank: BankAccount) -> BankAccount:
    """A bank account as the Zengin file will carry it: ASCII digits, the banks' kana."""
    name = unicodedata.normalize("NFKC", bank.account_name_kana).strip().upper()
    bank_code = _ascii_digits(bank.bank_code)
    branch_code = _ascii_digits(bank.branch_code)
    account_number = _ascii_digits(bank.account_number)
    checks = [
        (re.fullmatch(r"[0-9]{4}", bank_code), "bank.bank_code is 4 digits"),
        (re.fullmatch(r"[0-9]{3}", branch_code), "bank.branch_code is 3 digits"),
        (
            bank.account_type in ACCOUNT_TYPES,
            f"bank.account_type is one of {', '.join(ACCOUNT_TYPES)}",
        ),
        (re.fullmatch(r"[0-9]{1,7}", account_number), "bank.account_number is up to 7 digits"),
        (
            name and _KANA.fullmatch(name) and _fits_zengin(name),
            "bank.account_name_kana is katakana as on the passbook,"
            " at most 30 characters in half-width kana",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ValidationFailed(message + ".", field=message.split(" ", 1)[0])
    return BankAccount(bank_code, branch_code, bank.account_type, account_number.zfill(7), name)


def _japanese_phone(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    try:
        return normalize_phone(value)
    except ValueError as exc:
        raise ValidationFailed(
            f"{field} is a Japanese phone number, e.g. 03-1234-5678.", field=field
        ) from exc


def _location(
    latitude: Decimal | None, longitude: Decimal | None
) -> tuple[Decimal | None, Decimal | None]:
    if (latitude is None) != (longitude is None):
        raise ValidationFailed("latitude and longitude go together.", field="latitude")
    if latitude is None or longitude is None:
        return None, None
    if not (
        _LATITUDES[0] <= latitude <= _LATITUDES[1] and _LONGITUDES[0] <= longitude <= _LONGITUDES[1]
    ):
        raise ValidationFailed("The pin is not in Japan.", field="latitude")
    return round(latitude, 6), round(longitude, 6)


def new_shop(
    application: MerchantApplication, reference: ShopReference, *, now: datetime
) -> tuple[Merchant, str | None]:
    """A pending shop from an application, every field checked (ValidationFailed names the
    field), and its owner's phone in E.164; nothing is written."""
    if application.category not in reference.categories:
        raise ValidationFailed(f"Unknown category {application.category!r}.", field="category")
    if application.store_type not in STORE_TYPES:
        raise ValidationFailed("store_type is small, chain or large.", field="store_type")
    if (
        application.shopping_street_id is not None
        and application.shopping_street_id not in reference.street_ids
    ):
        raise ValidationFailed("Unknown shopping street.", field="shopping_street_id")
    kana = unicodedata.normalize("NFKC", application.name_kana).strip()
    if not kana or not re.fullmatch(r"[\u30A0-\u30FF\u3000 ]+", kana):
        raise ValidationFailed("name_kana is the shop's name in katakana.", field="name_kana")
    if application.consented is False:
        raise ValidationFailed("The terms must be accepted.", field="consent")
    postal_code = _normalize_postal(application.postal_code)
    bank = validate_bank(application.bank)
    owner_phone = _japanese_phone(application.owner_phone, "owner_phone")
    phone = _japanese_phone(application.phone, "phone")
    latitude, longitude = _location(application.latitude, application.longitude)
    merchant = Merchant(
        public_id=secrets.token_hex(6),
        name=application.name.strip(),
        name_kana=kana,
        name_latin=romanize(kana),
        category_code=application.category,
        store_type=application.store_type,
        shopping_street_id=application.shopping_street_id,
        postal_code=postal_code,
        address=application.address.strip(),
        status="pending",
        bank_code=bank.bank_code,
        branch_code=bank.branch_code,
        account_type=bank.account_type,
        account_number=bank.account_number,
        account_name_kana=bank.account_name_kana,
        settlement_schedule=application.settlement_schedule,
        created_at=now,
        latitude=latitude,
        longitude=longitude,
        opening_hours=application.opening_hours,
        phone=phone,
        consented_at=now if application.consented else None,
    )
    return merchant, owner_phone


async def apply(session: AsyncSession, application: MerchantApplication) -> Merchant:
    """A public application: the shop and its owner's account; payments wait for approval."""
    merchant, owner_phone = new_shop(application, await shop_reference(session), now=utcnow())
    session.add(merchant)
    await session.flush()
    await create_user(
        session,
        username=application.owner_username,
        password=application.owner_password,
        role=Role.MERCHANT_OWNER,
        merchant_id=merchant.id,
        phone=owner_phone,
    )
    return merchant


async def list_merchants(
    session: AsyncSession, *, status: str | None, limit: int
) -> list[Merchant]:
    """Shops, oldest application first (the console works the queue in order)."""
    query = select(Merchant).order_by(Merchant.created_at, Merchant.id).limit(limit)
    if status is not None:
        query = query.where(Merchant.status == status)
    return list((await session.execute(query)).scalars())


async def merchant_for_update(session: AsyncSession, merchant_id: int) -> Merchant:
    """The shop's row, locked until commit (state changes and settlement run one at a time)."""
    merchant = (
        await session.execute(select(Merchant).where(Merchant.id == merchant_id).with_for_update())
    ).scalar_one_or_none()
    if merchant is None:
        raise MerchantNotFound(f"No merchant {merchant_id}.")
    return merchant


async def approve(session: AsyncSession, merchant_id: int, *, approver_id: int) -> Merchant:
    """Two people open a shop: the first approval is recorded and the shop stays pending;
    a different member of staff's approval activates it."""
    merchant = await merchant_for_update(session, merchant_id)
    if merchant.status != "pending":
        raise Conflict(f"Merchant {merchant_id} is {merchant.status}, not pending.")
    if merchant.imported_by == approver_id:
        # The import is the maker's act: two other people check what it put in.
        raise MerchantSelfApproval("You imported this shop: two other members of staff approve it.")
    if merchant.first_approved_by is None:
        merchant.first_approved_by, merchant.first_approved_at = approver_id, utcnow()
        await session.flush()
        return merchant
    if merchant.first_approved_by == approver_id:
        raise MerchantSelfApproval(
            "You gave this shop its first approval: a second person must give the other."
        )
    merchant.status, merchant.approved_at, merchant.approved_by = "active", utcnow(), approver_id
    await ledger.open_accounts(
        session, [ledger.merchant_payable(merchant.id), ledger.merchant_payout(merchant.id)]
    )
    await session.flush()
    return merchant


@dataclass
class BatchApproval:
    """What one person's approval of many shops did, shop by shop."""

    first: list[int]  # approved once: each waits for a different person's approval
    activated: list[int]  # a second approval: open for payments
    refused: dict[int, str]  # not approved by this person, and why (a problem type slug)


async def approve_many(
    session: AsyncSession, merchant_ids: list[int], *, approver_id: int
) -> BatchApproval:
    """One person's approval of each listed shop, under the rules of :func:`approve` (the
    same person never gives both approvals, nor approves shops they imported): a batch of
    imported shops is approved by two people as one is. Shops it may not approve are
    listed with why; the others are approved."""
    result = BatchApproval([], [], {})
    for merchant_id in dict.fromkeys(merchant_ids):
        try:
            merchant = await approve(session, merchant_id, approver_id=approver_id)
        except (NotFound, Conflict, Forbidden) as exc:
            result.refused[merchant_id] = exc.type_slug
            continue
        (result.first if merchant.status == "pending" else result.activated).append(merchant_id)
    return result


async def suspend(
    session: AsyncSession, merchant_id: int, *, reason: str, actor_id: int
) -> Merchant:
    """Stop an active shop taking payments, recording why, by whom and when (the shop
    reads the reason on its dashboard)."""
    merchant = await merchant_for_update(session, merchant_id)
    if merchant.status != "active":
        raise Conflict(f"Merchant {merchant_id} is {merchant.status}.")
    merchant.status = "suspended"
    merchant.suspension_reason, merchant.suspended_by = reason, actor_id
    merchant.suspended_at = utcnow()
    await session.flush()
    return merchant


async def reinstate(session: AsyncSession, merchant_id: int) -> Merchant:
    """A suspended shop takes payments again (the last suspension's record stays)."""
    merchant = await merchant_for_update(session, merchant_id)
    if merchant.status != "suspended":
        raise Conflict(f"Merchant {merchant_id} is {merchant.status}.")
    merchant.status = "active"
    await session.flush()
    return merchant


@dataclass(frozen=True, slots=True)
class ShopForSettlement:
    """What a settlement needs of a shop: its schedule, and the bank account its payout
    goes to as it is now (the payout keeps its own copy)."""

    id: int
    settlement_schedule: str | None
    bank_code: str
    branch_code: str
    account_type: str
    account_number: str
    account_name_kana: str


async def lock_shop_for_settlement(session: AsyncSession, merchant_id: int) -> ShopForSettlement:
    """The shop, its row locked until commit: one settlement of a shop at a time (a second
    run waits here, then sees the first's statement)."""
    merchant = await merchant_for_update(session, merchant_id)
    return ShopForSettlement(
        id=merchant.id,
        settlement_schedule=merchant.settlement_schedule,
        bank_code=merchant.bank_code,
        branch_code=merchant.branch_code,
        account_type=merchant.account_type,
        account_number=merchant.account_number,
        account_name_kana=merchant.account_name_kana,
    )


async def shops_to_settle(session: AsyncSession) -> list[int]:
    """Every shop that ever took a payment: approved ones, and suspended ones too (a
    suspended shop is still owed what it sold)."""
    rows = await session.execute(
        select(Merchant.id)
        .where(Merchant.status.in_(("active", "suspended")))
        .order_by(Merchant.id)
    )
    return [int(r) for r in rows.scalars()]


async def merchant_of(
    session: AsyncSession, merchant_id: int | None, *, active: bool = True
) -> Merchant:
    """The caller's own shop (from their token); never another's."""
    merchant = None if merchant_id is None else await session.get(Merchant, merchant_id)
    if merchant is None:
        raise Forbidden("This account belongs to no shop.")
    if active and merchant.status != "active":
        raise MerchantNotActive(f"The shop is {merchant.status}.")
    return merchant


@dataclass(frozen=True, slots=True)
class MerchantView:
    id: int
    name: str
    shopping_street: str | None
    shopping_street_id: int | None
    category: str
    store_type: str
    district_id: str | None


async def view_of(session: AsyncSession, merchant: Merchant) -> MerchantView:
    street = (
        None
        if merchant.shopping_street_id is None
        else await get_shopping_street(session, merchant.shopping_street_id)
    )
    return MerchantView(
        merchant.id,
        merchant.name,
        street.name if street else None,
        merchant.shopping_street_id,
        merchant.category_code,
        merchant.store_type,
        street.district_id if street else None,
    )


def _views_where(condition: Any) -> Select[tuple[Merchant, str, str]]:
    return (
        select(Merchant, ShoppingStreet.name, ShoppingStreet.district_id)
        .outerjoin(ShoppingStreet, ShoppingStreet.id == Merchant.shopping_street_id)
        .where(condition)
        .order_by(Merchant.id)
    )


def _view(merchant: Merchant, street: str | None, district: str | None) -> MerchantView:
    return MerchantView(
        merchant.id,
        merchant.name,
        street,
        merchant.shopping_street_id,
        merchant.category_code,
        merchant.store_type,
        district,
    )


async def _views(session: AsyncSession, condition: Any) -> list[MerchantView]:
    rows = await session.execute(_views_where(condition))
    return [_view(m, street, district) for m, street, district in rows]


async def active_merchant_views(session: AsyncSession) -> list[MerchantView]:
    """Every active shop with its street, category, store type and district."""
    return await _views(session, Merchant.status == "active")


async def merchant_views(session: AsyncSession, merchant_ids: list[int]) -> dict[int, MerchantView]:
    """The named shops (whatever their status), by id."""
    return {v.id: v for v in await _views(session, Merchant.id.in_(merchant_ids))}


async def caller_shop(
    session: AsyncSession, merchant_id: int | None, *, active: bool = True
) -> MerchantView:
    """The caller's own shop (from their token; never another's), in one round trip; with
    ``active``, only a shop that can take payments and refund them."""
    found = (
        None
        if merchant_id is None
        else (await session.execute(_views_where(Merchant.id == merchant_id))).first()
    )
    if found is None:
        raise Forbidden("This account belongs to no shop.")
    merchant, street, district = found
    if active and merchant.status != "active":
        raise MerchantNotActive(f"The shop is {merchant.status}.")
    return _view(merchant, street, district)


async def qr_data(session: AsyncSession, merchant: Merchant) -> MerchantQrData:
    category = await get_category(session, merchant.category_code)
    ward = ward_reference()["ward"]
    return MerchantQrData(
        public_id=merchant.public_id,
        mcc=category.mcc if category else "5999",
        name_latin=merchant.name_latin,
        city_latin=ward["name_en"].split()[0].upper()[:15],
        postal_code=merchant.postal_code,
        name_ja=merchant.name[:25],
        city_ja=ward["name"][:15],
    )


async def static_payload(session: AsyncSession, settings: Settings, merchant: Merchant) -> str:
    return build_payload(settings.secret_key, await qr_data(session, merchant))


async def charge_payload(
    session: AsyncSession, settings: Settings, merchant_id: int, *, amount: int, reference: str
) -> str:
    """The dynamic QR of one charge: the shop's sticker data with the amount and the
    charge's single-use reference."""
    merchant = await merchant_by_id(session, merchant_id)
    return build_payload(
        settings.secret_key,
        await qr_data(session, merchant),
        amount=amount,
        charge_reference=reference,
    )


@dataclass(frozen=True, slots=True)
class ScannedShop:
    parsed: ParsedQr
    view: MerchantView  # what the resident sees, and what a campaign looks at


# The rule lives in merchant_scanned.sql: the payment path reads the same row inside its own
# first call (payment_open) and hands it to scanned_shop.
_SHOP_BY_PUBLIC_ID = HotStatement(
    text(
        "SELECT merchant_id, name, shopping_street_id, category, store_type, status,"
        " street_name, district_id FROM merchant_scanned(:public_id)"
    )
)


def parse_shop_qr(settings: Settings, payload: str) -> ParsedQr:
    """A scanned code's content, its signature checked (InvalidQr otherwise)."""
    return parse_payload(settings.secret_key, payload)


def scanned_shop(parsed: ParsedQr, found: Sequence[Any] | None) -> ScannedShop:
    """The shop a code names, from ``merchant_scanned``'s row (None or a NULL id: no such
    shop), if it can take payments."""
    if found is None or found[0] is None:
        raise InvalidQr("This QR code names no machipay shop.")
    merchant_id, name, street_id, category, store_type, status, street_name, district_id = found
    view = MerchantView(
        int(merchant_id), name, street_name, street_id, category, store_type, district_id
    )
    if status != "active":
        raise InvalidQr("This shop cannot take payments at the moment.")
    return ScannedShop(parsed, view)


async def resolve_shop_qr(session: AsyncSession, settings: Settings, payload: str) -> ScannedShop:
    """Who a scanned code pays: the shop its signed token names, if it can take payments.
    (A dynamic code's charge is the payments context's to check.)"""
    parsed = parse_shop_qr(settings, payload)
    return scanned_shop(
        parsed, await _SHOP_BY_PUBLIC_ID.row(session, {"public_id": parsed.merchant_public_id})
    )


async def merchant_by_id(session: AsyncSession, merchant_id: int) -> Merchant:
    merchant = await session.get(Merchant, merchant_id)
    if merchant is None:
        raise MerchantNotFound(f"No merchant {merchant_id}.")
    return merchant


@dataclass(frozen=True, slots=True)
class NewShop:
    """A shop of a synthetic ward (``machipay seed``), approved from the start."""

    name: str
    name_kana: str
    category: str
    store_type: str
    shopping_street_id: int | None
    owner_username: str
    # Where the directory's map puts its pin, and its hours (both optional).
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    opening_hours: str | None = None


async def add_shops_bulk(
    session: AsyncSession, shops: list[NewShop], *, password_hash: str
) -> list[Merchant]:
    """Open many approved shops with their owners and accounts in a few statements."""
    now = utcnow()
    merchants = [
        Merchant(
            public_id=secrets.token_hex(6),
            name=shop.name,
            name_kana=shop.name_kana,
            name_latin=romanize(shop.name_kana),
            category_code=shop.category,
            store_type=shop.store_type,
            shopping_street_id=shop.shopping_street_id,
            latitude=shop.latitude,
            longitude=shop.longitude,
            opening_hours=shop.opening_hours,
            postal_code="1540004",
            address="東京都世田谷区太子堂4-1-1",
            status="active",
            bank_code="0001",
            branch_code="123",
            account_type="ordinary",
            account_number=f"{index % 10_000_000:07d}",
            account_name_kana=unicodedata.normalize("NFKC", shop.name_kana),
            created_at=now,
            approved_at=now,
        )
        for index, shop in enumerate(shops, start=1)
    ]
    session.add_all(merchants)
    await session.flush()
    await create_users_bulk(
        session,
        [
            (s.owner_username, Role.MERCHANT_OWNER, m.id)
            for s, m in zip(shops, merchants, strict=True)
        ],
        password_hash=password_hash,
    )
    await ledger.open_accounts(
        session,
        [
            code
            for m in merchants
            for code in (ledger.merchant_payable(m.id), ledger.merchant_payout(m.id))
        ],
    )
    return merchants
