"""Turn database errors raised by the ledger's SQL into ledger errors."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, IntegrityError

from ledger.errors import (
    AlreadyReversed,
    IdempotencyConflict,
    InsufficientFunds,
    LedgerBusy,
    LedgerError,
    UnbalancedEntry,
    UnknownAccount,
)


def _driver_error(exc: DBAPIError) -> BaseException | None:
    orig = exc.orig
    # SQLAlchemy's asyncpg adapter wraps the driver's exception as __cause__.
    return getattr(orig, "__cause__", None) or orig


def sqlstate_of(exc: DBAPIError) -> str | None:
    for candidate in (_driver_error(exc), exc.orig):
        state = getattr(candidate, "sqlstate", None)
        if state:
            return str(state)
    return None


def refusal(state: str | None, detail: str) -> LedgerError | None:
    """The ledger's own refusals by SQLSTATE (raised by ``ledger_post``, or reported per
    entry by ``ledger_post_batch``), or None."""
    if state == "ML001":
        return InsufficientFunds(detail or "?")
    if state == "ML002":
        return IdempotencyConflict(detail)
    if state == "ML003":
        return UnknownAccount(detail or "?")
    return None


def translate(exc: DBAPIError) -> LedgerError | None:
    """The ledger error this database error means, or None if it is not one of ours."""
    state = sqlstate_of(exc)
    driver = _driver_error(exc)
    detail = str(getattr(driver, "detail", "") or "")
    refused = refusal(state, detail)
    if refused is not None:
        return refused
    if state == "ML011":
        return UnbalancedEntry(str(getattr(driver, "message", None) or exc))
    if isinstance(exc, IntegrityError) and "reverses_entry_id" in str(exc):
        return AlreadyReversed("This entry has already been reversed.")
    if state in ("55P03", "40P01", "40001"):  # lock_timeout, deadlock, serialization
        return LedgerBusy("The ledger could not take its locks in time; retry with the same key.")
    return None
