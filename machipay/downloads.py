"""File downloads that several contexts serve (a shop's day, a settlement statement)."""

from __future__ import annotations

from fastapi.responses import Response


def csv_attachment(text: str, filename: str) -> Response:
    """A CSV download, UTF-8 with a BOM so that Excel in Japan opens it as it is."""
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
