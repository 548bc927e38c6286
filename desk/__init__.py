"""The help desk (窓口) of the ward's offices: look-ups with a stated reason (audited, and
shown to the resident), freeze, district moves, two-person closures with a bank refund, and
cash top-ups with a receipt."""

from desk.service import (
    access_log,
    approve_closure,
    cash_top_up,
    look_up,
    request_closure,
    set_staff_card,
    staff_card,
)

__all__ = [
    "access_log",
    "approve_closure",
    "cash_top_up",
    "look_up",
    "request_closure",
    "set_staff_card",
    "staff_card",
]
