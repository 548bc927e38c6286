"""The ward's reference data, shared by every context."""

from machipay.ward.data import ward_reference
from machipay.ward.models import District, MerchantCategory, ShoppingStreet, WardNotice
from machipay.ward.service import (
    create_shopping_street,
    district_exists,
    get_category,
    get_shopping_street,
    list_categories,
    list_districts,
    list_notices,
    list_shopping_streets,
    publish_notice,
)

__all__ = [
    "District",
    "MerchantCategory",
    "ShoppingStreet",
    "WardNotice",
    "create_shopping_street",
    "district_exists",
    "get_category",
    "get_shopping_street",
    "list_categories",
    "list_districts",
    "list_notices",
    "list_shopping_streets",
    "publish_notice",
    "ward_reference",
]
