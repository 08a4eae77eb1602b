"""DeviceFacts.to_dict is a hand-written asdict (speed): it must stay exactly what asdict gives."""

from __future__ import annotations

from dataclasses import asdict, fields

from govops.network.facts import DeviceFacts, InterfaceFacts


def _filled() -> DeviceFacts:
    values = {
        f.name: (["x", "y"] if "list" in str(f.type) else 3 if "int" in str(f.type) else True)
        for f in fields(DeviceFacts)
        if f.name != "interfaces"
    }
    up = InterfaceFacts("GE0/0/1", True, True, ["10.0.0.1/30"], ["2001:db8::1/64"], "fe80::1", "uplink")
    return DeviceFacts(**values, interfaces=[up, InterfaceFacts("Vlanif1")])


def test_to_dict_is_asdict() -> None:
    facts = _filled()
    assert facts.to_dict() == asdict(facts)


def test_to_dict_never_aliases_the_facts() -> None:
    facts = _filled()
    d = facts.to_dict()
    d["ntp_servers"].append("changed")
    d["interfaces"][0]["ipv6"].append("changed")
    assert "changed" not in facts.ntp_servers
    assert "changed" not in facts.interfaces[0].ipv6
    assert DeviceFacts.from_dict(facts.to_dict()) == facts
