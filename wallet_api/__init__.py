"""Residents: registration, wallet, top-up webhook, P2P transfers, history, points lots."""

from wallet_api.deposit import DepositReport, deposit_report
from wallet_api.payments import RefundLine, payments_by_entries, refunds_by_entries
from wallet_api.points import (
    LotTake,
    add_points_lot,
    expire_points,
    grant_points,
    live_lots,
    take_back_from_lot,
    take_points,
)
from wallet_api.rewards import (
    CampaignRewards,
    PaymentFacts,
    PointsLotGrant,
    RefundFacts,
    Revocation,
    RewardPlan,
    no_campaign_rewards,
)
from wallet_api.service import (
    credit_top_up,
    register_resident,
    resident_of,
    resident_profiles,
    transfer_money,
    wallet_view,
)
from wallet_api.spend import MerchantSpend, distinct_payers, new_to_shop, spend_by_merchant

__all__ = [
    "CampaignRewards",
    "DepositReport",
    "LotTake",
    "MerchantSpend",
    "PaymentFacts",
    "PointsLotGrant",
    "RefundFacts",
    "RefundLine",
    "Revocation",
    "RewardPlan",
    "add_points_lot",
    "credit_top_up",
    "deposit_report",
    "distinct_payers",
    "expire_points",
    "grant_points",
    "live_lots",
    "new_to_shop",
    "no_campaign_rewards",
    "payments_by_entries",
    "refunds_by_entries",
    "register_resident",
    "resident_of",
    "resident_profiles",
    "spend_by_merchant",
    "take_back_from_lot",
    "take_points",
    "transfer_money",
    "wallet_view",
]
