"""One error tree, rendered as ``application/problem+json`` (RFC 9457).

    MachipayError                    500  every error we raise on purpose
     ├── BadRequest                  400
     ├── Unauthorized                401
     ├── Forbidden                   403
     ├── NotFound                    404
     ├── Conflict                    409
     ├── ValidationFailed            422
     ├── RateLimited                 429
     └── ServiceUnavailable          503

Contexts subclass these with a stable ``type`` slug (for example the ledger's
``insufficient-funds``) so clients can branch on ``type`` rather than on prose.
This module imports no web framework: the ledger raises these too. HTTP rendering lives in
:mod:`machipay.problems`.
"""

from __future__ import annotations

from typing import Any, ClassVar

TYPE_BASE = "https://machipay.example/problems/"


class MachipayError(Exception):
    status: ClassVar[int] = 500
    type_slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"
    # Most errors undo the unit of work. A few must keep what was written before they were
    # raised: revoking a refresh-token family on reuse is the point of refusing it.
    keep_changes: ClassVar[bool] = False

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.type_slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(MachipayError):
    status = 400
    type_slug = "bad-request"
    title = "Bad request"


class Unauthorized(MachipayError):
    status = 401
    type_slug = "unauthorized"
    title = "Authentication required"


class Forbidden(MachipayError):
    status = 403
    type_slug = "forbidden"
    title = "Forbidden"


class NotFound(MachipayError):
    status = 404
    type_slug = "not-found"
    title = "Not found"


class Conflict(MachipayError):
    status = 409
    type_slug = "conflict"
    title = "Conflict"


class ValidationFailed(MachipayError):
    status = 422
    type_slug = "validation-error"
    title = "Invalid request"


class RateLimited(MachipayError):
    status = 429
    type_slug = "rate-limited"
    title = "Too many requests"


class ServiceUnavailable(MachipayError):
    status = 503
    type_slug = "service-unavailable"
    title = "Service unavailable"
