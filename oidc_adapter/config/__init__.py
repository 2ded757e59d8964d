"""The TOML configuration as a declarative pydantic v2 schema.

We chose pydantic v2 because it gives field-path errors, strict types and
JSON Schema export, and is fast and well kept.

- models.py: one model per section of the file (Config, RoomConfig, ClientConfig);
  RoomConfig extends the live `room.settings.RoomSettings`, so the file, the CLI
  and the admin API share one set of rules.
- rules.py: the named rules the models use (URLs, WCAG contrast, branding files).
- loading.py: TOML file + environment -> Config, or ConfigError with every problem.
- schema.py: the JSON Schema of the file (docs/config.schema.json).
"""

from ..room.settings import RoomSettings
from .loading import ConfigError, load_config, parse_config
from .models import ClientConfig, Config, RoomConfig
from .rules import DEFAULT_COLORS, contrast_ratio
from .schema import json_schema

__all__ = [
    "DEFAULT_COLORS",
    "ClientConfig",
    "Config",
    "ConfigError",
    "RoomConfig",
    "RoomSettings",
    "contrast_ratio",
    "json_schema",
    "load_config",
    "parse_config",
]
