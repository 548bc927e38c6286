"""Auth primitives every context needs to check a request: access tokens (JWT), roles,
the caller dependency and role guards, the ended-session deny-list, password hashing,
session cookies and their CSRF check. Users, sign-in and sessions are the ``identity``
context's; nothing here reads its tables."""

from machipay.auth.deps import (
    Caller,
    MaybeCaller,
    client_ip,
    current_claims,
    optional_claims,
    require_roles,
)
from machipay.auth.roles import MERCHANT_ROLES, STAFF_ROLES, Role
from machipay.auth.tokens import AccessClaims

__all__ = [
    "MERCHANT_ROLES",
    "STAFF_ROLES",
    "AccessClaims",
    "Caller",
    "MaybeCaller",
    "Role",
    "client_ip",
    "current_claims",
    "optional_claims",
    "require_roles",
]
