"""The ward's reference data, shared by every context."""

from machipay.ward.data import ward_reference
from machipay.ward.service import district_exists, list_districts

__all__ = ["district_exists", "list_districts", "ward_reference"]
