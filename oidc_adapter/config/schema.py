"""The JSON Schema of the config file, for editors and CI: docs/config.schema.json.

After changing a model, regenerate the copy (a test keeps it in step):
`oidc-adapter check-config --schema > docs/config.schema.json`
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from .models import Config


class TomlSchema(GenerateJsonSchema):
    """TOML has no null: an optional setting is left out, so None is neither a type
    nor a default in the schema, and keys need no generated titles."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        if "default" in schema and schema["default"] is None:
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def json_schema() -> dict[str, Any]:
    """The TOML shape: top-level settings with [rooms.NAME] and [clients.ID] tables."""
    return Config.model_json_schema(schema_generator=TomlSchema)
