"""Canonical content of an entry and its SHA-256.

The fingerprint covers everything a request asked for (key, kind, memo, what it reverses,
and its legs) in a canonical JSON form with the legs sorted, so the same movement always
fingerprints the same; the content hash adds when it was written. ``machipay verify``
recomputes both from the stored rows, so any change to an entry or a posting shows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

GENESIS_HASH = "0" * 64


def canonical_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_fingerprint(
    *,
    idempotency_key: str,
    kind: str,
    memo: str | None,
    reverses_entry_id: int | None,
    legs: Iterable[tuple[str, int]],
) -> str:
    """What a request asked for; a replay with the same key must carry the same fingerprint."""
    content = {
        "v": 1,
        "key": idempotency_key,
        "kind": kind,
        "memo": memo,
        "reverses": reverses_entry_id,
        "legs": sorted([code, amount] for code, amount in legs),
    }
    raw = json.dumps(content, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def entry_hash(fingerprint: str, created_at: datetime) -> str:
    """The sealed content of an entry: its fingerprint and when it was written."""
    raw = f"{fingerprint}|{canonical_time(created_at)}"
    return hashlib.sha256(raw.encode("ascii")).hexdigest()


def block_hash(prev_hash: str, entries: Sequence[tuple[int, str]]) -> str:
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    for entry_id, content_hash in entries:
        digest.update(f"\n{entry_id}:{content_hash}".encode("ascii"))
    return digest.hexdigest()
