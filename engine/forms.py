"""Form data checked against a task's JSON Schema on the server, errors keyed by field path.

A path names the field as a client would: `customer.name`, `items.0.amount`. A missing required
field is reported at its own path, not at its parent's.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for


def compile_validator(schema: dict) -> Validator:
    cls = validator_for(schema, default=Draft202012Validator)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _path(parts) -> str:
    return ".".join(str(p) for p in parts)


def field_errors(validator: Validator, data: Any) -> dict[str, list[str]]:
    """{field path: [messages]} for everything wrong with `data`; empty when it is valid."""
    errors: dict[str, list[str]] = {}
    for error in validator.iter_errors(data):
        parts = list(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            for name in error.validator_value:
                if name not in error.instance:
                    errors.setdefault(_path([*parts, name]), []).append("is required")
            continue
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            for name in error.instance:
                if name not in allowed:
                    errors.setdefault(_path([*parts, name]), []).append("is not a field of this form")
            continue
        errors.setdefault(_path(parts) or "(root)", []).append(error.message)
    return errors
