"""The app's URL converters: ``<int:...>`` in any route, page or API, is a row id."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, Map

__all__ = ["MAX_ID", "RowIdConverter"]

#: The largest row id (PostgreSQL's integer): a larger number names no row, and the database would
#: refuse to compare with it.
MAX_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """``<int:...>`` bounded by the largest row id, so a larger number is a 404 like any unknown id
    (and the OpenAPI document says ``maximum``)."""

    def __init__(self, url_map: Map, *args: Any, max: int = MAX_ID, **kwargs: Any) -> None:  # noqa: A002
        super().__init__(url_map, *args, max=max, **kwargs)
