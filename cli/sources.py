"""The capacity commands' ports, opened from the configuration (shared by ``capacity`` and ``report``).

Not a command module: ``cli/capacity.py`` and ``cli/report.py`` both use it, and unit tests replace
``open_metrics`` / ``open_cloud`` here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import typer
from govops.cli.application import app_of

if TYPE_CHECKING:
    from govops.capacity.labels import Labelling
    from govops.capacity.ports import MetricsPort
    from govops.cloud.ports import CloudPort

Source = Literal["auto", "openstack", "prometheus"]


def open_metrics(ctx: typer.Context) -> MetricsPort:
    """The configured Prometheus; unit tests replace this."""
    from govops.capacity.prometheus import connect
    from govops.errors import ConfigError

    a = app_of(ctx)
    section = a.config.config.prometheus
    if not section.url:
        raise ConfigError(
            f"no Prometheus configured ({a.config.describe_source()})",
            hint="set prometheus.url in govops.yaml (e.g. http://prometheus.example:9090)",
        )
    return connect(section.url, timeout=section.timeout)


def open_cloud(ctx: typer.Context, source: Source) -> CloudPort | None:
    """The cloud for allocations, or None to read them from Prometheus; unit tests replace this."""
    import os

    if source == "prometheus":
        return None
    a = app_of(ctx)
    configured = a.config.config.cloud.name or os.environ.get("OS_CLOUD") or os.environ.get("OS_AUTH_URL")
    if source == "auto" and not configured:
        return None
    from govops.cloud.connection import resolve_target
    from govops.cloud.openstack import connect

    return connect(resolve_target(None, a.config, None))


def labelling(ctx: typer.Context) -> Labelling:
    """How series name departments (``prometheus.department_from``, ``department_label``, ``info_metric``)."""
    from govops.capacity.labels import Labelling

    p = app_of(ctx).config.config.prometheus
    return Labelling(p.department_from, p.department_label, p.info_metric)


def host_label(ctx: typer.Context) -> str:
    return app_of(ctx).config.config.prometheus.host_label
