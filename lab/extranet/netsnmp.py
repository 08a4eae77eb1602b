"""The lab's real net-snmp devices: an ``snmpd`` per SNMP-only device, and their ground truth.

Debian's snmpd serves this machine's own kernel (interfaces, addresses, routes, IPv6 forwarding),
so these devices' facts are not planned: ``kernel_facts`` reads the same kernel state back from
``ip -json`` and /proc, independently of any SNMP code, for truth.json.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from govops.lab.extranet.plan import DeviceState
from govops.lab.processes import LabError
from govops.network.facts import DeviceFacts, InterfaceFacts

SNMPD = "/usr/sbin/snmpd"
NETSNMP_OBJECT_ID = "1.3.6.1.4.1.8072.3.2.10"  # NET-SNMP-TC::linux, what snmpd reports on Linux


def sys_descr(hostname: str) -> str:
    u = os.uname()
    return f"{u.sysname} {hostname} {u.release} {u.machine}"


def listen_spec(st: DeviceState) -> str:
    addrs = []
    if st.mgmt_ipv4:
        addrs.append(f"udp:{st.mgmt_ipv4}:{st.snmp_port}")
    if st.mgmt_ipv6:
        addrs.append(f"udp6:[{st.mgmt_ipv6}]:{st.snmp_port}")
    return ",".join(addrs)


def config_text(st: DeviceState, community: str, user: str, auth_key: str, priv_key: str) -> str:
    """snmpd.conf for one device; listen addresses go only here (never also on the command line)."""
    lines = [
        "# Written by `govops lab up`: one lab device served by the real net-snmp agent.",
        f"agentaddress {listen_spec(st)}",
        f"sysname {st.hostname}",
        f"sysdescr {sys_descr(st.hostname)}",
        f"syslocation {st.site_name}",
        "syscontact noc@egov.example",
        "sysservices 72",
        # Loopback only: the lab never answers anything else.
        f"rocommunity {community} 127.0.0.0/8",
        f"rocommunity6 {community} ::1/128",
        f'createUser {user} SHA "{auth_key}" AES "{priv_key}"',
        f"rouser {user} priv",
        "dontLogTCPWrappersConnects yes",
    ]
    return "\n".join(lines) + "\n"


def argv(conf: Path, pid_file: Path, log_file: Path) -> list[str]:
    # -C: no system config files; -f: stay in the foreground so the PID we record is snmpd's own.
    return [SNMPD, "-f", "-C", "-c", str(conf), "-p", str(pid_file), "-Lf", str(log_file)]


def available() -> bool:
    return Path(SNMPD).exists()


def _ip_json(*args: str) -> list[dict[str, Any]]:
    ip = shutil.which("ip")
    if ip is None:
        raise LabError("the `ip` command (iproute2) is missing: cannot read the net-snmp device's truth")
    proc = subprocess.run([ip, "-json", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise LabError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")
    data: list[dict[str, Any]] = json.loads(proc.stdout or "[]")
    return data


# Neighbour states net-snmp lists in ipNetToPhysicalTable as resolved (not incomplete/invalid).
_RESOLVED = {"REACHABLE", "STALE", "DELAY", "PROBE", "PERMANENT"}


def kernel_facts(st: DeviceState) -> DeviceFacts:
    """What snmpd on this machine reports for ``st``: the kernel's interfaces and routes.

    The uplink is the interface carrying the IPv6 default route (the audit's documented role
    heuristic); its neighbour count is read from the kernel's cache now, so it can drift later.
    """
    v6_default = _ip_json("-6", "route", "show", "default")
    uplinks = {r["dev"] for r in v6_default if "dev" in r}
    neighbors = sum(
        1 for n in _ip_json("-6", "neigh", "show") if n.get("dev") in uplinks and _RESOLVED & set(n.get("state", []))
    )
    interfaces = []
    for link in _ip_json("address", "show"):
        flags = set(link.get("flags", []))
        v4, v6, ll = [], [], None
        for a in link.get("addr_info", []):
            text = f"{a['local']}/{a['prefixlen']}"
            if a["family"] == "inet":
                v4.append(text)
            elif a["family"] == "inet6":
                addr = ipaddress.IPv6Address(a["local"])
                if addr.is_link_local:
                    ll = ll or str(addr)
                elif a.get("scope") == "global":
                    v6.append(str(ipaddress.IPv6Interface(text)))
        interfaces.append(
            InterfaceFacts(
                name=link["ifname"],
                admin_up="UP" in flags,
                oper_up="LOWER_UP" in flags,
                ipv4=sorted(v4),
                ipv6=sorted(v6),
                ipv6_link_local=ll,
                role="loopback" if "LOOPBACK" in flags else ("uplink" if link["ifname"] in uplinks else "other"),
            )
        )
    forwarding = Path("/proc/sys/net/ipv6/conf/all/forwarding").read_text().strip() == "1"
    return DeviceFacts(
        hostname=st.hostname,
        platform=st.platform,
        vendor=st.vendor,
        sys_descr=sys_descr(st.hostname),
        sys_object_id=NETSNMP_OBJECT_ID,
        interfaces=interfaces,
        ipv6_forwarding=forwarding,
        ipv6_default_route=bool(v6_default),
        ipv6_neighbors_uplink=neighbors if uplinks else None,
        ipv4_default_route=bool(_ip_json("-4", "route", "show", "default")),
        snmp_v2c_enabled=True,
        snmp_default_community=False,
        snmpv3_users=sorted(st.snmpv3_users),
    )
