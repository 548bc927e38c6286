"""The ward's reference data, shared by every context: districts (町丁), shopping streets
(商店街), shop categories, and the ward's notices to residents."""

from ward.data import ward_reference
from ward.models import District, MerchantCategory, ShoppingStreet, WardNotice
from ward.schemas import NoticeOut, notice_out
from ward.service import (
    WardCounter,
    create_shopping_street,
    district_exists,
    get_category,
    get_shopping_street,
    list_categories,
    list_districts,
    list_notices,
    list_shopping_streets,
    publish_notice,
    ward_counter,
)

__all__ = [
    "District",
    "MerchantCategory",
    "NoticeOut",
    "ShoppingStreet",
    "WardCounter",
    "WardNotice",
    "create_shopping_street",
    "district_exists",
    "get_category",
    "get_shopping_street",
    "list_categories",
    "list_districts",
    "list_notices",
    "list_shopping_streets",
    "notice_out",
    "publish_notice",
    "ward_counter",
    "ward_reference",
]
