"""Device output -> ``DeviceFacts``: CLI parsers per platform and SNMP facts from raw OIDs.

Pure functions, no I/O. Collectors call ``commands_for(platform)`` / ``command_set(platform)``
for what to run, then ``parse_cli(platform, outputs)``; SNMP collectors fetch ``SNMP_GET`` and
``SNMP_WALK`` (then ``snmp_followup_walks``) and call ``facts_from_snmp(varbinds)``.
"""

from govops.network.parsers.cli import CliResult, parse_cli, parse_cli_detailed
from govops.network.parsers.commands import COMMAND_SETS, Command, command_set, commands_for
from govops.network.parsers.common import ParseError, canonical_ifname, clean_output, ifname_key
from govops.network.parsers.snmp import (
    ENTERPRISES,
    SNMP_GET,
    SNMP_WALK,
    facts_from_snmp,
    platform_from_oid,
    snmp_followup_walks,
)

__all__ = [
    "COMMAND_SETS",
    "ENTERPRISES",
    "SNMP_GET",
    "SNMP_WALK",
    "CliResult",
    "Command",
    "ParseError",
    "canonical_ifname",
    "clean_output",
    "command_set",
    "commands_for",
    "facts_from_snmp",
    "ifname_key",
    "parse_cli",
    "parse_cli_detailed",
    "platform_from_oid",
    "snmp_followup_walks",
]
