"""Form data checked against a task's JSON Schema on the server, errors keyed by field path.

A path names the field as a client would: `customer.name`, `items.0.amount`. A missing required
field is reported at its own path, not at its parent's.
"""

from __future__ import annotations

import copy
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


def apply_defaults(schema: dict, data: Any) -> Any:
    """Fill in the `default` of every property the data leaves out, in nested objects too.

    Diagrams then read fields a form declares (`flags["upgraded"]`, `external_cause`) without
    guarding against their absence. Arrays and combinators are left alone.
    """
    if not isinstance(data, dict) or not isinstance(schema, dict):
        return data
    for name, subschema in (schema.get("properties") or {}).items():
        if not isinstance(subschema, dict):
            continue
        if name not in data and "default" in subschema:
            data[name] = copy.deepcopy(subschema["default"])
        if isinstance(data.get(name), dict):
            apply_defaults(subschema, data[name])
    return data
