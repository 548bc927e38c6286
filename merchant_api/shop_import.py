"""The ward's recruitment list imported as pending shops (CSV from Excel).

One officer imports; every shop it creates is pending and still needs the two approvals
any shop needs (DESIGN.md 7: two people for every power over money). The import is
all-or-nothing: a dry run checks every row and answers each bad cell (row as Excel numbers
it, column, a Japanese message); the real run writes every row or, if any row is bad,
none, so the ward never has to work out which half of a file went in. It is keyed by the
ward's own reference (``import_ref``, 受付番号): a row whose reference is already in is
skipped, so importing the same file again creates nothing twice.

Owners of imported shops have no password yet: each row gives the owner's phone, and the
owner sets a password with the code the merchant page's 「パスワードを忘れた方」 sends.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import identity
from machipay.auth import Role
from machipay.auth.passwords import hash_password
from machipay.csvfile import decode_csv
from machipay.errors import Conflict, ValidationFailed
from machipay.text import nfkc
from machipay.timeutil import utcnow
from merchant_api.models import Merchant
from merchant_api.schemas import ShopRowIn
from merchant_api.service import (
    BankAccount,
    MerchantApplication,
    new_shop,
    shop_reference,
)

MAX_BYTES = 8 * 1024 * 1024
MAX_ROWS = 5000
MAX_ERRORS_SHOWN = 1000

REQUIRED = (
    "import_ref",
    "name",
    "name_kana",
    "category",
    "store_type",
    "postal_code",
    "address",
    "owner_username",
    "owner_phone",
    "bank_code",
    "branch_code",
    "account_type",
    "account_number",
    "account_name_kana",
)
OPTIONAL = (
    "shopping_street_id",
    "latitude",
    "longitude",
    "opening_hours",
    "phone",
    "settlement_schedule",
)
# Headings as the ward's staff write them in Excel.
JAPANESE_HEADINGS = {
    "受付番号": "import_ref",
    "店名": "name",
    "店名カナ": "name_kana",
    "業種": "category",
    "店舗区分": "store_type",
    "商店街id": "shopping_street_id",
    "郵便番号": "postal_code",
    "住所": "address",
    "ログインid": "owner_username",
    "代表者電話番号": "owner_phone",
    "金融機関コード": "bank_code",
    "支店コード": "branch_code",
    "口座種別": "account_type",
    "口座番号": "account_number",
    "口座名義カナ": "account_name_kana",
    "緯度": "latitude",
    "経度": "longitude",
    "営業時間": "opening_hours",
    "電話番号": "phone",
    "精算サイクル": "settlement_schedule",
}
ACCOUNT_TYPES = {"普通": "ordinary", "当座": "current", "貯蓄": "savings"}

# What each column must be, as the ward's staff read it next to the row that broke it.
COLUMN_RULES = {
    "import_ref": "受付番号は32文字までの半角英数字・ハイフン・下線で入力してください。",
    "name": "店名を60文字までで入力してください（制御文字は使えません）。",
    "name_kana": "店名カナは全角カタカナで入力してください（80文字まで）。",
    "category": "業種は業種コード（例: grocery）で入力してください。",
    "store_type": "店舗区分は small・chain・large のいずれかです。",
    "shopping_street_id": "商店街IDが見つかりません（空欄でも構いません）。",
    "postal_code": "郵便番号は区内（154〜158で始まる）7桁です（例: 155-0031）。",
    "address": "住所を200文字までで入力してください。",
    "owner_username": "ログインIDは3〜64文字の半角英小文字・数字・「.」「_」「-」です。",
    "owner_phone": "代表者の電話番号を日本の番号で入力してください（例: 090-1234-5678）。",
    "phone": "店舗の電話番号を日本の番号で入力してください（例: 03-1234-5678）。",
    "bank_code": "金融機関コードは4桁の数字です。",
    "branch_code": "支店コードは3桁の数字です。",
    "account_type": "口座種別は 普通・当座・貯蓄 のいずれかです。",
    "account_number": "口座番号は7桁までの数字です。",
    "account_name_kana": "口座名義は通帳どおりのカタカナで、半角30文字までです。",
    "latitude": "緯度・経度は両方とも日本国内の数値で入力してください（例: 35.6461, 139.6532）。",
    "longitude": "緯度・経度は両方とも日本国内の数値で入力してください（例: 35.6461, 139.6532）。",
    "opening_hours": "営業時間は200文字までです。",
    "settlement_schedule": "精算サイクルは daily・weekly・monthly のいずれかです（空欄可）。",
}
_IMPORT_REF = re.compile(r"[A-Za-z0-9_-]{1,32}")
_NUMBER = re.compile(r"-?\d{1,3}(\.\d{1,10})?")


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # as Excel numbers it: the heading is row 1
    column: str
    message: str


@dataclass
class ImportResult:
    rows: int = 0
    valid: int = 0
    already_imported: int = 0
    created: int = 0
    errors: list[RowError] = field(default_factory=list)


class ImportRaced(Conflict):
    type_slug = "shop-import-raced"
    title = "Another import ran at the same time"


class ImportRefused(ValidationFailed):
    type_slug = "shop-import-refused"
    title = "The file has rows that cannot be imported; nothing was imported"


@dataclass(frozen=True, slots=True)
class _Good:
    row: int
    import_ref: str
    owner_username: str
    merchant: Merchant
    owner_phone: str | None


def _records(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise ValidationFailed("The file is empty: its first row names the columns.") from None
    names = []
    for cell in header:
        name = nfkc(cell).strip().lower().replace(" ", "")
        names.append(JAPANESE_HEADINGS.get(name, name))
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise ValidationFailed(
            "The first row must name the columns; missing: " + ", ".join(missing) + ".",
            missing_columns=missing,
        )
    try:
        for index, row in enumerate(reader, start=2):
            if index - 1 > MAX_ROWS:
                raise ValidationFailed(f"At most {MAX_ROWS:,} shops per file.")
            if not any(cell.strip() for cell in row):
                continue
            yield (
                index,
                {
                    name: nfkc(row[i]).strip() if i < len(row) else ""
                    for i, name in enumerate(names)
                    if name in REQUIRED or name in OPTIONAL
                },
            )
    except csv.Error as exc:
        raise ValidationFailed(f"The file is not readable CSV: {exc}.") from None


def _decimal(text: str) -> Decimal | None:
    if not text:
        return None
    if not _NUMBER.fullmatch(text):
        raise ValueError(text)
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(text) from exc


def _application(cells: dict[str, str]) -> MerchantApplication:
    """The row as an application; ValueError(column) for the first bad cell it meets."""
    if not _IMPORT_REF.fullmatch(cells["import_ref"]):
        raise ValueError("import_ref")
    if not identity.valid_staff_username(cells["owner_username"]):
        raise ValueError("owner_username")
    if not cells["owner_phone"]:
        raise ValueError("owner_phone")  # the owner's only way to set a password
    account_type = ACCOUNT_TYPES.get(cells["account_type"], cells["account_type"].lower())
    street = cells.get("shopping_street_id", "")
    try:
        row = ShopRowIn.model_validate(
            {
                "name": cells["name"],
                "name_kana": cells["name_kana"],
                "address": cells["address"],
                "opening_hours": cells.get("opening_hours") or None,
                "shopping_street_id": int(street)
                if street.isdigit() and len(street) < 19
                else (street or None),
                "settlement_schedule": cells.get("settlement_schedule") or None,
            }
        )
    except ValidationError as exc:
        raise ValueError(str(exc.errors()[0]["loc"][0])) from None
    for column in ("latitude", "longitude"):
        try:
            _decimal(cells.get(column, ""))
        except ValueError:
            raise ValueError(column) from None
    return MerchantApplication(
        name=row.name,
        name_kana=row.name_kana,
        category=cells["category"].lower(),
        store_type=cells["store_type"].lower(),
        shopping_street_id=row.shopping_street_id,
        postal_code=cells["postal_code"],
        address=row.address,
        owner_username=cells["owner_username"],
        owner_password="",
        bank=BankAccount(
            cells["bank_code"],
            cells["branch_code"],
            account_type,
            cells["account_number"],
            cells["account_name_kana"],
        ),
        settlement_schedule=row.settlement_schedule,
        owner_phone=cells["owner_phone"],
        latitude=_decimal(cells.get("latitude", "")),
        longitude=_decimal(cells.get("longitude", "")),
        opening_hours=row.opening_hours,
        phone=cells.get("phone") or None,
    )


# The advisory lock of a real import: negative, as the sealer's, never a ledger account id.
_IMPORT_LOCK = -7302


async def import_shops(
    session: AsyncSession, raw: bytes, *, officer_id: int, dry_run: bool
) -> ImportResult:
    """Check every row; unless ``dry_run``, create the new pending shops and their owners
    (all of them, or none if any row is bad: ImportRefused)."""
    text = decode_csv(raw, max_bytes=MAX_BYTES)
    reference = await shop_reference(session)
    now = utcnow()
    result = ImportResult()
    good: list[_Good] = []
    refs: dict[str, int] = {}
    logins: dict[str, int] = {}
    records = list(_records(text))
    if not dry_run:
        # One real import at a time: a second one waits here for the first to commit, then
        # reads its shops as already imported (checked after, a row's owner login would
        # read as taken by the first import's owner instead).
        await session.execute(select(func.pg_advisory_xact_lock(_IMPORT_LOCK)))
    # Rows already in (by the ward's reference) are skipped unchecked: a re-import of the
    # whole list after adding a few shops checks only the new ones.
    existing = set(
        (
            await session.execute(
                select(Merchant.import_ref).where(
                    Merchant.import_ref.in_([cells["import_ref"] for _, cells in records])
                )
            )
        ).scalars()
    )
    for row, cells in records:
        result.rows += 1
        ref = cells["import_ref"]
        if ref in refs:
            result.errors.append(
                RowError(row, "import_ref", f"受付番号が{refs[ref]}行目と重複しています。")
            )
            continue
        refs[ref] = row
        if ref in existing:
            result.already_imported += 1
            continue
        try:
            application = _application(cells)
            merchant, owner_phone = new_shop(application, reference, now=now)
        except ValueError as exc:
            result.errors.append(RowError(row, str(exc), COLUMN_RULES[str(exc)]))
            continue
        except ValidationFailed as exc:
            column = str(exc.extra.get("field", "")).removeprefix("bank.")
            column = {"consent": "name"}.get(column, column)
            result.errors.append(RowError(row, column, COLUMN_RULES.get(column, exc.detail)))
            continue
        login = application.owner_username
        if login in logins:
            result.errors.append(
                RowError(
                    row, "owner_username", f"ログインIDが{logins[login]}行目と重複しています。"
                )
            )
            continue
        logins[login] = row
        merchant.import_ref, merchant.imported_by = ref, officer_id
        good.append(_Good(row, ref, login, merchant, owner_phone))
    taken = await identity.taken_usernames(session, [g.owner_username for g in good])
    for g in good:
        if g.owner_username in taken:
            result.errors.append(
                RowError(g.row, "owner_username", "このログインIDはすでに使われています。")
            )
    fresh = [g for g in good if g.owner_username not in taken]
    result.errors.sort(key=lambda e: e.row)
    result.valid = len(fresh) + result.already_imported
    if dry_run:
        return result
    if result.errors:
        raise ImportRefused(
            f"{len(result.errors)} problems in the file; nothing was imported.",
            errors=[
                {"row": e.row, "column": e.column, "message": e.message}
                for e in result.errors[:MAX_ERRORS_SHOWN]
            ],
        )
    await _create(session, fresh)
    result.created = len(fresh)
    return result


async def _create(session: AsyncSession, shops: list[_Good]) -> None:
    if not shops:
        return
    # Nobody knows this password: the owner sets one with a code sent to their phone.
    unusable = hash_password(secrets.token_urlsafe(32))
    try:
        session.add_all([g.merchant for g in shops])
        await session.flush()
        await identity.create_users_bulk(
            session,
            [(g.owner_username, Role.MERCHANT_OWNER, g.merchant.id) for g in shops],
            password_hash=unusable,
            phones=[g.owner_phone for g in shops],
        )
    except IntegrityError as exc:
        # Another import (or an application) took a reference or a login name meanwhile.
        raise ImportRaced(
            "Another import or application took some of these shops or login names at the"
            " same time; nothing was imported. Check the file again."
        ) from exc
