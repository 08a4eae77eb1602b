# mypy: ignore-errors
"""Plugins loaded by the lab's OpenStack services, inside the lab's own venv, never by govops.

The lab copies this file into ``<lab>/cloud/plugins/govops_lab_os.py`` and puts that folder on the
services' PYTHONPATH. govops only reads it as text: nova, neutron and cinder are not importable in
govops' environment, so importing this module there fails by design.

- ``HypervisorDriver``: nova's fake driver sized like a real hypervisor (the stock MediumFakeDriver has
  10 vCPU / 8 GiB), with a stable node identity, and surviving a nova-compute restart without
  reporting its servers as gone. Loading
  it also makes the resource tracker fetch a host's allocations only when something reads them (see
  ``_skip_unread_provider_tree_allocations``).
- ``BindAllMechanismDriver``: an ML2 mechanism driver that binds every port on any segment, so servers
  attached to a network go ACTIVE without an L2 agent.
- ``NoopVolumeDriver``: a cinder backend that stores nothing but reports a large pool, so volumes
  reach ``available`` and count against ``gigabytes`` quotas.
"""

import functools
import os


def __getattr__(name):
    # Each class is built on first use so that neutron never imports nova (and vice versa): each
    # project registers its own options on the global oslo.config object.
    makers = {
        "HypervisorDriver": _hypervisor_driver,
        "BindAllMechanismDriver": _mechanism_driver,
        "NoopVolumeDriver": _volume_driver,
    }
    if name in makers:
        return makers[name]()
    raise AttributeError(name)


def _skip_unread_provider_tree_allocations():
    """Stop the resource tracker fetching every allocation on a host when nothing reads them.

    Nova's resource tracker asks for ``get_allocations_for_provider_tree`` on every update of a host
    (each claim, each build's end, each periodic run): one GET per provider plus one
    GET /allocations/<consumer> per server on the host, so building n servers on a host costs O(n^2)
    Placement requests (5,544 of them for 140 servers on 3 hosts). The answer is only read when the
    driver reshapes its inventory (``HypervisorDriver`` never does: one flat provider per host) or when
    PCI devices are tracked in Placement, in which case the real call is still made.
    """
    from nova.conf import CONF
    from nova.scheduler.client import report

    cls = report.SchedulerReportClient
    eager = cls.get_allocations_for_provider_tree
    if getattr(eager, "govops_skips_unread", False):
        return

    def only_when_read(self, context, nodename):
        if CONF.pci.report_in_placement:
            return eager(self, context, nodename)
        return {}

    only_when_read.govops_skips_unread = True
    cls.get_allocations_for_provider_tree = only_when_read


@functools.cache
def _hypervisor_driver():
    from nova.compute import power_state, vm_states
    from nova.virt import fake

    _skip_unread_provider_tree_allocations()

    # FakeDriverWithoutFakeNodes: one node per compute whose UUID is the compute's node identity
    # (the ``compute_id`` file the lab writes), as a real single-node driver such as libvirt has. The
    # plain FakeDriver draws a new node UUID at every start, so a restarted compute tried to create
    # its node again and refused to start ("Duplicate compute node record").
    class HypervisorDriver(fake.FakeDriverWithoutFakeNodes):
        vcpus = int(os.environ.get("GOVOPS_LAB_HV_VCPUS", "128"))
        memory_mb = int(os.environ.get("GOVOPS_LAB_HV_MEMORY_MB", str(1024 * 1024)))
        local_gb = int(os.environ.get("GOVOPS_LAB_HV_DISK_GB", "40000"))

        def get_info(self, instance, use_cache=True):
            # The fake driver keeps its servers in memory; after a restart, re-adopt what the database
            # says is on this host instead of letting the power-state sync stop every server.
            if instance.uuid not in self.instances:
                running = instance.vm_state == vm_states.ACTIVE
                state = power_state.RUNNING if running else power_state.SHUTDOWN
                self.instances[instance.uuid] = fake.FakeInstance(instance.name, state, instance.uuid)
            return super().get_info(instance, use_cache)

    return HypervisorDriver


@functools.cache
def _mechanism_driver():
    from neutron_lib import constants
    from neutron_lib.api.definitions import portbindings
    from neutron_lib.plugins.ml2 import api

    class BindAllMechanismDriver(api.MechanismDriver):
        """Binds every port, as an agent-backed driver would once its agent reports the host."""

        def initialize(self):
            pass

        def bind_port(self, context):
            for segment in context.segments_to_bind:
                context.set_binding(
                    segment["id"],
                    portbindings.VIF_TYPE_OVS,
                    {portbindings.CAP_PORT_FILTER: True},
                    status=constants.PORT_STATUS_ACTIVE,
                )
                return

    return BindAllMechanismDriver


@functools.cache
def _volume_driver():
    from cinder.volume import driver

    class NoopVolumeDriver(driver.VolumeDriver):
        """Accepts every volume operation and stores nothing."""

        VERSION = "1.0"
        CAPACITY_GB = int(os.environ.get("GOVOPS_LAB_VOLUME_POOL_GB", "500000"))

        def check_for_setup_error(self):
            pass

        def create_volume(self, volume):
            return None

        def delete_volume(self, volume):
            pass

        def extend_volume(self, volume, new_size):
            pass

        def create_snapshot(self, snapshot):
            pass

        def delete_snapshot(self, snapshot):
            pass

        def create_volume_from_snapshot(self, volume, snapshot):
            return None

        def create_cloned_volume(self, volume, src_vref):
            return None

        def ensure_export(self, context, volume):
            pass

        def create_export(self, context, volume, connector):
            pass

        def remove_export(self, context, volume):
            pass

        def initialize_connection(self, volume, connector):
            return {"driver_volume_type": "local", "data": {"device_path": "/dev/null"}}

        def terminate_connection(self, volume, connector, **kwargs):
            pass

        def _update_volume_stats(self):
            name = self.configuration.safe_get("volume_backend_name") or "noop"
            self._stats = {
                "volume_backend_name": name,
                "vendor_name": "govops lab",
                "driver_version": self.VERSION,
                "storage_protocol": "local",
                "total_capacity_gb": self.CAPACITY_GB,
                "free_capacity_gb": self.CAPACITY_GB,
                "reserved_percentage": 0,
                "thin_provisioning_support": True,
                "max_over_subscription_ratio": 20.0,
                "QoS_support": False,
                "multiattach": True,
            }

    return NoopVolumeDriver
