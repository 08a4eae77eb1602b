"""The commands the SSH collector runs per platform, as data.

Each command has a logical ``key`` (what the parser does with it), the exact CLI text to send,
whether the audit needs it, and aliases: other spellings whose output the parser accepts under
the same key (a full table instead of a filtered one, an abbreviation). Optional commands make
facts exact where the configuration alone depends on version defaults; a device that rejects
an optional command still gets audited.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    key: str
    cli: str
    required: bool = True
    aliases: tuple[str, ...] = ()

    def accepts(self, text: str) -> bool:
        norm = " ".join(text.split())
        return norm == self.cli or norm in self.aliases


# VRP and Comware share the `display` syntax of these commands.
_DISPLAY_CORE: tuple[Command, ...] = (
    Command("version", "display version"),
    Command("config", "display current-configuration"),
    Command("ipv4_brief", "display ip interface brief"),
    Command("ipv6_brief", "display ipv6 interface brief"),
    Command(
        "ipv6_routes",
        "display ipv6 routing-table :: 0",
        aliases=("display ipv6 routing-table ::0 0", "display ipv6 routing-table"),
    ),
)

COMMAND_SETS: dict[str, tuple[Command, ...]] = {
    "huawei_vrp": (
        *_DISPLAY_CORE,
        Command("ipv6_neighbors", "display ipv6 neighbors"),
        Command("telnet_status", "display telnet server status", required=False),
        Command("http_status", "display http server", required=False),
    ),
    "hp_comware": (
        *_DISPLAY_CORE,
        Command("ipv6_neighbors", "display ipv6 neighbors all", aliases=("display ipv6 neighbors",)),
        # the configuration holds communities as ciphers; this table prints them in clear
        Command("snmp_communities", "display snmp-agent community", required=False),
    ),
    "cisco_ios": (
        Command("version", "show version"),
        Command("config", "show running-config"),
        Command("ipv4_brief", "show ip interface brief"),
        Command("ipv6_brief", "show ipv6 interface brief"),
        # the whole table: two lines per route, and the format ntc-templates parses
        Command("ipv6_routes", "show ipv6 route", aliases=("show ipv6 route ::/0",)),
        Command("ipv6_neighbors", "show ipv6 neighbors"),
        # IOS keeps SNMPv3 users out of the running configuration
        Command("snmp_users", "show snmp user", required=False),
    ),
}


def command_set(platform: str) -> tuple[Command, ...]:
    """The audit's commands for ``platform``; an unknown platform has none (SNMP only)."""
    return COMMAND_SETS.get(platform, ())


def commands_for(platform: str) -> list[str]:
    """The CLI strings to send, in order (required first is not needed: all are sent)."""
    return [c.cli for c in command_set(platform)]
