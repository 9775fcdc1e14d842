"""A DataTable that takes the whole list of rows on every refresh and changes only what
changed: cells are updated in place, rows added or removed, and the cursor stays on its row.

A plain string cell is shown literally (DataTable would parse it as markup): cells come from
the database, so every ``str`` goes through ``display.untrusted``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textual.coordinate import Coordinate
from textual.widgets import DataTable

from zapjobs_cli.display import untrusted


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int | None = None


class LiveTable(DataTable[Any]):
    """Rows are ``(key, cells)``; the cell of ``key_column`` must print as the row's key."""

    def __init__(
        self, columns: Sequence[Column], *, key_column: str, id: str | None = None
    ) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._column_specs = tuple(columns)
        self._key_column = key_column
        self._cells: dict[str, tuple[Any, ...]] = {}
        self.empty_text = ""

    def on_mount(self) -> None:
        for column in self._column_specs:
            self.add_column(column.label, key=column.key, width=column.width)

    @property
    def keys(self) -> list[str]:
        return [str(row.key.value) for row in self.ordered_rows]

    @property
    def cursor_key(self) -> str | None:
        if self.row_count == 0:
            return None
        row = min(self.cursor_row, self.row_count - 1)
        return str(self.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value)

    def replace(self, rows: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
        """A different set altogether (another page): start over with the cursor on top."""
        self.clear()
        self._cells.clear()
        for key, given in rows:
            cells = _literal(given)
            self.add_row(*cells, key=key)
            self._cells[key] = cells
        if rows:
            self.move_cursor(row=0, animate=False)

    def sync(self, rows: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
        """The same view refreshed: touch only the cells, rows and order that changed."""
        keep = self.cursor_key
        wanted = [key for key, _ in rows]
        wanted_set = set(wanted)
        for key in list(self._cells):
            if key not in wanted_set:
                self.remove_row(key)
                del self._cells[key]
        for key, given in rows:
            cells = _literal(given)
            old = self._cells.get(key)
            if old is None:
                self.add_row(*cells, key=key)
            else:
                kept = []  # the objects the table holds, changed or not
                for spec, before, after in zip(self._column_specs, old, cells, strict=True):
                    if before != after:
                        self.update_cell(key, spec.key, after)
                    kept.append(after if before != after else before)
                cells = tuple(kept)
            self._cells[key] = cells
        if self.keys != wanted:
            # by the identity of each row's key cell: its text may differ from the key (escaped)
            index = [c.key for c in self._column_specs].index(self._key_column)
            position = {id(self._cells[key][index]): n for n, key in enumerate(wanted)}
            self.sort(self._key_column, key=lambda cell: position[id(cell)])
        if keep is not None and keep in wanted_set:
            self.move_cursor(row=self.get_row_index(keep), animate=False)

    def set_cell(self, key: str, column: str, value: Any) -> None:
        """Change one cell outside a refresh (e.g. a mark), keeping the comparison base true."""
        if key not in self._cells:
            return
        index = [c.key for c in self._column_specs].index(column)
        cells = list(self._cells[key])
        cells[index] = _literal((value,))[0]
        self._cells[key] = tuple(cells)
        self.update_cell(key, column, cells[index])


def _literal(cells: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(untrusted(cell) if isinstance(cell, str) else cell for cell in cells)
