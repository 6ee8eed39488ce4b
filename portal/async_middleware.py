"""Keep a request on the event loop from the first middleware to the view.

Measured with `python -m bench` (see docs/performance.md): served by the ASGI worker,
every request went through a worker thread about twenty times before it reached an
async view, because

* Django runs each hook of a `MiddlewareMixin` middleware (`process_request`,
  `process_response`) through `sync_to_async` in async mode, and a new thread per
  request at that (`ThreadSensitiveContext`); and
* WhiteNoise's middleware is sync-only, so Django ran everything below it through
  `async_to_sync`, inside a thread.

`run_hooks_on_loop()` (called once at start-up, from PortalConfig.ready) makes the
Django middlewares the portal uses run their hooks on the event loop. Only hooks that
do no I/O run there; the ones that may (saving a changed session; storing messages
into a session that is not loaded yet) still go through a thread, exactly as before.
`StaticFilesMiddleware` is WhiteNoise for the static files it knows, and a plain
pass-through for every other request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.http import HttpRequest
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string
from whitenoise.middleware import WhiteNoiseMiddleware

# Hooks that only read the request and set attributes or headers: no I/O, no waiting.
CPU_ONLY = (
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",  # a lazy user
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "portal.security.CrossOriginResourcePolicyMiddleware",
)


def _never(request: HttpRequest) -> bool:
    return False


def _session_needs_saving(request: HttpRequest) -> bool:
    """SessionMiddleware.process_response saves (I/O) only a changed session."""
    session = getattr(request, "session", None)
    if session is None:
        return False
    return bool(session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


def _messages_may_load_session(request: HttpRequest) -> bool:
    """MessageMiddleware.process_response may read or write the session (its fallback
    storage): harmless once the session is loaded, I/O if it is not."""
    storage = getattr(request, "_messages", None)
    if storage is None or not (storage.used or storage.added_new):
        return False
    session = getattr(request, "session", None)
    return session is not None and not hasattr(session, "_session_cache")


# For each middleware: when its response hook must still run in a thread.
RESPONSE_NEEDS_THREAD: dict[str, Callable[[HttpRequest], bool]] = {
    **dict.fromkeys(CPU_ONLY, _never),
    # process_request only builds a lazy session store.
    "django.contrib.sessions.middleware.SessionMiddleware": _session_needs_saving,
    "django.contrib.messages.middleware.MessageMiddleware": _messages_may_load_session,
}
_needs_thread: dict[type, Callable[[HttpRequest], bool]] = {}


async def _acall_on_loop(self: Any, request: HttpRequest) -> Any:
    """MiddlewareMixin.__acall__, with the hooks called directly (see module doc)."""
    needs_thread = _needs_thread.get(type(self))
    if needs_thread is None:  # a subclass, which may have hooks with I/O: Django's way
        return await MiddlewareMixin.__acall__(self, request)
    response = None
    if hasattr(self, "process_request"):
        response = self.process_request(request)
    response = response or await self.get_response(request)
    if hasattr(self, "process_response"):
        if needs_thread(request):
            response = await sync_to_async(self.process_response, thread_sensitive=True)(
                request, response
            )
        else:
            response = self.process_response(request, response)
    return response


def _with_view_hook_on_loop(init: Callable[..., None]) -> Callable[..., None]:
    """CsrfViewMiddleware.process_view checks the token the request carries (the body is
    already read by the ASGI handler): given to Django as a coroutine, it is awaited in
    place instead of being sent to a thread."""

    def __init__(self: Any, get_response: Callable[..., Any]) -> None:
        init(self, get_response)
        if self.async_mode and type(self) in _needs_thread and not settings.CSRF_USE_SESSIONS:
            process_view = self.process_view

            async def process_view_on_loop(*args: Any) -> Any:
                return process_view(*args)

            self.process_view = process_view_on_loop

    return __init__


def run_hooks_on_loop() -> None:
    """Patch the listed middlewares that are installed (exactly these classes: a
    subclass may add hooks that do I/O, so it keeps Django's threads)."""
    for path in settings.MIDDLEWARE:
        if path in RESPONSE_NEEDS_THREAD and import_string(path) not in _needs_thread:
            middleware = import_string(path)
            _needs_thread[middleware] = RESPONSE_NEEDS_THREAD[path]
            middleware.__acall__ = _acall_on_loop
            if path == "django.middleware.csrf.CsrfViewMiddleware":
                middleware.__init__ = _with_view_hook_on_loop(middleware.__init__)


class StaticFilesMiddleware:
    """WhiteNoise for its static files; every other request passes straight through,
    on the event loop (WhiteNoise's own middleware is sync-only)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[..., Any]) -> None:
        self.get_response = get_response
        self.whitenoise = WhiteNoiseMiddleware(get_response)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        return self.whitenoise(request)

    async def __acall__(self, request: HttpRequest) -> Any:
        whitenoise = self.whitenoise
        if whitenoise.autorefresh:
            # Development: WhiteNoise looks on disk, so only for its own prefix, in a thread.
            if not request.path_info.startswith(whitenoise.static_prefix):
                return await self.get_response(request)
            static_file = await sync_to_async(whitenoise.find_file)(request.path_info)
        else:
            static_file = whitenoise.files.get(request.path_info)  # in memory since start-up
        if static_file is None:
            return await self.get_response(request)
        return await sync_to_async(whitenoise.serve)(static_file, request)
