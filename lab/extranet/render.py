"""CLI text of a lab device, built from its state and the real outputs in ``fixtures/``.

``Cli(state).run(line)`` answers one command line the way the platform would: the output text
(LF line ends; the server turns them into CRLF), or the platform's error with its caret line.
"""

from __future__ import annotations

import ipaddress
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from govops.lab.extranet.models import MODELS, fixture, fixture_header
from govops.lab.extranet.plan import DeviceState, Iface, Neighbor

SNMP_GROUP = "nms-group"
BANNER = "Authorized access only. All activity is monitored and logged."
VRP_ERROR = "Error: Unrecognized command found at '^' position."
VRP_INCOMPLETE = "Error: Incomplete command found at '^' position."
CMW_ERROR = " % Unrecognized command found at '^' position."
CMW_INCOMPLETE = " % Incomplete command found at '^' position."
IOS_ERROR = "% Invalid input detected at '^' marker."
IOS_INCOMPLETE = "% Incomplete command."


def v6(addr: str) -> str:
    """IPv6 as the three platforms print it: compressed, upper case."""
    return str(ipaddress.IPv6Address(addr.split("/", maxsplit=1)[0])).upper()


def v6p(prefixed: str) -> str:
    addr, plen = prefixed.split("/")
    return f"{v6(addr)}/{plen}"


def mask(prefixed: str) -> tuple[str, str]:
    net = ipaddress.IPv4Interface(prefixed)
    return str(net.ip), str(net.netmask)


def mac_dash(mac: str) -> str:
    return f"{mac[0:4]}-{mac[4:8]}-{mac[8:12]}"


def mac_dot(mac: str) -> str:
    return f"{mac[0:4]}.{mac[4:8]}.{mac[8:12]}"


def short_name(name: str) -> str:
    """Abbreviated interface names, as VRP/Comware/IOS neighbour tables print them."""
    for long, short in (
        ("GigabitEthernet", "GE"),
        ("M-GigabitEthernet", "MGE"),
        ("Vlan-interface", "Vlan"),
        ("LoopBack", "Loop"),
    ):
        if name.startswith(long):
            return short + name[len(long) :]
    return name


def ios_short(name: str) -> str:
    return name.replace("GigabitEthernet", "Gi").replace("Loopback", "Lo")


def uptime_text(seconds: int, weeks: bool) -> str:
    minutes, days = (seconds // 60) % 60, seconds // 86400
    hours = (seconds // 3600) % 24

    def unit(n: int, word: str) -> str:
        return f"{n} {word}" + ("s" if n != 1 else "")

    if weeks:
        return f"{unit(days // 7, 'week')}, {unit(days % 7, 'day')}, {unit(hours, 'hour')}, {unit(minutes, 'minute')}"
    return f"{unit(days, 'day')}, {unit(hours, 'hour')}, {unit(minutes, 'minute')}"


def _cipher(rng: random.Random, n: int = 48) -> str:
    """Junk that looks like VRP's reversible cipher; never derived from a real secret."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$*+,-.:;<=>?@[]^_`{|}~"
    return "".join(rng.choice(alphabet) for _ in range(n))


def _filter(text: str, op: str, pattern: str) -> str:
    try:
        rx = re.compile(pattern)
    except re.error:
        rx = re.compile(re.escape(pattern))
    lines = text.split("\n")
    if op == "include":
        lines = [ln for ln in lines if rx.search(ln)]
    elif op == "exclude":
        lines = [ln for ln in lines if not rx.search(ln)]
    else:  # begin
        for k, ln in enumerate(lines):
            if rx.search(ln):
                lines = lines[k:]
                break
        else:
            lines = []
    return "\n".join(lines)


Handler = Callable[[list[str]], str]


@dataclass
class Result:
    output: str
    error: bool = False
    confirm: str | None = None  # a [Y/N]-style question; the answer line goes to Cli.answer()
    changed: bool = False  # a configuration line changed the device's state


class Cli:
    """One device's command line. ``run`` never raises for user input."""

    def __init__(self, st: DeviceState, username: str, community: str) -> None:
        self.st = st
        self.username = username
        self.community = community
        self.model = MODELS[st.model]
        self.rng = random.Random(f"cipher/{st.hostname}")
        self.config_mode = False
        self.view: str | None = None  # a sub-view of the configuration mode ("vty0-4")
        self.saved = False  # set by a confirmed save: the session persists the state
        self.paging = True
        self.pending: str | None = None
        p = st.platform
        disp = "show" if p == "cisco_ios" else "display"
        self.commands: list[tuple[tuple[str, ...], Handler]] = []
        if p == "cisco_ios":
            self._add("terminal length <n>", self._terminal_length)
            self._add("terminal width <n>", lambda a: "")
            self._add("show version", lambda a: self.version())
            self._add("show running-config", lambda a: self.running_config())
            self._add("show ip interface brief", lambda a: self.ip_brief())
            self._add("show ipv6 interface brief", lambda a: self.ipv6_brief())
            self._add("show ipv6 route", lambda a: self.ipv6_routes())
            self._add("show ipv6 route <prefix>", lambda a: self.ipv6_route_lookup(a[0], None))
            self._add("show ipv6 neighbors", lambda a: self.ipv6_neighbors())
            self._add("show snmp community", lambda a: self.snmp_communities())
            self._add("show snmp user", lambda a: self.snmp_users())
            self._add("show ip http server status", lambda a: self.http_status())
            self._add("enable", lambda a: "")
            self._add("configure terminal", self._enter_config)
            self._add("write memory", self._write_memory)
            self._add("copy running-config startup-config", self._confirm_copy)
        else:
            if p == "huawei_vrp":
                self._add("screen-length <n> temporary", self._screen_length)
                self._add("display telnet server status", lambda a: self.telnet_status())
                self._add("display http server", lambda a: self.http_status())
            else:
                self._add("screen-length disable", self._screen_length)
                self._add("display ipv6 neighbors all", lambda a: self.ipv6_neighbors())
            self._add("display version", lambda a: self.version())
            self._add("display current-configuration", lambda a: self.running_config())
            self._add("display ip interface brief", lambda a: self.ip_brief())
            self._add("display ipv6 interface brief", lambda a: self.ipv6_brief())
            self._add("display ipv6 routing-table", lambda a: self.ipv6_routes())
            self._add("display ipv6 routing-table <dest> <len>", lambda a: self.ipv6_route_lookup(a[0], a[1]))
            self._add("display ipv6 neighbors", lambda a: self.ipv6_neighbors())
            self._add("display snmp-agent community", lambda a: self.snmp_communities())
            self._add("display snmp-agent usm-user", lambda a: self.snmp_users())
            self._add("system-view", self._enter_config)
            self._add("save", self._confirm_save)
        self.display = disp

    # -- dispatch ----------------------------------------------------------------------------
    def _add(self, pattern: str, handler: Handler) -> None:
        self.commands.append((tuple(pattern.split()), handler))

    @property
    def prompt(self) -> str:
        h = self.st.hostname
        if self.st.platform == "cisco_ios":
            if self.config_mode and self.view:
                return f"{h}(config-line)#"
            return f"{h}(config)#" if self.config_mode else f"{h}#"
        if self.config_mode and self.view:
            return f"[{h}-ui-{self.view}]" if self.st.platform == "huawei_vrp" else f"[{h}-line-{self.view}]"
        return f"[{h}]" if self.config_mode else f"<{h}>"

    def run(self, line: str) -> Result:
        text = line.strip()
        if not text:
            return Result("")
        if self.config_mode and text.split()[0] in ("quit", "return", "end", "exit"):
            # quit/exit leave a sub-view for the system view; return/end go back to the user view
            if self.view is not None and text.split()[0] in ("quit", "exit"):
                self.view = None
            else:
                self.config_mode, self.view = False, None
            return Result("")
        if self.config_mode and not text.split()[0].lower().startswith(("dis", "sh", "do")):
            from govops.lab.extranet.configmode import configure

            configured = configure(self, text)
            if configured is not None:
                return configured
        if self.config_mode and self.st.platform == "cisco_ios" and text.startswith("do "):
            text = text[3:]
        body, _, pipe = text.partition("|")
        words = body.split()
        best: tuple[tuple[str, ...], Handler, list[str]] | None = None
        best_depth = -1
        incomplete = False
        for pattern, handler in self.commands:
            depth, args, ok = self._match(pattern, words)
            if ok and len(words) == len(pattern):
                best, best_depth = (pattern, handler, args), len(pattern)
                break
            if depth == len(words) and len(words) < len(pattern):
                incomplete = True
            best_depth = max(best_depth, depth)
        if best is None:
            if incomplete and best_depth >= len(words):
                return self._error(text, len(text), incomplete=True)
            col = self._word_col(body, best_depth)
            return self._error(text, col)
        _, handler, args = best
        if self.config_mode and self.st.platform == "cisco_ios" and not line.strip().startswith("do "):
            return self._error(text, 0)
        out = handler(args)
        if self.pending is not None:
            question, self.pending = self.pending, None
            return Result(out, confirm=question)
        if pipe:
            op_words = pipe.split(maxsplit=1)
            ops = {"include": "include", "exclude": "exclude", "begin": "begin", "i": "include", "e": "exclude"}
            op = next((v for k, v in ops.items() if op_words and k.startswith(op_words[0])), None)
            if op is None or len(op_words) < 2:
                return self._error(text, len(body) + 2)
            out = _filter(out, op, op_words[1])
        return Result(out)

    @staticmethod
    def _match(pattern: tuple[str, ...], words: list[str]) -> tuple[int, list[str], bool]:
        args: list[str] = []
        depth = 0
        for pw, w in zip(pattern, words, strict=False):
            if pw.startswith("<"):
                args.append(w)
            elif not pw.startswith(w.lower()):
                return depth, args, False
            depth += 1
        return depth, args, depth == len(pattern)

    @staticmethod
    def _word_col(text: str, index: int) -> int:
        pos = 0
        for k, m in enumerate(re.finditer(r"\S+", text)):
            pos = m.start()
            if k == index:
                return pos
        return len(text.rstrip()) + 1

    def _error(self, text: str, col: int, incomplete: bool = False) -> Result:
        caret = " " * (len(self.prompt) + col) + "^"
        p = self.st.platform
        if p == "cisco_ios":
            return Result(IOS_INCOMPLETE if incomplete else f"{caret}\n{IOS_ERROR}", error=True)
        if p == "huawei_vrp":
            return Result(f"{caret}\n{VRP_INCOMPLETE if incomplete else VRP_ERROR}", error=True)
        return Result(f"{caret}\n{CMW_INCOMPLETE if incomplete else CMW_ERROR}", error=True)

    def reject(self, line: str) -> str:
        """The platform's error for a line it refuses (the configuration-fault devices use it)."""
        return self._error(line.strip(), 0).output

    def answer(self, question: str, reply: str) -> str:
        yes = reply.strip().lower() in ("y", "yes", "")
        if question == "save":
            if not reply.strip().lower().startswith("y"):
                return "Info: Save canceled." if self.st.platform == "huawei_vrp" else ""
            self.saved = True
            if self.st.platform == "huawei_vrp":
                return (
                    "It will take several minutes to save configuration file, please wait.....\n"
                    "Configuration file had been saved successfully\n"
                    "Note: The configuration file will take effect after being activated"
                )
            return "Validating file. Please wait...\nSaved the current configuration to mainboard device successfully."
        if question == "copy":
            self.saved = yes or reply.strip() == "startup-config"
            return "Building configuration...\n[OK]" if self.saved else ""
        return ""

    # -- commands with side effects ----------------------------------------------------------
    def _screen_length(self, args: list[str]) -> str:
        self.paging = False
        if self.st.platform == "huawei_vrp":
            return "Info: The configuration takes effect on the current user terminal interface only."
        return ""

    def _terminal_length(self, args: list[str]) -> str:
        self.paging = args[0] != "0"
        return ""

    def _enter_config(self, args: list[str]) -> str:
        self.config_mode = True
        if self.st.platform == "cisco_ios":
            return "Enter configuration commands, one per line.  End with CNTL/Z."
        return "Enter system view, return user view with Ctrl+Z."

    def _confirm_save(self, args: list[str]) -> str:
        if self.st.platform == "huawei_vrp":
            self.pending = "save"
            return "The current configuration will be written to the device.\nAre you sure to continue?[Y/N]"
        self.pending = "save"
        return "The current configuration will be written to the device. Are you sure? [Y/N]:"

    def _write_memory(self, args: list[str]) -> str:
        self.saved = True
        return "Building configuration...\n[OK]"

    def _confirm_copy(self, args: list[str]) -> str:
        self.pending = "copy"
        return "Destination filename [startup-config]? "

    # -- show/display ------------------------------------------------------------------------
    def version(self) -> str:
        text = fixture(self.model.version_fixture)

        def up(m: re.Match[str]) -> str:
            return f"{m.group(1)}{uptime_text(self.st.uptime_s, 'week' in m.group(2))}"

        text = re.sub(r"([Uu]ptime is )(.*)", up, text)
        if self.st.platform == "cisco_ios":
            text = re.sub(r"^\S+ uptime is", f"{self.st.hostname} uptime is", text, count=1, flags=re.M)
        return text.rstrip("\n")

    def ip_brief(self) -> str:
        ifs = self.st.interfaces
        p = self.st.platform
        if p == "cisco_ios":
            head = fixture_header("cisco_ios_show_ip_interface_brief.raw", 1)
            rows = [head]
            for i in sorted(ifs, key=lambda x: x.name):
                addr = i.ipv4.split("/")[0] if i.ipv4 else "unassigned"
                status = "up" if i.admin_up else "administratively down"
                proto = "up" if i.oper_up else "down"
                method = "NVRAM" if i.ipv4 else "unset"
                rows.append(f"{i.name:<27}{addr:<16}YES {method:<7}{status:<22}{proto}")
            return "\n".join(rows)
        if p == "huawei_vrp":
            up_phy = sum(1 for i in ifs if i.oper_up)
            rows = [
                "*down: administratively down",
                "^down: standby",
                "(l): loopback",
                "(s): spoofing",
                "(E): E-Trunk down",
                f"The number of interface that is UP in Physical is {up_phy + 1}",
                f"The number of interface that is DOWN in Physical is {len(ifs) - up_phy}",
                f"The number of interface that is UP in Protocol is {up_phy + 1}",
                f"The number of interface that is DOWN in Protocol is {len(ifs) - up_phy}",
                "",
                "Interface                         IP Address/Mask      Physical   Protocol  ",
            ]
            for i in sorted([*ifs, _null0()], key=lambda x: x.name):
                phy = "up" if i.oper_up else ("*down" if not i.admin_up else "down")
                proto = ("up(s)" if i.role in ("loopback", "null") else "up") if i.oper_up else "down"
                addr = i.ipv4 or "unassigned"
                rows.append(f"{i.name:<34}{addr:<21}{phy:<11}{proto:<10}")
            return "\n".join(rows)
        rows = [
            "*down: administratively down",
            "(s): spoofing  (l): loopback",
            "Interface                Physical Protocol IP address      VPN instance Description",
        ]
        for i in sorted(ifs, key=lambda x: x.name):
            phy = "up" if i.oper_up else ("*down" if not i.admin_up else "down")
            proto = ("up(s)" if i.role == "loopback" else "up") if i.oper_up else "down"
            addr = i.ipv4.split("/")[0] if i.ipv4 else "--"
            desc = i.description or "--"
            rows.append(f"{short_name(i.name):<25}{phy:<9}{proto:<9}{addr:<16}{'--':<13}{desc}")
        return "\n".join(rows)

    def ipv6_brief(self) -> str:
        ifs = sorted(self.st.interfaces, key=lambda x: x.name)
        p = self.st.platform
        if p == "cisco_ios":
            rows = []
            for i in ifs:
                status = f"[{'up' if i.admin_up else 'administratively down'}/{'up' if i.oper_up else 'down'}]"
                rows.append(f"{i.name:<23}{status}")
                if i.ipv6_enabled:
                    rows.append(f"    {v6(i.link_local or '')}")
                    if i.ipv6:
                        rows.append(f"    {v6(i.ipv6)}")
                else:
                    rows.append("    unassigned")
            return "\n".join(rows)
        if p == "huawei_vrp":
            rows = [
                "*down: administratively down",
                "(l): loopback",
                "(s): spoofing",
                "Interface                                   Physical              Protocol",
            ]
            for i in ifs:
                if not i.ipv6_enabled:
                    continue
                phy = "up" if i.oper_up else ("*down" if not i.admin_up else "down")
                proto = ("up(s)" if i.role == "loopback" else "up") if i.oper_up else "down"
                rows.append(f"{i.name:<44}{phy:<22}{proto}")
                rows.append(f"[IPv6 Address] {v6(i.ipv6) if i.ipv6 else v6(i.link_local or '')}")
            return "\n".join(rows)
        rows = [
            "*down: administratively down",
            "(s): spoofing",
            "Interface                                Physical Protocol IPv6 Address",
        ]
        for i in ifs:
            if not i.ipv6_enabled:
                continue
            phy = "up" if i.oper_up else ("*down" if not i.admin_up else "down")
            proto = ("up(s)" if i.role == "loopback" else "up") if i.oper_up else "down"
            addr = v6(i.ipv6) if i.ipv6 else "Unassigned"
            rows.append(f"{i.name:<41}{phy:<9}{proto:<9}{addr}")
        return "\n".join(rows)

    def _routes(self) -> list[tuple[str, int, str, str, str]]:
        """(destination, prefix length, protocol, next hop, interface) of the IPv6 FIB."""
        out: list[tuple[str, int, str, str, str]] = []
        up = self.st.iface("uplink")
        if self.st.ipv6_gateway and up is not None:
            out.append(("::", 0, "Static", self.st.ipv6_gateway, up.name))
        for i in self.st.interfaces:
            if not i.ipv6:
                continue
            iface = ipaddress.IPv6Interface(i.ipv6)
            if iface.network.prefixlen < 128:
                out.append((str(iface.network.network_address), iface.network.prefixlen, "Direct", i.ipv6, i.name))
            out.append((str(iface.ip), 128, "Local", str(iface.ip), i.name))
        return out

    def ipv6_routes(self) -> str:
        routes = self._routes()
        p = self.st.platform
        if p == "cisco_ios":
            head = fixture_header("cisco_ios_show_ipv6_route.raw", 7).split("\n")
            head[0] = f"IPv6 Routing Table - default - {len(routes) + 1} entries"
            rows = head
            for dest, plen, proto, nh, ifname in routes:
                if proto == "Static":
                    rows += ["S   ::/0 [1/0]", f"     via {v6(nh)}"]
                elif proto == "Direct":
                    rows += [f"C   {v6(dest)}/{plen} [0/0]", f"     via {ifname}, directly connected"]
                else:
                    rows += [f"L   {v6(dest)}/128 [0/0]", f"     via {ifname}, receive"]
            rows += ["L   FF00::/8 [0/0]", "     via Null0, receive"]
            return "\n".join(rows)
        routes = [*routes, ("::1", 128, "Direct", "::1", "InLoopBack0"), ("FE80::", 10, "Direct", "::", "NULL0")]
        return self._cmw_vrp_routes(routes, header=True)

    def _cmw_vrp_routes(self, routes: list[tuple[str, int, str, str, str]], header: bool) -> str:
        if self.st.platform == "huawei_vrp":
            rows = [
                "Routing Table : Public",
                f"         Destinations : {len(routes)}        Routes : {len(routes)}",
                "",
            ]
            for dest, plen, proto, nh, ifname in routes:
                pref = {"Static": 60}.get(proto, 0)
                flags = "RD" if proto == "Static" else "D"
                rows += [
                    f" Destination  : {v6(dest):<40}PrefixLength : {plen}",
                    f" NextHop      : {v6(nh):<40}Preference   : {pref}",
                    f" Cost         : {0:<40}Protocol     : {'Direct' if proto == 'Local' else proto}",
                    f" RelayNextHop : {'::':<40}TunnelID     : 0x0",
                    f" Interface    : {ifname:<40}Flags        : {flags}",
                    "",
                ]
            return "\n".join(rows).rstrip("\n")
        rows = [f"Destinations : {len(routes)}        Routes : {len(routes)}", ""]
        for dest, plen, proto, nh, ifname in routes:
            pref = {"Static": 60}.get(proto, 0)
            rows += [
                f"Destination: {v6(dest)}/{plen:<{38 - len(v6(dest))}}"
                f"Protocol  : {'Direct' if proto == 'Local' else proto}",
                f"NextHop    : {v6(nh):<40}Preference: {pref}",
                f"Interface  : {short_name(ifname):<40}Cost      : 0",
                "",
            ]
        return "\n".join(rows).rstrip("\n")

    def ipv6_route_lookup(self, dest: str, plen: str | None) -> str:
        try:
            if plen is None:
                net = ipaddress.IPv6Network(dest, strict=False)
            else:
                net = ipaddress.IPv6Network(f"{dest}/{int(plen)}", strict=False)
        except ValueError:
            return self._error(dest, 0).output
        hits = [r for r in self._routes() if ipaddress.IPv6Network(f"{r[0]}/{r[1]}", strict=False) == net]
        if self.st.platform == "cisco_ios":
            if not hits:
                return "% Route not found"
            dest_, plen_, proto, nh, ifname = hits[0]
            if proto == "Static":
                return (
                    f'Routing entry for {v6(dest_)}/{plen_}\n  Known via "static", distance 1, metric 0\n'
                    f"  Route count is 1/1, share count 0\n  Routing paths:\n    {v6(nh)}\n      Last updated 2w0d ago"
                )
            return (
                f"Routing entry for {v6(dest_)}/{plen_}\n"
                '  Known via "connected", distance 0, metric 0, type connected\n'
                f"  Route count is 1/1, share count 0\n  Routing paths:\n    directly connected via {ifname}\n"
                "      Last updated 2w0d ago"
            )
        if self.st.platform == "huawei_vrp":
            rows = ["Routing Table : Public", f"Summary Count : {len(hits)}", ""]
            body = self._cmw_vrp_routes(hits, header=False).split("\n")[3:]
            return "\n".join(rows + body).rstrip("\n")
        rows = [f"Summary count : {len(hits)}", ""]
        body = self._cmw_vrp_routes(hits, header=False).split("\n")[2:]
        return "\n".join(rows + body).rstrip("\n")

    def ipv6_neighbors(self) -> str:
        ns = self.st.neighbors
        p = self.st.platform
        if p == "cisco_ios":
            rows = [fixture_header("cisco_ios_show_ipv6_neighbors1.raw", 1)]
            for n in ns:
                rows.append(
                    f"{v6(n.address):<41}{_age(n):>4} {mac_dot(n.mac):<15} {n.state[:5]:<5} {ios_short(n.interface)}"
                )
            return "\n".join(rows)
        if p == "huawei_vrp":
            sep = fixture_header("huawei_vrp_display_ipv6_neighbors_description2.raw", 1)
            rows = [sep]
            for n in ns:
                rows += _vrp_neighbor(n)
            rows += [sep, f"Total: {len(ns)}        Dynamic: {len(ns)}      Static: 0"]
            return "\n".join(rows)
        rows = [
            "Type: S-Static    D-Dynamic    O-Openflow    R-Rule    IS-Invalid static",
            "IPv6 address                            MAC address    VID  Interface/Link ID   State T  Age",
        ]
        for n in ns:
            rows.append(
                f"{v6(n.address):<40}{mac_dash(n.mac):<15}{'N/A':<5}"
                f"{short_name(n.interface):<20}{n.state[:5]:<6}D  {_age(n)}"
            )
        return "\n".join(rows)

    def snmp_communities(self) -> str:
        comms = self._communities()
        p = self.st.platform
        if p == "cisco_ios":
            rows = fixture("cisco_ios_show_snmp_community.raw").split("\n")[:5]
            for k, c in enumerate(comms, start=1):
                rows += [
                    f"Community name: {c}",
                    f"Community Index: cisco{k}",
                    f"Community SecurityName: {c}",
                    "storage-type: nonvolatile        active",
                    "",
                    "",
                ]
            return "\n".join(rows).rstrip("\n")
        if p == "huawei_vrp":
            rows = []
            for _ in comms:
                rows += [
                    f"   Community name: %^%#{_cipher(self.rng, 72)}%^%# ",
                    "   Storage type: nonVolatile ",
                    "   View name: ViewDefault ",
                    "   Acl: 2000" if self.st.acl4 else "",
                    "",
                ]
            rows.append(f"   Total number is {len(comms)} ")
            return "\n".join(ln for ln in rows if ln is not None)
        rows = []
        for c in comms:
            rows += [f"   Community name: {c}", f"       Group name: {c}", "       Storage-type: nonVolatile", ""]
        return "\n".join(rows).rstrip("\n")

    def _communities(self) -> list[str]:
        if not self.st.snmp_v2c:
            return []
        # IOS and Comware print communities in clear, the lab's secret one too: the audit must redact.
        return ["public", self.community] if self.st.public_community else [self.community]

    def snmp_users(self) -> str:
        p = self.st.platform
        engine = f"800007DB03{self.st.index:012X}" if p == "huawei_vrp" else f"80000009030000{self.st.index:010X}"
        rows: list[str] = []
        for u in sorted(self.st.snmpv3_users):
            if p == "cisco_ios":
                rows += [
                    "",
                    f"User name: {u}",
                    f"Engine ID: {engine}",
                    "storage-type: nonvolatile        active",
                    "Authentication Protocol: SHA",
                    "Privacy Protocol: AES128",
                    f"Group-name: {SNMP_GROUP}",
                ]
            elif p == "huawei_vrp":
                rows += [
                    f"   User name: {u}",
                    f"   Engine ID: {engine} active",
                    f"   Group name: {SNMP_GROUP}",
                    "   Authentication Protocol: sha",
                    "   Privacy Protocol: aes128",
                    "   Storage-type: nonVolatile",
                    "   User status: active",
                    "",
                ]
            else:
                rows += [
                    f"   Username: {u}",
                    f"   Group name: {SNMP_GROUP}",
                    f"   Engine ID: {engine}",
                    "   Storage-type: nonVolatile",
                    "   UserStatus: active",
                    "",
                ]
        return "\n".join(rows).rstrip("\n")

    def telnet_status(self) -> str:
        state = "Enable" if self.st.telnet else "Disable"
        text = fixture("huawei_vrp_display_telnet_server_status.raw")
        text = re.sub(r"(TELNET IPv[46] server\s+:)\w+", rf"\g<1>{state}", text)
        return text.rstrip("\n")

    def http_status(self) -> str:
        if self.st.platform == "cisco_ios":
            text = fixture("cisco_ios_show_ip_http_server_status.raw")
            state = "Enabled" if self.st.http else "Disabled"
            return re.sub(r"HTTP server status: \w+", f"HTTP server status: {state}", text).rstrip("\n")
        text = fixture("huawei_vrp_display_http_server.raw")
        state = "enabled" if self.st.http else "disabled"
        text = re.sub(r"(HTTP (?:IPv6 )?Server Status\s+: )\w+", rf"\g<1>{state}", text)
        return text.rstrip("\n")

    def running_config(self) -> str:
        # a device keeps its ciphertexts from one display to the next
        self.rng = random.Random(f"cipher/{self.st.hostname}")
        return {"huawei_vrp": _vrp_config, "hp_comware": _cmw_config, "cisco_ios": _ios_config}[self.st.platform](self)


def _age(n: Neighbor) -> str:
    return "0" if n.state == "REACH" else "33"


def _null0() -> Iface:
    return Iface("NULL0", "null", "", 0, "000000000000")


def _vrp_neighbor(n: Neighbor) -> list[str]:
    return [
        f"IPv6 Address : {v6(n.address)}",
        f"Link-layer   : {mac_dash(n.mac):<35}State   : {n.state}",
        f"Interface    : {short_name(n.interface):<35}Age     : {_age(n)}",
        f"VLAN         : {'-':<35}CEVLAN  : -",
        f"VPN name     : {'-':<35}Is Router: TRUE",
        f"Secure FLAG  : {'UNSECURE':<35}Nickname  : -",
        "",
    ]


def _vrp_config(cli: Cli) -> str:
    st, rng = cli.st, cli.rng
    has_v6 = any(i.ipv6_enabled for i in st.interfaces)
    c = [f"!Software Version {cli.model.os_version}", "#", f" sysname {st.hostname}", "#"]
    if st.banner:
        c += [f' header login information "{st.banner_text or BANNER}"', "#"]
    if has_v6 or st.ipv6_forwarding:
        c += ["ipv6", "#"]
    for s in st.ntp_servers:
        c.append(f" ntp-service unicast-server ipv6 {v6(s)}" if ":" in s else f" ntp-service unicast-server {s}")
    for s in st.syslog_hosts:
        c.append(f" info-center loghost ipv6 {v6(s)}" if ":" in s else f" info-center loghost {s}")
    c += ["#", " http server enable" if st.http else " undo http server enable", " undo http secure-server enable", "#"]
    c += ["aaa", " authentication-scheme default", " authorization-scheme default", " accounting-scheme default"]
    c += [" domain default", " domain default_admin"]
    c += [f" local-user {cli.username} password irreversible-cipher $1a${_cipher(rng, 40)}$"]
    c += [f" local-user {cli.username} privilege level 15", f" local-user {cli.username} service-type ssh"]
    c += ["#", "acl number 2000", " rule 5 permit source 10.0.0.0 0.0.255.255", " rule 100 deny", "#"]
    if st.acl6:
        c += ["acl ipv6 number 2001", " rule 5 permit source 2001:DB8:FFFF:FFFF::/64", " rule 100 deny", "#"]
    for i in sorted(st.interfaces, key=lambda x: x.name):
        c.append(f"interface {i.name}")
        if i.description and i.role != "loopback":
            c.append(f" description {i.description}")
        if not i.admin_up:
            c.append(" shutdown")
        if i.ipv6_enabled:
            c.append(" ipv6 enable")
        if i.ipv4:
            addr, m = mask(i.ipv4)
            c.append(f" ip address {addr} {m}")
        if i.ipv6:
            c.append(f" ipv6 address {v6p(i.ipv6)}")
        if i.ipv6_enabled and i.role != "loopback":
            c.append(" ipv6 address auto link-local")
        c.append("#")
    c += [" snmp-agent", f" snmp-agent local-engineid 800007DB03{st.index:012X}"]
    for _ in cli._communities():
        c.append(f" snmp-agent community read cipher %^%#{_cipher(rng, 72)}%^%#" + (" acl 2000" if st.acl4 else ""))
    c.append(" snmp-agent sys-info version v2c v3" if st.snmp_v2c else " snmp-agent sys-info version v3")
    c.append(f" snmp-agent group v3 {SNMP_GROUP} privacy")
    for u in sorted(st.snmpv3_users):
        c += [
            f" snmp-agent usm-user v3 {u} group {SNMP_GROUP}",
            f" snmp-agent usm-user v3 {u} authentication-mode sha cipher %^%#{_cipher(rng, 40)}%^%#",
            f" snmp-agent usm-user v3 {u} privacy-mode aes128 cipher %^%#{_cipher(rng, 40)}%^%#",
        ]
    c += ["#", " stelnet server enable"]
    if not st.ssh_v2_only:
        c.append(" ssh server compatible-ssh1x enable")
    c.append(" telnet server enable" if st.telnet else " undo telnet server enable")
    c += [f" ssh user {cli.username} authentication-type password", f" ssh user {cli.username} service-type stelnet"]
    c += ["#", f"ip route-static 0.0.0.0 0.0.0.0 {st.ipv4_gateway}"]
    if st.ipv6_gateway:
        c.append(f"ipv6 route-static :: 0 {v6(st.ipv6_gateway)}")
    c += ["#", "user-interface con 0", " authentication-mode aaa", "user-interface vty 0 4"]
    if st.acl4:
        c.append(" acl 2000 inbound")
    if st.acl6:
        c.append(" acl ipv6 2001 inbound")
    if st.aaa:
        c.append(" authentication-mode aaa")
    else:
        c += [" authentication-mode password", f" set authentication password cipher %^%#{_cipher(rng, 40)}%^%#"]
    c.append(" protocol inbound all" if st.telnet else " protocol inbound ssh")
    c += ["#", "return"]
    return "\n".join(c)


def _cmw_config(cli: Cli) -> str:
    st, rng = cli.st, cli.rng
    c = ["#", f" version {cli.model.os_version.replace(' Release', ', Release')}", "#", f" sysname {st.hostname}", "#"]
    if st.telnet:
        c += [" telnet server enable", "#"]
    c += [" ip http enable" if st.http else " undo ip http enable", " undo ip https enable", "#"]
    if st.ntp_servers:
        c.append(" ntp-service enable")
        for s in st.ntp_servers:
            c.append(f" ntp-service ipv6 unicast-server {v6(s)}" if ":" in s else f" ntp-service unicast-server {s}")
        c.append("#")
    for s in st.syslog_hosts:
        c.append(f" info-center loghost ipv6 {v6(s)}" if ":" in s else f" info-center loghost {s}")
    c.append("#")
    for i in sorted(st.interfaces, key=lambda x: x.name):
        c.append(f"interface {i.name}")
        if i.name.startswith("GigabitEthernet"):
            c.append(" port link-mode route")
        if i.description and i.role != "loopback":
            c.append(f" description {i.description}")
        if not i.admin_up:
            c.append(" shutdown")
        if i.ipv4:
            addr, m = mask(i.ipv4)
            c.append(f" ip address {addr} {m}")
        if i.ipv6:
            c.append(f" ipv6 address {v6p(i.ipv6)}")
        if i.ipv6_enabled and i.role != "loopback":
            c.append(" ipv6 address auto link-local")
        c.append("#")
    c += [f" ip route-static 0.0.0.0 0 {st.ipv4_gateway}"]
    if st.ipv6_gateway:
        c.append(f" ipv6 route-static :: 0 {v6(st.ipv6_gateway)}")
    c += ["#", "acl basic 2000", " rule 5 permit source 10.0.0.0 0.0.255.255", "#"]
    if st.acl6:
        c += ["acl ipv6 basic 2001", " rule 5 permit source 2001:DB8:FFFF:FFFF::/64", "#"]
    c += [" snmp-agent", f" snmp-agent local-engineid 800063A280{st.index:012X}"]
    for _ in cli._communities():
        c.append(f" snmp-agent community read cipher $c$3${_cipher(rng, 44)}" + (" acl 2000" if st.acl4 else ""))
    c.append(" snmp-agent sys-info version v2c v3" if st.snmp_v2c else " snmp-agent sys-info version v3")
    c.append(f" snmp-agent group v3 {SNMP_GROUP} privacy")
    for u in sorted(st.snmpv3_users):
        c.append(
            f" snmp-agent usm-user v3 {u} {SNMP_GROUP} cipher authentication-mode sha $c$3${_cipher(rng, 40)} "
            f"privacy-mode aes128 $c$3${_cipher(rng, 40)}"
        )
    c += ["#", " ssh server enable"]
    if not st.ssh_v2_only:
        c.append(" ssh server compatible-ssh1x enable")
    c += ["#", "line vty 0 63"]
    c.append(" authentication-mode scheme" if st.aaa else " authentication-mode password")
    if not st.aaa:
        c.append(f" set authentication password hash $h$6${_cipher(rng, 40)}")
    c += [" user-role network-admin", " protocol inbound all" if st.telnet else " protocol inbound ssh"]
    if st.acl4:
        c.append(" acl 2000 inbound")
    if st.acl6:
        c.append(" acl ipv6 2001 inbound")
    c.append("#")
    c += [f"local-user {cli.username} class manage", f" password hash $h$6${_cipher(rng, 40)}"]
    c += [" service-type ssh", " authorization-attribute user-role network-admin", "#"]
    if st.banner:
        c += [f" header login %{st.banner_text or BANNER}%", "#"]
    c.append("return")
    return "\n".join(c)


def _ios_config(cli: Cli) -> str:
    st, rng = cli.st, cli.rng
    major = cli.model.os_version.split("(")[0]
    c = ["Building configuration...", "", "Current configuration : {size} bytes", "!"]
    c += [f"version {major}", "service timestamps debug datetime msec", "service timestamps log datetime msec"]
    c += [
        "service password-encryption",
        "!",
        f"hostname {st.hostname}",
        "!",
        "boot-start-marker",
        "boot-end-marker",
        "!",
    ]
    if st.aaa:
        c += [
            "aaa new-model",
            "!",
            "aaa authentication login default local",
            "aaa authorization exec default local",
            "!",
        ]
    else:
        c += ["no aaa new-model", "!"]
    if st.ipv6_forwarding:
        c += ["ipv6 unicast-routing", "!"]
    c += [f"username {cli.username} privilege 15 secret 9 $9${_cipher(rng, 14)}${_cipher(rng, 43)}", "!"]
    c += ["ip ssh version 2" if st.ssh_v2_only else "ip ssh version 1", "!"]
    for i in sorted(st.interfaces, key=lambda x: x.name):
        c.append(f"interface {i.name}")
        if i.description and i.role != "loopback":
            c.append(f" description {i.description}")
        if i.ipv4:
            addr, m = mask(i.ipv4)
            c.append(f" ip address {addr} {m}")
        else:
            c.append(" no ip address")
        if not i.admin_up:
            c.append(" shutdown")
        if i.role != "loopback":
            c += [" duplex auto", " speed auto"]
        if i.ipv6:
            c.append(f" ipv6 address {v6p(i.ipv6)}")
        if i.ipv6_enabled:
            c.append(" ipv6 enable")
        c.append("!")
    c += [
        "ip forward-protocol nd",
        "!",
        "ip http server" if st.http else "no ip http server",
        "no ip http secure-server",
    ]
    c += [f"ip route 0.0.0.0 0.0.0.0 {st.ipv4_gateway}", "!"]
    c += ["ip access-list standard MGMT", " permit 10.0.0.0 0.0.255.255", " deny   any log", "!"]
    for s in st.syslog_hosts:
        c.append(f"logging host ipv6 {v6(s)}" if ":" in s else f"logging host {s}")
    if st.ipv6_gateway:
        c.append(f"ipv6 route ::/0 {v6(st.ipv6_gateway)}")
    c.append("!")
    if st.acl6:
        c += ["ipv6 access-list MGMT6", " permit ipv6 2001:DB8:FFFF:FFFF::/64 any", " deny ipv6 any any log", "!"]
    c.append(f"snmp-server group {SNMP_GROUP} v3 priv")
    for comm in cli._communities():
        c.append(f"snmp-server community {comm} RO" + (" MGMT" if st.acl4 else ""))
    c.append("!")
    if st.banner:
        c += ["banner login ^C", st.banner_text or BANNER, "^C", "!"]
    c += ["line con 0", "line aux 0", "line vty 0 4"]
    if st.acl4:
        c.append(" access-class MGMT in")
    if st.acl6:
        c.append(" ipv6 access-class MGMT6 in")
    if not st.aaa:
        c += [f" password 7 {rng.randrange(16**16):016X}", " login"]
    c.append(" transport input ssh telnet" if st.telnet else " transport input ssh")
    c.append("!")
    for s in st.ntp_servers:
        c.append(f"ntp server {v6(s) if ':' in s else s}")
    c += ["!", "end"]
    text = "\n".join(c)
    return text.replace("{size}", str(len(text)))
