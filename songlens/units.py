"""Units shared across packages (time spans in seconds)."""

from __future__ import annotations

__all__ = ["DAY"]

#: one day in seconds
DAY = 86_400.0
