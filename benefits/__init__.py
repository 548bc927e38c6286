"""Benefits (給付): the ward's points for its residents. Definitions, maker-checker
approval funded from ``bank:city``, the bulk run (one grant per recipient), and the
budget check of ``machipay verify``. The report is analytics' (disclosure control)."""

from benefits.models import Benefit
from benefits.service import get_benefit
from benefits.tasks import (
    BatchResult,
    RunResult,
    benefits_due,
    grant_batch,
    run_benefits,
    run_benefits_forever,
)
from benefits.verify import verify_benefit_budgets

__all__ = [
    "BatchResult",
    "Benefit",
    "RunResult",
    "benefits_due",
    "get_benefit",
    "grant_batch",
    "run_benefits",
    "run_benefits_forever",
    "verify_benefit_budgets",
]
