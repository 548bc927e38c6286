"""The double-entry ledger: the only place value moves.

Other contexts use these functions and never touch the ledger's tables. This package
imports no web framework.
"""

from ledger.accounts import (
    BANK_CITY,
    BANK_SETTLEMENT,
    PLATFORM_FEES,
    SYSTEM_ACCOUNTS,
    campaign_breakage,
    campaign_budget,
    merchant_payable,
    merchant_payout,
    resident_money,
    resident_points,
    resident_refund,
    spec_for,
)
from ledger.balances import (
    balance_as_of,
    compact_hot_account,
    get_balance,
    get_balances,
    open_account,
    open_accounts,
)
from ledger.errors import (
    AlreadyReversed,
    IdempotencyConflict,
    InsufficientFunds,
    LedgerBusy,
    LedgerError,
    UnbalancedEntry,
    UnknownAccount,
    UnknownEntry,
)
from ledger.guards import money_triggers
from ledger.posting import (
    EntryDraft,
    Leg,
    PostedEntry,
    credit,
    debit,
    draft_entry,
    ledger_errors,
    ledger_post_arguments,
    post_draft,
    post_entry,
    reverse_entry,
)
from ledger.reconcile import Reconciliation, reconcile
from ledger.reports import (
    ASSET_FAMILIES,
    FAMILIES,
    Movement,
    balances_by_family,
    movements,
    total_as_of,
)
from ledger.sealer import SealResult, run_sealer_forever, seal_pending_entries
from ledger.verify import Finding, VerifyReport, verify_ledger

__all__ = [
    "ASSET_FAMILIES",
    "BANK_CITY",
    "BANK_SETTLEMENT",
    "FAMILIES",
    "PLATFORM_FEES",
    "SYSTEM_ACCOUNTS",
    "AlreadyReversed",
    "EntryDraft",
    "Finding",
    "IdempotencyConflict",
    "InsufficientFunds",
    "LedgerBusy",
    "LedgerError",
    "Leg",
    "Movement",
    "PostedEntry",
    "Reconciliation",
    "SealResult",
    "UnbalancedEntry",
    "UnknownAccount",
    "UnknownEntry",
    "VerifyReport",
    "balance_as_of",
    "balances_by_family",
    "campaign_breakage",
    "campaign_budget",
    "compact_hot_account",
    "credit",
    "debit",
    "draft_entry",
    "get_balance",
    "get_balances",
    "ledger_errors",
    "ledger_post_arguments",
    "merchant_payable",
    "merchant_payout",
    "money_triggers",
    "movements",
    "open_account",
    "open_accounts",
    "post_draft",
    "post_entry",
    "reconcile",
    "resident_money",
    "resident_points",
    "resident_refund",
    "reverse_entry",
    "run_sealer_forever",
    "seal_pending_entries",
    "spec_for",
    "total_as_of",
    "verify_ledger",
]
