from __future__ import annotations

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


class PhoneNotVerified(Forbidden):
    type_slug = "phone-not-verified"
    title = "Verify your phone number first"
