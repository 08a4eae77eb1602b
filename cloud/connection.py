"""clouds.yaml and ``OS_*`` conventions, read through openstacksdk's own config loader."""

from __future__ import annotations

from pathlib import Path

from govops.errors import ConfigError


def cloud_auth_url(cloud: str, clouds_file: Path | None = None) -> str:
    """The Keystone URL of a named cloud, without connecting or revealing its credentials."""
    import os

    from openstack import config as os_config
    from openstack import exceptions as os_exc

    files = [str(clouds_file)] if clouds_file else None
    if clouds_file is None and os.environ.get("OS_CLIENT_CONFIG_FILE"):
        files = [os.environ["OS_CLIENT_CONFIG_FILE"]]
    try:
        region = os_config.OpenStackConfig(config_files=files).get_one(cloud=cloud)
    except os_exc.ConfigException as exc:
        raise ConfigError(f"cloud '{cloud}': {exc}", hint="check clouds.yaml / OS_CLIENT_CONFIG_FILE") from None
    auth = region.config.get("auth", {})
    url = auth.get("auth_url")
    if not url:
        raise ConfigError(f"cloud '{cloud}' has no auth_url")
    return str(url)
