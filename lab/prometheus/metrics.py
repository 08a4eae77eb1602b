"""The metric and label names of the lab's history: those real exporters give a city OpenStack.

Per VM, the libvirt exporter (github.com/AlexZzz/libvirt-exporter, whose names the Tinkoff and
inovex forks and kolla's image share): ``libvirt_domain_info_cpu_time_seconds_total`` (counter,
CPU seconds of all vCPUs), ``libvirt_domain_info_virtual_cpus``,
``libvirt_domain_memory_stats_available_bytes`` (memory the guest sees) and ``..._usable_bytes``
(what it could still use without swapping: used = available - usable), and per disk
``libvirt_domain_block_stats_capacity_bytes`` / ``libvirt_domain_block_stats_allocation``
(highest written offset: the space actually used on the host). Its labels are ``domain``,
``instance_name``, ``project_name`` (nova metadata); ``uuid`` and ``project_uuid`` which the exporter
puts on ``libvirt_domain_info_meta`` are copied onto every series, as ``--libvirt.export-nova-metadata``
style forks do, so no join is needed. ``host`` is the hypervisor (a relabelled ``instance``) and
``department`` comes from relabelling the project's metadata, as a city deployment would.

Per hypervisor and per project, openstack-exporter (github.com/openstack-exporter/openstack-exporter,
``--prefix=openstack``): ``openstack_nova_vcpus_available`` (the hypervisor's total, despite the name),
``openstack_nova_vcpus_used``, ``openstack_nova_memory_available_bytes`` / ``..._used_bytes``,
``openstack_nova_running_vms`` labelled ``hostname, availability_zone, aggregates``; the per-tenant
``openstack_nova_limits_{vcpus,memory,instances}_{max,used}`` (memory in MiB) and
``openstack_cinder_limits_volume_{max,used}_gb`` labelled ``tenant, tenant_id`` (+ ``department``).
"""

from __future__ import annotations

from dataclasses import dataclass

# the lab writes what govops reads: the names are the product's (re-exported, see __all__)
from govops.capacity.metrics import (
    CPU_SECONDS,
    DISK_ALLOCATION,
    DISK_CAPACITY,
    HV_MEMORY,
    HV_MEMORY_USED,
    HV_RUNNING,
    HV_VCPUS,
    HV_VCPUS_USED,
    INFO_META,
    MEM_AVAILABLE,
    MEM_USABLE,
    Q_INSTANCES_MAX,
    Q_INSTANCES_USED,
    Q_MEMORY_MAX,
    Q_MEMORY_USED,
    Q_VCPUS_MAX,
    Q_VCPUS_USED,
    Q_VOLUME_MAX,
    Q_VOLUME_USED,
    VCPUS,
)


@dataclass(frozen=True)
class Metric:
    name: str
    type: str  # OpenMetrics type: counter | gauge
    help: str
    labels: tuple[tuple[str, str], ...] = ()  # constant extra labels (e.g. the disk's target device)


_VDA = (("target_device", "vda"),)

VM_METRICS = (
    Metric(CPU_SECONDS, "counter", "Amount of CPU time used by the domain, in seconds."),
    Metric(VCPUS, "gauge", "Number of virtual CPUs for the domain."),
    Metric(MEM_AVAILABLE, "gauge", "The total amount of usable memory as seen by the domain, in bytes."),
    Metric(MEM_USABLE, "gauge", "How much the balloon can be inflated without pushing the guest to swap."),
    Metric(DISK_CAPACITY, "gauge", "Logical size in bytes of the block device backing image.", _VDA),
    Metric(DISK_ALLOCATION, "gauge", "Offset of the highest written sector on a block device.", _VDA),
    Metric(INFO_META, "gauge", "Domain metadata (nova's project and instance), value 1."),
)
HYPERVISOR_METRICS = (
    Metric(HV_VCPUS, "gauge", "vcpus_available"),
    Metric(HV_VCPUS_USED, "gauge", "vcpus_used"),
    Metric(HV_MEMORY, "gauge", "memory_available_bytes"),
    Metric(HV_MEMORY_USED, "gauge", "memory_used_bytes"),
    Metric(HV_RUNNING, "gauge", "running_vms"),
)
PROJECT_METRICS = (
    Metric(Q_VCPUS_MAX, "gauge", "limits_vcpus_max"),
    Metric(Q_VCPUS_USED, "gauge", "limits_vcpus_used"),
    Metric(Q_MEMORY_MAX, "gauge", "limits_memory_max"),
    Metric(Q_MEMORY_USED, "gauge", "limits_memory_used"),
    Metric(Q_INSTANCES_MAX, "gauge", "limits_instances_max"),
    Metric(Q_INSTANCES_USED, "gauge", "limits_instances_used"),
    Metric(Q_VOLUME_MAX, "gauge", "limits_volume_max_gb"),
    Metric(Q_VOLUME_USED, "gauge", "limits_volume_used_gb"),
)

VM_LABELS = ("job", "host", "domain", "uuid", "instance_name", "project_name", "project_uuid", "department")
HYPERVISOR_LABELS = ("job", "hostname", "availability_zone", "aggregates")
PROJECT_LABELS = ("job", "tenant", "tenant_id", "department")


def catalogue() -> dict[str, object]:
    """The names, for the truth file and for anyone writing queries against the lab."""
    return {
        "vm": {"labels": list(VM_LABELS), "metrics": {x.name: x.type for x in VM_METRICS}},
        "hypervisor": {"labels": list(HYPERVISOR_LABELS), "metrics": {x.name: x.type for x in HYPERVISOR_METRICS}},
        "project": {"labels": list(PROJECT_LABELS), "metrics": {x.name: x.type for x in PROJECT_METRICS}},
        "derived": {
            "vm_cpu_usage_ratio": f"rate({CPU_SECONDS}[1h]) / {VCPUS}",
            "vm_memory_used_bytes": f"{MEM_AVAILABLE} - {MEM_USABLE}",
            "vm_disk_used_ratio": f"{DISK_ALLOCATION} / {DISK_CAPACITY}",
        },
    }


__all__ = [
    "CPU_SECONDS",
    "DISK_ALLOCATION",
    "DISK_CAPACITY",
    "HV_MEMORY",
    "HV_MEMORY_USED",
    "HV_RUNNING",
    "HV_VCPUS",
    "HV_VCPUS_USED",
    "HYPERVISOR_LABELS",
    "HYPERVISOR_METRICS",
    "INFO_META",
    "MEM_AVAILABLE",
    "MEM_USABLE",
    "PROJECT_LABELS",
    "PROJECT_METRICS",
    "Q_INSTANCES_MAX",
    "Q_INSTANCES_USED",
    "Q_MEMORY_MAX",
    "Q_MEMORY_USED",
    "Q_VCPUS_MAX",
    "Q_VCPUS_USED",
    "Q_VOLUME_MAX",
    "Q_VOLUME_USED",
    "VCPUS",
    "VM_LABELS",
    "VM_METRICS",
    "Metric",
    "catalogue",
]
