"""Errors of the network perimeter. Each is one clear line for the operator.

    CorridorError
     └── NetError              a tool refused or failed (nft, pluto, addconn)
          └── NotApplied       validation failed: nothing was changed on the live system
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
