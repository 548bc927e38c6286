from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, model_validator

from machipay.schemas import Amount, DigitsText, ShownText, StrictModel


class ResidentRegistration(StrictModel):
    phone: str = Field(min_length=10, max_length=20, examples=["090-1234-5678"])
    password: str = Field(min_length=1, max_length=256)
    display_name: Annotated[str, ShownText(40)]
    birth_year: int = Field(strict=True)
    district: str = Field(min_length=1, max_length=32, examples=["kitazawa"])


class ResidentCreated(StrictModel):
    id: int
    wallet_id: str
    verification: Literal["pending"] = "pending"


class PhoneVerification(StrictModel):
    phone: str = Field(min_length=10, max_length=20, examples=["090-1234-5678"])
    code: str = Field(min_length=1, max_length=20, examples=["123456"])


class PhoneVerified(StrictModel):
    verification: Literal["verified"] = "verified"


class ResendRequest(StrictModel):
    phone: str = Field(min_length=10, max_length=20, examples=["090-1234-5678"])


class PointsLotOut(StrictModel):
    amount: int
    expires_at: datetime


class BenefitReceivedOut(StrictModel):
    """A ward benefit (給付) that reached the wallet lately: the app's notice."""

    name: str
    points: int
    granted_at: datetime


class WalletOut(StrictModel):
    wallet_id: str
    money: int
    points: int
    points_lots: list[PointsLotOut]
    next_points_expiry: datetime | None
    # Points whose lot expires within the next 30 days (spend them first: payments do).
    points_expiring_soon: int
    limits: dict[str, int]
    # "pending" until the SMS code is entered: the wallet can neither pay nor receive.
    verification: Literal["pending", "verified"]
    # Benefits granted in the last 30 days, newest first.
    benefits_received: list[BenefitReceivedOut] = Field(default_factory=list)


class TransactionOut(StrictModel):
    id: str
    kind: Literal[
        "topup",
        "p2p_in",
        "p2p_out",
        "payment",
        "refund",
        "points_grant",
        "points_expiry",
        "reward",
        "points_forfeit",
        "closure_refund",
        "closure_refund_back",
        "benefit_grant",
    ]
    amount: int
    money_change: int
    points_change: int
    counterparty: str | None
    message: str | None
    created_at: datetime
    # A refund line: the points its payment had earned that the refund took back.
    points_revoked: int = 0


class TransactionPage(StrictModel):
    items: list[TransactionOut]
    next_cursor: str | None


class FundingEvent(StrictModel):
    """A top-up from the network. It names its wallet by exactly one reference: the wallet
    id, the virtual account a bank transfer went to, or the konbini payment number."""

    event_id: str = Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")
    wallet_id: str | None = Field(default=None, min_length=1, max_length=32)
    virtual_account: DigitsText | None = Field(default=None, pattern=r"^[0-9]{7}$")
    konbini_number: DigitsText | None = Field(default=None, pattern=r"^[0-9]{12}$")
    amount: Amount
    source: str = Field(
        min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$", examples=["bank", "atm", "konbini"]
    )
    occurred_at: AwareDatetime

    @model_validator(mode="after")
    def _one_reference(self) -> FundingEvent:
        named = [
            name
            for name in ("wallet_id", "virtual_account", "konbini_number")
            if getattr(self, name) is not None
        ]
        if len(named) != 1:
            raise ValueError(
                "name the wallet by exactly one of wallet_id, virtual_account, konbini_number"
                + (f" (got {', '.join(named)})" if named else "")
            )
        return self


class FundingResult(StrictModel):
    status: Literal["credited", "duplicate"]


class TransferRequest(StrictModel):
    to_phone: str = Field(min_length=10, max_length=20)
    amount: Amount
    message: Annotated[str, ShownText(200)] | None = None


class RecipientLookup(StrictModel):
    to_phone: str = Field(min_length=10, max_length=20)


class RecipientOut(StrictModel):
    name: str  # masked: the first character of each word (wallet_api.recipients)


class Counterparty(StrictModel):
    display_name: str
    phone: str


class TransferOut(StrictModel):
    id: str
    amount: int
    to: Counterparty
    message: str | None
    created_at: datetime


class FundingBankOut(StrictModel):
    """The wallet's own transfer account (振込専用口座) at the operator's receiving branch."""

    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: Literal["ordinary", "current"]
    account_number: str
    account_name_kana: str


class WardCounterOut(StrictModel):
    """The counter for the resident's district (its area's 総合支所): cash top-ups at the
    desk."""

    district_id: str
    district_name: str
    name: str
    name_en: str
    address: str
    hours: str
    hours_en: str


class FundingOut(StrictModel):
    wallet_id: str
    bank: FundingBankOut
    konbini_number: str
    counter: WardCounterOut | None
    balance_cap: int
    # How much more the wallet can take now: a top-up beyond the cap is refused whole.
    room: int
