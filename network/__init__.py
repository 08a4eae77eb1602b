"""Extranet devices: inventory, collectors (SSH, SNMP), parsers, rules and the audit engine."""
