"""The strict PHP-style query parser (pure, no server)."""

import pytest

from crm_emulator.errors import ApiError
from crm_emulator.query import int_param, list_param, map_param, parse_query


def test_php_forms():
    parsed = parse_query(
        "fields[]=a&fields[]=b&filters[x]=1&filters[due_date-operator]=today&limit=5&q=%C3%BC+v"
    )
    assert parsed == {
        "fields": ["a", "b"],
        "filters": {"x": "1", "due_date-operator": "today"},
        "limit": "5",
        "q": "ü v",
    }


def test_indexed_lists_keep_their_order_and_replace_duplicates():
    assert parse_query("fields[1]=b&fields[0]=a")["fields"] == ["a", "b"]
    assert parse_query("fields[0]=a&fields[0]=c")["fields"] == ["c"]
    assert parse_query("fields[0]=a&fields[]=b")["fields"] == ["a", "b"]


@pytest.mark.parametrize(
    "query",
    [
        "filters[status][]=x",
        "a[b][c]=1",
        "a=1&a[]=2",
        "a[]=1&a=2",
        "a[]=1&a[k]=2",
        "[x]=1",
        "a[k]=1&a[]=2",
    ],
)
def test_malformed_or_mixed_shapes_are_400(query):
    with pytest.raises(ApiError) as error:
        parse_query(query)
    assert error.value.status == 400


def test_typed_accessors():
    params = parse_query("limit=7&fields=a&filters=b")
    assert int_param(params, "limit", 20, 1, 200) == 7
    assert int_param(params, "offset", 0, 0, None) == 0
    with pytest.raises(ApiError):
        list_param(params, "fields")
    with pytest.raises(ApiError):
        map_param(params, "filters")
    with pytest.raises(ApiError):
        int_param(parse_query("limit=300"), "limit", 20, 1, 200)
