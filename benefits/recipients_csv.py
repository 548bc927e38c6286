"""Reading a recipient list the ward's staff upload: CSV with a ``wallet_id`` or ``phone``
column (other columns, such as a name for their own checking, are ignored).

Every cell is NFKC-normalised (Excel and IMEs give full-width digits and hyphens); a phone
is read as a Japanese number in any usual form. Each bad row is reported with its line
number and why; the good rows are taken. Files are bounded in bytes and rows.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from machipay.csvfile import decode_csv
from machipay.errors import ValidationFailed
from machipay.phone import normalize_phone
from machipay.text import nfkc
from wallet_api import residents_by_phones, residents_by_wallet_ids

MAX_BYTES = 8 * 1024 * 1024
MAX_ROWS = 200_000
MAX_ERRORS_SHOWN = 1000


@dataclass
class ParsedList:
    column: str  # "wallet_id" or "phone"
    values: list[tuple[int, str]] = field(default_factory=list)  # (line, normalised value)
    errors: list[tuple[int, str]] = field(default_factory=list)


def decode(raw: bytes) -> str:
    """UTF-8 (with or without a BOM), else Shift_JIS as Japanese Excel saves it."""
    return decode_csv(raw, max_bytes=MAX_BYTES)


def parse(text: str) -> ParsedList:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise ValidationFailed("The file is empty: its first line names the columns.") from None
    names = [nfkc(cell).strip().lower() for cell in header]
    column = next((c for c in ("wallet_id", "phone") if c in names), None)
    if column is None:
        raise ValidationFailed("The first line must name a wallet_id or a phone column.")
    index = names.index(column)
    parsed = ParsedList(column)
    seen: dict[str, int] = {}
    try:
        for line, row in enumerate(reader, start=2):
            if line - 1 > MAX_ROWS:
                raise ValidationFailed(f"At most {MAX_ROWS:,} rows per file.")
            if not any(cell.strip() for cell in row):
                continue
            cell = nfkc(row[index]).strip() if index < len(row) else ""
            value, problem = _read(column, cell)
            if problem is None and value in seen:
                problem = f"the same {column} as line {seen[value]}"
            if problem is not None:
                parsed.errors.append((line, problem))
                continue
            seen[value] = line
            parsed.values.append((line, value))
    except csv.Error as exc:
        raise ValidationFailed(f"The file is not readable CSV: {exc}.") from None
    return parsed


def _read(column: str, cell: str) -> tuple[str, str | None]:
    if not cell:
        return "", f"no {column}"
    if column == "phone":
        try:
            return normalize_phone(cell), None
        except ValueError:
            return "", f"{cell[:20]!r} is not a Japanese phone number"
    wallet = cell.lower()
    if len(wallet) > 32 or not wallet.startswith("w_") or not wallet[2:].isalnum():
        return "", f"{cell[:40]!r} is not a wallet id"
    return wallet, None


async def resolve(
    session: AsyncSession, parsed: ParsedList
) -> tuple[list[int], list[tuple[int, str]]]:
    """The residents the good rows name, and the rows naming nobody added to the errors."""
    values = [v for _, v in parsed.values]
    found = (
        await residents_by_wallet_ids(session, values)
        if parsed.column == "wallet_id"
        else await residents_by_phones(session, values)
    )
    errors = list(parsed.errors)
    residents: list[int] = []
    for line, value in parsed.values:
        resident = found.get(value)
        if resident is None:
            what = "wallet" if parsed.column == "wallet_id" else "resident with this phone"
            errors.append(
                (line, f"no {what} that can receive a benefit (unknown, unverified or closed)")
            )
        else:
            residents.append(resident)
    errors.sort()
    return residents, errors
