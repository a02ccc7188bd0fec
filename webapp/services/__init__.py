"""The services layer: views validate and call these; these write the database and enqueue jobs.

Every function that reads or writes tenant data takes a :class:`Scope` (the current principal), so
tenant scoping happens in one place (:mod:`webapp.services.scope`), never per view.
"""

from __future__ import annotations

from webapp.services.scope import Scope

__all__ = ["Scope"]
