"""Responses dumped by a plan made once per schema: marshmallow's result, without its per-value detours.

flask-smorest renders every response with `schema.dump(result)`. For each field of each object
marshmallow looks the value up through two accessor layers (`Field.get_value`,
`utils.get_value`, `hasattr` and `try` on every key) and then calls the field's `_serialize`,
even for a string that is already a string. The engine hands the edge plain dicts of
JSON-ready values (views in `engine/services/views.py`), so nearly all of that is spent to
return the value unchanged; on a case with its tasks it was a good part of a request's edge CPU.

`Schema` here is marshmallow's Schema whose `dump` of a plain `dict` follows a plan made from
the schema's own fields the first time it dumps: per field, its output key, where to read it,
and a converter that returns exactly what the field's `_serialize` would (the same function
where it is not trivial). The result is the same dict, keys in the same order; anything the
plan does not cover exactly goes through marshmallow itself:

- an object that is not exactly a `dict` (an ORM row, a dict subclass): the whole object;
- a key the dict does not hold, or holds as `marshmallow.missing`: that field, the usual way
  (attribute fallback, `dump_default`, left out when missing);
- a field of a class other than those listed in `_converter` (subclasses included), or read
  from a dotted `attribute`: that field, the usual way;
- a schema with `pre_dump`/`post_dump` hooks, a `dict_class` other than `dict`, an overridden
  `get_attribute`, or dumping `many`: the whole dump.

The OpenAPI document is generated from the same field objects, so it does not change.
"""

from __future__ import annotations

import typing
from collections.abc import Callable

import marshmallow
from marshmallow import fields, missing
from marshmallow.decorators import POST_DUMP, PRE_DUMP

Converter = Callable[[typing.Any], typing.Any]
# A field's value, dumped: (output key, dict key, field name, field, type kept as it is, converter).
Step = tuple[str, str, str, fields.Field, type | None, Converter | None]


class _Never:
    """A type no value has: for fields whose every non-None value goes through the converter."""


def _identity(value: typing.Any) -> typing.Any:
    return value


def _converter(field: fields.Field) -> tuple[type, Converter] | None:
    """(type left unchanged, converter) equal to `field._serialize` for non-None values, or None.

    Every field class listed returns None for None, so the plan keeps a None as it is. The
    unchanged type is one for which `_serialize` provably returns the value itself (a `str` for
    `String`, an `int` for `Integer`, ...); any other value goes through the converter, which is
    the field's own `_serialize` unless it is as simple as a copy.
    """

    def own(value: typing.Any) -> typing.Any:
        return field._serialize(value, None, None)

    if type(field) is fields.String:
        return str, own
    if type(field) is fields.Integer and not field.as_string:
        return int, own
    if type(field) is fields.Float and not field.as_string:
        return float, own
    if type(field) is fields.Boolean:
        keeps_bools = (
            field._serialize(True, None, None) is True and field._serialize(False, None, None) is False
        )
        return (bool if keeps_bools else _Never), own
    if type(field) is fields.DateTime:
        # What `DateTime._serialize` calls for its format (`datetime.isoformat` for "iso").
        formatter = field.SERIALIZATION_FUNCS.get(field.format or field.DEFAULT_FORMAT)
        return _Never, formatter or own
    if type(field) is fields.Raw:
        return _Never, _identity
    if type(field) is fields.Dict:
        if field.key_field is None and field.value_field is None:
            return _Never, field.mapping_type
        return _Never, own  # keys and values are serialized with (None, None) by marshmallow too
    if type(field) is fields.List:
        inner = _converter(field.inner)
        if inner is None:
            return None
        keep, convert = inner

        def each(value: typing.Any) -> list:
            return [item if item is None or type(item) is keep else convert(item) for item in value]

        return _Never, each
    if type(field) is fields.Nested:
        schema = field.schema
        if not isinstance(schema, Schema):
            return None
        if schema.many or field.many:

            def nested_many(value: typing.Any) -> typing.Any:
                return schema.dump(value, many=True)

            return _Never, nested_many
        return _Never, schema.dump
    return None


def plan_of(schema: marshmallow.Schema) -> list[Step] | None:
    """The steps that dump a dict as `schema` does, or None when this schema must not use them."""
    if (
        schema._hooks[PRE_DUMP]
        or schema._hooks[POST_DUMP]
        or schema.dict_class is not dict
        or type(schema).get_attribute is not marshmallow.Schema.get_attribute
    ):
        return None
    steps: list[Step] = []
    for name, field in schema.dump_fields.items():
        key = field.data_key if field.data_key is not None else name
        attribute = field.attribute if field.attribute is not None else name
        found = _converter(field) if field._CHECK_ATTRIBUTE and "." not in attribute else None
        keep, convert = found if found is not None else (None, None)
        steps.append((key, attribute, name, field, keep, convert))
    return steps


class Schema(marshmallow.Schema):
    """marshmallow's Schema, dumping a plain dict by a plan made once (see the module's docstring)."""

    _dump_plan: list[Step] | None

    def dump(self, obj: typing.Any, *, many: bool | None = None) -> typing.Any:
        """The same result as `marshmallow.Schema.dump`; plain dicts take the planned path."""
        if type(obj) is not dict or many or (many is None and self.many):
            return super().dump(obj, many=many)
        try:
            plan = self._dump_plan
        except AttributeError:
            # Made on first use, when nested schemas are resolvable; two threads making it at
            # once make the same plan.
            plan = self._dump_plan = plan_of(self)
        if plan is None:
            return super().dump(obj, many=many)
        get = obj.get
        result: dict[str, typing.Any] = {}
        for key, attribute, name, field, keep, convert in plan:
            if convert is not None:
                value = get(attribute, missing)
                if value is None or type(value) is keep:
                    result[key] = value
                    continue
                if value is not missing:
                    result[key] = convert(value)
                    continue
            value = field.serialize(name, obj, accessor=self.get_attribute)
            if value is not missing:
                result[key] = value
        return result
