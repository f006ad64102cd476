"""Plain tables, and the rows of `roost status`: shared by the full CLI and the quick one, so
both print the same thing. Standard library only (the quick CLI must not load rich)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

STATUS_HEADERS = ["NAME", "BACKEND", "STATE", "GPUS", "APP", "HEALTHY", "URL"]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def table_lines(headers: Sequence[str], rows: Sequence[Sequence[str]], width: Callable[[str], int] = len) -> list[str]:
    """The header line, then one line per row: columns padded to their widest cell (``width``
    measures a cell: rich's cell_len counts wide characters twice), in time linear in the
    rows. Control characters in a cell (a job's multi-line command) become spaces."""
    clean = [[_CONTROL.sub(" ", cell) for cell in row] for row in rows]
    widths = [max([width(header), *(width(row[i]) for row in clean)]) for i, header in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return " " + "  ".join(cell + " " * (size - width(cell)) for cell, size in zip(cells, widths)).rstrip()

    return [line(headers), *(line(row) for row in clean)]


def status_rows(machines: Sequence[dict]) -> list[list[str]]:
    """`roost status`'s cells for machines given as MachineStatus JSON (``model_dump(mode="json")``)."""
    return [
        [
            m["name"],
            m["backend"],
            m["state"] + (f" ({m['stopped_by']})" if m.get("stopped_by") else ""),
            str(m.get("gpus", 0)),
            m.get("app") or "-",
            "yes" if m.get("healthy") else "no",
            m.get("url") or "-",
        ]
        for m in machines
    ]
