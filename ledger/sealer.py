"""The background sealer: chains committed entries into hashed blocks.

A payment's transaction never touches the chain (no global lock, no "previous hash"
read): it stores only its own content hash. The sealer later takes every entry up to a
horizon, in id order, and writes a block whose hash covers those entries' hashes and the
previous block's hash.

The horizon must be final: no entry with a smaller id may commit after a block covering
its id range is written. Ids are handed out before commit, so the sealer reads the largest
visible id together with a snapshot and a transaction id of its own, then waits until every
transaction that was running then has left the running list of a new snapshot
(``ledger_post`` takes its transaction id before its entry id, so any transaction holding
a smaller id was running then, with a transaction id below the sealer's own).

"Running then" is the snapshot's list of running ids *and* every id from the snapshot's
xmax up to the sealer's own: a snapshot lists only running ids below its xmax (the latest
completed id + 1), so a transaction that took its id after the latest one to complete is
running but not listed. Group commit made that common: a batch takes its id at its first
call and its entry ids at its last, while older batches commit entries with higher ids
(a bench run sealed past such an entry, and verify found the block one entry short).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ledger.hashing import GENESIS_HASH, block_hash
from ledger.models import Block, Entry
from machipay.timeutil import utcnow

log = logging.getLogger("machipay.ledger.sealer")

SEALER_LOCK_KEY = -7301  # advisory lock: one sealer at a time across all workers
HORIZON_WAIT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class SealResult:
    blocks: int
    entries: int


async def _final_horizon(engine: AsyncEngine) -> int | None:
    async with engine.connect() as conn:
        # The snapshot is the statement's, taken before pg_current_xact_id() gives this
        # transaction an id: every transaction running at the snapshot has a smaller one.
        snapshot, max_id, own = (
            await conn.execute(
                text(
                    "SELECT pg_current_snapshot()::text, coalesce(max(id), 0),"
                    " pg_current_xact_id()::text FROM ledger_entries"
                )
            )
        ).one()
        await conn.rollback()
        deadline = asyncio.get_running_loop().time() + HORIZON_WAIT_SECONDS
        while True:
            running = (
                await conn.execute(
                    # Gone from a new snapshot, not merely committed: a transaction is
                    # marked committed before it leaves the running list, and until then a
                    # new snapshot (like the one the entries are read with below) does not
                    # show its entry. pg_xact_status let the sealer seal past such an entry.
                    # Transaction ids are the server's, not the database's: a long
                    # transaction in another database on the same server (a report, a
                    # restore) is in the snapshot too, but can never write our entries.
                    # Only a backend known to be in another database is left out; anything
                    # unidentified (a prepared transaction, a backend whose xid we may not
                    # see) still holds the horizon back.
                    # Running then: the snapshot's list, and every id from its xmax up
                    # to ours (running, or done a moment after the snapshot: visible now).
                    text(
                        "SELECT count(*) FROM ("
                        "  SELECT x FROM pg_snapshot_xip(CAST(CAST(:s AS text) AS pg_snapshot)) x"
                        "  UNION ALL"
                        "  SELECT CAST(CAST(g AS text) AS xid8) FROM generate_series("
                        "   CAST(CAST(pg_snapshot_xmax(CAST(CAST(:s AS text) AS pg_snapshot))"
                        "    AS text) AS bigint), CAST(CAST(:own AS text) AS bigint) - 1) g"
                        " ) AS t(x) "
                        "WHERE NOT pg_visible_in_snapshot(x, pg_current_snapshot())"
                        " AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a"
                        "  WHERE a.backend_xid::text::bigint = x::text::bigint % 4294967296"
                        "   AND a.datname IS DISTINCT FROM current_database())"
                    ),
                    {"s": snapshot, "own": own},
                )
            ).scalar_one()
            await conn.rollback()
            if running == 0:
                return int(max_id)
            if asyncio.get_running_loop().time() > deadline:
                log.warning(
                    "sealer horizon held back by long transactions", extra={"running": running}
                )
                return None
            await asyncio.sleep(0.02)


async def seal_pending_entries(
    sessionmaker: async_sessionmaker[AsyncSession], *, max_entries_per_block: int = 10_000
) -> SealResult:
    """Seal every entry up to a final horizon. Safe to run from several workers at once."""
    engine = sessionmaker.kw["bind"]
    horizon = await _final_horizon(engine)
    if horizon is None:
        return SealResult(0, 0)
    blocks = entries = 0
    async with sessionmaker() as session:
        got_lock = (
            await session.execute(
                text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SEALER_LOCK_KEY}
            )
        ).scalar_one()
        if not got_lock:
            return SealResult(0, 0)
        last = (
            await session.execute(
                select(Block.id, Block.last_entry_id, Block.block_hash)
                .order_by(Block.id.desc())
                .limit(1)
            )
        ).one_or_none()
        block_id, after_id, prev_hash = (
            (int(last[0]), int(last[1]), str(last[2])) if last else (0, 0, GENESIS_HASH)
        )
        while after_id < horizon:
            rows = (
                await session.execute(
                    select(Entry.id, Entry.content_hash)
                    .where(Entry.id > after_id, Entry.id <= horizon)
                    .order_by(Entry.id)
                    .limit(max_entries_per_block)
                )
            ).all()
            if not rows:
                break
            chain = [(int(r[0]), str(r[1])) for r in rows]
            block_id += 1
            prev_hash_for_block, prev_hash = prev_hash, block_hash(prev_hash, chain)
            await session.execute(
                insert(Block).values(
                    id=block_id,
                    first_entry_id=chain[0][0],
                    last_entry_id=chain[-1][0],
                    entry_count=len(chain),
                    prev_hash=prev_hash_for_block,
                    block_hash=prev_hash,
                    sealed_at=utcnow(),
                )
            )
            after_id = chain[-1][0]
            blocks += 1
            entries += len(chain)
        await session.commit()
    return SealResult(blocks, entries)


async def run_sealer_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    interval_seconds: float,
    max_entries_per_block: int,
) -> None:
    while True:
        try:
            result = await seal_pending_entries(
                sessionmaker, max_entries_per_block=max_entries_per_block
            )
            if result.blocks:
                log.info(
                    "sealed ledger blocks",
                    extra={"blocks": result.blocks, "entries": result.entries},
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sealer run failed; retrying")
        await asyncio.sleep(interval_seconds)
