"""The help desk's errors (problem+json types under machipay's tree)::

MachipayError
├── ValidationFailed (422) ── ReasonRequired, CashAmountOutOfBounds, CashUpDayInvalid
├── Forbidden (403) ───────── ClosureSelfApproval, CashUpSelfConfirm
├── NotFound (404) ────────── NobodyFound (the miss stays audited), ClosureNotFound,
│                             TopUpNotFound, CashUpNotFound
└── Conflict (409) ────────── ClosureConflict, CashUpConflict
"""

from __future__ import annotations

from machipay.errors import Conflict, Forbidden, NotFound, ValidationFailed


class ReasonRequired(ValidationFailed):
    type_slug = "desk-reason-required"
    title = "Say why: every desk look-up and action records its reason"


class NobodyFound(NotFound):
    type_slug = "desk-nobody-found"
    title = "No resident has this phone number or wallet id"
    keep_changes = True  # the miss is audited like a hit


class ClosureNotFound(NotFound):
    type_slug = "closure-not-found"
    title = "Unknown closure request"


class TopUpNotFound(NotFound):
    type_slug = "desk-top-up-not-found"
    title = "Unknown counter top-up"


class ClosureSelfApproval(Forbidden):
    type_slug = "closure-self-approval"
    title = "A closure needs a second person's approval"


class ClosureConflict(Conflict):
    type_slug = "closure-conflict"
    title = "This closure cannot be requested or approved now"


class CashAmountOutOfBounds(ValidationFailed):
    type_slug = "desk-amount-out-of-bounds"
    title = "A counter top-up is outside the allowed amounts"


class CashUpDayInvalid(ValidationFailed):
    type_slug = "desk-cash-up-day-invalid"
    title = "A cash-up is for today or an earlier day"


class CashUpSelfConfirm(Forbidden):
    type_slug = "desk-cash-up-self-confirm"
    title = "A cash-up is confirmed by a second person"


class CashUpNotFound(NotFound):
    type_slug = "desk-cash-up-not-found"
    title = "Unknown cash-up"


class CashUpConflict(Conflict):
    type_slug = "desk-cash-up-conflict"
    title = "This cash-up cannot be declared or confirmed now"
