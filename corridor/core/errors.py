"""Domain errors. Each carries the stable `code` that the partner API returns in its
problem+json body, and the HTTP status it maps to.

    CorridorError
     ├── InvalidInput          422  (bad amount, unknown currency, missing KYC field, ...)
     ├── NotFound              404
     ├── Conflict              409  (idempotency conflict, duplicate reference, wrong state)
     ├── Unauthenticated       401  (no or bad credentials, bad signature)
     ├── Refused               403  (authentication passed but the act is not allowed)
     └── Unavailable           503
"""

from __future__ import annotations


class CorridorError(Exception):
    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(self, detail: str, *, code: str | None = None, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra

    def problem(self) -> dict[str, object]:
        """The RFC 9457 problem body for this error."""
        body: dict[str, object] = {
            "type": f"https://corridor.example/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body


class InvalidInput(CorridorError):
    status = 422
    code = "invalid_request"
    title = "Invalid request"


class NotFound(CorridorError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(CorridorError):
    status = 409
    code = "conflict"
    title = "Conflict"


class Unauthenticated(CorridorError):
    status = 401
    code = "unauthenticated"
    title = "Unauthenticated"


class Refused(CorridorError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class Unavailable(CorridorError):
    status = 503
    code = "unavailable"
    title = "Service unavailable"
