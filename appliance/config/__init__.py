"""Configuration: one YAML file, validated at start-up into frozen typed objects (SPEC O1)."""

from appliance.config.loader import ConfigError, default_config, load_config, resolve_config_path
from appliance.config.models import DialboxConfig

__all__ = ["ConfigError", "DialboxConfig", "default_config", "load_config", "resolve_config_path"]
