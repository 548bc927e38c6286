"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2-cffi's defaults follow RFC 9106's second recommended profile.
_hasher = PasswordHasher()

# A dummy hash to verify against when the user does not exist, so that the time a failed
# login takes does not tell whether the username is registered.
_DUMMY_HASH = _hasher.hash("machipay-timing-equaliser")

MIN_LENGTH = 10
MAX_LENGTH = 128
_COMMON = frozenset(
    {
        "password123", "password1234", "1234567890", "0123456789", "qwertyuiop", "iloveyou12",
        "abcdefghij", "1111111111", "0000000000", "setagaya123", "machipay123", "passw0rd123",
    }
)  # fmt: skip


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problems(password: str, *, username: str = "") -> list[str]:
    """What is wrong with a new password (NIST 800-63B style: length and a blocklist)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"at most {MAX_LENGTH} characters")
    if password.lower() in _COMMON or len(set(password)) < 4:
        problems.append("not a common or repetitive password")
    digits = "".join(ch for ch in username if ch.isdigit())
    if username and (
        username.lower() in password.lower() or (len(digits) >= 6 and digits[-8:] in password)
    ):
        problems.append("not containing your username or phone number")
    return problems
