"""Payouts (振込): the Zengin file that sends them, and the bank's answer.

pending (written by a settlement) → sent (in a file handed to the bank) → paid, posting
Dr merchant payout / Cr bank:settlement, or failed, posting Dr merchant payout / Cr
merchant payable so the money is owed again and goes out with the next settlement.

A closed wallet's refund (the help desk's closure) travels the same way from the resident's
refund in transit: paid, Dr resident refund / Cr bank:settlement; failed, Dr resident refund /
Cr resident money, so the money is back in the closed wallet, shown at the desk, and a new
closure request with corrected bank details sends it again.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import ledger
import wallet_api
from ledger import credit, debit
from machipay.errors import NotFound, ValidationFailed
from machipay.settings import Settings
from machipay.timeutil import utcnow
from machipay.zengin_kana import ZenginError
from merchant_api import BankAccount, validate_bank
from settlement.models import Payout, PayoutFile
from settlement.zengin import Originator, Transfer, data_record, render_file

OUTCOMES = ("paid", "failed")
MAX_RESULT_ROWS = 100_000


class PayoutFileNotFound(NotFound):
    type_slug = "payout-file-not-found"
    title = "Unknown payout file"


class PayoutResultRejected(ValidationFailed):
    type_slug = "payout-result-rejected"
    title = "The bank's result file was not applied"


class PayoutsHeld(ValidationFailed):
    type_slug = "payouts-held"
    title = "No pending payout can be written into a payout file"
    # The reasons written on the held payouts are what the operator reads next.
    keep_changes = True


@dataclass(frozen=True, slots=True)
class HeldPayout:
    """A pending payout left out of a file, and why."""

    payout_id: int
    merchant_id: int | None
    amount: int
    reason: str
    resident_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "payout_id": self.payout_id,
            "merchant_id": self.merchant_id,
            "resident_id": self.resident_id,
            "amount": self.amount,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class MadeFile:
    """A new payout file, and the pending payouts that could not go in it."""

    file: PayoutFile
    held: list[HeldPayout]


def next_weekday(day: date) -> date:
    """The default 取組日: the next Monday-to-Friday (bank holidays are the operator's call)."""
    day += timedelta(days=1)
    while day.isoweekday() > 5:
        day += timedelta(days=1)
    return day


def originator(settings: Settings) -> Originator:
    return Originator(
        client_code=settings.zengin_client_code,
        name=settings.zengin_client_name,
        bank_code=settings.zengin_bank_code,
        bank_name=settings.zengin_bank_name,
        branch_code=settings.zengin_branch_code,
        branch_name=settings.zengin_branch_name,
        account_type=settings.zengin_account_type,
        account_number=settings.zengin_account_number,
    )


def transfer_of(payout: Payout) -> Transfer:
    return Transfer(
        bank_code=payout.bank_code,
        branch_code=payout.branch_code,
        account_type=payout.account_type,
        account_number=payout.account_number,
        account_name=payout.account_name_kana,
        amount=payout.amount,
        customer_code_1=str(payout.id).zfill(10),
        customer_code_2=str(_payee(payout)).zfill(10),
    )


def _payee(payout: Payout) -> int:
    payee = payout.merchant_id if payout.merchant_id is not None else payout.resident_id
    assert payee is not None  # the table's one_payee check
    return payee


async def queue_resident_refund(
    session: AsyncSession, *, resident_id: int, amount: int, bank: BankAccount
) -> Payout:
    """A closed wallet's money, already moved to ``resident:{id}:refund`` by the wallet, as a
    pending payout: it goes out in the next Zengin file like a shop's. The account is
    checked as a shop's is at onboarding, so the file can always carry it."""
    account = validate_bank(bank)
    payout = Payout(
        resident_id=resident_id,
        amount=amount,
        status="pending",
        bank_code=account.bank_code,
        branch_code=account.branch_code,
        account_type=account.account_type,
        account_number=account.account_number,
        account_name_kana=account.account_name_kana,
        created_at=utcnow(),
    )
    session.add(payout)
    await session.flush()
    return payout


async def create_payout_file(
    session: AsyncSession,
    settings: Settings,
    *,
    transfer_date: date,
    actor_id: int | None = None,
) -> MadeFile | None:
    """Put every pending payout that can be written in one new Zengin file and mark them
    sent; None if no payout is pending. The file is kept, so the same bytes can be fetched
    again. Payouts that cannot be written stay pending with the reason (``held``); if none
    can, :class:`PayoutsHeld` lists them."""
    payouts = list(
        (
            await session.execute(
                select(Payout)
                .where(Payout.status == "pending")
                .order_by(Payout.id)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    if not payouts:
        return None
    writable, held = _sort_out(payouts)
    if not writable:
        raise PayoutsHeld(
            "No pending payout can be written into a Zengin file.",
            held=[h.as_dict() for h in held],
        )
    try:
        content = render_file(
            originator(settings), transfer_date, [transfer_of(p) for p in writable]
        )
    except ZenginError as exc:  # the operator's own account (settings), not a shop's
        raise ValidationFailed(f"The payout file cannot be written: {exc}.") from exc
    payouts = writable
    now = utcnow()
    record = PayoutFile(
        transfer_date=transfer_date,
        count=len(payouts),
        total=sum(p.amount for p in payouts),
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        created_by=actor_id,
        created_at=now,
    )
    session.add(record)
    await session.flush()
    for payout in payouts:
        payout.status = "sent"
        payout.file_id = record.id
        payout.sent_at = now
        payout.failure_reason = None  # a reason it was held before, now put right
    await session.flush()
    return MadeFile(record, held)


def _sort_out(payouts: list[Payout]) -> tuple[list[Payout], list[HeldPayout]]:
    """Each payout on its own: one shop's unwritable bank details (old data, stored before
    the edge refused them) must not hold back everybody else's money. The bad one stays
    pending with the reason, for the operator to put right."""
    writable: list[Payout] = []
    held: list[HeldPayout] = []
    for payout in payouts:
        try:
            data_record(transfer_of(payout))
        except ZenginError as exc:
            reason = f"held out of the payout file: {exc}"[:200]
            payout.failure_reason = reason
            held.append(
                HeldPayout(payout.id, payout.merchant_id, payout.amount, reason, payout.resident_id)
            )
        else:
            writable.append(payout)
    return writable, held


async def payout_file(session: AsyncSession, file_id: int) -> PayoutFile:
    found = await session.get(PayoutFile, file_id)
    if found is None:
        raise PayoutFileNotFound(f"No payout file {file_id}.")
    return found


@dataclass(frozen=True, slots=True)
class PayoutOutcome:
    payout_id: int
    outcome: str  # paid | failed
    reason: str | None = None


def parse_result_csv(text: str) -> list[PayoutOutcome]:
    """The bank's result as CSV: ``payout_id,result[,reason]`` with a header line;
    result is ``paid`` or ``failed``. Every bad line is reported, none is guessed."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows = [row for row in reader if any(cell.strip() for cell in row)]
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["payout_id", "result"]:
        raise PayoutResultRejected("The first line must be the header: payout_id,result,reason.")
    if len(rows) - 1 > MAX_RESULT_ROWS:
        raise PayoutResultRejected(f"At most {MAX_RESULT_ROWS:,} results per file.")
    outcomes: list[PayoutOutcome] = []
    problems: list[str] = []
    for number, row in enumerate(rows[1:], start=2):
        payout_id = row[0].strip() if row else ""
        outcome = row[1].strip().lower() if len(row) > 1 else ""
        reason = row[2].strip()[:200] if len(row) > 2 and row[2].strip() else None
        if not payout_id.isdigit():
            problems.append(f"line {number}: payout_id {payout_id!r} is not a number")
        elif outcome not in OUTCOMES:
            problems.append(f"line {number}: result {outcome!r} is not paid or failed")
        else:
            outcomes.append(PayoutOutcome(int(payout_id), outcome, reason))
    seen: set[int] = set()
    for item in outcomes:
        if item.payout_id in seen:
            problems.append(f"payout {item.payout_id} appears twice")
        seen.add(item.payout_id)
    if problems:
        raise PayoutResultRejected("; ".join(problems[:20]) + ".")
    return outcomes


@dataclass(frozen=True, slots=True)
class ResultSummary:
    paid: int
    failed: int
    unchanged: int
    paid_amount: int
    failed_amount: int


async def _checked_payouts(
    session: AsyncSession, outcomes: list[PayoutOutcome], *, lock: bool
) -> dict[int, Payout]:
    """The payouts the answers are about; an answer about a payout that does not exist, was
    never sent or was answered otherwise before rejects the whole file."""
    ids = sorted(o.payout_id for o in outcomes)
    query = select(Payout).where(Payout.id.in_(ids)).order_by(Payout.id)
    payouts = {
        p.id: p
        for p in (await session.execute(query.with_for_update() if lock else query)).scalars()
    }
    problems = []
    for item in outcomes:
        payout = payouts.get(item.payout_id)
        if payout is None:
            problems.append(f"payout {item.payout_id} does not exist")
        elif payout.status not in ("sent", item.outcome):
            problems.append(f"payout {item.payout_id} is {payout.status}, not {item.outcome}")
    if problems:
        raise PayoutResultRejected("; ".join(problems[:20]) + ".")
    return payouts


async def preview_payout_results(
    session: AsyncSession, outcomes: list[PayoutOutcome]
) -> ResultSummary:
    """What applying the answers would do now, changing nothing (rejected as applying
    would be)."""
    payouts = await _checked_payouts(session, outcomes, lock=False)
    paid = failed = unchanged = paid_amount = failed_amount = 0
    for item in outcomes:
        payout = payouts[item.payout_id]
        if payout.status == item.outcome:
            unchanged += 1
        elif item.outcome == "paid":
            paid, paid_amount = paid + 1, paid_amount + payout.amount
        else:
            failed, failed_amount = failed + 1, failed_amount + payout.amount
    return ResultSummary(paid, failed, unchanged, paid_amount, failed_amount)


async def apply_payout_results(
    session: AsyncSession, outcomes: list[PayoutOutcome]
) -> ResultSummary:
    """Apply the bank's answers, all or nothing. Re-importing the same file changes
    nothing; an answer about a payout that was never sent, or that contradicts an earlier
    answer, rejects the whole file."""
    payouts = await _checked_payouts(session, outcomes, lock=True)
    now = utcnow()
    paid = failed = unchanged = paid_amount = failed_amount = 0
    for item in outcomes:
        payout = payouts[item.payout_id]
        if payout.status == item.outcome:
            unchanged += 1
            continue
        if payout.merchant_id is not None:
            in_transit = ledger.merchant_payout(payout.merchant_id)
            owed_again = ledger.merchant_payable(payout.merchant_id)
        else:
            in_transit = ledger.resident_refund(_payee(payout))
            owed_again = ledger.resident_money(_payee(payout))
        source = debit(in_transit, payout.amount)
        if item.outcome == "paid":
            target = credit(ledger.BANK_SETTLEMENT, payout.amount)
            memo = f"payout {payout.id} paid by the bank"
        else:
            target = credit(owed_again, payout.amount)
            memo = f"payout {payout.id} failed ({item.reason or 'no reason given'}): owed again"
        posted = await ledger.post_entry(
            session,
            idempotency_key=f"payout-{item.outcome}:{payout.id}",
            kind=f"payout_{item.outcome}",
            legs=[source, target],
            memo=memo,
        )
        payout.status = item.outcome
        payout.resolved_at = now
        payout.failure_reason = item.reason if item.outcome == "failed" else None
        payout.result_entry_id = posted.id
        if payout.merchant_id is None and item.outcome == "failed":
            await wallet_api.record_refund_returned(
                session,
                resident_id=_payee(payout),
                amount=payout.amount,
                entry_id=posted.id,
                reason=item.reason,
            )
        if item.outcome == "paid":
            paid, paid_amount = paid + 1, paid_amount + payout.amount
        else:
            failed, failed_amount = failed + 1, failed_amount + payout.amount
    await session.flush()
    return ResultSummary(paid, failed, unchanged, paid_amount, failed_amount)


async def list_payouts(
    session: AsyncSession, *, status: str | None, limit: int, before: int | None = None
) -> list[Payout]:
    query = select(Payout).order_by(Payout.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Payout.status == status)
    if before is not None:
        query = query.where(Payout.id < before)
    return list((await session.execute(query)).scalars())


async def payouts_by_ids(session: AsyncSession, payout_ids: list[int]) -> dict[int, Payout]:
    if not payout_ids:
        return {}
    rows = await session.execute(select(Payout).where(Payout.id.in_(payout_ids)))
    return {p.id: p for p in rows.scalars()}
