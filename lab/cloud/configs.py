"""Configuration files of the lab's OpenStack services, MariaDB and RabbitMQ.

Tuned for a 2-core machine: one API worker each, no durability for the database, fast password
hashing in Keystone (the lab's users are created and logged in hundreds of times per ``up``).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from govops.lab.cloud.layout import REGION, Layout, Ports, current_user, write_private

DATABASES = ("keystone", "placement", "glance", "nova_api", "nova_cell0", "nova", "neutron", "cinder")


def db_url(ports: Ports, password: str, name: str) -> str:
    return f"mysql+pymysql://os:{password}@127.0.0.1:{ports.mariadb}/{name}?charset=utf8mb4"


def rabbit_url(ports: Ports, password: str) -> str:
    return f"rabbit://govops:{password}@127.0.0.1:{ports.rabbitmq}/"


def _auth_block(ports: Ports, admin_password: str) -> str:
    return (
        f"auth_url = http://127.0.0.1:{ports.keystone}/v3\n"
        "auth_type = password\n"
        "project_domain_name = Default\n"
        "user_domain_name = Default\n"
        "project_name = admin\n"
        "username = admin\n"
        f"password = {admin_password}\n"
        f"region_name = {REGION}\n"
    )


def _authtoken(ports: Ports, admin_password: str) -> str:
    return (
        f"[keystone_authtoken]\nwww_authenticate_uri = http://127.0.0.1:{ports.keystone}/\n"
        + _auth_block(ports, admin_password)
        + "memcached_servers =\n"
    )


def mariadb_cnf(layout: Layout, ports: Ports) -> str:
    m = layout.mysql
    return f"""[mysqld]
datadir = {m / "data"}
socket = {layout.mysql_socket}
pid-file = {m / "mysqld.pid"}
port = {ports.mariadb}
bind-address = 127.0.0.1
user = {current_user()}
max_connections = 1000
innodb_buffer_pool_size = 128M
innodb_log_file_size = 64M
innodb_flush_log_at_trx_commit = 0
innodb_doublewrite = 0
sync_binlog = 0
skip-log-bin
skip-name-resolve
performance_schema = OFF
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
log-error = {layout.log / "mysqld.log"}
"""


def rabbit_conf(ports: Ports, password: str) -> str:
    # default_user/default_pass only take effect when the node's database is first created: the lab
    # gets its own account with a random password and no guest account, at no cost in start-up time.
    return (
        f"listeners.tcp.default = 127.0.0.1:{ports.rabbitmq}\n"
        "default_user = govops\n"
        f"default_pass = {password}\n"
        "loopback_users = none\n"
        "log.console = true\n"
        "log.console.level = warning\n"
        "log.file = false\n"
    )


def write_all(
    layout: Layout,
    ports: Ports,
    secrets: dict[str, str],
    hosts: Sequence[str],
    host_options: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    """(Re)write every service's configuration; cheap, so ``up`` always does it. ``host_options``:
    per host, ``[DEFAULT]`` options of its nova-compute (allocation ratios, reservations)."""
    admin = secrets["admin"]

    def db(name: str) -> str:
        return db_url(ports, secrets["db"], name)

    transport = rabbit_url(ports, secrets["rabbit"])
    auth = _auth_block(ports, admin)
    authtoken = _authtoken(ports, admin)
    log, lock, data, etc = layout.log, layout.lock, layout.data, layout.etc
    for sub in ("glance/images", "glance/staging", "glance/tasks", "nova", "cinder", "neutron"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    log.mkdir(parents=True, exist_ok=True)
    lock.mkdir(parents=True, exist_ok=True)
    venv_etc = layout.venv / "etc"

    files: dict[str, str] = {}
    files["mysql/my.cnf"] = mariadb_cnf(layout, ports)
    files["rabbit/rabbitmq.conf"] = rabbit_conf(ports, secrets["rabbit"])
    files["rabbit/enabled_plugins"] = "[].\n"
    files["etc/keystone/keystone.conf"] = f"""[DEFAULT]
log_file = {log / "keystone.log"}
[database]
connection = {db("keystone")}
[identity]
# The lab's passwords are random tokens; bcrypt's default cost only slows every login.
password_hash_rounds = 4
[token]
provider = fernet
expiration = 86400
[fernet_tokens]
key_repository = {etc / "keystone/fernet-keys"}
[fernet_receipts]
key_repository = {etc / "keystone/fernet-keys"}
[credential]
key_repository = {etc / "keystone/credential-keys"}
[cache]
# Every API call of every service is checked against Keystone: an in-process cache keeps a token's
# validation and the catalog from being rebuilt from the database each time. Each API process has its
# own cache, so entries live briefly (a revoked role may still work for up to a minute).
enabled = true
backend = dogpile.cache.memory
expiration_time = 60
"""
    files["etc/placement/placement.conf"] = f"""[DEFAULT]
log_file = {log / "placement.log"}
[placement_database]
connection = {db("placement")}
[api]
auth_strategy = keystone
{authtoken}"""
    files["etc/glance/glance-api.conf"] = f"""[DEFAULT]
log_file = {log / "glance.log"}
enabled_backends = fs:file
show_image_direct_url = false
workers = 1
[database]
connection = {db("glance")}
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = {data / "glance/images"}/
[os_glance_staging_store]
filesystem_store_datadir = {data / "glance/staging"}/
[os_glance_tasks_store]
filesystem_store_datadir = {data / "glance/tasks"}/
{authtoken}[paste_deploy]
flavor = keystone
config_file = {etc / "glance/glance-api-paste.ini"}
[oslo_concurrency]
lock_path = {lock}
[oslo_policy]
enforce_new_defaults = true
"""
    files["etc/nova/nova.conf"] = f"""[DEFAULT]
transport_url = {transport}
compute_driver = govops_lab.HypervisorDriver
state_path = {data / "nova"}
log_dir = {log}
my_ip = 127.0.0.1
instance_name_template = lab-%08x
cpu_allocation_ratio = 4.0
ram_allocation_ratio = 1.0
disk_allocation_ratio = 1.0
reserved_host_memory_mb = 8192
reserved_host_disk_mb = 0
# the fake driver neither plugs VIFs nor sends network-vif-plugged events
vif_plugging_is_fatal = false
vif_plugging_timeout = 0
[api]
auth_strategy = keystone
# By default ("warn") Nova checks every response body against its JSON schema, which only logs a
# warning when one does not match: CPU spent on each server of every listing the seeder polls.
response_validation = ignore
[wsgi]
api_paste_config = {etc / "nova/api-paste.ini"}
[api_database]
connection = {db("nova_api")}
[database]
connection = {db("nova")}
{authtoken}[placement]
{auth}[glance]
{auth}[neutron]
{auth}[cinder]
os_region_name = {REGION}
{auth}[service_user]
# As in a real deployment, Nova adds its own service token to what it asks of Neutron and Cinder on a
# user's behalf: Neutron lets a project member delete a server's (compute-owned) port only then.
send_service_user_token = true
{auth}[scheduler]
discover_hosts_in_cells_interval = 5
workers = 1
[oslo_concurrency]
lock_path = {lock}
[oslo_messaging_notifications]
driver = noop
[conductor]
workers = 1
[compute]
resource_provider_association_refresh = 10
[quota]
driver = nova.quota.DbQuotaDriver
"""
    files["etc/neutron/neutron.conf"] = f"""[DEFAULT]
core_plugin = ml2
service_plugins = router
auth_strategy = keystone
transport_url = {transport}
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
api_paste_config = {etc / "neutron/api-paste.ini"}
log_file = {log / "neutron.log"}
api_workers = 1
rpc_workers = 0
rpc_state_report_workers = 0
# No DHCP agent runs here: without these, every port create and binding update still looks for DHCP
# agents and provisioning blocks in the database and casts notifications nobody receives.
enable_traditional_dhcp = false
dhcp_agent_notification = false
[database]
connection = {db("neutron")}
{authtoken}[oslo_concurrency]
lock_path = {lock}
[ml2]
type_drivers = flat,vxlan
tenant_network_types = vxlan
mechanism_drivers = govops_bind_all
extension_drivers = port_security
[ml2_type_vxlan]
vni_ranges = 1:10000
[ml2_type_flat]
flat_networks = *
"""
    files["etc/cinder/cinder.conf"] = f"""[DEFAULT]
transport_url = {transport}
auth_strategy = keystone
enabled_backends = noop
host = govops-lab
my_ip = 127.0.0.1
state_path = {data / "cinder"}
log_dir = {log}
api_paste_config = {etc / "cinder/api-paste.ini"}
glance_api_servers = http://127.0.0.1:{ports.glance}
osapi_volume_workers = 1
resource_query_filters_file = {etc / "cinder/resource_filters.json"}
[noop]
volume_driver = govops_lab_os.NoopVolumeDriver
volume_backend_name = noop
[database]
connection = {db("cinder")}
{authtoken}[nova]
{auth}[oslo_concurrency]
lock_path = {lock}
[coordination]
backend_url = file://{lock}
[oslo_messaging_notifications]
driver = noop
"""
    for rel, text in files.items():
        write_private(layout.root / rel, text)
    # Paste pipelines ship with each service; copied next to the configs that name them.
    for src, dst in (
        ("glance/glance-api-paste.ini", "glance/glance-api-paste.ini"),
        ("nova/api-paste.ini", "nova/api-paste.ini"),
        ("neutron/api-paste.ini", "neutron/api-paste.ini"),
        ("cinder/api-paste.ini", "cinder/api-paste.ini"),
        ("cinder/resource_filters.json", "cinder/resource_filters.json"),
    ):
        target = etc / dst
        if not target.exists():
            shutil.copyfile(venv_etc / src, target)
    for i, hv in enumerate(hosts, start=1):
        # Each compute's config in a folder of its own, beside its node identity: since 2023.1 a
        # nova-compute that has started once refuses to start again without a ``compute_id`` file in
        # its config folders or state_path (the fake driver never writes one). Derived from the host
        # name, so a restart and a lab restored from a snapshot find the same one.
        write_private(
            compute_conf(layout, i),
            f"[DEFAULT]\nhost = {hv}\nlog_file = {log / f'nova-compute-{hv}.log'}\n"
            + "".join(f"{k} = {v}\n" for k, v in (host_options or {}).get(hv, {}).items()),
        )
        node = uuid.uuid5(uuid.NAMESPACE_URL, f"govops-lab:{hv}")
        (compute_conf(layout, i).parent / "compute_id").write_text(f"{node}\n")


def compute_conf(layout: Layout, index: int) -> Path:
    """The config of the lab's ``index``-th nova-compute (from 1), read after nova.conf."""
    return layout.etc / "nova" / f"compute-{index}" / "nova-compute.conf"


def write_plugins(layout: Layout, source: str) -> Path:
    """The lab's nova/neutron/cinder plugins as an importable module with a neutron entry point."""
    layout.plugins.mkdir(parents=True, exist_ok=True)
    (layout.plugins / "govops_lab_os.py").write_text(source)
    info = layout.plugins / "govops_lab_os-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: govops-lab-os\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[neutron.ml2.mechanism_drivers]\ngovops_bind_all = govops_lab_os:BindAllMechanismDriver\n"
    )
    # Nova only loads compute drivers from nova.virt: a two-line shim there hands over to the plugin.
    for virt in layout.venv.glob("lib/python3*/site-packages/nova/virt"):
        shim = virt / "govops_lab.py"
        text = "# Written by govops lab: the lab's hypervisor driver lives in govops_lab_os.\n"
        text += "from govops_lab_os import __getattr__  # noqa: F401\n"
        if not shim.exists() or shim.read_text() != text:
            shim.write_text(text)
    return layout.plugins
