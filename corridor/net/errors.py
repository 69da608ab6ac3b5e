"""Errors of the network perimeter. Each is one clear line for the operator.

    CorridorError
     └── NetError              a tool refused or failed (nft, pluto, addconn)
          ├── NotApplied       validation failed: nothing was changed on the live system
          └── NothingToCapture the site gives a partner nothing to capture on that side
"""

from __future__ import annotations

from corridor.core.errors import CorridorError


class NetError(CorridorError):
    status = 500
    code = "net_error"
    title = "Network change failed"


class NotApplied(NetError):
    code = "net_not_applied"
    title = "Change refused before it was applied"


class NothingToCapture(NetError):
    status = 422
    code = "capture_nothing"
    title = "Nothing to capture for this partner"
