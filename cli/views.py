"""Views of results that several command groups show (a play's recap after `play run` and after
`cloud apply|vm create --post`). Rendering only: no command, no service call."""

from __future__ import annotations

from typing import TYPE_CHECKING

from govops.cli.terminal import Column, TableView

if TYPE_CHECKING:
    from govops.automation.play import PlayResult
    from govops.i18n import Translator


def recap_view(result: PlayResult, t: Translator, *, people: bool = True) -> TableView:
    """``people``: a table on a terminal, whose statuses are translated (csv keeps the codes)."""
    rows = []
    for h in result.hosts:
        d = h.to_dict()
        d["failed_tasks"] = "; ".join(f"{f.task}: {f.message}" if f.task else f.message for f in h.failures)
        if people:
            d["status"] = t(f"play.st.{d['status']}")
        rows.append(d)
    # PLAY RECAP's own short labels keep the table narrow enough for an 80-column terminal
    cols = [
        Column("host", t("col.host")),
        Column("status", t("col.status")),
        Column("ok", "ok", justify="right"),
        Column("changed", "chg", justify="right"),
        Column("unreachable", "unr", justify="right"),
        Column("failed", "fail", justify="right"),
        Column("skipped", "skip", justify="right"),
        Column("rescued", "resc", justify="right"),
        Column("ignored", "ign", justify="right"),
        Column("failed_tasks", t("col.failed_tasks"), wrap=True),
    ]
    mode = t("play.check_mode") if result.check else ""
    status = t(f"play.st.{result.status}")
    title = t("play.recap.title", playbook=result.playbook, mode=mode, status=status, run=result.run_id)
    return TableView(cols, rows, title=title, data=result.to_dict())


def result_line(result: PlayResult, t: Translator) -> str:
    c = result.counts()
    return ", ".join(f"{n} {t(f'play.st.{s}')}" for s, n in sorted(c.items())) or t("play.no_host")
