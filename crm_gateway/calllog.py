"""Count the CRM calls made while serving one page (or one test).

`with CallLog() as log: ...` collects every HTTP exchange with the CRM made in this
context, including from tasks it starts (they inherit the context variable and share
the same log object). Pages can show `len(log)`; tests assert call counts with it.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from types import TracebackType


@dataclass(frozen=True)
class CallRecord:
    method: str
    path: str
    status: int | None  # None: no answer (connection error, timeout)
    elapsed: float
    attempt: int
    credential: str  # kind only: "staff", "contact", "portal", "basic", "anonymous"


@dataclass
class CallLog:
    calls: list[CallRecord] = field(default_factory=list)
    _token: contextvars.Token[CallLog | None] | None = field(default=None, repr=False)

    def __enter__(self) -> CallLog:
        self._token = _current.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None

    def __len__(self) -> int:
        return len(self.calls)

    def count(self, *, method: str | None = None, path_prefix: str = "") -> int:
        return sum(
            1
            for call in self.calls
            if (method is None or call.method == method) and call.path.startswith(path_prefix)
        )


_current: contextvars.ContextVar[CallLog | None] = contextvars.ContextVar(
    "crm_gateway_call_log", default=None
)


def record_call(call: CallRecord) -> None:
    log = _current.get()
    if log is not None:
        log.calls.append(call)


def current_call_log() -> CallLog | None:
    return _current.get()
