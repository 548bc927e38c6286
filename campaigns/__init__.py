"""Campaigns: definitions, the maker-checker workflow, the reward engine, budget shards and
deferred grants. (The cost estimate and the effect report read analytics' facts: they are
analytics', built on the definitions and reward totals exported here.)"""

from campaigns.budget import remaining_budgets
from campaigns.engine import CampaignEngine
from campaigns.grants import BatchResult, campaigns_due, close_if_done, grant_pending_batch
from campaigns.models import Campaign
from campaigns.rules import CampaignRules, share
from campaigns.service import (
    Totals,
    approve,
    create_campaign,
    get_campaign,
    reward_totals,
    reward_totals_by,
    rewards_by_resident_and_shop,
    submit,
)
from campaigns.status import live_status
from campaigns.verify import verify_campaign_budgets

__all__ = [
    "BatchResult",
    "Campaign",
    "CampaignEngine",
    "CampaignRules",
    "Totals",
    "approve",
    "campaigns_due",
    "close_if_done",
    "create_campaign",
    "get_campaign",
    "grant_pending_batch",
    "live_status",
    "remaining_budgets",
    "reward_totals",
    "reward_totals_by",
    "rewards_by_resident_and_shop",
    "share",
    "submit",
    "verify_campaign_budgets",
]
