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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from machipay.db import Base, BigId, UTCDateTime
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


def answer_text(body: Any) -> str:
    """A JSON answer as stored and as sent: serialised once, in the form JSONResponse sends."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body_text: str  # the JSON body, exactly as stored with the key
    replayed: bool

    def as_response(self) -> Response:
        return Response(
            self.body_text,
            status_code=self.status_code,
            media_type=PROBLEM_MEDIA_TYPE if self.status_code >= 400 else "application/json",
            headers={"Idempotent-Replayed": "true"} if self.replayed else None,
        )


@dataclass(slots=True)
class IdempotentRequest:
    """One request under its caller's Idempotency-Key: what it asks (the fingerprint), and,
    once claimed, the key's row. A money path may claim and answer inside its own database
    calls (:meth:`claim_arguments`, :meth:`claimed`, :meth:`answer_arguments`): the rules
    are the same functions, ``idempotency_claim`` and ``idempotency_answer``, without their
    own round trips."""

    scope: str
    key: str
    fingerprint: str
    instance: str  # the path, for a stored refusal's problem
    record_id: int | None = None
    answer: tuple[int, str] | None = None  # (status, JSON text) once stored

    @classmethod
    def of(cls, request: Request, *, scope: str, key: str, body: BaseModel) -> IdempotentRequest:
        path = request.url.path
        return cls(
            scope, key, request_hash(request.method, path, body.model_dump(mode="json")), path
        )

    def claim_arguments(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "key": self.key,
            "request_hash": self.fingerprint,
            "created_at": utcnow(),
        }

    def claimed(self, row: Sequence[Any]) -> None:
        """Take ``idempotency_claim``'s row (record id, stored hash, status, body): the new
        row's id, or (id NULL) the row that was there; then the work stops and the runner
        answers."""
        record_id, stored_hash, stored_status, stored_body = row
        if record_id is None:
            raise _KeyTaken(stored_hash, stored_status, stored_body)
        self.record_id = int(record_id)

    def answer_arguments(self, status_code: int, body: Any) -> dict[str, Any]:
        """The claimed row and the answer to store with it, by the work's own last call."""
        if self.record_id is None:
            raise RuntimeError("an answer needs a claimed Idempotency-Key")
        self.answer = (status_code, answer_text(body))
        return {
            "answer_record": self.record_id,
            "answer_status": status_code,
            "answer_body": self.answer[1],
        }


class _KeyTaken(Exception):
    """The key's row was there before this request: replay it (or refuse a mismatch)."""

    def __init__(self, request_hash: str, status_code: int | None, body_text: str | None):
        super().__init__("idempotency key taken")
        self.request_hash = request_hash
        self.status_code = status_code
        self.body_text = body_text


def _replay(request: IdempotentRequest, taken: _KeyTaken) -> StoredResponse:
    if taken.request_hash != request.fingerprint:
        raise IdempotencyKeyReused("This Idempotency-Key was used for a different request.")
    if taken.status_code is None or taken.body_text is None:
        raise Conflict("A request with this Idempotency-Key is still being processed.")
    return StoredResponse(taken.status_code, taken.body_text, replayed=True)


def replay_of(request: IdempotentRequest, row: Sequence[Any]) -> StoredResponse:
    """The answer to a request whose key ``idempotency_claim`` found claimed before (its row
    has no new id): the stored answer, or the refusal of a reused or still-running key."""
    try:
        request.claimed(row)
    except _KeyTaken as taken:
        return _replay(request, taken)
    raise RuntimeError("this request claimed the key: it is not a replay")


async def run_idempotent(
    session: AsyncSession,
    request: IdempotentRequest,
    produce: Callable[[], Awaitable[tuple[int, Any] | None]],
    *,
    claimed_by_produce: bool = False,
) -> StoredResponse:
    """Run ``produce`` once per (scope, key); store and replay its (status, JSON body).

    With ``claimed_by_produce`` the work claims the key in its first call and stores the
    answer in its last (the payment path), and returns None; otherwise the claim and the
    store are calls of their own around it."""
    try:
        if not claimed_by_produce:
            await _claim(session, request)
        try:
            produced = await produce()
        except MachipayError as refusal:
            if not 400 <= refusal.status < 500:
                raise
            # Undo the work, keep the answer: the refusal is this key's result from now on.
            await session.rollback()
            request.record_id, request.answer = None, None
            await _claim(session, request)
            await _store(
                session, request, refusal.status, refusal.to_problem(instance=request.instance)
            )
            refusal.keep_changes = True  # type: ignore[misc]
            raise
    except _KeyTaken as taken:
        return _replay(request, taken)
    if request.record_id is None:
        # The work ran without its key: never commit it (the session rolls back on errors).
        raise RuntimeError("a money path ran without claiming its Idempotency-Key")
    if produced is not None:
        await _store(session, request, *produced)
    if request.answer is None:
        raise RuntimeError("a money path claimed its Idempotency-Key but stored no answer")
    return StoredResponse(*request.answer, replayed=False)


# Built once: every money-moving request claims and stores a key, through the functions
# the payment path folds into its own calls (machipay/sql/idempotency_*.sql).
_CLAIM = HotStatement(
    text(
        "SELECT record_id, stored_hash, stored_status, stored_body"
        " FROM idempotency_claim(:scope, :key, :request_hash, :created_at)"
    )
    .bindparams(bindparam("created_at", type_=UTCDateTime))
    .columns(record_id=BigInteger)
)
_STORE = HotStatement(
    text("SELECT idempotency_answer(:answer_record, :answer_status, :answer_body)").bindparams(
        bindparam("answer_record", type_=BigInteger()), bindparam("answer_status", type_=Integer())
    )
)


async def _claim(session: AsyncSession, request: IdempotentRequest) -> None:
    """Claim the key (after waiting for an in-flight holder); raises _KeyTaken when it exists."""
    row = await _CLAIM.row(session, request.claim_arguments())
    assert row is not None
    request.claimed(row)


async def _store(
    session: AsyncSession, request: IdempotentRequest, status_code: int, body: Any
) -> None:
    await _STORE.run_many(session, [request.answer_arguments(status_code, body)])


async def respond_idempotently(
    session: AsyncSession,
    request: Request,
    *,
    scope: str,
    key: str,
    body: BaseModel,
    produce: Callable[[], Awaitable[tuple[int, Any]]],
) -> Response:
    """The usual route shape: run ``produce`` under the caller's key, answer (or replay)."""
    idempotent = IdempotentRequest.of(request, scope=scope, key=key, body=body)
    return (await run_idempotent(session, idempotent, produce)).as_response()
