"""Residents: registration, wallet, top-up webhook, P2P transfers, history, points lots."""

from wallet_api.benefit_lots import (
    AGE_BANDS,
    BenefitLotFigures,
    add_benefit_lots,
    benefit_lot_figures,
    residents_by_phones,
    residents_by_wallet_ids,
    residents_matching,
)
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
from wallet_api.service import (
    credit_top_up,
    register_resident,
    resident_of,
    resident_profiles,
    transfer_money,
    wallet_view,
)

__all__ = [
    "AGE_BANDS",
    "BenefitLotFigures",
    "LotTake",
    "add_benefit_lots",
    "add_points_lot",
    "benefit_lot_figures",
    "choose_takes",
    "credit_top_up",
    "expire_points",
    "give_points_back",
    "grant_points",
    "history_row",
    "live_lots",
    "register_resident",
    "resident_of",
    "resident_profiles",
    "residents_by_phones",
    "residents_by_wallet_ids",
    "residents_matching",
    "take_back_from_lot",
    "take_points",
    "transfer_money",
    "wallet_view",
    "write_history",
]
