"""Benefit requests and responses (API.md "Benefits"). Points are integers, like yen."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BeforeValidator, Field, Strict, model_validator

from machipay.schemas import ShownText, StrictModel
from machipay.text import nfkc

AgeBand = Literal["10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80+"]
# A wallet id as typed or pasted: NFKC (full-width letters and digits), no surrounding space.
WalletId = Annotated[
    str,
    BeforeValidator(lambda v: nfkc(v).strip() if isinstance(v, str) else v),
    Field(min_length=3, max_length=32, pattern=r"^w_[0-9a-f]{1,30}$"),
]
DistrictId = Annotated[str, Field(min_length=1, max_length=32)]
MAX_LISTED_WALLETS = 10_000  # more go in a CSV upload
MAX_POINTS_PER_RECIPIENT = 1_000_000


class RecipientsIn(StrictModel):
    """Exactly one of: ``{"all": true}``; ``{"district_ids": [...], "age_bands": [...]}``
    (an empty or missing list means all); ``{"wallet_ids": [...]}``."""

    all: Literal[True] | None = None
    district_ids: list[DistrictId] | None = Field(default=None, max_length=200)
    age_bands: list[AgeBand] | None = Field(default=None, max_length=8)
    wallet_ids: list[WalletId] | None = Field(default=None, max_length=MAX_LISTED_WALLETS)

    @model_validator(mode="after")
    def _one_form(self) -> RecipientsIn:
        forms = [
            self.all is not None,
            self.district_ids is not None or self.age_bands is not None,
            self.wallet_ids is not None,
        ]
        if sum(forms) != 1:
            raise ValueError(
                'recipients is one of {"all": true}, {"district_ids", "age_bands"} or'
                ' {"wallet_ids"}'
            )
        for name in ("district_ids", "age_bands", "wallet_ids"):
            values = getattr(self, name)
            if values is not None and len(set(values)) != len(values):
                raise ValueError(f"recipients.{name} lists a value twice")
        return self

    def rule(self) -> dict[str, Any]:
        """How it is stored: a listed set of wallets becomes rows, the rule says ``list``."""
        if self.all:
            return {"all": True}
        if self.wallet_ids is not None:
            return {"list": True}
        return {
            "district_ids": sorted(self.district_ids or []),
            "age_bands": sorted(self.age_bands or []),
        }


Points = Annotated[int, Strict(), Field(ge=1, le=MAX_POINTS_PER_RECIPIENT)]
ExpiryDays = Annotated[int, Strict(), Field(ge=1, le=3650)]


class BenefitIn(StrictModel):
    name: Annotated[str, ShownText(80)]
    purpose: Annotated[str, ShownText(200)]
    points_per_recipient: Points
    points_expiry_days: ExpiryDays = 180
    starts_at: AwareDatetime
    recipients: RecipientsIn


class BenefitPatch(StrictModel):
    """Any of the terms; an edit of a submitted benefit sends it back to draft."""

    name: Annotated[str, ShownText(80)] | None = None
    purpose: Annotated[str, ShownText(200)] | None = None
    points_per_recipient: Points | None = None
    points_expiry_days: ExpiryDays | None = None
    starts_at: AwareDatetime | None = None
    recipients: RecipientsIn | None = None


class Decision(StrictModel):
    reason: Annotated[str, ShownText(200)] | None = None


class BenefitOut(StrictModel):
    id: int
    name: str
    purpose: str
    status: Literal["draft", "submitted", "approved", "running", "done"]
    points_per_recipient: int
    points_expiry_days: int
    starts_at: datetime
    recipient_rule: dict[str, Any]
    # Fixed at submission; for a draft, how many the rule or list would reach today.
    recipients: int
    granted: int
    # points × recipients: what approval moves from bank:city to the benefit's budget.
    budget: int
    budget_remaining: int
    created_by: int
    created_at: datetime
    submitted_by: int | None
    submitted_at: datetime | None
    approved_by: int | None
    approved_at: datetime | None
    started_at: datetime | None
    done_at: datetime | None


class BenefitPage(StrictModel):
    items: list[BenefitOut]


class RowError(StrictModel):
    row: int  # the line of the file (the header is line 1)
    # Stable: empty | not_a_phone | not_a_wallet_id | duplicate | no_recipient.
    code: str
    message: str  # Japanese, for the ward's staff


class RecipientsUploaded(StrictModel):
    accepted: int
    errors: list[RowError]


class AuditOut(StrictModel):
    id: int
    actor_id: int | None
    action: str
    changes: dict[str, Any]
    at: datetime
