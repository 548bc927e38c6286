"""Campaigns: definitions, the maker-checker workflow, the reward engine, budget shards,
deferred grants, cost estimates and effect reports."""

from campaigns.engine import CampaignEngine
from campaigns.grants import BatchResult, campaigns_due, close_if_done, grant_pending_batch
from campaigns.service import approve, create_campaign, get_campaign, submit
from campaigns.verify import verify_campaign_budgets

__all__ = [
    "BatchResult",
    "CampaignEngine",
    "approve",
    "campaigns_due",
    "close_if_done",
    "create_campaign",
    "get_campaign",
    "grant_pending_batch",
    "submit",
    "verify_campaign_budgets",
]
