"""HTTP idempotency for money-moving endpoints (the ``Idempotency-Key`` header).

The key is scoped to the caller and stored with a hash of the request, in the same
transaction as the work it protects. A replay returns the stored status and body; the same
key with another request is refused (422). Two concurrent requests with one key: the
second one's INSERT waits on the unique index until the first commits, then replays it.

A refusal (a 4xx such as insufficient funds) is stored too, as payment APIs do: a retry
with the same key gets the same answer instead of quietly becoming a new payment once the
wallet has been topped up. Server-side failures (5xx) are not stored, so they can be retried.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from machipay.db import Base, BigId, UTCDateTime, table_of
from machipay.errors import BadRequest, Conflict, MachipayError, ValidationFailed
from machipay.hotsql import HotStatement
from machipay.problems import PROBLEM_MEDIA_TYPE
from machipay.timeutil import utcnow

_KEY = re.compile(r"[\x21-\x7e]{1,200}")  # printable ASCII, no spaces


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    resource_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdempotencyKeyReused(ValidationFailed):
    type_slug = "idempotency-key-reused"
    title = "Idempotency key reused with a different request"


async def idempotency_key_header(
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="A unique key per intended operation (e.g. a UUID); retries reuse it.",
        ),
    ] = None,
) -> str:
    if idempotency_key is None:
        raise BadRequest(
            "This request moves money: send an Idempotency-Key header.", field="Idempotency-Key"
        )
    if not _KEY.fullmatch(idempotency_key):
        raise BadRequest("The Idempotency-Key must be 1 to 200 printable ASCII characters.")
    return idempotency_key


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(
        [method, path, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: Any
    replayed: bool

    def as_response(self) -> JSONResponse:
        return JSONResponse(
            self.body,
            status_code=self.status_code,
            media_type=PROBLEM_MEDIA_TYPE if self.status_code >= 400 else None,
            headers={"Idempotent-Replayed": "true"} if self.replayed else None,
        )


async def run_idempotent(
    session: AsyncSession,
    *,
    scope: str,
    key: str,
    method: str,
    path: str,
    body: Any,
    produce: Callable[[], Awaitable[tuple[int, Any]]],
) -> StoredResponse:
    """Run ``produce`` once per (scope, key); store and replay its (status, JSON body)."""
    fingerprint = request_hash(method, path, body)
    inserted = await _claim(session, scope, key, fingerprint)
    if inserted is None:
        stored = (
            await session.execute(
                select(
                    IdempotencyRecord.request_hash,
                    IdempotencyRecord.status_code,
                    IdempotencyRecord.response_body,
                ).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
            )
        ).one()
        if stored.request_hash != fingerprint:
            raise IdempotencyKeyReused("This Idempotency-Key was used for a different request.")
        if stored.status_code is None or stored.response_body is None:
            raise Conflict("A request with this Idempotency-Key is still being processed.")
        return StoredResponse(stored.status_code, json.loads(stored.response_body), replayed=True)

    try:
        status_code, body = await produce()
    except MachipayError as refusal:
        if not 400 <= refusal.status < 500:
            raise
        # Undo the work, keep the answer: the refusal is this key's result from now on.
        await session.rollback()
        claimed = await _claim(session, scope, key, fingerprint)
        if claimed is not None:
            await _store(session, claimed, refusal.status, refusal.to_problem(instance=path))
            refusal.keep_changes = True  # type: ignore[misc]
        raise
    await _store(session, inserted, status_code, body)
    return StoredResponse(status_code, body, replayed=False)


# Built once: every money-moving request claims and stores a key. Plain SQL, because
# SQLAlchemy cannot cache the compiled form of an ON CONFLICT insert (it would compile it
# on every request); the same text runs on PostgreSQL and SQLite.
_CLAIM = HotStatement(
    text(
        "INSERT INTO idempotency_keys (scope, key, request_hash, created_at)"
        " VALUES (:scope, :key, :request_hash, :created_at)"
        " ON CONFLICT (scope, key) DO NOTHING RETURNING id"
    )
    .bindparams(bindparam("created_at", type_=UTCDateTime))
    .columns(id=BigInteger)
)
_STORE = HotStatement(
    update(table_of(IdempotencyRecord))
    .where(table_of(IdempotencyRecord).c.id == bindparam("record_id"))
    .values(status_code=bindparam("status"), response_body=bindparam("body"))
)


async def _claim(session: AsyncSession, scope: str, key: str, fingerprint: str) -> int | None:
    """Insert the key's row; None when it exists (after waiting for an in-flight holder)."""
    inserted = await _CLAIM.row(
        session, {"scope": scope, "key": key, "request_hash": fingerprint, "created_at": utcnow()}
    )
    return None if inserted is None else int(inserted[0])


async def _store(session: AsyncSession, record_id: int, status_code: int, body: Any) -> None:
    await _STORE.run_many(
        session,
        [
            {
                "record_id": record_id,
                "status": status_code,
                "body": json.dumps(body, ensure_ascii=False),
            }
        ],
    )


async def respond_idempotently(
    session: AsyncSession,
    request: Request,
    *,
    scope: str,
    key: str,
    body: BaseModel,
    produce: Callable[[], Awaitable[tuple[int, Any]]],
) -> JSONResponse:
    """The usual route shape: run ``produce`` under the caller's key, answer (or replay)."""
    stored = await run_idempotent(
        session,
        scope=scope,
        key=key,
        method=request.method,
        path=request.url.path,
        body=body.model_dump(mode="json"),
        produce=produce,
    )
    return stored.as_response()
