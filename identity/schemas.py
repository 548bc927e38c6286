from __future__ import annotations

from typing import Literal

from pydantic import Field

from machipay.schemas import StrictModel


class TokenRequest(StrictModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class RefreshRequest(StrictModel):
    refresh_token: str = Field(min_length=1, max_length=256)


class TokenResponse(StrictModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class AccessTokenResponse(StrictModel):
    """The answer to a cookie refresh: the refresh token stays in its HttpOnly cookie."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class MeOut(StrictModel):
    """Who the token belongs to: the web clients choose their screens by role."""

    user_id: int
    username: str
    role: str
    merchant_id: int | None


class PasswordResetRequest(StrictModel):
    username: str = Field(min_length=1, max_length=64)


class PasswordResetConfirm(StrictModel):
    username: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=20, examples=["123456"])
    new_password: str = Field(min_length=1, max_length=256)
