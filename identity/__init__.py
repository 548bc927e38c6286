"""Identity: users of every role, sign-in with lockout, rotating refresh tokens, sessions.

Checking a request's token needs none of this: the primitives (JWT, roles, the caller
dependency, password hashing, cookies) are infrastructure, in ``machipay.auth``.
"""

from identity.codes import CodeRefused, issue_code, redeem_code
from identity.recovery import (
    RECOVERABLE_BY_SMS,
    Sms,
    confirm_password_reset,
    request_password_reset,
    reserve_user_id,
    set_staff_password,
)
from identity.service import (
    TokenPair,
    authenticate,
    close_user,
    create_user,
    create_users_bulk,
    disable_user,
    ip_limit,
    rotate_refresh_token,
    taken_usernames,
    user_by_id,
    usernames,
    users_of_merchant,
    valid_staff_username,
)
from identity.sessions import end_all_sessions, end_sessions

__all__ = [
    "RECOVERABLE_BY_SMS",
    "CodeRefused",
    "Sms",
    "TokenPair",
    "authenticate",
    "close_user",
    "confirm_password_reset",
    "create_user",
    "create_users_bulk",
    "disable_user",
    "end_all_sessions",
    "end_sessions",
    "ip_limit",
    "issue_code",
    "redeem_code",
    "request_password_reset",
    "reserve_user_id",
    "rotate_refresh_token",
    "set_staff_password",
    "taken_usernames",
    "user_by_id",
    "usernames",
    "users_of_merchant",
    "valid_staff_username",
]
