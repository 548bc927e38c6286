"""The roles of DESIGN.md section 7."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    RESIDENT = "resident"
    MERCHANT_OWNER = "merchant_owner"
    MERCHANT_STAFF = "merchant_staff"
    OFFICER = "officer"
    APPROVER = "approver"
    ANALYST = "analyst"
    OPERATOR = "operator"
    # Help desk staff at the ward's offices (まちづくりセンター): look residents up with a
    # stated reason, freeze, close, take cash top-ups.
    DESK = "desk"


STAFF_ROLES = frozenset(Role) - {Role.RESIDENT}
MERCHANT_ROLES = frozenset({Role.MERCHANT_OWNER, Role.MERCHANT_STAFF})
