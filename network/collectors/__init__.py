"""Collectors: how device data is fetched (SSH CLI, SNMP), each behind a Protocol.

Only the adapter modules here import netmiko or pysnmp, and only inside functions, so the CLI
starts fast and the engine can be tested with fakes.
"""
