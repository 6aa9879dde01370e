"""The copy of case data an act makes (`projection.json_safe`): JSON through C, one walk in Python
for what the encoder refuses; both must give the same case data for anything a script can leave."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.projection import _walked, json_safe

# What a script or a form can leave in task data: JSON values, dates, times, durations, tuples,
# sets of scalars; keys as text, and now and then an integer key.
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.datetimes(timezones=st.just(UTC))
    | st.dates()
    | st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(days=3))
)
_KEYS = st.text(max_size=6) | st.integers(min_value=-5, max_value=5)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.sets(st.integers() | st.text(max_size=4), max_size=3)
        | st.dictionaries(_KEYS, inner, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=6))
def test_the_copy_is_what_walking_the_data_gives(data: dict) -> None:
    copied = json_safe(data)
    assert copied == _walked(data)
    # Plain JSON, sharing nothing with the original.
    assert json.loads(json.dumps(copied)) == copied


def test_the_copy_shares_nothing_with_the_data_it_was_made_from() -> None:
    data = {"rounds": [{"visit": {"note": "ok"}}], "when": datetime(2026, 12, 1, 8, tzinfo=UTC)}
    copied = json_safe(data)
    copied["rounds"][0]["visit"]["note"] = "changed"
    assert data["rounds"][0]["visit"]["note"] == "ok"
    assert copied["when"] == "2026-12-01T08:00:00+00:00"
    assert json_safe({"day": date(2026, 12, 1), "set": {3}}) == {"day": "2026-12-01", "set": [3]}
