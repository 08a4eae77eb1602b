"""The one place that owns rich: tables, records, messages, progress, prompts and output formats."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from govops.credentials import redact
from govops.errors import GovopsError, ValidationFailed
from govops.i18n import Text, Translator

if TYPE_CHECKING:
    from rich.console import Console

OutputFormat = Literal["table", "json", "yaml", "csv"]
MAX_PROBLEMS = 50


@dataclass(frozen=True)
class Column:
    """One column of a table. Only free text (details, reasons, descriptions) wraps: IDs, names,
    addresses and numbers stay on one line, so a run ID or a township's name is never cut in two
    on an 80-column terminal."""

    key: str
    label: str
    justify: Literal["left", "right", "center"] = "left"
    style: str | None = None
    wrap: bool = False


@dataclass
class TableView:
    """Rows for humans (a rich table) and machines (json/yaml/csv); ``data`` overrides for json/yaml."""

    columns: Sequence[Column]
    rows: list[dict[str, Any]]
    title: str | None = None
    data: Any = None
    caption: str | None = None


@dataclass
class RecordView:
    """One object shown as key/value lines; ``data`` is what json/yaml print."""

    fields: list[tuple[str, Any]]
    data: Any
    title: str | None = None
    sections: list[TableView] = field(default_factory=list)


def _json_default(value: Any) -> Any:
    """What ``_plain`` makes of a value json cannot encode itself."""
    return list(value) if isinstance(value, set | frozenset) else str(value)


def _json(data: Any) -> str:
    """``json.dumps(_plain(data), ensure_ascii=False, indent=2)``, encoded by orjson.

    An audit of the city is 43 MB of JSON: the standard library encodes with ``indent`` in pure
    Python (1.1 s, on one core, after the run), orjson in 0.1 s, to the same text. Values orjson
    would encode its own way (dataclasses, dates) go through ``_json_default`` as with the
    standard library; what it refuses (non-string keys, integers beyond 64 bits) falls back to
    it. The one visible difference is the spelling of very small floats (``1e-7``, not ``1e-07``).
    """
    import orjson

    options = orjson.OPT_INDENT_2 | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
    try:
        return orjson.dumps(data, default=_json_default, option=options).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        pass
    try:
        return json.dumps(data, ensure_ascii=False, indent=2, default=_json_default)
    except TypeError:
        return json.dumps(_plain(data), ensure_ascii=False, indent=2)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class Terminal:
    def __init__(
        self,
        *,
        color: bool = True,
        quiet: bool = False,
        verbose: int = 0,
        output: OutputFormat = "table",
        translator: Translator | None = None,
    ) -> None:
        self.color = color
        self.quiet = quiet
        self.verbose = verbose
        self.output = output
        self._t = translator
        # Resolving the language may read govops.yaml; done on first use, not at start-up.
        self.lang_resolver: Callable[[], str] = lambda: "en"
        self._out: Console | None = None
        self._err: Console | None = None

    @property
    def t(self) -> Translator:
        if self._t is None:
            self._t = Translator(self.lang_resolver())
        return self._t

    @t.setter
    def t(self, value: Translator) -> None:
        self._t = value

    # Consoles are built on first use: importing rich costs start-up time `--help` should not pay.
    @property
    def out(self) -> Console:
        if self._out is None:
            from rich.console import Console

            self._out = Console(no_color=not self.color, highlight=False, soft_wrap=False)
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            from rich.console import Console

            self._err = Console(stderr=True, no_color=not self.color, highlight=False)
        return self._err

    # -- results ------------------------------------------------------------
    def render(self, view: TableView | RecordView) -> None:
        if self.output == "table":
            self._render_human(view)
            return
        raw = view.data if isinstance(view, RecordView) or view.data is not None else view.rows
        if self.output == "json":
            text = _json(raw) + "\n"
        elif self.output == "yaml":
            from govops.yamlio import dump

            text = dump(_plain(raw))
        else:
            text = self._csv(view)
        sys.stdout.write(redact(text))
        sys.stdout.flush()

    def _csv(self, view: TableView | RecordView) -> str:
        buf = io.StringIO()
        if isinstance(view, TableView):
            w = csv.DictWriter(
                buf, fieldnames=[c.key for c in view.columns], extrasaction="ignore", lineterminator="\n"
            )
            w.writeheader()
            for row in view.rows:
                w.writerow({k: self._cell_text(v) for k, v in row.items()})
        else:
            w2 = csv.writer(buf, lineterminator="\n")
            w2.writerow(["field", "value"])
            for k, v in view.fields:
                w2.writerow([k, self._cell_text(v)])
        return buf.getvalue()

    @staticmethod
    def _cell_text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False)
        return str(value)

    def _render_human(self, view: TableView | RecordView) -> None:
        from rich.table import Table

        if isinstance(view, RecordView):
            table = Table(title=view.title, show_header=False, box=None, pad_edge=False)
            table.add_column(style="bold")
            table.add_column()
            for k, v in view.fields:
                table.add_row(k, redact(self._cell_text(v)))
            self.out.print(table)
            for section in view.sections:
                self.out.print()
                self._render_human(section)
            return
        from rich import box

        # no side borders and one space of padding between columns: the widest tables (audit
        # runs, VM lists) fit an 80-column terminal without cutting an ID
        table = Table(
            title=view.title,
            caption=view.caption,
            header_style="bold",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
        )
        cells = [[redact(self._cell_text(row.get(c.key))) for c in view.columns] for row in view.rows]
        # IDs, names and numbers stay whole when the table can fit the terminal that way; a table
        # too wide even so folds every column (nothing is cut off: the old way)
        keep_whole = self._fits_unwrapped(view.columns, cells)
        for c in view.columns:
            if c.wrap or not keep_whole:
                table.add_column(c.label, justify=c.justify, style=c.style, overflow="fold")
            else:
                table.add_column(c.label, justify=c.justify, style=c.style, no_wrap=True)
        for row_cells in cells:
            table.add_row(*row_cells)
        self.out.print(table)

    def _fits_unwrapped(self, columns: Sequence[Column], cells: list[list[str]]) -> bool:
        from rich.cells import cell_len

        min_free = 12  # a free-text column gets at least this many cells before the rest is cut
        width = 2 * (len(columns) - 1)  # the separator and padding between two columns
        for i, c in enumerate(columns):
            longest = max(
                (max((cell_len(part) for part in row[i].splitlines()), default=0) for row in cells), default=0
            )
            header = max((cell_len(part) for part in c.label.splitlines()), default=0)
            width += max(header, min(longest, min_free)) if c.wrap else max(header, longest)
        return width <= self.out.width

    # -- messages (stderr, so stdout stays clean for -o json) ------------------
    def info(self, text: Text) -> None:
        if not self.quiet:
            self.err.print(redact(self.t.text(text)), markup=False)

    def success(self, text: str) -> None:
        if not self.quiet:
            self.err.print(f"[green]✓[/green] {_escape(redact(text))}")

    def warn(self, text: Text) -> None:
        self.err.print(f"[yellow]{self.t('warning')}:[/yellow] {_escape(redact(self.t.text(text)))}")

    def debug(self, text: str) -> None:
        if self.verbose >= 2:
            self.err.print(f"[dim]{_escape(redact(text))}[/dim]")

    def error(self, exc: GovopsError) -> None:
        label = self.t("error")
        if isinstance(exc, ValidationFailed) and exc.problems:
            for p in exc.problems[:MAX_PROBLEMS]:
                self.err.print(f"[red]{label}:[/red] {_escape(redact(p.render_in(self.t)))}")
            if len(exc.problems) > MAX_PROBLEMS:
                more = self.t("err.more_problems", count=len(exc.problems) - MAX_PROBLEMS)
                self.err.print(f"[red]{label}:[/red] {_escape(more)}")
        else:
            self.err.print(f"[red]{label}:[/red] {_escape(redact(exc.render_in(self.t)))}")
        hint = exc.hint_in(self.t)
        if hint:
            self.err.print(f"[dim]{self.t('hint')}: {_escape(redact(hint))}[/dim]")

    def internal_error(self, exc: BaseException) -> None:
        text = f"{type(exc).__name__}: {exc}"
        self.err.print(f"[red]{self.t('error')}:[/red] {_escape(redact(self.t('internal_error', error=text)))}")
        if self.verbose >= 2:
            import traceback

            self.err.print(_escape(redact("".join(traceback.format_exception(exc)))), markup=True)

    def confirm(self, question: str, *, assume_yes: bool = False) -> bool:
        if assume_yes:
            return True
        if not sys.stdin.isatty():
            return False  # never block a pipeline or CI waiting on an answer nobody can give
        from rich.prompt import Confirm

        return Confirm.ask(question, console=self.err, default=False)

    # -- progress -----------------------------------------------------------
    @contextmanager
    def progress(self, description: Text) -> Iterator[ProgressObserver]:
        obs = ProgressObserver(self, description)
        try:
            yield obs
        finally:
            obs.finished()

    @contextmanager
    def stage_progress(self, description: Text) -> Iterator[StageProgressObserver]:
        """The overall bar plus one bar per target while it is in flight (e.g. each VM building)."""
        obs = StageProgressObserver(self, description)
        try:
            yield obs
        finally:
            obs.finished()


class ProgressObserver:
    """The CLI's ``Observer``: a live rich progress bar (done, failed, rate, ETA) on stderr; labels
    and messages in the user's language."""

    def __init__(self, terminal: Terminal, description: Text) -> None:
        self.terminal = terminal
        self.description = terminal.t.text(description)
        self.failed = 0
        self.done = 0
        self._progress: Any = None
        self._task: Any = None
        self._live = not terminal.quiet and terminal.err.is_terminal

    def started(self, total: int, description: Text) -> None:
        self.description = self.terminal.t.text(description) or self.description
        if not self._live:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]" + self.terminal.t("progress.failed", count="{task.fields[failed]}")),
            TextColumn("{task.fields[rate]}/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.terminal.err,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=total, failed=0, rate="0.0")

    def advanced(self, target: str, status: str, detail: str | None = None) -> None:
        self.done += 1
        if status not in ("ok", "created", "deleted", "kept", "changed", "finding", "findings"):
            self.failed += 1
        if self._progress is not None:
            task = self._progress.tasks[0]
            elapsed = task.elapsed or 0.0
            rate = f"{(self.done / elapsed):.1f}" if elapsed > 0 else "0.0"
            self._progress.update(self._task, advance=1, failed=self.failed, rate=rate)
        elif self.terminal.verbose >= 1:
            self.terminal.info(f"{target}: {status}" + (f" ({detail})" if detail else ""))

    def message(self, text: Text) -> None:
        if self._progress is not None:
            self._progress.console.print(_escape(redact(self.terminal.t.text(text))))
        else:
            self.terminal.info(text)

    def finished(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class StageProgressObserver(ProgressObserver):
    """``ProgressObserver`` plus ``stage()``: a bar per target in flight, removed when it is done,
    so a 100-VM batch shows the overall bar and only the VMs being built."""

    def __init__(self, terminal: Terminal, description: Text) -> None:
        super().__init__(terminal, description)
        self._rows: dict[str, Any] = {}
        self._total = 0

    def started(self, total: int, description: Text) -> None:
        self.description = self.terminal.t.text(description) or self.description
        self._total = total
        if not self._live:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=self.terminal.err,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=total, info=self._info())

    def _info(self) -> str:
        failed = f", [red]{_escape(self.terminal.t('progress.failed', count=self.failed))}[/red]" if self.failed else ""
        return f"{self.done}/{self._total}{failed}"

    def advanced(self, target: str, status: str, detail: str | None = None) -> None:
        self.done += 1
        if status not in ("ok", "created", "deleted", "kept", "changed"):
            self.failed += 1
            # the status in the user's language; the detail is what the cloud or the host said
            key = f"play.st.{status}"
            shown = self.terminal.t(key) if self.terminal.t.has(key) else status
            self.message(f"{target}: {shown}" + (f" ({detail})" if detail else ""))
        if self._progress is not None:
            self._progress.update(self._task, advance=1, info=self._info())
        elif self.terminal.verbose >= 1:
            self.terminal.info(f"{target}: {status}" + (f" ({detail})" if detail else ""))

    def stage(self, target: str, stage: str, fraction: float) -> None:
        if self._progress is None:
            return
        row = self._rows.get(target)
        if fraction >= 1.0 or stage == "queued":
            if row is not None:
                self._progress.remove_task(row)
                del self._rows[target]
            return
        if row is None:
            row = self._rows[target] = self._progress.add_task(f"  {_escape(target)}", total=1.0, info=stage)
        self._progress.update(row, completed=fraction, info=_escape(stage))


def _escape(text: str) -> str:
    return text.replace("[", "\\[")
