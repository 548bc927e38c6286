"""Access tokens (short-lived JWT, HS256, algorithm pinned) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from machipay.errors import Unauthorized
from machipay.memo import WorkerMemo
from machipay.timeutil import utcnow

ALGORITHM = "HS256"
ISSUER = "machipay"
AUDIENCE = "machipay-api"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    role: str
    jti: str
    expires_at: datetime
    # The sign-in this token belongs to (its refresh family): ending the session refuses
    # every access token that carries it.
    session_id: str
    merchant_id: int | None = None


def issue_access_token(
    secret: str,
    *,
    user_id: int,
    role: str,
    ttl_seconds: int,
    session_id: str,
    merchant_id: int | None = None,
) -> tuple[str, AccessClaims]:
    now = utcnow()
    claims = AccessClaims(
        user_id,
        role,
        uuid.uuid4().hex,
        now + timedelta(seconds=ttl_seconds),
        session_id,
        merchant_id,
    )
    payload: dict[str, object] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "role": role,
        "jti": claims.jti,
        "sid": session_id,
        "iat": int(now.timestamp()),
        "exp": int(claims.expires_at.timestamp()),
    }
    if merchant_id is not None:
        payload["mid"] = merchant_id
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


# Tokens this worker has verified, and their claims: a resident's app sends the same token
# with every request for its 15 minutes, and checking the signature and claims again costs
# more than the rest of the token check. Keyed by secret and token, so a token is only ever
# taken as it was verified; expiry is checked on every use. About 800 bytes an entry with
# the token: 16 MB at most.
_VERIFIED: WorkerMemo[tuple[str, str], AccessClaims] = WorkerMemo(20_000)


def decode_access_token(secret: str, token: str) -> AccessClaims:
    """Verify signature, algorithm, issuer, audience and expiry; anything off is a 401."""
    known = _VERIFIED.get((secret, token))
    if known is not None:
        if known.expires_at.timestamp() > time.time():
            return known
        _VERIFIED.forget((secret, token))
    claims = _verify(secret, token)
    _VERIFIED.put((secret, token), claims)
    return claims


def _verify(secret: str, token: str) -> AccessClaims:
    try:
        # algorithms is pinned: a token claiming "none" or another algorithm is refused.
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "jti", "sid", "iss", "aud"]},
        )
        mid = payload.get("mid")
        return AccessClaims(
            user_id=int(payload["sub"]),
            role=str(payload["role"]),
            jti=str(payload["jti"]),
            expires_at=datetime.fromtimestamp(int(payload["exp"]), tz=utcnow().tzinfo),
            session_id=str(payload["sid"]),
            merchant_id=None if mid is None else int(mid),
        )
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        raise Unauthorized("The access token is invalid or has expired.") from exc


def new_refresh_token() -> tuple[str, str]:
    """A fresh opaque refresh token and the hash we store (never the token itself)."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
