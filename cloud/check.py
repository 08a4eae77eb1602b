"""``govops cloud check``: credentials, catalog and each API govops needs, with the fix for each failure."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from govops.cloud.ports import CloudApiError, CloudAuthError, CloudPort, CloudUnreachable
from govops.departments import Department
from govops.errors import GovopsError

# service type -> (what govops uses it for, required?)
NEEDED_APIS: dict[str, tuple[str, bool]] = {
    "identity": ("projects, tokens", True),
    "compute": ("servers, flavors, compute quotas", True),
    "image": ("images", True),
    "network": ("networks, ports and floating-IP quotas", True),
    "block-storage": ("volumes and volume quotas", False),
}
# Older catalogs register Cinder only as volumev3 (or volumev2); keystoneauth maps them.
ALIASES = {"block-storage": ("block-storage", "volumev3", "volumev2", "volume")}


@dataclass(frozen=True)
class CheckItem:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str
    fix: str = ""


def _fix_for(exc: GovopsError) -> str:
    if exc.hint:
        return exc.hint
    if isinstance(exc, CloudAuthError):
        return "check username, password/application credential and project in clouds.yaml"
    if isinstance(exc, CloudUnreachable):
        return "check auth_url and that the endpoint is reachable from here"
    if isinstance(exc, CloudApiError) and exc.status is not None and exc.status >= 500:
        return "the service failed: look up the request id in its logs"
    return ""


def _attempt(name: str, fn: Callable[[], CheckItem]) -> CheckItem:
    try:
        return fn()
    except GovopsError as exc:
        return CheckItem(name, "fail", exc.message, _fix_for(exc))


def run_checks(port: CloudPort, target: str, departments: Iterable[Department] = ()) -> list[CheckItem]:
    out: list[CheckItem] = []

    def credentials() -> CheckItem:
        who = port.identity()
        detail = f"{who.user} in project {who.project} at {who.auth_url} (roles: {', '.join(who.roles) or 'none'})"
        return CheckItem("credentials", "ok", f"{target}: {detail}")

    out.append(_attempt("credentials", credentials))
    if out[-1].status == "fail":
        return out  # nothing else can work without a token

    def admin_role() -> CheckItem:
        roles = port.identity().roles
        if "admin" in roles:
            return CheckItem("admin role", "ok", "admin: quota sync and every department's VMs are allowed")
        return CheckItem(
            "admin role",
            "warn",
            "no admin role: quota sync, `vm list` across departments and --host filters will be refused",
            "use a cloud entry with the admin role for those commands",
        )

    out.append(_attempt("admin role", admin_role))

    catalog: dict[str, str] = {}

    def read_catalog() -> CheckItem:
        entries = port.catalog()
        for e in entries:
            catalog[e.service_type] = e.endpoints.get("public") or next(iter(e.endpoints.values()), "")
        return CheckItem("catalog", "ok", f"{len(entries)} services: {', '.join(sorted(catalog))}")

    out.append(_attempt("catalog", read_catalog))
    for service, (purpose, required) in NEEDED_APIS.items():
        name = f"{service} API"
        types = ALIASES.get(service, (service,))
        if catalog and not any(t in catalog for t in types):
            out.append(
                CheckItem(
                    name,
                    "fail" if required else "warn",
                    f"not in the catalog (needed for {purpose})",
                    f"register the {service} service and its endpoints in Keystone, or check region_name",
                )
            )
            continue

        def probe(service: str = service, purpose: str = purpose, name: str = name) -> CheckItem:
            return CheckItem(name, "ok", f"{port.probe(service)} ({purpose})")

        out.append(_attempt(name, probe))

    depts = list(departments)
    if depts:

        def projects() -> CheckItem:
            have = {p.name for p in port.projects()}
            missing = [d.code for d in depts if d.project not in have]
            if missing:
                shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
                return CheckItem(
                    "department projects",
                    "warn",
                    f"{len(missing)} of {len(depts)} departments have no project: {shown}",
                    "create the projects (openstack project create) or fix `project:` in the departments file",
                )
            return CheckItem("department projects", "ok", f"all {len(depts)} department projects exist")

        out.append(_attempt("department projects", projects))
    return out
