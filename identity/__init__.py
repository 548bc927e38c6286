"""Identity: users of every role, sign-in with lockout, rotating refresh tokens, sessions.

Checking a request's token needs none of this: the primitives (JWT, roles, the caller
dependency, password hashing, cookies) are infrastructure, in ``machipay.auth``.
"""

from identity.service import (
    TokenPair,
    authenticate,
    close_user,
    create_user,
    create_users_bulk,
    disable_user,
    ip_limit,
    rotate_refresh_token,
    user_by_id,
    usernames,
    users_of_merchant,
)
from identity.sessions import end_all_sessions, end_sessions

__all__ = [
    "TokenPair",
    "authenticate",
    "close_user",
    "create_user",
    "create_users_bulk",
    "disable_user",
    "end_all_sessions",
    "end_sessions",
    "ip_limit",
    "rotate_refresh_token",
    "user_by_id",
    "usernames",
    "users_of_merchant",
]
