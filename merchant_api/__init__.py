"""Merchants: applications, approval, staff, EMVCo QR stickers, the shop directory."""

from merchant_api.qr import InvalidQr, ParsedQr
from merchant_api.service import (
    STORE_TYPES,
    MerchantView,
    ScannedShop,
    ShopForSettlement,
    active_merchant_views,
    approve,
    caller_shop,
    charge_payload,
    lock_shop_for_settlement,
    merchant_by_id,
    merchant_of,
    merchant_views,
    resolve_shop_qr,
    shops_to_settle,
    static_payload,
    view_of,
)
from merchant_api.staff import staff_refund_limit

__all__ = [
    "STORE_TYPES",
    "InvalidQr",
    "MerchantView",
    "ParsedQr",
    "ScannedShop",
    "ShopForSettlement",
    "active_merchant_views",
    "approve",
    "caller_shop",
    "charge_payload",
    "lock_shop_for_settlement",
    "merchant_by_id",
    "merchant_of",
    "merchant_views",
    "resolve_shop_qr",
    "shops_to_settle",
    "staff_refund_limit",
    "static_payload",
    "view_of",
]
