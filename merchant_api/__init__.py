"""Merchants: onboarding, EMVCo QR codes, dynamic charges (and, through routes, CPM capture,
refunds, live events and statements)."""

from merchant_api.service import (
    STORE_TYPES,
    MerchantView,
    ResolvedQr,
    active_merchant_views,
    approve,
    create_charge,
    mark_charge_paid,
    merchant_by_id,
    merchant_of,
    merchant_views,
    resolve_payload,
    static_payload,
    view_of,
)

__all__ = [
    "STORE_TYPES",
    "MerchantView",
    "ResolvedQr",
    "active_merchant_views",
    "approve",
    "create_charge",
    "mark_charge_paid",
    "merchant_by_id",
    "merchant_of",
    "merchant_views",
    "resolve_payload",
    "static_payload",
    "view_of",
]
