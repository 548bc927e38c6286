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


class PhoneNotVerified(Forbidden):
    type_slug = "phone-not-verified"
    title = "Verify your phone number first"


# One wording per refusal, whichever gate finds it first (require_wallet_can_move_money in
# Python, or wallet_lock_lots under the payer's row lock).
PHONE_NOT_VERIFIED = (
    "Enter the code we sent to your phone (POST /api/v1/residents/verify) before "
    "paying, sending or receiving money."
)
WALLET_FROZEN = (
    "This wallet is frozen by the ward's help desk; no money can leave it. "
    "Visit a ward office (まちづくりセンター) to unfreeze it."
)
WALLET_CLOSED = "This wallet is closed."


@contextmanager
def wallet_lock_refusals() -> Iterator[None]:
    """``wallet_lock_lots`` is the payment path's gate on the payer, read under the row lock:
    MW003 no verified phone, MW001 frozen, MW002 closed. The answers are the Python gate's."""
    try:
        yield
    except DBAPIError as exc:
        driver = getattr(exc.orig, "__cause__", None) or exc.orig
        sqlstate = getattr(driver, "sqlstate", None)
        if sqlstate == "MW001":
            raise WalletFrozen(WALLET_FROZEN) from exc
        if sqlstate == "MW002":
            raise WalletClosed(WALLET_CLOSED) from exc
        if sqlstate == "MW003":
            raise PhoneNotVerified(PHONE_NOT_VERIFIED) from exc
        raise
