"""Residents: registration, wallet, top-up webhook, P2P transfers, history, points lots."""

from wallet_api.points import LotTake, expire_points, grant_points, live_lots, take_points
from wallet_api.service import (
    credit_top_up,
    register_resident,
    resident_of,
    transfer_money,
    wallet_view,
)

__all__ = [
    "LotTake",
    "credit_top_up",
    "expire_points",
    "grant_points",
    "live_lots",
    "register_resident",
    "resident_of",
    "take_points",
    "transfer_money",
    "wallet_view",
]
