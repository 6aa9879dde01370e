"""Form data checked against a task's JSON Schema on the server, errors keyed by field path.

A path names the field as a client would: `customer.name`, `items.0.amount`. A missing required
field is reported at its own path, not at its parent's.

A form schema is content a process owner deploys, so checking data against it must neither reach
outside the service nor take unbounded time:
- `$ref` resolves only inside the deployed version (its own `#...` pointers and the names of the
  version's other form files); anything else is refused at deploy (`reference_problems`) and
  never retrieved at validation (the registry's retrieve function refuses every URI);
- `pattern` and `patternProperties` (also where `additionalProperties` consults them) run on RE2,
  a linear-time regex engine, so `^(a+)+$` cannot backtrack; a pattern RE2 cannot compile
  (backreferences, lookaround) is refused at deploy (`pattern_problems`).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator, Mapping
from typing import Any

import re2
from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
# Keywords whose values are data, not schemas: a "$ref" inside them is not a reference.
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})
# Keywords whose values map names (not keywords) to schemas.
_NAMED_SCHEMAS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"}
)
REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")


@functools.lru_cache(maxsize=4096)
def linear_regex(pattern: str):
    """The RE2 compilation of a pattern (raises `re2.error` for what RE2 does not support)."""
    return re2.compile(pattern, options=_RE2_OPTIONS)


def _matches(pattern: str, text: str) -> bool:
    try:
        return linear_regex(pattern).search(text) is not None
    except re2.error:
        # Refused at deploy; a version deployed before that check simply does not match.
        return False


def _pattern(validator, pattern, instance, _schema) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _matches(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator, patterns, instance, _schema) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for name, value in instance.items():
            if _matches(pattern, name):
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def _additional_properties(validator, additional, instance, schema) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    declared = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = [
        name
        for name in instance
        if name not in declared and not any(_matches(pattern, name) for pattern in patterns)
    ]
    if validator.is_type(additional, "object"):
        for name in extras:
            yield from validator.descend(instance[name], additional, path=name)
    elif additional is False and extras:
        names = ", ".join(repr(name) for name in sorted(extras, key=str))
        yield ValidationError(f"Additional properties are not allowed ({names} unexpected)")


@functools.cache
def _bounded(cls: type[Validator]) -> type[Validator]:
    """`cls` with its regex keywords on RE2 (one class per JSON Schema draft)."""
    replaced = {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
    }
    return validators.extend(cls, {k: v for k, v in replaced.items() if k in cls.VALIDATORS})


def _refuse(uri: str):
    """The registry's retrieve function: nothing outside the deployed forms is ever fetched."""
    # referencing's attrs classes use a dataclass_transform mypy does not read: `ref` is its field.
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


def local_registry(forms: dict[str, Any]) -> Registry:
    """A registry holding the deployment's form files by name, and nothing it could fetch."""
    resources = [
        (name, Resource.from_contents(schema, default_specification=DRAFT202012))
        for name, schema in forms.items()
        if isinstance(schema, bool)
        or (isinstance(schema, dict) and isinstance(schema.get("$schema", ""), str))
    ]
    # `retrieve` is the attrs alias of Registry's `_retrieve` field, unseen by mypy (as above).
    return Registry(retrieve=_refuse).with_resources(resources)  # type: ignore[call-arg]


def compile_validator(schema: dict, forms: dict[str, Any] | None = None) -> Validator:
    """A validator for a form schema; `forms` are the version's form files `$ref` may name."""
    declared = schema.get("$schema") if isinstance(schema, dict) else None
    known = {"$schema": declared} if isinstance(declared, str) else {}
    cls = _bounded(validator_for(known, default=Draft202012Validator))
    return cls(schema, format_checker=cls.FORMAT_CHECKER, registry=local_registry(forms or {}))


def _path(parts) -> str:
    return ".".join(str(p) for p in parts)


def field_errors(validator: Validator, data: Any) -> dict[str, list[str]]:
    """{field path: [messages]} for everything wrong with `data`; empty when it is valid."""
    errors: dict[str, list[str]] = {}
    try:
        found = list(validator.iter_errors(data))
    except Unresolvable as error:
        return {"(root)": [f"the form refers to a schema outside the deployment ({error})"]}
    for problem in found:
        parts = list(problem.absolute_path)
        if (
            problem.validator == "required"
            and isinstance(problem.instance, dict)
            and isinstance(problem.validator_value, list)
        ):
            for name in problem.validator_value:
                if name not in problem.instance:
                    errors.setdefault(_path([*parts, name]), []).append("is required")
            continue
        if (
            problem.validator == "additionalProperties"
            and isinstance(problem.instance, dict)
            and isinstance(problem.schema, Mapping)
        ):
            allowed = set(problem.schema.get("properties", {}))
            for name in problem.instance:
                if name not in allowed:
                    errors.setdefault(_path([*parts, name]), []).append("is not a field of this form")
            continue
        errors.setdefault(_path(parts) or "(root)", []).append(problem.message)
    return errors


# ---- deploy-time checks of a form file


def _walk(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, dict]]:
    """Every schema object inside a schema, with its path (data keywords are not descended)."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            if key in _DATA_KEYWORDS:
                continue
            if key in _NAMED_SCHEMAS and isinstance(value, dict):
                for name, sub in value.items():
                    yield from _walk(sub, (*path, key, name))
            else:
                yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _walk(item, (*path, index))


def _where(path: tuple) -> str:
    return "/".join(str(p) for p in path) or "(root)"


def referenced_files(schema: Any) -> set[str]:
    """The other form files a schema's `$ref`s name (`other.schema.json#/...` → `other.schema.json`)."""
    names = set()
    for _, node in _walk(schema):
        for keyword in REF_KEYWORDS:
            ref = node.get(keyword)
            if isinstance(ref, str) and not ref.startswith("#"):
                names.add(ref.split("#", 1)[0])
    return names


def reference_problems(schema: Any, form_files: set[str]) -> list[tuple[tuple, str]]:
    """(where, message) for every `$ref` pointing outside the deployment, and every absolute `$id`."""
    problems = []
    for path, node in _walk(schema):
        for keyword in REF_KEYWORDS:
            ref = node.get(keyword)
            if keyword not in node:
                continue
            if not isinstance(ref, str):
                problems.append(((*path, keyword), f"{keyword} at {_where(path)} is not a string"))
            elif not ref.startswith("#") and ref.split("#", 1)[0] not in form_files:
                message = (
                    f"{keyword} '{ref}' at {_where(path)} points outside the deployment: only '#...' "
                    "pointers and the names of the deployment's form files may be referenced"
                )
                problems.append(((*path, keyword), message))
        schema_id = node.get("$id")
        if isinstance(schema_id, str) and ":" in schema_id:
            message = f"$id '{schema_id}' at {_where(path)} is an absolute URI: form schemas are known by their names"
            problems.append(((*path, "$id"), message))
    return problems


def pattern_problems(schema: Any) -> list[tuple[tuple, str]]:
    """(where, message) for every regex RE2 cannot run, and for those `unevaluatedProperties` would."""
    problems = []
    uses_unevaluated = uses_pattern_properties = False
    for path, node in _walk(schema):
        candidates = []
        if isinstance(node.get("pattern"), str):
            candidates.append((node["pattern"], (*path, "pattern")))
        if isinstance(node.get("patternProperties"), dict):
            uses_pattern_properties = True
            candidates += [(p, (*path, "patternProperties", p)) for p in node["patternProperties"]]
        uses_unevaluated = uses_unevaluated or "unevaluatedProperties" in node
        for pattern, where in candidates:
            try:
                linear_regex(pattern)
            except re2.error as error:
                reason = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else error
                message = (
                    f"pattern '{pattern}' at {_where(where)} is not allowed ({reason}): patterns run on "
                    "a linear-time engine (RE2), without backreferences or lookaround"
                )
                problems.append((where, message))
    if uses_unevaluated and uses_pattern_properties:
        problems.append(
            ((), "unevaluatedProperties cannot be combined with patternProperties in a form schema")
        )
    return problems


_BLANK = re2.compile(r"[ \t\n\r]*")


def json_lines(text: str) -> dict[tuple, int]:
    """The line each value of a JSON document starts on, by its path (`("properties", "a")`).

    Lets a problem in a form file name its line as a BPMN problem does. `text` must be valid JSON;
    for anything else the answer is empty.
    """
    decoder = json.JSONDecoder()
    lines: dict[tuple, int] = {}

    def skip(index: int) -> int:
        return _BLANK.match(text, index).end()

    def value(index: int, path: tuple) -> int:
        index = skip(index)
        lines[path] = text.count("\n", 0, index) + 1
        if text[index] == "{":
            index = skip(index + 1)
            while text[index] != "}":
                key, index = decoder.raw_decode(text, index)
                index = value(skip(index) + 1, (*path, key))  # past the ':'
                index = skip(index)
                if text[index] == ",":
                    index = skip(index + 1)
            return index + 1
        if text[index] == "[":
            index, position = skip(index + 1), 0
            while text[index] != "]":
                index = skip(value(index, (*path, position)))
                position += 1
                if text[index] == ",":
                    index = skip(index + 1)
            return index + 1
        return decoder.raw_decode(text, index)[1]

    try:
        value(0, ())
    except (ValueError, IndexError, RecursionError):
        return {}
    return lines


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
