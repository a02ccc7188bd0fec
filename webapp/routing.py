"""The app's URL converters: ``<int:...>`` in any route, page or API, is a row id."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter, Map

__all__ = ["MAX_ID", "RowIdConverter"]

#: The largest row id (PostgreSQL's integer): a larger number names no row, and the database would
#: refuse to compare with it.
MAX_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """``<int:...>`` bounded by the largest row id, so a larger number is a 404 like any unknown id
    (and the OpenAPI document says ``maximum``)."""

    def __init__(
        self, url_map: Map, fixed_digits: int = 0, min: int | None = None,  # noqa: A002
        max: int = MAX_ID, signed: bool = False,  # noqa: A002
    ) -> None:
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)
