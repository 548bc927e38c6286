"""Access tokens (machipay/auth/tokens.py), including the worker's memory of tokens it has
verified: a remembered token still expires on time, and nothing but the exact token under
the exact secret is ever taken from it."""

from __future__ import annotations

import time
import uuid

import pytest

from machipay.auth import tokens
from machipay.auth.tokens import decode_access_token, issue_access_token
from machipay.errors import Unauthorized

SECRET = "s" * 40


def fresh(ttl: int = 900, secret: str = SECRET) -> str:
    return issue_access_token(
        secret, user_id=7, role="resident", ttl_seconds=ttl, session_id=uuid.uuid4().hex
    )[0]


def test_a_remembered_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = fresh(ttl=60)
    assert decode_access_token(SECRET, token).user_id == 7
    assert (SECRET, token) in tokens._VERIFIED
    later = time.time() + 61
    monkeypatch.setattr("machipay.auth.tokens.time.time", lambda: later)
    asked = []

    def verify_at_that_instant(secret: str, token: str) -> tokens.AccessClaims:
        # PyJWT reads the real clock: at ``later`` its expiry check refuses the token.
        asked.append(token)
        raise Unauthorized("The access token is invalid or has expired.")

    monkeypatch.setattr(tokens, "_verify", verify_at_that_instant)
    with pytest.raises(Unauthorized):
        decode_access_token(SECRET, token)
    assert asked == [token]  # the memory did not answer for an expired token
    assert (SECRET, token) not in tokens._VERIFIED


def test_only_the_exact_token_under_its_secret_is_remembered() -> None:
    token = fresh()
    decode_access_token(SECRET, token)
    header, payload, signature = token.split(".")
    forged = ".".join(
        (header, payload, signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB"))
    )
    with pytest.raises(Unauthorized):
        decode_access_token(SECRET, forged)
    with pytest.raises(Unauthorized):
        decode_access_token("another-secret-" + "x" * 30, token)
    assert decode_access_token(SECRET, token).role == "resident"


def test_a_bad_token_is_never_remembered() -> None:
    with pytest.raises(Unauthorized):
        decode_access_token(SECRET, "not.a.token")
    expired = fresh(ttl=-1)
    with pytest.raises(Unauthorized):
        decode_access_token(SECRET, expired)
    assert (SECRET, expired) not in tokens._VERIFIED
    assert (SECRET, "not.a.token") not in tokens._VERIFIED
    assert not any(key[0] == SECRET and key[1].startswith("not.") for key in tokens._VERIFIED)
