"""clouds.yaml and ``OS_*`` conventions, read through openstacksdk's own config loader.

Which cloud: ``--os-cloud``, else ``cloud.name`` in govops.yaml, else ``$OS_CLOUD``, else the
``OS_AUTH_URL``... variables alone (openstacksdk's "envvars" cloud). Which file: ``cloud.clouds_file``
in govops.yaml, else ``$OS_CLIENT_CONFIG_FILE``, else the standard locations (./clouds.yaml,
~/.config/openstack/, /etc/openstack/).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govops.errors import ConfigError, Problem, ValidationFailed
from govops.i18n import Msg

if TYPE_CHECKING:
    from govops.config import LoadedConfig


@dataclass(frozen=True)
class CloudTarget:
    """A cloud to connect to; ``name`` None means the ``OS_*`` variables alone."""

    name: str | None
    clouds_file: Path | None = None
    region: str | None = None

    def describe(self) -> str:
        where = f" ({self.clouds_file})" if self.clouds_file else ""
        name = self.name or "OS_* environment variables"
        return f"{name}{f' region {self.region}' if self.region else ''}{where}"


def resolve_target(option: str | None, config: LoadedConfig, region: str | None = None) -> CloudTarget:
    name = option or config.config.cloud.name or os.environ.get("OS_CLOUD") or None
    if name is None and not os.environ.get("OS_AUTH_URL"):
        raise ConfigError(
            Msg("err.cloud.no_cloud"),
            hint=Msg("err.cloud.hint_choose"),
        )
    region = region or config.config.cloud.region or os.environ.get("OS_REGION_NAME") or None
    return CloudTarget(name, config.clouds_file, region)


def check_clouds_file(path: Path) -> None:
    """Refuse a malformed clouds.yaml with ``file:line`` before openstacksdk reads it.

    openstacksdk reports a file it cannot use as "cloud ... was not found" or fails inside its own
    code; read with govops' loader (size-limited, aliases bounded, lines kept) it is a located error.
    """
    from govops import yamlio

    doc = yamlio.load(path)
    data = doc.data
    if not isinstance(data, dict):
        raise ValidationFailed([Problem(Msg("err.cloud.file_not_mapping"), doc.location(()))])
    clouds = data.get("clouds")
    if not isinstance(clouds, dict):
        raise ValidationFailed([Problem(Msg("err.cloud.clouds_not_mapping"), doc.location(("clouds",)))])
    problems = []
    for name, entry in clouds.items():
        if not isinstance(entry, dict):
            problems.append(Problem(Msg("err.cloud.cloud_not_mapping"), doc.location(("clouds", name))))
        elif "auth" in entry and not isinstance(entry["auth"], dict):
            problems.append(Problem(Msg("err.cloud.auth_not_mapping"), doc.location(("clouds", name, "auth"))))
    if problems:
        raise ValidationFailed(problems)


def _loader(target: CloudTarget) -> Any:
    from openstack import exceptions as os_exc
    from openstack.config import loader

    if target.clouds_file is not None:
        if not target.clouds_file.is_file():
            raise ConfigError(
                Msg("err.cloud.file_not_found", path=target.clouds_file), hint=Msg("err.cloud.hint_clouds_file")
            )
        check_clouds_file(target.clouds_file)
        # The file named in govops.yaml wins over OS_CLIENT_CONFIG_FILE, which the loader would
        # otherwise put first; OS_* variables are then ignored too.
        files = [str(target.clouds_file)]
    else:
        # the one file openstacksdk will use: $OS_CLIENT_CONFIG_FILE, else the first that exists
        env = os.environ.get("OS_CLIENT_CONFIG_FILE")
        candidates = [env] if env else []
        for f in [*candidates, *loader.CONFIG_FILES]:
            if os.path.isfile(f):
                check_clouds_file(Path(f))
                break
        files = None
    try:
        if files is not None:
            return loader.OpenStackConfig(config_files=files, load_envvars=False)
        return loader.OpenStackConfig()
    except os_exc.ConfigException as exc:
        raise ConfigError(
            Msg("err.cloud.sdk_config", where="clouds.yaml", reason=exc), hint=Msg("err.cloud.hint_clouds_yaml")
        ) from None


def _same_url(a: Any, b: Any) -> bool:
    return str(a or "").rstrip("/") == str(b or "").rstrip("/")


def load_region(target: CloudTarget, *, project: str | None = None, project_id: str | None = None) -> Any:
    """The target's ``CloudRegion`` (openstacksdk), without connecting.

    With ``project``: the entry of clouds.yaml for the same auth_url whose credentials are scoped to
    that project (e.g. a department's own user), or None when there is none.
    """
    from keystoneauth1 import exceptions as ksa
    from openstack import exceptions as os_exc

    cfg = _loader(target)
    name = target.name
    try:
        if project is not None or project_id is not None:
            own = cfg.get_one(cloud=name, region_name=target.region)
            auth_url = own.config.get("auth", {}).get("auth_url")
            for candidate in cfg.get_cloud_names():
                raw = cfg.cloud_config["clouds"][candidate].get("auth", {})
                scoped = (project is not None and raw.get("project_name") == project) or (
                    project_id is not None and raw.get("project_id") == project_id
                )
                if candidate != name and scoped and _same_url(raw.get("auth_url"), auth_url):
                    return cfg.get_one(cloud=candidate, region_name=target.region)
            return None
        return cfg.get_one(cloud=name, region_name=target.region)
    except os_exc.ConfigException as exc:
        raise ConfigError(
            Msg("err.cloud.sdk_config", where=f"cloud '{name}'", reason=exc), hint=Msg("err.cloud.hint_os_cloud")
        ) from None
    except ksa.MissingRequiredOptions as exc:
        missing = ", ".join(o.dest for o in exc.options)
        raise ConfigError(
            Msg("err.cloud.missing_auth", cloud=name or "OS_*", options=missing),
            hint=Msg("err.cloud.hint_auth"),
        ) from None


def cloud_auth_url(cloud: str, clouds_file: Path | None = None) -> str:
    """The Keystone URL of a named cloud, without connecting or revealing its credentials."""
    region = load_region(CloudTarget(cloud, clouds_file))
    url = region.config.get("auth", {}).get("auth_url")
    if not url:
        raise ConfigError(Msg("err.cloud.no_auth_url", cloud=cloud))
    return str(url)
