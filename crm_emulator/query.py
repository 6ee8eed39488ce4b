"""A small, strict parser for PHP-style query strings (`filters[a]=x`, `fields[]=y`).

PHP turns `a[b]=1` into nested arrays. The API expects scalars for most parameters, an
object of scalars for `filters` and a list for `fields`; anything else is a 400, which
is stricter than PHP (PHP silently takes arrays where a string is expected).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

from crm_emulator.errors import ApiError

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")

Value = str | list[str] | dict[str, str]


def parse_query(query_string: str) -> dict[str, Value]:
    """Parse into scalars (`a=1`), lists (`a[]=1`, `a[0]=1`) and maps (`a[k]=1`)."""
    result: dict[str, Value] = {}
    lists: dict[str, dict[int, str]] = {}  # PHP arrays keep their integer keys
    for pair in query_string.split("&"):
        if not pair:
            continue
        raw_key, _, raw_value = pair.partition("=")
        key, value = unquote_plus(raw_key), unquote_plus(raw_value)
        match = _KEY.match(key)
        if not match:
            raise ApiError(400, "invalid_parameter", f"Malformed query parameter {key!r}")
        name, brackets = match.group(1), _PART.findall(match.group(2))
        if len(brackets) > 1:
            raise ApiError(
                400,
                "invalid_parameter",
                f"Parameter {key!r} is nested too deeply",
                hint="Pass a single value, not an array",
            )
        existing = result.get(name)
        if not brackets:
            if name in lists or isinstance(existing, dict):
                raise ApiError(400, "invalid_parameter", f"Parameter {name!r} given twice")
            result[name] = value  # PHP: the last scalar wins
            continue
        sub = brackets[0]
        if isinstance(existing, str):
            raise ApiError(400, "invalid_parameter", f"Parameter {name!r} given twice")
        if sub == "" or sub.isdigit():
            if isinstance(existing, dict):
                raise ApiError(400, "invalid_parameter", f"Parameter {name!r} mixes list and map")
            slots = lists.setdefault(name, {})
            slots[int(sub) if sub else max(slots, default=-1) + 1] = value
            result[name] = [slots[index] for index in sorted(slots)]
        else:
            if name in lists:
                raise ApiError(400, "invalid_parameter", f"Parameter {name!r} mixes list and map")
            mapping = result.setdefault(name, {})
            assert isinstance(mapping, dict)
            mapping[sub] = value
    return result


def scalar(params: dict[str, Value], name: str) -> str | None:
    value = params.get(name)
    if value is None or isinstance(value, str):
        return value
    raise ApiError(400, "invalid_parameter", f"Parameter {name!r} must be a single value")


def int_param(params: dict[str, Value], name: str, default: int, low: int, high: int | None) -> int:
    raw = scalar(params, name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"-?\d+", raw.strip()):
        raise ApiError(400, "invalid_parameter", f"Parameter {name!r} must be an integer")
    value = int(raw)
    if value < low or (high is not None and value > high):
        limits = f"[{low}:{high if high is not None else ''}]"
        raise ApiError(400, "invalid_parameter", f"Parameter {name!r} must be within {limits}")
    return value


def list_param(params: dict[str, Value], name: str) -> list[str] | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, list):
        return value
    raise ApiError(
        400,
        "invalid_parameter",
        f"Parameter {name!r} must be an array",
        hint=f"Use {name}[]=a&{name}[]=b",
    )


def map_param(params: dict[str, Value], name: str) -> dict[str, str]:
    value = params.get(name)
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    raise ApiError(
        400,
        "invalid_parameter",
        f"Parameter {name!r} must be an object",
        hint=f"Use {name}[key]=value",
    )
