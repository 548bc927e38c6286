"""Identity for every role: users, passwords, JWT access tokens, rotating refresh tokens."""

from machipay.auth.deps import Caller, client_ip, current_claims, require_roles
from machipay.auth.roles import MERCHANT_ROLES, STAFF_ROLES, Role
from machipay.auth.service import (
    TokenPair,
    authenticate,
    create_user,
    create_users_bulk,
    ip_limit,
    rotate_refresh_token,
    usernames,
)
from machipay.auth.tokens import AccessClaims

__all__ = [
    "MERCHANT_ROLES",
    "STAFF_ROLES",
    "AccessClaims",
    "Caller",
    "Role",
    "TokenPair",
    "authenticate",
    "client_ip",
    "create_user",
    "create_users_bulk",
    "current_claims",
    "ip_limit",
    "require_roles",
    "rotate_refresh_token",
    "usernames",
]
