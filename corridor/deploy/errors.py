"""Errors of host rendering. Each is one clear line for the operator; nothing is written.

    CorridorError
     └── DeployError           the host, the site or the output directory cannot be used
"""

from __future__ import annotations

from corridor.core.errors import CorridorError


class DeployError(CorridorError):
    status = 422
    code = "deploy_refused"
    title = "Host bundle refused"
