"""Payments: paying by QR (resolve, pay), dynamic charges, one-time codes captured by shops,
refunds, live payment events; and the campaign rewards a payment asks for."""

from payments.charges import ChargeUnusable, create_charge
from payments.group_commit import PaymentBatchStats, PaymentGroupCommit
from payments.live import merchant_channel
from payments.lookups import PaymentLine, RefundLine, payments_by_entries, refunds_by_entries
from payments.one_time_codes import CodeUnusable, issue_code, pay_by_code
from payments.qr_pay import ResolvedQr, pay_by_qr, resolve_qr
from payments.refunds import RefundDone, check_refund_power, refund
from payments.rewards import (
    CampaignRewards,
    PaymentFacts,
    PointsLotGrant,
    RefundFacts,
    Revocation,
    RewardPlan,
    RewardPreview,
    no_campaign_rewards,
)
from payments.service import PaymentDone, PaymentLimitExceeded, pay, preview_reward
from payments.spend import MerchantSpend, distinct_payers, new_to_shop, spend_by_merchant

__all__ = [
    "CampaignRewards",
    "ChargeUnusable",
    "CodeUnusable",
    "MerchantSpend",
    "PaymentBatchStats",
    "PaymentDone",
    "PaymentFacts",
    "PaymentGroupCommit",
    "PaymentLimitExceeded",
    "PaymentLine",
    "PointsLotGrant",
    "RefundDone",
    "RefundFacts",
    "RefundLine",
    "ResolvedQr",
    "Revocation",
    "RewardPlan",
    "RewardPreview",
    "check_refund_power",
    "create_charge",
    "distinct_payers",
    "issue_code",
    "merchant_channel",
    "new_to_shop",
    "no_campaign_rewards",
    "pay",
    "pay_by_code",
    "pay_by_qr",
    "payments_by_entries",
    "preview_reward",
    "refund",
    "refunds_by_entries",
    "resolve_qr",
    "spend_by_merchant",
]
