"""Posting entries: the only way value moves.

An entry is built from named accounts and signed amounts (a debit positive, a credit
negative) that sum to zero, and carries an idempotency key: the same key with the same
content returns the first entry; the same key with other content is refused.

The whole posting is one call of the ``ledger_post`` SQL function (one round trip, locks
taken in account-id order; ``ledger/sql/ledger_post.sql``). A failed posting leaves the
surrounding transaction unusable: the caller's unit of work rolls back (or wraps the call
in a savepoint to carry on).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import BigInteger, String

from ledger import _dberrors
from ledger.errors import (
    UnbalancedEntry,
    UnknownEntry,
)
from ledger.hashing import entry_fingerprint, entry_hash
from ledger.models import Account, Posting
from machipay.db import UTCDateTime
from machipay.hotsql import HotStatement
from machipay.timeutil import utcnow

MAX_LEGS = 64
MAX_ABS_AMOUNT = 10**15  # far above any real movement; keeps every sum inside bigint


@dataclass(frozen=True, slots=True)
class Leg:
    account: str
    amount: int  # signed: a debit is positive, a credit negative


def debit(account: str, amount: int) -> Leg:
    return Leg(account, amount)


def credit(account: str, amount: int) -> Leg:
    return Leg(account, -amount)


@dataclass(frozen=True, slots=True)
class PostedEntry:
    id: int
    created: bool  # False: the key had been posted before with this content (a replay)


@dataclass(frozen=True, slots=True)
class EntryDraft:
    """A validated entry, fingerprinted and hashed, ready to post (see :func:`draft_entry`)."""

    key: str
    kind: str
    memo: str | None
    reverses: int | None
    fingerprint: str
    content_hash: str
    created_at: datetime
    legs: Sequence[Leg]


def _validate(idempotency_key: str, kind: str, legs: Sequence[Leg]) -> None:
    if not idempotency_key or len(idempotency_key) > 200:
        raise UnbalancedEntry("An entry needs an idempotency key of 1 to 200 characters.")
    if not kind or len(kind) > 40:
        raise UnbalancedEntry("An entry needs a kind of 1 to 40 characters.")
    if not 2 <= len(legs) <= MAX_LEGS:
        raise UnbalancedEntry(f"An entry has 2 to {MAX_LEGS} legs, not {len(legs)}.")
    for leg in legs:
        if type(leg.amount) is not int or leg.amount == 0 or abs(leg.amount) > MAX_ABS_AMOUNT:
            raise UnbalancedEntry(f"Leg amounts are non-zero integer yen, not {leg.amount!r}.")
    if sum(leg.amount for leg in legs) != 0:
        raise UnbalancedEntry("The legs of an entry must sum to zero.")


async def post_entry(
    session: AsyncSession,
    *,
    idempotency_key: str,
    kind: str,
    legs: Sequence[Leg],
    memo: str | None = None,
    reverses_entry_id: int | None = None,
) -> PostedEntry:
    """Post one balanced entry inside the caller's transaction (never commits)."""
    draft = draft_entry(
        idempotency_key=idempotency_key,
        kind=kind,
        legs=legs,
        memo=memo,
        reverses_entry_id=reverses_entry_id,
    )
    return await post_draft(session, draft)


async def post_draft(session: AsyncSession, draft: EntryDraft) -> PostedEntry:
    """Post an entry made by :func:`draft_entry` (never commits)."""
    with ledger_errors():
        return await _post_postgres(session, draft)


@contextlib.contextmanager
def ledger_errors() -> Iterator[None]:
    """Raise the ledger's own errors for the database errors ``ledger_post`` raises on
    purpose: insufficient funds, a reused key, an unknown account."""
    try:
        yield
    except DBAPIError as exc:
        translated = _dberrors.translate(exc)
        if translated is not None:
            raise translated from exc
        raise


def draft_entry(
    *,
    idempotency_key: str,
    kind: str,
    legs: Sequence[Leg],
    memo: str | None = None,
    reverses_entry_id: int | None = None,
) -> EntryDraft:
    """Validate an entry and compute its fingerprint and hash, without posting it.

    :func:`post_entry` posts a draft; a caller that posts inside a larger SQL function of
    its own (a payment) passes :func:`ledger_post_arguments` to ``ledger_post`` there and
    runs it inside :func:`ledger_errors`.
    """
    _validate(idempotency_key, kind, legs)
    fingerprint = entry_fingerprint(
        idempotency_key=idempotency_key,
        kind=kind,
        memo=memo,
        reverses_entry_id=reverses_entry_id,
        legs=[(leg.account, leg.amount) for leg in legs],
    )
    created_at = utcnow()
    return EntryDraft(
        idempotency_key,
        kind,
        memo,
        reverses_entry_id,
        fingerprint,
        entry_hash(fingerprint, created_at),
        created_at,
        legs,
    )


def ledger_post_arguments(draft: EntryDraft) -> dict[str, Any]:
    """The arguments of the ``ledger_post`` SQL function for this draft."""
    return {
        "key": draft.key,
        "kind": draft.kind,
        "memo": draft.memo,
        "reverses": draft.reverses,
        "fingerprint": draft.fingerprint,
        "hash": draft.content_hash,
        "created_at": draft.created_at,
        "codes": [leg.account for leg in draft.legs],
        "amounts": [leg.amount for leg in draft.legs],
    }


_POST_SQL = HotStatement(
    text(
        "SELECT entry_id, created FROM ledger_post("
        ":key, :kind, :memo, :reverses, :fingerprint, :hash, :created_at, :codes, :amounts)"
    ).bindparams(
        bindparam("created_at", type_=UTCDateTime),
        bindparam("reverses", type_=BigInteger()),
        bindparam("codes", type_=ARRAY(String())),
        bindparam("amounts", type_=ARRAY(BigInteger())),
    )
)


async def _post_postgres(session: AsyncSession, draft: EntryDraft) -> PostedEntry:
    row = await _POST_SQL.row(session, ledger_post_arguments(draft))
    assert row is not None
    return PostedEntry(int(row[0]), bool(row[1]))


@dataclass(frozen=True, slots=True)
class Transfer:
    """A two-leg entry: Dr ``debit`` / Cr ``credit`` ``amount``, under its own key."""

    key: str
    debit: str
    credit: str
    amount: int


_POST_TRANSFERS_SQL = text(
    "SELECT entry_id, created FROM ledger_post_transfers(:keys, :kind, :fingerprints,"
    " :hashes, :created_ats, :debits, :credits, :amounts)"
).bindparams(
    bindparam("keys", type_=ARRAY(String())),
    bindparam("fingerprints", type_=ARRAY(String())),
    bindparam("hashes", type_=ARRAY(String())),
    bindparam("created_ats", type_=ARRAY(UTCDateTime)),
    bindparam("debits", type_=ARRAY(String())),
    bindparam("credits", type_=ARRAY(String())),
    bindparam("amounts", type_=ARRAY(BigInteger())),
)


async def post_transfers(
    session: AsyncSession, transfers: Sequence[Transfer], *, kind: str
) -> list[PostedEntry]:
    """Post many two-leg entries in one round trip, set-based (``ledger_post_transfers``):
    for bulk work such as a benefit's thousands of grants. Each entry is what
    :func:`post_entry` would have written for ``[debit(...), credit(...)]`` with no memo
    (same fingerprint, hash, idempotency and checks); the answer is in the given order.
    Never commits."""
    if not transfers:
        return []
    if len({t.key for t in transfers}) != len(transfers):
        raise UnbalancedEntry("Each transfer of a batch needs a key of its own.")
    drafts = [
        draft_entry(
            idempotency_key=t.key,
            kind=kind,
            legs=[debit(t.debit, t.amount), credit(t.credit, t.amount)],
        )
        for t in transfers
    ]
    params = {
        "keys": [d.key for d in drafts],
        "kind": kind,
        "fingerprints": [d.fingerprint for d in drafts],
        "hashes": [d.content_hash for d in drafts],
        "created_ats": [d.created_at for d in drafts],
        "debits": [t.debit for t in transfers],
        "credits": [t.credit for t in transfers],
        "amounts": [t.amount for t in transfers],
    }
    with ledger_errors():
        rows = (await session.execute(_POST_TRANSFERS_SQL, params)).all()
    return [PostedEntry(int(entry_id), bool(created)) for entry_id, created in rows]


async def reverse_entry(
    session: AsyncSession, entry_id: int, *, idempotency_key: str, memo: str | None = None
) -> PostedEntry:
    """Post the mirror image of an entry, pointing at it. An entry is reversed at most once."""
    rows = (
        await session.execute(
            select(Account.code, Posting.amount)
            .join(Account, Account.id == Posting.account_id)
            .where(Posting.entry_id == entry_id)
            .order_by(Posting.id)
        )
    ).all()
    if not rows:
        raise UnknownEntry(entry_id)
    legs = [Leg(code, -amount) for code, amount in rows]
    return await post_entry(
        session,
        idempotency_key=idempotency_key,
        kind="reversal",
        legs=legs,
        memo=memo,
        reverses_entry_id=entry_id,
    )
