"""Errors of the lab. Each is one clear line for the operator.

    CorridorError
     └── LabError          the lab VM or its parts could not be started, reached or stopped
"""

from __future__ import annotations

from corridor.core.errors import CorridorError


class LabError(CorridorError):
    status = 500
    code = "lab_error"
    title = "Lab failed"
