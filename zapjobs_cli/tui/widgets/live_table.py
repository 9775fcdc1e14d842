"""A DataTable that takes the whole list of rows on every refresh and changes only what
changed: cells are updated in place, rows added or removed, and the cursor stays on its row.

Columns fit the table's width: a column with ``grow`` takes a share of the free width, columns
shrink towards their ``min_width`` when space is short, and a column with ``drop_below`` is hidden
when the table is narrower than that. A column of ``width=None`` is as wide as its widest cell
(ids: a run id of 1,000,000 is never cut).

A plain string cell is shown literally (DataTable would parse it as markup): cells come from
the database, so every ``str`` goes through ``display.untrusted``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.coordinate import Coordinate
from textual.events import Resize
from textual.widgets import DataTable

from zapjobs_cli.display import untrusted


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int | None = None  # None: as wide as the widest cell
    grow: int = 0  # share of the free width this column takes
    min_width: int | None = None  # how narrow it may get when space is short
    drop_below: int = 0  # hidden when the table is narrower than this


class LiveTable(DataTable[Any]):
    """Rows are ``(key, cells)``; the cell of ``key_column`` must print as the row's key."""

    def __init__(
        self, columns: Sequence[Column], *, key_column: str, id: str | None = None
    ) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._column_specs = tuple(columns)
        self._key_column = key_column
        self._cells: dict[str, tuple[Any, ...]] = {}
        self._order: list[str] = []
        self._shown: tuple[str, ...] = ()  # keys of the columns on screen
        self.empty_text = ""

    def on_mount(self) -> None:
        self._fit()
        self.call_after_refresh(self._fit)  # the size is known once laid out

    def on_resize(self, event: Resize) -> None:
        self._fit()

    # --- columns -------------------------------------------------------------------------------
    @property
    def shown_columns(self) -> tuple[str, ...]:
        return self._shown

    def _content_width(self, index: int, spec: Column) -> int:
        widest = max((_cell_len(cells[index]) for cells in self._cells.values()), default=0)
        return max(widest, len(spec.label), 1)

    def _widths(self, available: int) -> dict[str, int]:
        visible = [(n, c) for n, c in enumerate(self._column_specs) if available >= c.drop_below]
        widths = {
            c.key: c.width if c.width is not None else self._content_width(n, c) for n, c in visible
        }
        free = available - sum(widths.values()) - 2 * self.cell_padding * len(visible)
        if free > 0:
            shares = sum(c.grow for _, c in visible)
            for _, c in visible:
                if c.grow:
                    widths[c.key] += free * c.grow // shares
        while free < 0:  # take one cell at a time from the column with the most to give
            slack = [
                (widths[c.key] - c.min_width, c.key)
                for _, c in visible
                if c.min_width is not None and widths[c.key] > c.min_width
            ]
            if not slack:
                break
            _, key = max(slack)
            widths[key] -= 1
            free += 1
        return widths

    def _fit(self) -> None:
        available = self.scrollable_content_region.width or self.size.width
        if available <= 0:
            return
        widths = self._widths(available)
        shown = tuple(c.key for c in self._column_specs if c.key in widths)
        if shown != self._shown:
            self._rebuild(shown, widths)
            return
        changed = False
        for key, width in widths.items():
            column = self.columns[key]  # type: ignore[index]
            if column.width != width:
                column.width = width
                changed = True
        if changed:
            self._clear_caches()
            self._require_update_dimensions = True
            self.refresh()

    def _rebuild(self, shown: tuple[str, ...], widths: dict[str, int]) -> None:
        keep = self.cursor_key
        self.clear(columns=True)
        self._shown = shown
        for spec in self._column_specs:
            if spec.key in widths:
                self.add_column(spec.label, key=spec.key, width=widths[spec.key])
        for key in self._order:
            self.add_row(*self._visible(self._cells[key]), key=key)
        if keep is not None and keep in self._cells:
            self.move_cursor(row=self.get_row_index(keep), animate=False)

    def _visible(self, cells: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(
            cell
            for spec, cell in zip(self._column_specs, cells, strict=True)
            if spec.key in self._shown
        )

    # --- rows ----------------------------------------------------------------------------------
    @property
    def keys(self) -> list[str]:
        return [str(row.key.value) for row in self.ordered_rows]

    @property
    def cursor_key(self) -> str | None:
        if self.row_count == 0 or not self.columns:
            return None
        row = min(self.cursor_row, self.row_count - 1)
        return str(self.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value)

    def replace(self, rows: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
        """A different set altogether (another page): start over with the cursor on top."""
        self.clear()
        self._cells.clear()
        self._order = []
        for key, given in rows:
            cells = _literal(given)
            self._cells[key] = cells
            self._order.append(key)
        self._fit_or_add()
        if rows:
            self.move_cursor(row=0, animate=False)

    def _fit_or_add(self) -> None:
        """After the rows changed: refit (a wider id), adding the rows not on screen yet."""
        before = self._shown
        self._fit()
        if not self._shown:  # not laid out yet: fit (and add the rows) once it is
            self.call_after_refresh(self._fit)
        elif self._shown == before:  # not rebuilt: add what is missing
            for key in self._order:
                if key not in self.rows:
                    self.add_row(*self._visible(self._cells[key]), key=key)

    def sync(self, rows: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
        """The same view refreshed: touch only the cells, rows and order that changed."""
        keep = self.cursor_key
        wanted = [key for key, _ in rows]
        wanted_set = set(wanted)
        for key in list(self._cells):
            if key not in wanted_set:
                if key in self.rows:
                    self.remove_row(key)
                del self._cells[key]
        for key, given in rows:
            cells = _literal(given)
            old = self._cells.get(key)
            if old is not None:
                kept = []  # the objects the table holds, changed or not
                for spec, before, after in zip(self._column_specs, old, cells, strict=True):
                    if before != after and spec.key in self._shown and key in self.rows:
                        self.update_cell(key, spec.key, after)
                    kept.append(after if before != after else before)
                cells = tuple(kept)
            self._cells[key] = cells
        self._order = wanted
        self._fit_or_add()
        if self.keys != wanted and self._key_column in self._shown:
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
        if column in self._shown:
            self.update_cell(key, column, cells[index])


def _literal(cells: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(untrusted(cell) if isinstance(cell, str) else cell for cell in cells)


def _cell_len(cell: Any) -> int:
    if isinstance(cell, Text):
        return cell.cell_len
    return len(str(cell))
