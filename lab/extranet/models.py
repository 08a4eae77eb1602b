"""Hardware/software models the lab's devices run, each tied to a real ``display/show version`` output.

sysDescr strings follow the vendors' real formats (the first lines of the version banner);
sysObjectIDs sit under each vendor's enterprise arc (Huawei 2011, H3C 25506, Cisco 9).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

# resolve(): in the strict editable install this module is a symlink into the checkout.
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass(frozen=True)
class Model:
    key: str
    platform: str
    vendor: str
    name: str  # hardware model as the device prints it
    os_version: str  # what DeviceFacts.os_version holds for this model
    version_fixture: str
    sys_descr: str
    sys_object_id: str
    oui: str  # first three MAC bytes (vendor's OUI)


MODELS: dict[str, Model] = {
    m.key: m
    for m in (
        Model(
            "ne40e",
            "huawei_vrp",
            "Huawei",
            "NE40E-X2-M8A",
            "V800R011C00SPC200",
            "huawei_vrp_display_version.raw",
            "Huawei Versatile Routing Platform Software\r\n"
            "VRP (R) software, Version 8.180 (NE40E V800R011C00SPC200)\r\n"
            "Copyright (C) 2012-2018 Huawei Technologies Co., Ltd.\r\n"
            "HUAWEI NE40E-X2-M8A",
            "1.3.6.1.4.1.2011.2.62.2.38",
            "00e0fc",
        ),
        Model(
            "ar6280",
            "huawei_vrp",
            "Huawei",
            "AR6280",
            "V300R019C10SPC300",
            "huawei_vrp_display_version3.raw",
            "Huawei Versatile Routing Platform Software\r\n"
            "VRP (R) software, Version 5.170 (AR6280 V300R019C10SPC300)\r\n"
            "Copyright (C) 2011-2020 HUAWEI TECH CO., LTD\r\n"
            "Huawei AR6280 Router",
            "1.3.6.1.4.1.2011.2.224.279",
            "00e0fc",
        ),
        Model(
            "ar617-old",
            "huawei_vrp",
            "Huawei",
            "AR617VW-LTE4EA",
            "V300R019C13SPC200",
            "huawei_vrp_display_version4.raw",
            "Huawei Versatile Routing Platform Software\r\n"
            "VRP (R) software, Version 5.170 (AR610 V300R019C13SPC200)\r\n"
            "Copyright (C) 2011-2021 HUAWEI TECH CO., LTD\r\n"
            "Huawei AR617VW-LTE4EA Router",
            "1.3.6.1.4.1.2011.2.224.311",
            "00e0fc",
        ),
        Model(
            "ar617",
            "huawei_vrp",
            "Huawei",
            "AR617VW-LTE4EA",
            "V300R022C00SPC100",
            "huawei_vrp_display_version6.raw",
            "Huawei Versatile Routing Platform Software\r\n"
            "VRP (R) software, Version 5.170 (AR610 V300R022C00SPC100)\r\n"
            "Copyright (C) 2011-2022 HUAWEI TECH CO., LTD\r\n"
            "Huawei AR617VW-LTE4EA Router",
            "1.3.6.1.4.1.2011.2.224.311",
            "00e0fc",
        ),
        Model(
            "msr3620",
            "hp_comware",
            "H3C",
            "MSR3620",
            "7.1.064 Release 0821P16",
            "hp_comware_display_version.reconstructed.raw",
            "H3C Comware Platform Software, Software Version 7.1.064, Release 0821P16\r\n"
            "H3C MSR3620\r\n"
            "Copyright (c) 2004-2021 New H3C Technologies Co., Ltd. All rights reserved.",
            "1.3.6.1.4.1.25506.1.1167",
            "3ce5a6",
        ),
        Model(
            "iosv",
            "cisco_ios",
            "Cisco",
            "IOSv",
            "15.8(3)M2",
            "cisco_ios_show_version3.raw",
            "Cisco IOS Software, IOSv Software (VIOS-ADVENTERPRISEK9-M), Version 15.8(3)M2, RELEASE "
            "SOFTWARE (fc2)\r\nTechnical Support: http://www.cisco.com/techsupport\r\n"
            "Copyright (c) 1986-2019 by Cisco Systems, Inc.\r\nCompiled Thu 28-Mar-19 14:06 by prod_rel_team",
            "1.3.6.1.4.1.9.1.1041",
            "5254ab",
        ),
        Model(
            "c1801",
            "cisco_ios",
            "Cisco",
            "1801",
            "12.4(6)T2",
            "cisco_ios_show_version_01.raw",
            "Cisco IOS Software, C180X Software (C180X-ADVIPSERVICESK9-M), Version 12.4(6)T2, RELEASE "
            "SOFTWARE (fc1)\r\nTechnical Support: http://www.cisco.com/techsupport\r\n"
            "Copyright (c) 1986-2006 by Cisco Systems, Inc.\r\nCompiled Tue 16-May-06 12:12 by kellythw",
            "1.3.6.1.4.1.9.1.640",
            "001b54",
        ),
    )
}


@cache
def fixture(name: str) -> str:
    """A copied real output, with its CRLF line ends normalised (the server writes CRLF itself)."""
    return (FIXTURES / name).read_text(encoding="utf-8").replace("\r\n", "\n")


def fixture_header(name: str, lines: int) -> str:
    return "\n".join(fixture(name).split("\n")[:lines])
