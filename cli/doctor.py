"""``govops doctor``: is everything govops needs configured and reachable, and if not, the fix."""

from __future__ import annotations

import os
from dataclasses import dataclass

import typer
from govops.cli.application import Application, app_of
from govops.cli.terminal import Column, TableView
from govops.errors import ExitCode, GovopsError
from govops.i18n import Translator


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str
    fix: str = ""


def doctor(ctx: typer.Context) -> None:
    """Check config, inventories, credential sources, the store and each configured endpoint."""
    a = app_of(ctx)
    checks = list(run_checks(a))
    rows = [{"check": c.name, "status": a.t(f"status.{c.status}"), "detail": c.detail, "fix": c.fix} for c in checks]
    view = TableView(
        [
            Column("check", a.t("col.check")),
            Column("status", a.t("col.status")),
            Column("detail", a.t("col.detail")),
            Column("fix", a.t("col.fix")),
        ],
        rows,
        title=a.t("doctor.title"),
        data=[c.__dict__ for c in checks],
    )
    a.terminal.render(view)
    failed = sum(c.status == "fail" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    if failed:
        a.terminal.warn(a.t("doctor.summary_fail", failed=failed, warned=warned))
        raise typer.Exit(ExitCode.FINDINGS)
    a.terminal.success(a.t("doctor.summary_ok"))


def _guard(t: Translator, name: str, fn: object) -> Check:
    try:
        return fn()  # type: ignore[operator, no-any-return]
    except GovopsError as exc:
        return Check(name, "fail", exc.render_in(t), exc.hint_in(t) or "")


def run_checks(a: Application) -> list[Check]:
    out: list[Check] = []
    t = a.t
    try:
        cfg = a.config
    except GovopsError as exc:
        return [Check(t("doctor.config"), "fail", exc.render_in(t), exc.hint_in(t) or t("doctor.fix_file"))]
    out.append(
        Check(
            t("doctor.config"),
            "ok" if cfg.source else "warn",
            cfg.describe_source(),
            "" if cfg.source else t("doctor.create_config"),
        )
    )

    def departments() -> Check:
        d = a.departments()
        return Check(t("doctor.departments"), "ok", t("doctor.departments_ok", count=len(d), source=d.source))

    out.append(_guard(t, t("doctor.departments"), departments))

    inv = None
    try:
        inv = a.inventory()
        out.append(
            Check(
                t("doctor.inventory"),
                "ok",
                t("doctor.inventory_ok", name=inv.name, sites=len(inv.sites), devices=len(inv)),
            )
        )
    except GovopsError as exc:
        out.append(
            Check(
                t("doctor.inventory"),
                "fail",
                exc.render_in(t),
                exc.hint_in(t) or t("doctor.validate_inventory"),
            )
        )

    if inv is not None:
        # what each credential must hold: SSH a user and password, SNMP v2c a community, SNMPv3
        # a user with an auth and a privacy key
        needs: dict[str, set[str]] = {}
        for ssh in inv.profiles.ssh.values():
            needs.setdefault(ssh.credential, set()).update(("username", "password"))
        for snmp in inv.profiles.snmp.values():
            snmp_fields = ("community",) if snmp.version == "v2c" else ("username", "auth_key", "priv_key")
            needs.setdefault(snmp.credential, set()).update(snmp_fields)
        names = sorted(needs)
        try:
            creds = a.credentials
        except GovopsError as exc:
            out.append(Check(t("doctor.credentials", name="*"), "fail", exc.render_in(t), exc.hint_in(t) or ""))
            creds = None
        if creds is not None:
            from govops.credentials import FIELDS, env_var_name

            prefix = a.config.config.credentials.env_prefix
            for name in names:
                wanted = [f for f in FIELDS if f in needs[name]]
                try:
                    source, fields = creds.describe(name)
                except GovopsError as exc:
                    # a source that failed (wrong vault password, damaged vault) is the problem to
                    # fix, not "not found": say so instead of suggesting variables to export
                    out.append(
                        Check(
                            t("doctor.credentials", name=name),
                            "fail",
                            t("doctor.source_failed", error=exc.render_in(t)),
                            exc.hint_in(t) or t("doctor.source_failed_fix"),
                        )
                    )
                    continue
                exports = " ".join(f"{env_var_name(name, f, prefix)}=…" for f in wanted)
                if source is None:
                    out.append(
                        Check(
                            t("doctor.credentials", name=name),
                            "fail",
                            t("doctor.cred_not_found"),
                            t("doctor.cred_export", exports=exports),
                        )
                    )
                elif missing := [f for f in wanted if f not in fields]:
                    out.append(
                        Check(
                            t("doctor.credentials", name=name),
                            "fail",
                            t("doctor.cred_missing", source=source, fields=", ".join(missing)),
                            t(
                                "doctor.cred_export",
                                exports=" ".join(f"{env_var_name(name, f, prefix)}=…" for f in missing),
                            ),
                        )
                    )
                else:
                    out.append(
                        Check(
                            t("doctor.credentials", name=name),
                            "ok",
                            t("doctor.cred_ok", source=source, fields=", ".join(fields)),
                        )
                    )

    def store() -> Check:
        s = a.store
        detail = t("doctor.store_ok", url=s.display_url, version=s.schema_version())
        loose = s.loose_permissions()
        if loose:
            return Check(t("doctor.store"), "warn", f"{detail}; {loose}", f"chmod 600 {s.file}")
        return Check(t("doctor.store"), "ok", detail)

    out.append(_guard(t, t("doctor.store"), store))
    out.append(_guard(t, t("doctor.host_keys"), lambda: _host_keys_check(a)))
    out.append(_guard(t, t("doctor.cloud"), lambda: _cloud_check(a)))
    out.append(_guard(t, t("doctor.prometheus"), lambda: _prometheus_check(a)))
    pb = cfg.playbooks_dir
    out.append(
        Check(
            t("doctor.playbooks"),
            "ok" if pb.is_dir() else "warn",
            str(pb),
            "" if pb.is_dir() else t("doctor.set_playbooks"),
        )
    )
    return out


def _http_ok(t: Translator, url: str, timeout: float = 3.0) -> tuple[bool, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - http(s) URL from validated config
            return True, f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        # Keystone answers 300 Multiple Choices on its root: reachable all the same.
        return exc.code < 500, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, t("doctor.unreachable", reason=reason)
    except ValueError as exc:  # http.client.InvalidURL and the like: config validation should catch these
        return False, t("doctor.invalid_url", reason=exc)


def _cloud_check(a: Application) -> Check:
    import os

    name = a.t("doctor.cloud")
    cfg = a.config
    cloud = cfg.config.cloud.name or os.environ.get("OS_CLOUD")
    if not cloud:
        return Check(name, "skip", a.t("doctor.no_cloud"), a.t("doctor.set_cloud"))
    from govops.cloud.connection import cloud_auth_url

    auth_url = cloud_auth_url(cloud, cfg.clouds_file)
    ok, detail = _http_ok(a.t, auth_url)
    return Check(
        name,
        "ok" if ok else "fail",
        f"{cloud}: {auth_url} {detail}",
        "" if ok else a.t("doctor.cloud_down"),
    )


def _host_keys_check(a: Application) -> Check:
    from govops.network.service import host_key_policy

    name = a.t("doctor.host_keys")
    policy = a.config.config.network.host_key_policy
    if policy == "accept":
        return Check(name, "warn", a.t("host_keys.accept_insecure"), a.t("doctor.set_accept_new"))
    path = host_key_policy(a.config).path  # strict without its file fails here (ConfigError)
    assert path is not None
    if os.path.exists(path) and not os.path.isfile(path):  # a FIFO would block the count below, /dev/zero never end
        return Check(name, "fail", a.t("doctor.not_regular", path=path), a.t("doctor.set_known_hosts"))
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            entries = sum(1 for line in f if line.strip() and not line.lstrip().startswith("#"))
    except FileNotFoundError:
        return Check(name, "ok", a.t("host_keys.no_file_yet", policy=policy, path=path))
    except OSError as exc:
        return Check(name, "fail", f"{path}: {exc.strerror}", a.t("doctor.check_permissions"))
    return Check(name, "ok", a.t("host_keys.summary", policy=policy, path=path, entries=entries))


def _prometheus_check(a: Application) -> Check:
    name = a.t("doctor.prometheus")
    url = a.config.config.prometheus.url
    if not url:
        return Check(name, "skip", a.t("doctor.no_url"), a.t("doctor.set_prometheus"))
    from govops.credentials import redact, redact_url

    ok, detail = _http_ok(a.t, url + "/-/ready")
    shown = f"{redact_url(url)} {redact(detail)}"
    return Check(name, "ok" if ok else "fail", shown, "" if ok else a.t("doctor.prometheus_down"))
