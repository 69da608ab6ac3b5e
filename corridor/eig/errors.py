"""The gateway's own refusals, on top of the domain errors of `corridor.core.errors`.
Each `code` is the problem+json `code` a partner sees; OpenAPI lists them per status.

    CorridorError (core)
     ├── BadRequest            400  malformed_json, idempotency_key_missing, ...
     ├── Unauthenticated       401  (core) api_key_missing, api_key_invalid, ...
     ├── Refused               403  (core) certificate_not_pinned, source_ip_not_allowed, ...
     ├── NotFound              404  (core) not_found
     ├── (aiohttp)             405  method_not_allowed (corridor.web)
     ├── BodyTooLarge          413  (core) body_too_large
     ├── UnsupportedMediaType  415  unsupported_media_type
     ├── InvalidInput          422  (core) invalid_request, invalid_amount, ...
     ├── RateLimited           429  rate_limited (with Retry-After)
     └── Unavailable           503  (core) txn_unavailable, reports_unavailable
"""

from __future__ import annotations

from corridor.core.errors import CorridorError


class BadRequest(CorridorError):
    status = 400
    code = "bad_request"
    title = "Bad request"


class UnsupportedMediaType(CorridorError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class RateLimited(CorridorError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
