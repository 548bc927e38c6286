from __future__ import annotations

from machipay.errors import NotFound, ValidationFailed


class WalletNotFound(NotFound):
    type_slug = "wallet-not-found"
    title = "Unknown wallet"


class RecipientNotFound(NotFound):
    type_slug = "recipient-not-found"
    title = "No resident with that phone number"


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
