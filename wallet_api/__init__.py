"""Residents: registration, wallet, top-up webhook, P2P transfers, history, points lots."""

from wallet_api.errors import PhoneNotVerified
from wallet_api.history import history_row, write_history
from wallet_api.points import (
    LotTake,
    add_points_lot,
    choose_takes,
    expire_points,
    give_points_back,
    grant_points,
    live_lots,
    take_back_from_lot,
    take_points,
)
from wallet_api.references import FundingReferenceUnknown, funding_references
from wallet_api.service import (
    Registration,
    credit_top_up,
    mark_phone_verified,
    register_resident,
    require_wallet_can_move_money,
    resident_by_wallet_id,
    resident_of,
    resident_profiles,
    transfer_money,
    wallet_view,
)

__all__ = [
    "FundingReferenceUnknown",
    "LotTake",
    "PhoneNotVerified",
    "Registration",
    "add_points_lot",
    "choose_takes",
    "credit_top_up",
    "expire_points",
    "funding_references",
    "give_points_back",
    "grant_points",
    "history_row",
    "live_lots",
    "mark_phone_verified",
    "register_resident",
    "require_wallet_can_move_money",
    "resident_by_wallet_id",
    "resident_of",
    "resident_profiles",
    "take_back_from_lot",
    "take_points",
    "transfer_money",
    "wallet_view",
    "write_history",
]
