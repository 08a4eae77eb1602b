"""Which label of an exporter's series names a VM's (or a quota's) department.

Three labellings, chosen by ``prometheus.department_from`` in govops.yaml:

- ``label``: every series carries the department code in ``prometheus.department_label`` (a
  relabelling of the project's metadata, as the lab's series have it);
- ``project_name``: the libvirt exporter's ``project_name`` and openstack-exporter's ``tenant``,
  mapped to departments by the ``project`` field of inventories/departments.yaml;
- ``project_id``: ``project_uuid`` and ``tenant_id``, mapped through the project names the cloud
  (Keystone) gives those IDs.

When the libvirt exporter puts nova's metadata only on an info metric (``libvirt_domain_info_meta``,
``libvirt_domain_openstack_info``), ``prometheus.info_metric`` names it and each VM expression is
joined to it on ``domain`` inside the query (``* on (domain) group_left(project_name) info``), so a
report still costs the same few requests, whatever the number of VMs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from govops.capacity import metrics as m

DepartmentFrom = Literal["label", "project_name", "project_id"]
DEPARTMENT_FROM: tuple[DepartmentFrom, ...] = ("label", "project_name", "project_id")


@dataclass(frozen=True)
class Labelling:
    department_from: DepartmentFrom = "label"
    department_label: str = "department"
    info_metric: str | None = None  # join VM series to this metric on ``domain`` for project labels
    join_on: str = m.DOMAIN

    @classmethod
    def of(cls, label: str | Labelling) -> Labelling:
        """A bare label name is the ``label`` labelling with it (what older callers pass)."""
        return label if isinstance(label, Labelling) else cls(department_label=label)

    @property
    def vm_key(self) -> str:
        """The label VM (libvirt) expressions are grouped by."""
        if self.department_from == "project_name":
            return m.VM_PROJECT_NAME
        if self.department_from == "project_id":
            return m.VM_PROJECT_ID
        return self.department_label

    @property
    def tenant_key(self) -> str:
        """The label openstack-exporter's per-project expressions are grouped by."""
        if self.department_from == "project_name":
            return m.TENANT_NAME
        if self.department_from == "project_id":
            return m.TENANT_ID
        return self.department_label

    @property
    def joined(self) -> bool:
        return self.info_metric is not None and self.department_from != "label"

    def vm_selector(self, metric: str, values: Sequence[str] | None) -> str:
        """``metric`` filtered to ``values`` of the VM key (on the info metric when joined)."""
        if not values or self.joined:
            return metric
        return f'{metric}{{{self.vm_key}=~"{self.alternatives(values)}"}}'

    def alternatives(self, values: Sequence[str]) -> str:
        """Department codes are ``[a-z][a-z0-9-]*`` and go as they are; project names are escaped."""
        return "|".join(values) if self.department_from == "label" else _alternatives(values)

    def vm(self, expr: str, values: Sequence[str] | None = None, lookback: str | None = None) -> str:
        """A per-VM expression carrying the VM key: itself, or joined to the info metric (its latest
        sample within ``lookback``, so a VM gone before the evaluation time still finds its project)."""
        if not self.joined:
            return expr
        info = self.info_metric or ""
        if values:
            info = f'{info}{{{self.vm_key}=~"{self.alternatives(values)}"}}'
        if lookback:
            info = f"last_over_time({info}[{lookback}])"
        return (
            f"({expr}) * on ({self.join_on}) group_left({self.vm_key}) max by ({self.join_on}, {self.vm_key}) ({info})"
        )

    def tenant_selector(self, metric: str, values: Sequence[str] | None) -> str:
        if not values:
            return metric
        return f'{metric}{{{self.tenant_key}=~"{self.alternatives(values)}"}}'


def _alternatives(values: Sequence[str]) -> str:
    """A regex alternation of exact values (project names may hold regex metacharacters)."""
    import re

    return "|".join(re.escape(v).replace("\\", "\\\\").replace('"', '\\"') for v in values)


def key_values(labelling: Labelling, codes: Sequence[str], projects: Mapping[str, str]) -> list[str]:
    """The label values selecting departments ``codes``: the codes themselves, or their projects'
    names/IDs (``projects``: code -> name or ID)."""
    if labelling.department_from == "label":
        return list(codes)
    return [projects[c] for c in codes if c in projects]
