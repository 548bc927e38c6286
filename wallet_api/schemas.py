from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from machipay.schemas import Amount, ShownText, StrictModel


class ResidentRegistration(StrictModel):
    phone: str = Field(min_length=10, max_length=20, examples=["090-1234-5678"])
    password: str = Field(min_length=1, max_length=256)
    display_name: Annotated[str, ShownText(40)]
    birth_year: int = Field(strict=True)
    district: str = Field(min_length=1, max_length=32, examples=["kitazawa"])


class ResidentCreated(StrictModel):
    id: int
    wallet_id: str


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
        "benefit_grant",
    ]
    amount: int
    money_change: int
    points_change: int
    counterparty: str | None
    message: str | None
    created_at: datetime


class TransactionPage(StrictModel):
    items: list[TransactionOut]
    next_cursor: str | None


class FundingEvent(StrictModel):
    event_id: str = Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")
    wallet_id: str = Field(min_length=1, max_length=32)
    amount: Amount
    source: str = Field(
        min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$", examples=["bank", "atm", "konbini"]
    )
    occurred_at: AwareDatetime


class FundingResult(StrictModel):
    status: Literal["credited", "duplicate"]


class TransferRequest(StrictModel):
    to_phone: str = Field(min_length=10, max_length=20)
    amount: Amount
    message: Annotated[str, ShownText(200)] | None = None


class Counterparty(StrictModel):
    display_name: str
    phone: str


class TransferOut(StrictModel):
    id: str
    amount: int
    to: Counterparty
    message: str | None
    created_at: datetime
