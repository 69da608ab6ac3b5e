"""Domain errors. Each carries the stable `code` that the partner API returns in its
problem+json body, and the HTTP status it maps to.

    CorridorError
     ├── InvalidInput          422  (bad amount, unknown currency, missing KYC field, ...)
     ├── NotFound              404
     ├── Conflict              409  (idempotency conflict, duplicate reference, wrong state)
     ├── Unauthenticated       401  (no or bad credentials, bad signature)
     ├── Refused               403  (authentication passed but the act is not allowed)
     ├── BodyTooLarge          413
     ├── InternalError         500  (what any unexpected failure becomes at the edge)
     └── Unavailable           503
"""

from __future__ import annotations


class CorridorError(Exception):
    status = 400
    code = "bad_request"
    title = "Bad request"
    # Set when the connection the request came on must not carry another (a certificate
    # revoked or expired since its handshake): the edge closes it after answering.
    closes_connection = False

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

    def headers(self) -> dict[str, str]:
        """HTTP headers an answer carrying this error adds (WWW-Authenticate, ...)."""
        return {}


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

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="corridor"'}  # RFC 9110: a 401 names one


class Refused(CorridorError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class BodyTooLarge(CorridorError):
    status = 413
    code = "body_too_large"
    title = "Request body too large"


class InternalError(CorridorError):
    status = 500
    code = "internal_error"
    title = "Internal error"


class Unavailable(CorridorError):
    status = 503
    code = "unavailable"
    title = "Service unavailable"
