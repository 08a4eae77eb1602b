"""The exporter metric and label names govops' capacity queries read: those real exporters give a city OpenStack.

Per VM, the libvirt exporter (github.com/AlexZzz/libvirt-exporter and its forks, kolla's image):
``libvirt_domain_info_cpu_time_seconds_total`` (counter, CPU seconds of all vCPUs),
``libvirt_domain_info_virtual_cpus``, ``libvirt_domain_memory_stats_available_bytes`` (memory the guest
sees) and ``..._usable_bytes`` (used = available - usable), per disk
``libvirt_domain_block_stats_capacity_bytes`` / ``libvirt_domain_block_stats_allocation``, and the
info metrics that carry nova's metadata (``project_name``, ``project_uuid``) joined on ``domain``.

Per hypervisor and per project, openstack-exporter (``--prefix=openstack``): ``openstack_nova_vcpus_available``
(the hypervisor's total, despite the name), ``..._vcpus_used``, ``..._memory_{available,used}_bytes``,
``openstack_nova_running_vms`` labelled ``hostname, availability_zone``; per tenant
``openstack_nova_limits_{vcpus,memory,instances}_{max,used}`` (memory in MiB) and
``openstack_cinder_limits_volume_{max,used}_gb`` labelled ``tenant, tenant_id``.

The product owns these names; the lab's history generator imports them from here.
"""

from __future__ import annotations

CPU_SECONDS = "libvirt_domain_info_cpu_time_seconds_total"
VCPUS = "libvirt_domain_info_virtual_cpus"
MEM_AVAILABLE = "libvirt_domain_memory_stats_available_bytes"
MEM_USABLE = "libvirt_domain_memory_stats_usable_bytes"
DISK_CAPACITY = "libvirt_domain_block_stats_capacity_bytes"
DISK_ALLOCATION = "libvirt_domain_block_stats_allocation"
# one series per domain, value 1, nova's metadata as labels (the libvirt exporter's own name; some
# forks call it libvirt_domain_openstack_info)
INFO_META = "libvirt_domain_info_meta"

HV_VCPUS = "openstack_nova_vcpus_available"
HV_VCPUS_USED = "openstack_nova_vcpus_used"
HV_MEMORY = "openstack_nova_memory_available_bytes"
HV_MEMORY_USED = "openstack_nova_memory_used_bytes"
HV_RUNNING = "openstack_nova_running_vms"

Q_VCPUS_MAX = "openstack_nova_limits_vcpus_max"
Q_VCPUS_USED = "openstack_nova_limits_vcpus_used"
Q_MEMORY_MAX = "openstack_nova_limits_memory_max"
Q_MEMORY_USED = "openstack_nova_limits_memory_used"
Q_INSTANCES_MAX = "openstack_nova_limits_instances_max"
Q_INSTANCES_USED = "openstack_nova_limits_instances_used"
Q_VOLUME_MAX = "openstack_cinder_limits_volume_max_gb"
Q_VOLUME_USED = "openstack_cinder_limits_volume_used_gb"

# labels naming a VM's project on libvirt series, and a tenant on openstack-exporter's
VM_PROJECT_NAME = "project_name"
VM_PROJECT_ID = "project_uuid"
TENANT_NAME = "tenant"
TENANT_ID = "tenant_id"
VM_HOST = "host"  # the hypervisor: a relabelled ``instance`` of the scrape
VM_UUID = "uuid"
VM_NAME = "instance_name"
DOMAIN = "domain"
