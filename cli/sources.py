"""The capacity service wired to the Application's ports (shared by ``capacity`` and ``report``).

Not a command module: ``cli/capacity.py`` and ``cli/report.py`` both ask it for a ``CapacityPlanner``;
the ports themselves come from the composition root (``app.metrics()``, ``app.cloud()``,
``app.cloud_configured()``, ``app.store``), so unit tests put fakes in through the ``ports`` fixture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from govops.cli.application import app_of

if TYPE_CHECKING:
    from govops.capacity.planner import CapacityPlanner
    from govops.observer import Observer


def planner(ctx: typer.Context, observer: Observer | None = None, *, store: bool = True) -> CapacityPlanner:
    """A planner on this command line's ports and the ``prometheus`` section's labelling."""
    from govops.capacity.labels import Labelling
    from govops.capacity.planner import CapacityPlanner, CapacityPorts

    a = app_of(ctx)
    p = a.config.config.prometheus
    ports = CapacityPorts(
        departments=a.departments,
        metrics=a.metrics,
        cloud=a.cloud,
        cloud_configured=a.cloud_configured,
        store=(lambda: a.store) if store else None,
        labelling=Labelling(p.department_from, p.department_label, p.info_metric),
        host_label=p.host_label,
    )
    return CapacityPlanner(ports, observer)
