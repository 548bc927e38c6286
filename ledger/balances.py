"""Reading balances: now, at a past moment, and folding hot accounts into checkpoints."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ledger.accounts import spec_for
from ledger.errors import UnknownAccount
from ledger.models import Account, Checkpoint, Posting
from machipay.timeutil import utcnow


def delta_for(normal_side: str, amount: int) -> int:
    """How a signed posting (debit > 0) moves a balance kept on the account's normal side."""
    return amount if normal_side == "debit" else -amount


def normal_side_amount() -> Any:
    """A posting's amount as SQL, signed so that it raises its account's balance (the
    account joined or correlated as ``Account``)."""
    return case((Account.normal_side == "debit", Posting.amount), else_=-Posting.amount)


def live_balance() -> Any:
    """An account row's live balance as SQL: a hot account's checkpoint plus the postings
    since (on its normal side); any other account's ``balance``."""
    since_checkpoint = (
        select(func.coalesce(func.sum(normal_side_amount()), 0))
        .where(Posting.account_id == Account.id, Posting.id > Account.checkpoint_posting_id)
        .correlate(Account)
        .scalar_subquery()
    )
    return case((Account.hot, Account.balance + since_checkpoint), else_=Account.balance)


async def open_accounts(session: AsyncSession, codes: Iterable[str]) -> None:
    """Create the named accounts if they do not exist yet (safe under concurrency)."""
    rows = []
    for code in dict.fromkeys(codes):
        spec = spec_for(code)
        rows.append(
            {
                "code": code,
                "kind": spec.kind,
                "normal_side": spec.normal_side,
                "non_negative": spec.non_negative,
                "hot": spec.hot,
                "debits_reserved": spec.debits_reserved,
                "balance": 0,
                "version": 0,
                "checkpoint_posting_id": 0,
                "created_at": utcnow(),
            }
        )
    if not rows:
        return
    for start in range(0, len(rows), 1000):
        stmt = pg_insert(Account).values(rows[start : start + 1000])
        await session.execute(stmt.on_conflict_do_nothing(index_elements=["code"]))


async def open_account(session: AsyncSession, code: str) -> None:
    await open_accounts(session, [code])


async def get_balances(session: AsyncSession, codes: Iterable[str]) -> dict[str, int]:
    """Live balances on each account's normal side (hot: checkpoint plus postings since)."""
    wanted = list(dict.fromkeys(codes))
    rows = (
        await session.execute(select(Account.code, live_balance()).where(Account.code.in_(wanted)))
    ).all()
    found = {code: int(balance) for code, balance in rows}
    for code in wanted:
        if code not in found:
            raise UnknownAccount(code)
    return found


async def get_balance(session: AsyncSession, code: str) -> int:
    return (await get_balances(session, [code]))[code]


async def balance_as_of(session: AsyncSession, code: str, moment: datetime) -> int:
    """The balance as it stood at ``moment``.

    A normal account: the ``balance_after`` of its last posting by then (one indexed
    lookup). A hot account: the last checkpoint by then plus the postings since.
    """
    account = (
        await session.execute(select(Account).where(Account.code == code))
    ).scalar_one_or_none()
    if account is None:
        raise UnknownAccount(code)
    if not account.hot:
        value = (
            await session.execute(
                select(Posting.balance_after)
                .where(Posting.account_id == account.id, Posting.created_at <= moment)
                .order_by(Posting.created_at.desc(), Posting.account_version.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        return int(value or 0)
    checkpoint = (
        await session.execute(
            select(Checkpoint.balance, Checkpoint.through_posting_id)
            .where(Checkpoint.account_id == account.id, Checkpoint.created_at <= moment)
            .order_by(Checkpoint.created_at.desc(), Checkpoint.id.desc())
            .limit(1)
        )
    ).one_or_none()
    base, through = (int(checkpoint[0]), int(checkpoint[1])) if checkpoint else (0, 0)
    since = (
        await session.execute(
            select(func.coalesce(func.sum(Posting.amount), 0)).where(
                Posting.account_id == account.id,
                Posting.id > through,
                Posting.created_at <= moment,
            )
        )
    ).scalar_one()
    return base + delta_for(account.normal_side, int(since))


async def compact_hot_account(session: AsyncSession, code: str) -> int:
    """Fold a hot account's postings into its checkpoint; returns the balance."""
    account_id = (
        await session.execute(select(Account.id).where(Account.code == code, Account.hot))
    ).scalar_one_or_none()
    if account_id is None:
        raise UnknownAccount(code)
    # One call of ledger_compact (ledger/sql/ledger_compact.sql), under the account's lock.
    balance = (
        await session.execute(text("SELECT ledger_compact(:id)"), {"id": account_id})
    ).scalar_one()
    return int(balance)
