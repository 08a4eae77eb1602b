"""Configuration mode of the lab's devices: the lines that change a device's state.

``configure(cli, line)`` answers one line typed in system view (VRP, Comware) or ``configure
terminal`` (IOS), or in one of their sub-views (``user-interface vty``/``line vty``): the
state changes at once, so the next ``display``/``show`` (and the config file a ``save`` writes)
shows it. A line this module does not know, or one with a malformed argument, gets the
platform's real error text with its caret, as a device answers it. It covers what govops'
remediation sends and the inverse lines of its rollbacks; anything else is refused, never
silently accepted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from govops.lab.extranet.render import Cli, Result

VRP_WRONG = "Error: Wrong parameter found at '^' position."
CMW_WRONG = " % Wrong parameter found at '^' position."


def _addr(word: str) -> str | None:
    try:
        return str(ipaddress.ip_address(word))
    except ValueError:
        return None


def _toggle(items: list[str], addr: str, on: bool) -> None:
    if on and addr not in items:
        items.append(addr)
    elif not on and addr in items:
        items.remove(addr)


def configure(cli: Cli, line: str) -> Result | None:
    """The device's answer to a configuration line, or None when no configuration command matches."""
    from govops.lab.extranet.render import Result

    text = " ".join(line.split())
    words = text.split(" ")
    low = [w.lower() for w in words]
    st = cli.st
    p = st.platform
    neg = low[0] in ("undo", "no")
    body, raw = (low[1:], words[1:]) if neg else (low, words)
    if not body:
        return None

    def bad(index: int) -> Result:
        """A malformed argument: the caret under the word at ``index`` of the line's words."""
        col = len(" ".join(words[: index + (1 if neg else 0)])) + (1 if index + (1 if neg else 0) else 0)
        caret = " " * (len(cli.prompt) + col) + "^"
        if p == "cisco_ios":
            return Result(f"{caret}\n% Invalid input detected at '^' marker.", error=True)
        return Result(f"{caret}\n{VRP_WRONG if p == 'huawei_vrp' else CMW_WRONG}", error=True)

    ok = Result("", changed=True)
    # -- sub-views ---------------------------------------------------------------------------
    vty = ("user-interface", "vty") if p == "huawei_vrp" else ("line", "vty")
    if not neg and tuple(body[:2]) == vty and len(body) == 4 and all(w.isdigit() for w in body[2:]):
        cli.view = f"vty{body[2]}-{body[3]}"
        return Result("")
    if cli.view is not None:
        if p == "cisco_ios" and body[:2] == ["transport", "input"] and not neg:
            rest = set(body[2:])
            if not rest or not rest <= {"ssh", "telnet", "all", "none"}:
                return bad(2)
            st.telnet = bool(rest & {"telnet", "all"})
            return ok
        if p != "cisco_ios" and body[:2] == ["protocol", "inbound"] and not neg and len(body) == 3:
            if body[2] not in ("ssh", "telnet", "all"):
                return bad(2)
            st.telnet = body[2] in ("telnet", "all")
            return ok
        return None
    # -- system view -------------------------------------------------------------------------
    if p == "cisco_ios":
        return _ios(cli, body, raw, neg, bad, ok)
    return _vrp_cmw(cli, body, raw, neg, bad, ok)


def _ios(
    cli: Cli, body: list[str], raw: list[str], neg: bool, err: Callable[[int], Result], ok: Result
) -> Result | None:
    from govops.lab.extranet.render import Result

    st = cli.st
    if body == ["ipv6", "unicast-routing"]:
        st.ipv6_forwarding = not neg
        return ok
    if body[:3] == ["ipv6", "route", "::/0"]:
        if neg:
            if len(body) == 4 and _addr(body[3]) != (st.ipv6_gateway and _addr(st.ipv6_gateway)):
                return Result("%No matching route to delete", error=True)
            st.ipv6_gateway = None
            return ok
        if len(body) != 4 or (gw := _addr(body[3])) is None or ":" not in gw:
            return err(3)
        st.ipv6_gateway = gw
        return ok
    if body == ["ip", "http", "server"]:
        st.http = not neg
        return ok
    if body[:3] == ["ip", "ssh", "version"]:
        if neg and len(body) == 3:
            st.ssh_v2_only = False  # back to the default: 1.99, SSHv1 compatibility on
            return ok
        if len(body) != 4 or body[3] not in ("1", "2"):
            return err(3)
        st.ssh_v2_only = body[3] == "2"
        return ok
    if body[:2] == ["ntp", "server"] and len(body) == 3:
        if (a := _addr(body[2])) is None:
            return err(2)
        _toggle(st.ntp_servers, a, not neg)
        return ok
    if body[:2] == ["logging", "host"]:
        arg = body[3:] if body[2:3] == ["ipv6"] else body[2:]
        if len(arg) != 1 or (a := _addr(arg[0])) is None:
            return err(len(body) - 1)
        _toggle(st.syslog_hosts, a, not neg)
        return ok
    if body[:2] == ["banner", "login"]:
        if neg:
            st.banner, st.banner_text = False, None
            return ok
        text = " ".join(raw[2:])
        if len(text) < 3 or text[0] != text[-1]:
            return err(2)
        st.banner, st.banner_text = True, text[1:-1].strip()
        return ok
    return None


def _vrp_cmw(
    cli: Cli, body: list[str], raw: list[str], neg: bool, err: Callable[[int], Result], ok: Result
) -> Result | None:

    st = cli.st
    p = st.platform
    if body == ["ipv6"] and p == "huawei_vrp":
        st.ipv6_forwarding = not neg
        return ok
    if body[:3] == ["ipv6", "route-static", "::"] and len(body) >= 4 and body[3] == "0":
        if neg:
            st.ipv6_gateway = None
            return ok
        if len(body) != 5 or (gw := _addr(body[4])) is None or ":" not in gw:
            return err(4)
        st.ipv6_gateway = gw
        return ok
    if body == ["telnet", "server", "enable"]:
        st.telnet = not neg
        return ok
    if (p == "huawei_vrp" and body == ["http", "server", "enable"]) or (
        p == "hp_comware" and body == ["ip", "http", "enable"]
    ):
        st.http = not neg
        return ok
    if body[:3] == ["ssh", "server", "compatible-ssh1x"] and body[3:] in ([], ["enable"]):
        st.ssh_v2_only = neg
        return ok
    if p == "hp_comware" and body == ["ntp-service", "enable"]:
        return ok  # the NTP service itself: servers below decide what the device shows
    ntp = ["ntp-service", "unicast-server"] if p == "huawei_vrp" else ["ntp-service"]
    if body[: len(ntp)] == ntp:
        rest = body[len(ntp) :]
        if p == "hp_comware":
            v6 = rest[:1] == ["ipv6"]
            rest = rest[1:] if v6 else rest
            if rest[:1] != ["unicast-server"]:
                return None
            rest = rest[1:]
        else:
            v6 = rest[:1] == ["ipv6"]
            rest = rest[1:] if v6 else rest
        if len(rest) != 1 or (a := _addr(rest[0])) is None or (":" in a) != v6:
            return err(len(body) - 1)
        _toggle(st.ntp_servers, a, not neg)
        return ok
    if body[:2] == ["info-center", "loghost"]:
        v6 = body[2:3] == ["ipv6"]
        rest = body[3:] if v6 else body[2:]
        if len(rest) != 1 or (a := _addr(rest[0])) is None or (":" in a) != v6:
            return err(len(body) - 1)
        _toggle(st.syslog_hosts, a, not neg)
        return ok
    header = ["header", "login", "information"] if p == "huawei_vrp" else ["header", "login"]
    if body[: len(header)] == header:
        if neg:
            st.banner, st.banner_text = False, None
            return ok
        text = " ".join(raw[len(header) :])
        if len(text) < 3 or text[0] != text[-1]:
            return err(len(header))
        st.banner, st.banner_text = True, text[1:-1]
        return ok
    return None


def is_configuration(line: str) -> bool:
    """Does the line change the configuration (not a query, a view change or an exit)?"""
    first = line.strip().split(maxsplit=1)[0].lower() if line.strip() else ""
    return bool(first) and not re.match(r"^(dis|sh|do$|quit|return|end|exit|save|write|copy)", first)
