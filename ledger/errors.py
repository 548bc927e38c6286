"""Ledger errors, each with a stable problem ``type``."""

from __future__ import annotations

from machipay.errors import Conflict, MachipayError, NotFound, ServiceUnavailable, ValidationFailed


class LedgerError(MachipayError):
    type_slug = "ledger-error"
    title = "Ledger error"


class InsufficientFunds(LedgerError):
    status = 402
    type_slug = "insufficient-funds"
    title = "Insufficient funds"

    def __init__(self, account: str) -> None:
        super().__init__(
            f"Account {account} does not hold enough for this movement.", account=account
        )
        self.account = account


class IdempotencyConflict(LedgerError, ValidationFailed):
    status = 422
    type_slug = "idempotency-key-reused"
    title = "Idempotency key reused with a different request"


class UnknownAccount(LedgerError, NotFound):
    status = 404
    type_slug = "unknown-account"
    title = "Unknown ledger account"

    def __init__(self, account: str) -> None:
        super().__init__(f"No ledger account named {account}.", account=account)
        self.account = account


class UnknownEntry(LedgerError, NotFound):
    status = 404
    type_slug = "unknown-entry"
    title = "Unknown ledger entry"

    def __init__(self, entry_id: int) -> None:
        super().__init__(f"No ledger entry {entry_id}.", entry_id=entry_id)


class UnbalancedEntry(LedgerError, ValidationFailed):
    status = 422
    type_slug = "unbalanced-entry"
    title = "Entry does not balance"


class AlreadyReversed(LedgerError, Conflict):
    status = 409
    type_slug = "already-reversed"
    title = "Entry already reversed"


class LedgerBusy(LedgerError, ServiceUnavailable):
    """A lock could not be had within ``lock_timeout``: safe to retry with the same key."""

    status = 503
    type_slug = "ledger-busy"
    title = "Ledger busy, retry"
