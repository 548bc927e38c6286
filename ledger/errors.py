"""Ledger errors, each with a stable problem ``type``."""

from __future__ import annotations

from machipay.errors import Conflict, MachipayError, NotFound, ServiceUnavailable, ValidationFailed


class LedgerError(MachipayError):
    type_slug = "ledger-error"
    title = "Ledger error"


# What the person who asked for the movement can do about it, by the family of the account
# that ran short. A problem detail never names the account: its code carries internal ids
# (``resident:81:money``) that are nobody's business outside the books and the logs.
_SHORT_OF = {
    "resident:money": "Your balance is not enough for this. Top up, or use a smaller amount.",
    "resident:points": "Your points are not enough for this. Use fewer points.",
    "merchant:payable": "The shop's sales not yet settled do not cover this.",
    "campaign:budget": "The campaign's budget does not cover this.",
}


def _family(account: str) -> str:
    kind, _, rest = account.partition(":")
    return f"{kind}:{rest.rpartition(':')[2]}"


class InsufficientFunds(LedgerError):
    status = 402
    type_slug = "insufficient-funds"
    title = "Insufficient funds"

    def __init__(self, account: str) -> None:
        super().__init__(
            _SHORT_OF.get(_family(account), "The money for this movement is not available.")
        )
        self.account = account  # for the caller and the logs, never the response


class IdempotencyConflict(LedgerError, ValidationFailed):
    status = 422
    type_slug = "idempotency-key-reused"
    title = "Idempotency key reused with a different request"

    def __init__(self, key: str) -> None:
        # The ledger's key is scoped with internal ids (refund:<merchant id>:<client key>).
        super().__init__("This Idempotency-Key was already used for a different request.")
        self.key = key


class UnknownAccount(LedgerError, NotFound):
    status = 404
    type_slug = "unknown-account"
    title = "Unknown ledger account"

    def __init__(self, account: str) -> None:
        super().__init__("An account this movement needs does not exist.")
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
