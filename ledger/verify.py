"""``machipay verify``: prove the books from their own rows.

Recomputes every balance from postings, checks every entry sums to zero, every posting's
recorded running balance and version, every protected account's sign, every entry's
content hash, and the block chain end to end. It reads only; each finding names the
account, entry, posting or block concerned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ledger.hashing import GENESIS_HASH, block_hash, entry_fingerprint, entry_hash
from machipay.db import UTCDateTime

_Add = Callable[[str, str, str], None]

DELTA = "CASE WHEN a.normal_side = 'debit' THEN p.amount ELSE -p.amount END"


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.subject}: {self.detail}"


@dataclass
class VerifyReport:
    accounts: int = 0
    entries: int = 0
    postings: int = 0
    blocks: int = 0
    sealed_entries: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def unsealed_entries(self) -> int:
        return self.entries - self.sealed_entries

    def summary(self) -> str:
        status = "OK" if self.ok else f"FAILED ({len(self.findings)} findings)"
        return (
            f"ledger verify: {status}\n"
            f"  accounts {self.accounts:,}  entries {self.entries:,}  postings {self.postings:,}\n"
            f"  blocks {self.blocks:,}  sealed entries {self.sealed_entries:,}"
            f"  not yet sealed {self.unsealed_entries:,}"
        )


_CHECKS: list[tuple[str, str, str]] = [
    (
        "entry-balance",
        """SELECT e.id, coalesce(sum(p.amount), 0), count(p.id)
             FROM ledger_entries e LEFT JOIN ledger_postings p ON p.entry_id = e.id
            GROUP BY e.id HAVING coalesce(sum(p.amount), 0) <> 0 OR count(p.id) < 2""",
        "entry {0}|postings sum to {1} over {2} postings",
    ),
    (
        "account-balance",
        f"""SELECT a.code, a.balance, coalesce(sum({DELTA}), 0), a.version, count(p.id)
              FROM ledger_accounts a LEFT JOIN ledger_postings p ON p.account_id = a.id
             WHERE NOT a.hot GROUP BY a.id, a.code, a.balance, a.version
            HAVING a.balance <> coalesce(sum({DELTA}), 0) OR a.version <> count(p.id)""",
        "{0}|stored balance {1} (version {3}) but postings give {2} ({4} postings)",
    ),
    (
        "hot-checkpoint",
        f"""SELECT a.code, a.balance, coalesce(sum({DELTA}), 0), a.checkpoint_posting_id
              FROM ledger_accounts a LEFT JOIN ledger_postings p
                ON p.account_id = a.id AND p.id <= a.checkpoint_posting_id
             WHERE a.hot GROUP BY a.id, a.code, a.balance, a.checkpoint_posting_id
            HAVING a.balance <> coalesce(sum({DELTA}), 0)""",
        "{0}|checkpoint balance {1} but postings through {3} give {2}",
    ),
    (
        "running-balance",
        f"""SELECT posting_id, code, balance_after, running, account_version, n FROM (
              SELECT p.id AS posting_id, a.code, p.balance_after, p.account_version,
                     sum({DELTA}) OVER w AS running, row_number() OVER w AS n
                FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id
               WHERE NOT a.hot
              WINDOW w AS (PARTITION BY p.account_id ORDER BY p.account_version, p.id
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
            ) t WHERE balance_after IS NULL OR balance_after <> running OR account_version <> n""",
        "posting {0}|on {1} records balance {2} at version {4}; recomputed {3} at version {5}",
    ),
    (
        "hot-posting-shape",
        """SELECT p.id, a.code FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id
            WHERE a.hot AND (p.balance_after IS NOT NULL OR p.account_version IS NOT NULL)""",
        "posting {0}|on hot account {1} carries a balance; hot postings carry none",
    ),
    (
        "negative-balance",
        f"""SELECT a.code, a.balance + coalesce(sum({DELTA}), 0)
              FROM ledger_accounts a LEFT JOIN ledger_postings p
                ON p.account_id = a.id AND a.hot AND p.id > a.checkpoint_posting_id
             WHERE a.non_negative GROUP BY a.id, a.code, a.balance
            HAVING a.balance + coalesce(sum({DELTA}), 0) < 0""",
        "{0}|protected account stands at {1}",
    ),
]


async def verify_ledger(session: AsyncSession, *, max_findings: int = 1000) -> VerifyReport:
    report = VerifyReport()
    counts = (
        await session.execute(
            text(
                "SELECT (SELECT count(*) FROM ledger_accounts),"
                " (SELECT count(*) FROM ledger_entries),"
                " (SELECT count(*) FROM ledger_postings), (SELECT count(*) FROM ledger_blocks),"
                " (SELECT coalesce(sum(entry_count), 0) FROM ledger_blocks)"
            )
        )
    ).one()
    report.accounts, report.entries, report.postings, report.blocks, report.sealed_entries = map(
        int, counts
    )

    def add(check: str, subject: str, detail: str) -> None:
        if len(report.findings) < max_findings:
            report.findings.append(Finding(check, subject, detail))

    for check, sql, template in _CHECKS:
        for row in await session.execute(text(sql)):
            subject, detail = template.format(*row).split("|", 1)
            if check == "entry-balance":
                detail += await _posting_list(session, int(row[0]))
            add(check, subject, detail)

    entry_hashes = await _check_entry_hashes(session, add)
    await _check_chain(session, entry_hashes, add)
    return report


async def _posting_list(session: AsyncSession, entry_id: int) -> str:
    """Which rows to look at: an unbalanced entry's postings, with their accounts."""
    rows = (
        await session.execute(
            text(
                "SELECT p.id, a.code, p.amount FROM ledger_postings p"
                " JOIN ledger_accounts a ON a.id = p.account_id WHERE p.entry_id = :e ORDER BY p.id"
            ),
            {"e": entry_id},
        )
    ).all()
    return " (" + ", ".join(f"posting {pid} {code} {amount:+}" for pid, code, amount in rows) + ")"


async def _check_entry_hashes(session: AsyncSession, add: _Add) -> dict[int, str]:
    """Recompute each entry's fingerprint and content hash from its stored rows."""
    stored: dict[int, str] = {}
    result = await session.stream(
        text(
            """SELECT e.id, e.idempotency_key, e.kind, e.memo, e.reverses_entry_id, e.fingerprint,
                      e.content_hash, e.created_at, a.code, p.amount
                 FROM ledger_entries e
                 LEFT JOIN ledger_postings p ON p.entry_id = e.id
                 LEFT JOIN ledger_accounts a ON a.id = p.account_id
                ORDER BY e.id, p.id"""
        ).columns(created_at=UTCDateTime())
    )
    current: _StoredEntry | None = None
    legs: list[tuple[str, int]] = []

    def finish() -> None:
        if current is None:
            return
        stored[current.id] = current.content_hash
        recomputed = entry_fingerprint(
            idempotency_key=current.key,
            kind=current.kind,
            memo=current.memo,
            reverses_entry_id=current.reverses,
            legs=legs,
        )
        if recomputed != current.fingerprint:
            add(
                "entry-hash",
                f"entry {current.id}",
                "its postings or fields no longer match its fingerprint",
            )
        elif entry_hash(current.fingerprint, current.created_at) != current.content_hash:
            add("entry-hash", f"entry {current.id}", "content hash does not match its content")

    async for row in result:
        if current is None or row[0] != current.id:
            finish()
            current = _StoredEntry(
                int(row[0]),
                str(row[1]),
                str(row[2]),
                row[3],
                None if row[4] is None else int(row[4]),
                str(row[5]),
                str(row[6]),
                row[7],
            )
            legs = []
        if row[8] is not None:
            legs.append((str(row[8]), int(row[9])))
    finish()
    return stored


async def _check_chain(session: AsyncSession, entry_hashes: dict[int, str], add: _Add) -> None:
    blocks = (
        await session.execute(
            text(
                "SELECT id, first_entry_id, last_entry_id, entry_count, prev_hash, block_hash"
                " FROM ledger_blocks ORDER BY id"
            )
        )
    ).all()
    ordered_ids = sorted(entry_hashes)
    expected_prev, expected_id, after = GENESIS_HASH, 1, 0
    cursor = 0
    for block_id, first_id, last_id, count, prev_hash, stored_hash in blocks:
        subject = f"block {block_id}"
        if block_id != expected_id:
            add("chain", subject, f"expected block {expected_id}: a block is missing")
        if prev_hash != expected_prev:
            add("chain", subject, "previous-hash link is broken")
        members: list[tuple[int, str]] = []
        while cursor < len(ordered_ids) and ordered_ids[cursor] <= last_id:
            entry_id = ordered_ids[cursor]
            if entry_id > after:
                members.append((entry_id, entry_hashes[entry_id]))
            cursor += 1
        if not members or members[0][0] != first_id or len(members) != count:
            add(
                "chain",
                subject,
                f"covers {count} entries from {first_id} to {last_id}, found {len(members)}",
            )
        if block_hash(prev_hash, members) != stored_hash:
            add(
                "chain",
                subject,
                "block hash does not match its entries: an entry was altered, added or removed",
            )
        expected_prev, expected_id, after = stored_hash, block_id + 1, last_id


@dataclass(frozen=True, slots=True)
class _StoredEntry:
    id: int
    key: str
    kind: str
    memo: str | None
    reverses: int | None
    fingerprint: str
    content_hash: str
    created_at: datetime
