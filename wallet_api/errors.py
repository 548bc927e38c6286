from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError

from machipay.errors import Forbidden, NotFound, ValidationFailed


class WalletNotFound(NotFound):
    type_slug = "wallet-not-found"
    title = "Unknown wallet"


class RecipientCannotReceive(ValidationFailed):
    """One answer for a number nobody registered and a wallet that is full: which of the two
    it is would tell the sender whether the number belongs to a resident."""

    type_slug = "recipient-cannot-receive"
    title = "This phone number cannot receive this transfer"


class BalanceCapExceeded(ValidationFailed):
    type_slug = "balance-cap-exceeded"
    title = "The wallet would exceed its balance cap"


class TransferLimitExceeded(ValidationFailed):
    type_slug = "transfer-limit-exceeded"
    title = "Transfer limit exceeded"


class InsufficientPoints(ValidationFailed):
    status = 402
    type_slug = "insufficient-points"
    title = "Not enough points"


class WalletFrozen(Forbidden):
    """The help desk froze the wallet (a lost phone, a suspected fraud): no money leaves it
    until the desk unfreezes it. Money still comes in (top-ups, a shop's refund)."""

    type_slug = "wallet-frozen"
    title = "This wallet is frozen"


class WalletClosed(Forbidden):
    type_slug = "wallet-closed"
    title = "This wallet is closed"


@contextmanager
def wallet_lock_refusals() -> Iterator[None]:
    """``wallet_lock_lots`` refuses (MW001) a wallet that is not active: the database's own
    copy of the gate, for a freeze that committed after the gate read the wallet."""
    try:
        yield
    except DBAPIError as exc:
        driver = getattr(exc.orig, "__cause__", None) or exc.orig
        if getattr(driver, "sqlstate", None) == "MW001":
            raise WalletFrozen("This wallet was frozen by the ward's help desk.") from exc
        raise


class PhoneNotVerified(Forbidden):
    type_slug = "phone-not-verified"
    title = "Verify your phone number first"
