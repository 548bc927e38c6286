"""Ledger tables. Entries and postings are append-only (database triggers enforce it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from machipay.db import Base, BigId, UTCDateTime


class Account(Base):
    """One account of the chart of accounts (DESIGN.md 3.1), named by its ``code``.

    ``balance`` is kept on the normal side (a resident's credit balance is positive).
    For a hot account it is the last checkpoint; the live balance adds postings since.
    """

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint("normal_side IN ('debit', 'credit')", name="normal_side"),
        CheckConstraint("NOT non_negative OR balance >= 0", name="non_negative_balance"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    normal_side: Mapped[str] = mapped_column(String(6))
    non_negative: Mapped[bool] = mapped_column(Boolean)
    hot: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    debits_reserved: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    balance: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    version: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # Hot accounts: the last posting id folded into ``balance`` by compaction.
    checkpoint_posting_id: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Entry(Base):
    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    memo: Mapped[str | None] = mapped_column(Text)
    reverses_entry_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("ledger_entries.id"), unique=True
    )
    fingerprint: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Posting(Base):
    __tablename__ = "ledger_postings"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        # Non-hot accounts: the n-th posting of an account carries version n.
        Index("ix_ledger_postings_account_version", "account_id", "account_version", unique=True),
        Index("ix_ledger_postings_account_id_id", "account_id", "id"),
        Index("ix_ledger_postings_account_created", "account_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_entries.id"), index=True)
    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_accounts.id"))
    # Signed: a debit is positive, a credit negative; an entry's postings sum to zero.
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int | None] = mapped_column(BigInteger)
    account_version: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Checkpoint(Base):
    """A hot account's balance folded up to a posting id (history kept for ``as_of``)."""

    __tablename__ = "ledger_checkpoints"
    __table_args__ = (Index("ix_ledger_checkpoints_account_created", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_accounts.id"))
    balance: Mapped[int] = mapped_column(BigInteger)
    through_posting_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Block(Base):
    """A sealed block: its entries' hashes in id order, chained to the previous block's hash."""

    __tablename__ = "ledger_blocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    first_entry_id: Mapped[int] = mapped_column(BigInteger)
    last_entry_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    entry_count: Mapped[int] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    block_hash: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime)
