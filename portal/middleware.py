"""One trip to a thread for Django's middleware, instead of one per hook.

Django's own middlewares (sessions, CSRF, security headers...) are `MiddlewareMixin`
classes: in an async stack Django calls each of their hooks through `sync_to_async`,
about twenty trips to a worker thread a request, and each costs CPU (measured with
`python -m bench pages`: docs/performance.md). Django keeps a stack in as few sync/async
switches as it can, so one sync-only middleware below them puts them all in sync mode:
Django then runs the whole group in one trip to a thread, where their hooks (and their
I/O: saving a changed session, the messages' storage) are plain calls, and comes back to
the event loop once, below this marker, for the async middlewares and the view.
Supported Django behaviour, nothing patched: see "Asynchronous support" in Django's
middleware documentation.
"""

from collections.abc import Callable
from typing import Any

from django.utils.decorators import sync_only_middleware


@sync_only_middleware
def sync_boundary(get_response: Callable[..., Any]) -> Callable[..., Any]:
    """Everything above in MIDDLEWARE runs synchronously in one thread, everything below
    on the event loop; Django adapts `get_response` (the async rest) for us."""
    return get_response
