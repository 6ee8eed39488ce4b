"""In-process test controls: switches, injected faults and the request log.

Kept in memory on purpose: the server runs one process (1 gunicorn worker with threads),
and `POST /__emulator__/reset` brings everything back to its defaults between tests.
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings

from crm_emulator import profiles

FAULT_KINDS = frozenset(
    {
        "latency",
        "status",
        "malformed",
        "html",
        "wrong_shape",
        "wrong_total",
        "reset",
        "truncate",
        "truncate_chunked",
        "stall_headers",
        "stall_body",
    }
)
REQUEST_LOG_LIMIT = 5000


def started_profile() -> str:
    """The profile the server was started with (`run_emulator --profile`)."""
    return str(getattr(settings, "EMULATOR_PROFILE", "") or "default")


def default_switches(profile_name: str | None = None) -> dict[str, Any]:
    """The switches of a profile (the started one by default), as `reset` restores them."""
    return {
        "contact_token_reads_data": False,
        "leaky": False,
        "allow_http": bool(getattr(settings, "EMULATOR_ALLOW_HTTP", False)),
        "basic_auth": False,
        "startup_edition": False,
        **profiles.profile(profile_name or started_profile()),
    }


@dataclass
class Fault:
    path: str
    kind: str
    method: str | None = None
    ms: int = 0
    status: int = 500
    retry_after: int | None = None
    times: int | None = None
    after: int = 0  # matching requests left alone before the fault applies (the Nth call)
    pattern: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.pattern = re.compile(self.path)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("pattern", None)
        return data


_lock = threading.Lock()
switches: dict[str, Any] = {}
faults: list[Fault] = []
request_log: list[dict[str, Any]] = []
# Set when the faults are cleared (reset, DELETE faults): a stall under way ends then, so
# a test may hang a call for far longer than any timeout without the hang outliving it.
_stalls_released = threading.Event()


def stalls_released() -> threading.Event:
    """Set at the next clearing of the faults: a request takes it as it arrives, and its
    stalls (`released.wait(seconds)`) end then, whenever in the request they began."""
    with _lock:
        return _stalls_released


def _release_stalls() -> None:
    """End every stall under way (call with `_lock` held)."""
    global _stalls_released
    _stalls_released.set()
    _stalls_released = threading.Event()


def reset(profile_name: str | None = None) -> None:
    """Everything back to a profile's defaults (ValueError for an unknown profile)."""
    defaults = default_switches(profile_name)
    with _lock:
        switches.clear()
        switches.update(defaults)
        faults.clear()
        request_log.clear()
        _release_stalls()


def switch(name: str) -> Any:
    if not switches:
        reset()
    return switches[name]


def set_switches(changes: dict[str, Any]) -> dict[str, Any]:
    """Validate every change first, then apply them all (all or nothing)."""
    if not switches:
        reset()
    defaults = default_switches()
    for name, value in changes.items():
        if name not in defaults:
            raise ValueError(f"unknown switch {name!r}")
        if name == "access_token_ttl":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError("access_token_ttl must be a positive integer (seconds)")
        elif name in profiles.PROFILE_SWITCHES:
            profiles.check_switch(name, value)
        elif not isinstance(value, bool):
            raise ValueError(f"switch {name!r} must be true or false")
    with _lock:
        switches.update(changes)
        return dict(switches)


def add_fault(spec: dict[str, Any]) -> Fault:
    kind = spec.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(sorted(FAULT_KINDS))}")
    if not isinstance(spec.get("path"), str):
        raise ValueError("path must be a regular expression string")
    method = spec.get("method")
    if method is not None and not isinstance(method, str):
        raise ValueError("method must be a string or null")
    numbers = {}
    for name in ("ms", "status", "retry_after", "times", "after"):
        value = spec.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{name} must be an integer")
        numbers[name] = value
    if numbers["times"] is not None and numbers["times"] < 1:
        raise ValueError("times must be at least 1 (or null for every request)")
    if numbers["ms"] is not None and numbers["ms"] < 0:
        raise ValueError("ms must not be negative")
    if numbers["after"] is not None and numbers["after"] < 0:
        raise ValueError("after must not be negative")
    if kind == "status" and not (numbers["status"] and 100 <= numbers["status"] <= 599):
        raise ValueError("a status fault needs status between 100 and 599")
    unknown = set(spec) - {
        "path",
        "method",
        "kind",
        "ms",
        "status",
        "retry_after",
        "times",
        "after",
    }
    if unknown:
        raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
    try:
        fault = Fault(
            path=spec["path"],
            kind=kind,
            method=method.upper() if method else None,
            ms=numbers["ms"] or 0,
            status=numbers["status"] or 500,
            retry_after=numbers["retry_after"],
            times=numbers["times"],
            after=numbers["after"] or 0,
        )
    except re.error as error:
        raise ValueError(f"path is not a valid regular expression: {error}") from None
    with _lock:
        faults.append(fault)
    return fault


def clear_faults() -> None:
    with _lock:
        faults.clear()
        _release_stalls()


def take_faults(method: str, path: str) -> list[Fault]:
    """Matching faults for this request, counting one use of each limited one."""
    taken = []
    with _lock:
        for fault in list(faults):
            if fault.method and fault.method != method:
                continue
            if not fault.pattern.search(path):
                continue
            if fault.after > 0:  # not yet: this request is one of those it leaves alone
                fault.after -= 1
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    faults.remove(fault)
            taken.append(fault)
    return taken


def log_request(entry: dict[str, Any]) -> None:
    with _lock:
        request_log.append(entry)
        if len(request_log) > REQUEST_LOG_LIMIT:
            del request_log[: len(request_log) - REQUEST_LOG_LIMIT]


def logged_requests() -> list[dict[str, Any]]:
    with _lock:
        return [dict(entry) for entry in request_log]


def clear_requests() -> None:
    with _lock:
        request_log.clear()
