"""Running-configuration parsing for VRP / Comware (``display current-configuration``) and IOS.

The three share a shape: a command at column 0 opens a view (``interface X``, ``user-interface
vty 0 4``, ``line vty 0 4``) whose commands follow indented; ``#`` (VRP, Comware) or ``!`` (IOS)
separate sections. Comware and some VRP sections print *global* commands indented after a ``#``,
so a line belongs to a view only when it follows that view's head; otherwise it is global.

Banner bodies (``header login``, ``banner motd``) are skipped first: their text is free-form
and may contain anything, including lines that look like commands.

Defaults that differ by software version are listed in one place (``_defaults``) and used only
when the configuration is silent; when a default is not known for sure the fact is None.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from govops.network.parsers.common import ParseError, ipv4_with_prefix, ipv6_norm, is_ipv4, is_ipv6

_BANNER_IOS = re.compile(r"^banner\s+(motd|login|exec|incoming|prompt-timeout|slip-ppp)\s+(.*)$")
_BANNER_HDR = re.compile(r"^\s*header\s+(login|shell|motd|incoming|legal)\s*(?:information\s*)?(.*)$")
_UPLINK_DESC = re.compile(r"uplink|up-link|(?:^|[^a-z])to[-_]|上联|上行", re.IGNORECASE)
_MGMT_DESC = re.compile(r"\bmgmt\b|\bmanagement\b|\bmanage\b|管理", re.IGNORECASE)
_MGMT_VRF = re.compile(r"mgmt|manage", re.IGNORECASE)
_ACCESS_DESC = re.compile(r"\baccess\b|\blan\b|\busers?\b|接入|用户", re.IGNORECASE)


@dataclass
class Block:
    head: str | None  # None: global commands printed indented after a separator
    lines: list[str] = field(default_factory=list)  # children, stripped


@dataclass
class InterfaceConfig:
    name: str
    description: str | None = None
    shutdown: bool = False
    ipv4: list[str] = field(default_factory=list)
    ipv6: list[str] = field(default_factory=list)  # "addr/len" as configured (eui-64: the prefix)
    ipv6_eui64_prefixes: list[str] = field(default_factory=list)
    ipv6_link_local: str | None = None
    ipv6_enabled: bool = False  # "ipv6 enable" / "ipv6 address auto link-local": IPv6 on, maybe no global
    ipv4_dhcp: bool = False
    vrf: str | None = None
    l2_mode: str | None = None  # "access" | "trunk" | "hybrid" | "bridge" | "route"
    ra_guard: bool = False  # RA guard protecting this port (a "router" role does not)


@dataclass
class ConfigFacts:
    hostname: str | None = None
    interfaces: dict[str, InterfaceConfig] = field(default_factory=dict)
    ipv6_forwarding: bool | None = None
    ipv4_default_route: bool | None = None
    telnet_enabled: bool | None = None
    http_enabled: bool | None = None
    https_enabled: bool | None = None
    ssh_enabled: bool | None = None
    ssh_v2_only: bool | None = None
    snmp_default_community: bool | None = None
    snmp_v2c_enabled: bool | None = None
    snmpv3_users: list[str] = field(default_factory=list)
    snmpv3_groups: bool = False
    ntp_servers: list[str] = field(default_factory=list)
    syslog_hosts: list[str] = field(default_factory=list)
    aaa_login: bool | None = None
    login_banner: bool | None = None
    mgmt_acl_ipv4: bool | None = None
    mgmt_acl_ipv6: bool | None = None


# --- structure -------------------------------------------------------------------------------


def _skip_banners(lines: list[str], platform: str) -> tuple[list[str], bool]:
    """Lines without banner bodies, and whether a login banner was configured."""
    out: list[str] = []
    banner = False
    i = 0
    while i < len(lines):
        line = lines[i]
        delim: str | None = None
        rest = ""
        if platform == "cisco_ios":
            m = _BANNER_IOS.match(line)
            if m:
                kind, rest = m.groups()
                banner = banner or kind in ("motd", "login")
                # show running-config prints the delimiter as "^C"
                delim = "^C" if rest.startswith("^C") else (rest[:1] or None)
        else:
            m = _BANNER_HDR.match(line)
            if m:
                kind, rest = m.groups()
                if platform == "huawei_vrp":
                    banner = banner or kind in ("login", "shell")
                else:
                    banner = banner or kind in ("login", "motd", "legal")
                rest = rest.strip()
                if rest.startswith("file "):
                    rest = ""
                delim = rest[:1] or None
        if delim is None:
            out.append(line)
            i += 1
            continue
        body = rest[len(delim) :]
        i += 1
        if delim in body:
            continue
        while i < len(lines) and delim not in lines[i]:
            i += 1
        i += 1  # the closing line
    return out, banner


def split_blocks(lines: list[str]) -> list[Block]:
    blocks: list[Block] = []
    current: Block | None = None
    for line in lines:
        if not line.strip():
            continue
        stripped = line.strip()
        if stripped in ("#", "!") or stripped.startswith("!"):
            current = None
            continue
        if line[0] not in " \t":
            current = Block(stripped)
            blocks.append(current)
        elif current is None:
            blocks.append(Block(None, [stripped]))
        else:
            current.lines.append(stripped)
    return blocks


def global_lines(blocks: list[Block]) -> list[str]:
    """Global commands: view heads and the headless (indented, after a separator) lines."""
    out: list[str] = []
    for b in blocks:
        if b.head is None:
            out.extend(b.lines)
        else:
            out.append(b.head)
    return out


def _vty_blocks(blocks: list[Block]) -> list[Block]:
    """Configured VTY views. An empty one (VRP's ``user-interface vty 16 20``) has no
    authentication mode and accepts no login, so it neither proves nor breaks a rule."""
    return [
        b
        for b in blocks
        if b.head is not None and b.lines and re.match(r"^(user-interface|line)\s+vty\b", b.head, re.IGNORECASE)
    ]


# --- helpers ---------------------------------------------------------------------------------


def _first_address(tokens: list[str], skip_with_arg: tuple[str, ...] = ("vrf", "vpn-instance")) -> str | None:
    """The server address among ``tokens`` after keywords (``ipv6``, ``vrf NAME``...)."""
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        low = tok.lower()
        if low in skip_with_arg:
            i += 2
            continue
        if low in ("ipv6", "ip", "host"):
            i += 1
            continue
        if is_ipv6(tok):
            return ipv6_norm(tok)
        if is_ipv4(tok):
            return tok
        # a host name is allowed; keywords such as "source" are not servers
        if re.match(r"^[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,}$", tok):
            return tok.lower()
        return None
    return None


def _uniq(items: list[str]) -> list[str]:
    return sorted(dict.fromkeys(items))


def _is_cipher(name: str) -> bool:
    return bool(re.match(r"^(%\^%#|%\$%\$|\$c\$|\$\d\$)", name))


def _community_fact(names: list[tuple[str, bool]]) -> bool | None:
    """True: a default community is in plain text; None: some are encrypted and none is default."""
    if any(not enc and n.lower() in ("public", "private") for n, enc in names):
        return True
    if any(enc for _, enc in names):
        return None
    return False


def _ipv6_address(rest: str) -> tuple[str | None, str | None, bool]:
    """``ipv6 address`` arguments -> (addr/len, link-local, is_eui64)."""
    toks = rest.split()
    if not toks or toks[0].lower() in ("auto", "autoconfig", "dhcp", "enable"):
        return None, None, False
    first = toks[0]
    if "/" in first:
        addr, plen = first.split("/", 1)
        rest_toks = toks[1:]
    elif len(toks) > 1 and toks[1].isdigit():
        addr, plen = first, toks[1]
        rest_toks = toks[2:]
    else:
        addr, plen = first, "64"
        rest_toks = toks[1:]
    if not is_ipv6(addr):
        return None, None, False
    flags = [t.lower() for t in rest_toks]
    if "link-local" in flags:
        return None, ipv6_norm(addr), False
    return f"{ipv6_norm(addr)}/{int(plen)}", None, "eui-64" in flags


def parse_interface(name: str, lines: list[str], platform: str) -> InterfaceConfig:
    ic = InterfaceConfig(name)
    for line in lines:
        low = line.lower()
        if low.startswith("description "):
            ic.description = line.split(None, 1)[1]
        elif low == "shutdown":
            ic.shutdown = True
        elif low.startswith("ip address "):
            toks = line.split()
            if len(toks) >= 3 and toks[2].lower() in ("dhcp", "dhcp-alloc"):
                ic.ipv4_dhcp = True
            elif len(toks) >= 4 and is_ipv4(toks[2]):
                ic.ipv4.append(ipv4_with_prefix(toks[2], toks[3]))
        elif low in ("ipv6 enable", "ipv6 address auto link-local", "ipv6 address autoconfig"):
            ic.ipv6_enabled = True
        elif low.startswith("ipv6 address "):
            addr, ll, eui = _ipv6_address(line[len("ipv6 address ") :])
            if ll:
                ic.ipv6_link_local = ll
            elif addr and eui:
                ic.ipv6_eui64_prefixes.append(addr)
            elif addr:
                ic.ipv6.append(addr)
        elif m := re.match(r"^(?:ip binding vpn-instance|(?:ip )?vrf forwarding)\s+(\S+)", line):
            ic.vrf = m.group(1)
        elif m := re.match(r"^port link-type\s+(access|trunk|hybrid)", low):
            ic.l2_mode = m.group(1)
        elif m := re.match(r"^port link-mode\s+(bridge|route)", low):
            ic.l2_mode = ic.l2_mode if ic.l2_mode in ("access", "trunk", "hybrid") else m.group(1)
        elif re.match(r"^port (access|default) vlan\b", low):
            ic.l2_mode = ic.l2_mode or "access-vlan"
        elif m := re.match(r"^switchport mode\s+(access|trunk)", low):
            ic.l2_mode = m.group(1)
        elif low.startswith("switchport access vlan"):
            ic.l2_mode = ic.l2_mode or "access-vlan"
        elif re.match(r"^ipv6 (nd )?raguard\b", low):
            ic.ra_guard = ic.ra_guard or not re.search(r"\brole\s+router\b", low)
    if ic.l2_mode in ("access-vlan", "bridge"):
        ic.l2_mode = "access"  # no trunk/hybrid line: the port carries one VLAN untagged
    return ic


def interface_role(ic: InterfaceConfig | None, name: str, uplinks: set[str]) -> str:
    """Role heuristic, first match wins (documented in docs/rules.md):

    loopback  the name is a loopback;
    mgmt      a dedicated management port (MEth, M-GigabitEthernet, mgmt, Management...), or bound to a
              VRF / VPN instance whose name contains mgmt/manage, or a description saying so;
    uplink    description contains uplink / to- / to_ / 上联 / 上行, or it carries the IPv6
              default route's next hop;
    access    a layer-2 port in access mode (one untagged VLAN), or an interface whose description
              names the users' side (access / LAN / users / 接入 / 用户): a village's LAN gateway;
    other     everything else.
    """
    low = name.lower()
    if low == "lo" or low.startswith(("loopback", "inloopback")):
        return "loopback"
    if low.startswith(("meth", "m-gigabitethernet", "mgmt", "management", "m-ethernet")):
        return "mgmt"
    desc = ic.description if ic else None
    if ic is not None and ic.vrf and _MGMT_VRF.search(ic.vrf):
        return "mgmt"
    if desc and _MGMT_DESC.search(desc) and not _UPLINK_DESC.search(desc):
        return "mgmt"
    if name in uplinks or (desc and _UPLINK_DESC.search(desc)):
        return "uplink"
    if ic is not None and ic.l2_mode == "access":
        return "access"
    if desc and _ACCESS_DESC.search(desc):
        return "access"
    return "other"


# --- VRP and Comware -------------------------------------------------------------------------


def _vrp_old(release: str | None) -> bool | None:
    """VRP5 releases before V200R010 shipped telnet on and SSHv1 compatibility on by default."""
    if release is None:
        return None
    m = re.match(r"V(\d{3})R(\d{3})", release)
    if not m:
        return None
    return int(m.group(1)) < 200 or (int(m.group(1)) == 200 and int(m.group(2)) < 10)


def _defaults(platform: str, major: int | None, release: str | None) -> dict[str, bool | None]:
    """What a silent configuration means, per platform and software version."""
    if platform == "huawei_vrp":
        old = _vrp_old(release) if major == 5 else (False if major == 8 else None)
        return {
            "telnet": old,  # VRP8 and VRP5 >= V200R010: telnet server off
            "http": False if major == 8 else None,  # VRP5 differs by product line: unknown
            "ssh": False,
            "ssh_v2_only": None if old is None else not old,
            "ipv6": False,
        }
    # Comware 5: telnet on, SSHv1 compatibility on, HTTP on, IPv6 off until "ipv6".
    # Comware 7: telnet off, SSHv2 only, IPv6 always on; HTTP default differs by release.
    v7 = None if major is None else major >= 7
    return {
        "telnet": None if v7 is None else not v7,
        "http": None if v7 is None else (None if v7 else True),
        "ssh": False,
        "ssh_v2_only": v7,
        "ipv6": v7,
    }


def parse_vrp_like(
    text_lines: list[str], platform: str, major: int | None = None, release: str | None = None
) -> ConfigFacts:
    """``display current-configuration`` of VRP (``huawei_vrp``) or Comware (``hp_comware``)."""
    lines, banner = _skip_banners(text_lines, platform)
    blocks = split_blocks(lines)
    if not any(b.head and b.head.startswith(("interface ", "sysname ")) for b in blocks):
        raise ParseError(platform, "display current-configuration", "no sysname and no interface found")
    glob = global_lines(blocks)
    d = _defaults(platform, major, release)
    cf = ConfigFacts(login_banner=banner)

    def has(pattern: str) -> bool:
        rx = re.compile(pattern, re.IGNORECASE)
        return any(rx.match(g) for g in glob)

    for g in glob:
        if g.startswith("sysname "):
            cf.hostname = g.split(None, 1)[1].strip()
    # IPv6: the global "ipv6" command (VRP, Comware 5); Comware 7 forwards IPv6 without it.
    cf.ipv6_forwarding = True if has(r"^ipv6$") else (False if has(r"^undo ipv6$") else d["ipv6"])
    cf.ipv4_default_route = True if has(r"^ip route-static (vpn-instance \S+ )?0\.0\.0\.0 (0\.0\.0\.0|0) ") else None

    vtys = _vty_blocks(blocks)
    vty_protocols = []
    for b in vtys:
        proto = next((ln.split()[-1].lower() for ln in b.lines if ln.lower().startswith("protocol inbound")), None)
        vty_protocols.append(proto)
    telnet_server = (
        True
        if has(r"^telnet (ipv6 )?server enable")
        else (False if has(r"^(undo telnet (ipv6 )?server enable|telnet server disable)") else d["telnet"])
    )
    if vtys and all(p == "ssh" for p in vty_protocols):
        cf.telnet_enabled = False  # every VTY accepts SSH only: no telnet login whatever the server
    else:
        cf.telnet_enabled = telnet_server

    if platform == "huawei_vrp":
        http = has(r"^http server enable"), has(r"^undo http server enable")
        cf.https_enabled = True if has(r"^http secure-server enable") else None
        ssh_on = has(r"^stelnet (ipv4 |ipv6 )?server enable") or has(r"^ssh (ipv4 )?server enable")
        ssh_off = has(r"^undo stelnet (ipv4 )?server enable")
    else:
        http = has(r"^ip http enable"), has(r"^undo ip http enable")
        cf.https_enabled = True if has(r"^ip https enable") else None
        ssh_on = has(r"^ssh server enable")
        ssh_off = has(r"^undo ssh server enable")
    cf.http_enabled = True if http[0] else (False if http[1] else d["http"])
    cf.ssh_enabled = True if ssh_on else (False if ssh_off else d["ssh"])
    if vtys and all(p == "telnet" for p in vty_protocols):
        cf.ssh_enabled = False
    if has(r"^ssh server compatible-ssh1x( enable)?$"):
        cf.ssh_v2_only = False
    elif has(r"^undo ssh server compatible-ssh1x"):
        cf.ssh_v2_only = True
    else:
        cf.ssh_v2_only = d["ssh_v2_only"]

    _snmp_vrp_like(glob, cf)
    for g in glob:
        toks = g.split()
        if g.startswith(("ntp-service unicast-server", "ntp unicast-server")):
            addr = _first_address(toks[2:])
        elif g.startswith(("ntp-service ipv6 unicast-server", "ntp ipv6 unicast-server")):
            addr = _first_address(toks[3:])
        elif g.startswith("info-center loghost ") and not g.startswith("info-center loghost source"):
            addr = _first_address(toks[2:])
            if addr:
                cf.syslog_hosts.append(addr)
            continue
        else:
            continue
        if addr:
            cf.ntp_servers.append(addr)
    cf.ntp_servers = _uniq(cf.ntp_servers)
    cf.syslog_hosts = _uniq(cf.syslog_hosts)

    # AAA for logins: every VTY authenticates with AAA ("aaa" on VRP, "scheme" on Comware).
    mode = "aaa" if platform == "huawei_vrp" else "scheme"
    if vtys:
        cf.aaa_login = all(any(ln.lower() == f"authentication-mode {mode}" for ln in b.lines) for b in vtys)
        acl4 = [any(re.match(r"^acl (name )?\S+ inbound", ln, re.I) for ln in b.lines) for b in vtys]
        acl6 = [any(re.match(r"^acl ipv6 (name )?\S+ inbound", ln, re.I) for ln in b.lines) for b in vtys]
        for i, b in enumerate(vtys):
            if any(re.match(r"^acl ipv6 ", ln, re.I) for ln in b.lines) and not any(
                re.match(r"^acl (?!ipv6)", ln, re.I) for ln in b.lines
            ):
                acl4[i] = False
        ssh4 = has(r"^ssh (ipv4 )?server acl \S+") or has(r"^ssh server acl \S+")
        ssh6 = has(r"^ssh (server )?ipv6 (server )?acl ") or has(r"^ssh ipv6 server acl ")
        cf.mgmt_acl_ipv4 = all(acl4) or ssh4
        cf.mgmt_acl_ipv6 = all(acl6) or ssh6
    for b in blocks:
        if b.head and b.head.lower().startswith("interface "):
            name = b.head.split(None, 1)[1].strip()
            cf.interfaces[name] = parse_interface(name, b.lines, platform)
    if cf.ipv6_forwarding and not has(r"^ipv6$") and not _any_ipv6(cf.interfaces.values()):
        cf.ipv6_forwarding = False  # forwarding on by default (Comware 7), but no interface speaks IPv6
    return cf


def _any_ipv6(interfaces: Iterable[InterfaceConfig]) -> bool:
    return any(ic.ipv6_enabled or ic.ipv6 or ic.ipv6_eui64_prefixes or ic.ipv6_link_local for ic in interfaces)


def _snmp_vrp_like(glob: list[str], cf: ConfigFacts) -> None:
    names: list[tuple[str, bool]] = []
    users: list[str] = []
    versions: list[str] = []
    for g in glob:
        toks = g.split()
        if g.startswith("snmp-agent community "):
            rest = toks[2:]
            enc = False
            while rest and rest[0].lower() in ("read", "write", "simple", "cipher"):
                enc = enc or rest[0].lower() == "cipher"
                rest = rest[1:]
            if rest:
                names.append((rest[0], enc or _is_cipher(rest[0])))
        elif g.startswith("snmp-agent usm-user v3 ") and len(toks) > 3:
            users.append(toks[3])
        elif g.startswith("snmp-agent sys-info version "):
            versions.extend(t.lower() for t in toks[3:])
    cf.snmp_default_community = _community_fact(names)
    cf.snmp_v2c_enabled = bool(names) and any(v in ("v1", "v2c", "all") for v in versions)
    cf.snmpv3_users = _uniq(users)


# --- IOS -------------------------------------------------------------------------------------


def parse_ios(text_lines: list[str]) -> ConfigFacts:
    lines, banner = _skip_banners(text_lines, "cisco_ios")
    blocks = split_blocks(lines)
    if not any(b.head and b.head.startswith(("interface ", "hostname ")) for b in blocks):
        raise ParseError("cisco_ios", "show running-config", "no hostname and no interface found")
    glob = global_lines(blocks)
    cf = ConfigFacts(login_banner=banner)

    def has(pattern: str) -> bool:
        rx = re.compile(pattern)
        return any(rx.match(g) for g in glob)

    for g in glob:
        if g.startswith("hostname "):
            cf.hostname = g.split(None, 1)[1].strip()
    cf.ipv6_forwarding = has(r"^ipv6 unicast-routing\b")
    cf.ipv4_default_route = True if has(r"^ip route (vrf \S+ )?0\.0\.0\.0 0\.0\.0\.0 ") else None
    cf.http_enabled = bool(has(r"^ip http server$"))
    cf.https_enabled = has(r"^ip http secure-server$")
    cf.ssh_v2_only = bool(has(r"^ip ssh version 2$"))

    vtys = [b for b in _vty_blocks(blocks)]
    transports: list[set[str] | None] = []
    for b in vtys:
        t = next((ln.split()[2:] for ln in b.lines if ln.startswith("transport input")), None)
        transports.append(None if t is None else {x.lower() for x in t})
    usable = [(b, t) for b, t in zip(vtys, transports, strict=True) if t != {"none"}]

    def any_allows(proto: str) -> bool | None:
        if any(t is not None and (proto in t or "all" in t) for _, t in usable):
            return True
        if any(t is None for _, t in usable):
            return None  # the default transport differs between IOS releases
        return False

    cf.telnet_enabled = any_allows("telnet") if vtys else None
    cf.ssh_enabled = any_allows("ssh") if vtys else None

    names: list[tuple[str, bool]] = []
    users: list[str] = []
    for g in glob:
        toks = g.split()
        if g.startswith("snmp-server community ") and len(toks) > 2:
            names.append((toks[2], False))
        elif g.startswith("snmp-server user ") and len(toks) > 4 and "v3" in toks:
            users.append(toks[2])
        elif re.match(r"^snmp-server group \S+ v3\b", g):
            cf.snmpv3_groups = True
    cf.snmp_default_community = _community_fact(names)
    cf.snmp_v2c_enabled = bool(names)
    cf.snmpv3_users = _uniq(users)

    for g in glob:
        toks = g.split()
        if g.startswith(("ntp server ", "sntp server ")):
            addr = _first_address(toks[2:])
            if addr:
                cf.ntp_servers.append(addr)
        elif g.startswith("logging host "):
            addr = _first_address(toks[2:])
            if addr:
                cf.syslog_hosts.append(addr)
        elif g.startswith("logging ") and len(toks) >= 2 and (is_ipv4(toks[1]) or is_ipv6(toks[1])):
            cf.syslog_hosts.append(_first_address(toks[1:]) or toks[1])
    cf.ntp_servers = _uniq(cf.ntp_servers)
    cf.syslog_hosts = _uniq(cf.syslog_hosts)

    aaa = has(r"^aaa new-model$")
    default_login = has(r"^aaa authentication login default ")
    if vtys:
        per_line = all(any(ln.startswith("login authentication ") for ln in b.lines) for b, _ in usable)
        cf.aaa_login = aaa and (default_login or per_line)
        cf.mgmt_acl_ipv4 = bool(usable) and all(
            any(re.match(r"^access-class \S+ in\b", ln) for ln in b.lines) for b, _ in usable
        )
        cf.mgmt_acl_ipv6 = bool(usable) and all(
            any(re.match(r"^ipv6 access-class \S+ in\b", ln) for ln in b.lines) for b, _ in usable
        )
    for b in blocks:
        if b.head and b.head.startswith("interface "):
            name = b.head.split(None, 1)[1].strip()
            cf.interfaces[name] = parse_interface(name, b.lines, "cisco_ios")
    return cf


def eui64_match(addr: str, prefixes: list[str]) -> str | None:
    """The configured prefix (``2001:db8::/64 eui-64``) an observed address belongs to."""
    ip = ipaddress.IPv6Address(addr)
    for p in prefixes:
        net = ipaddress.IPv6Interface(p).network
        if ip in net:
            return f"{ip}/{net.prefixlen}"
    return None
