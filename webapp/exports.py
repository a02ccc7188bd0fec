"""Downloads as CSV: records (dicts, the same the JSON answers hold) one row each, in the order of
the columns given, a header line first; empty cells for None."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from werkzeug.wrappers import Response


def csv_download(filename: str, columns: Sequence[str], records: Iterable[Mapping[str, Any]]) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(records)
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
