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


# Many entries in one statement: ``ledger_post`` once per entry, its legs sliced out of two
# flat arrays. Each entry is still posted, locked and checked exactly as on its own.
_POST_MANY_SQL = text(
    "SELECT p.entry_id, p.created FROM unnest("
    "CAST(:keys AS text[]), CAST(:kinds AS text[]), CAST(:memos AS text[]),"
    " CAST(:fingerprints AS text[]), CAST(:hashes AS text[]),"
    " CAST(:created_ats AS timestamptz[]), CAST(:los AS int[]), CAST(:his AS int[]))"
    " WITH ORDINALITY AS d(key, kind, memo, fingerprint, hash, created_at, lo, hi, ord)"
    " CROSS JOIN LATERAL ledger_post(d.key, d.kind, d.memo, NULL, d.fingerprint, d.hash,"
    " d.created_at, (CAST(:codes AS text[]))[d.lo:d.hi], (CAST(:amounts AS bigint[]))[d.lo:d.hi])"
    " AS p ORDER BY d.ord"
).bindparams(
    bindparam("keys", type_=ARRAY(String())),
    bindparam("kinds", type_=ARRAY(String())),
    bindparam("memos", type_=ARRAY(String())),
    bindparam("fingerprints", type_=ARRAY(String())),
    bindparam("hashes", type_=ARRAY(String())),
    bindparam("created_ats", type_=ARRAY(UTCDateTime)),
    bindparam("los", type_=ARRAY(BigInteger())),
    bindparam("his", type_=ARRAY(BigInteger())),
    bindparam("codes", type_=ARRAY(String())),
    bindparam("amounts", type_=ARRAY(BigInteger())),
)


async def post_drafts(session: AsyncSession, drafts: Sequence[EntryDraft]) -> list[PostedEntry]:
    """Post many entries (made by :func:`draft_entry`, none reversing another) in one round
    trip, in order; each is idempotent on its own key. For bulk work (a benefit's thousands
    of grants): one statement per batch instead of one per entry. Never commits."""
    if not drafts:
        return []
    los: list[int] = []
    his: list[int] = []
    codes: list[str] = []
    amounts: list[int] = []
    for draft in drafts:
        if draft.reverses is not None:
            raise UnbalancedEntry("A reversal is posted on its own (reverse_entry).")
        los.append(len(codes) + 1)
        codes.extend(leg.account for leg in draft.legs)
        amounts.extend(leg.amount for leg in draft.legs)
        his.append(len(codes))
    params = {
        "keys": [d.key for d in drafts],
        "kinds": [d.kind for d in drafts],
        "memos": [d.memo for d in drafts],
        "fingerprints": [d.fingerprint for d in drafts],
        "hashes": [d.content_hash for d in drafts],
        "created_ats": [d.created_at for d in drafts],
        "los": los,
        "his": his,
        "codes": codes,
        "amounts": amounts,
    }
    with ledger_errors():
        rows = (await session.execute(_POST_MANY_SQL, params)).all()
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
