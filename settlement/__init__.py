"""Settlement: shops' statements, payouts and the Zengin files that send them, the bank's
payout results, and the prepaid-instrument (unused balance) report.

The books check (``machipay report reconcile``) stays in ``ledger``: it reads nothing but
the ledger's own accounts.
"""

from settlement.deposit_report import DepositReport, deposit_for, deposit_report
from settlement.payouts import (
    HeldPayout,
    MadeFile,
    PayoutsHeld,
    apply_payout_results,
    create_payout_file,
    next_weekday,
    parse_result_csv,
    payout_file,
    payouts_by_ids,
    queue_resident_refund,
)
from settlement.result_imports import confirm_results, import_results
from settlement.service import closing_date, cutoff_of, settle_merchant, settle_period
from settlement.tasks import SettlementRun, run_settlement

__all__ = [
    "DepositReport",
    "HeldPayout",
    "MadeFile",
    "PayoutsHeld",
    "SettlementRun",
    "apply_payout_results",
    "closing_date",
    "confirm_results",
    "create_payout_file",
    "cutoff_of",
    "deposit_for",
    "deposit_report",
    "import_results",
    "next_weekday",
    "parse_result_csv",
    "payout_file",
    "payouts_by_ids",
    "queue_resident_refund",
    "run_settlement",
    "settle_merchant",
    "settle_period",
]
