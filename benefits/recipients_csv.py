"""Reading a recipient list the ward's staff upload: CSV with a ``wallet_id`` or ``phone``
column (other columns, such as a name for their own checking, are ignored).

Every cell is NFKC-normalised (Excel and IMEs give full-width digits and hyphens); a phone
is read as a Japanese number in any usual form. Each bad row is reported with its line
number, a stable code (``ROW_PROBLEMS``) and why in Japanese, for the ward's staff; the good
rows are taken. Files are bounded in bytes and rows.
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
COLUMN_NAMES = {"wallet_id": "ウォレットID", "phone": "電話番号"}
# What can be wrong with a row: a stable code (for programs and tests) → the message the
# staff read, filled in with the row's details.
ROW_PROBLEMS = {
    "empty": "{column}が空欄です。",
    "not_a_phone": "「{value}」は日本の電話番号として読めません。",
    "not_a_wallet_id": "「{value}」はウォレットIDの形式ではありません（w_ で始まる英数字）。",
    "duplicate": "{first}行目と同じ{column}です（1人に1回だけ給付します）。",
    "no_recipient": "この{column}で給付を受け取れる利用者がいません"
    "（未登録・電話番号未確認・解約済みのいずれか）。",
}


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int  # the line of the file (the header is line 1)
    code: str  # a key of ROW_PROBLEMS
    message: str


def _problem(line: int, code: str, **details: object) -> RowProblem:
    return RowProblem(line, code, ROW_PROBLEMS[code].format(**details))


@dataclass
class ParsedList:
    column: str  # "wallet_id" or "phone"
    values: list[tuple[int, str]] = field(default_factory=list)  # (line, normalised value)
    errors: list[RowProblem] = field(default_factory=list)


def decode(raw: bytes) -> str:
    """UTF-8 (with or without a BOM), else Shift_JIS as Japanese Excel saves it."""
    return decode_csv(raw, max_bytes=MAX_BYTES)


def parse(text: str) -> ParsedList:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise ValidationFailed(
            "ファイルが空です。1行目に列名（wallet_id か phone）を書いてください。"
        ) from None
    names = [nfkc(cell).strip().lower() for cell in header]
    column = next((c for c in ("wallet_id", "phone") if c in names), None)
    if column is None:
        raise ValidationFailed("1行目に wallet_id か phone の列名が必要です。")
    index = names.index(column)
    parsed = ParsedList(column)
    seen: dict[str, int] = {}
    try:
        for line, row in enumerate(reader, start=2):
            if line - 1 > MAX_ROWS:
                raise ValidationFailed(f"1ファイル {MAX_ROWS:,} 行までです。")
            if not any(cell.strip() for cell in row):
                continue
            cell = nfkc(row[index]).strip() if index < len(row) else ""
            value, problem = _read(line, column, cell)
            if problem is None and value in seen:
                problem = _problem(
                    line, "duplicate", first=seen[value], column=COLUMN_NAMES[column]
                )
            if problem is not None:
                parsed.errors.append(problem)
                continue
            seen[value] = line
            parsed.values.append((line, value))
    except csv.Error as exc:
        raise ValidationFailed(f"CSV として読めません（{exc}）。") from None
    return parsed


def _read(line: int, column: str, cell: str) -> tuple[str, RowProblem | None]:
    if not cell:
        return "", _problem(line, "empty", column=COLUMN_NAMES[column])
    if column == "phone":
        try:
            return normalize_phone(cell), None
        except ValueError:
            return "", _problem(line, "not_a_phone", value=cell[:20])
    wallet = cell.lower()
    if len(wallet) > 32 or not wallet.startswith("w_") or not wallet[2:].isalnum():
        return "", _problem(line, "not_a_wallet_id", value=cell[:40])
    return wallet, None


async def resolve(session: AsyncSession, parsed: ParsedList) -> tuple[list[int], list[RowProblem]]:
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
            errors.append(_problem(line, "no_recipient", column=COLUMN_NAMES[parsed.column]))
        else:
            residents.append(resident)
    errors.sort(key=lambda problem: problem.line)
    return residents, errors
