"""ASGI entry point, served by gunicorn's native ASGI worker (`gunicorn -k asgi`).

Django does not speak the ASGI lifespan protocol, so this module answers it: on
shutdown it closes the process's pooled CRM client, so no connection is left open.

Everything a request needs is imported here, URLconf and views included, so the first
request a worker serves is answered as fast as the next ones. gunicorn.conf.py preloads
this module in the master before it opens the port, so no request ever waits for it.
"""

import os

import django
from django.core.handlers.asgi import ASGIHandler
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup(set_prefix=False)

# Downloads and PDFs are relayed chunk by chunk, and each chunk costs the same Python
# work however small it is: 256 KiB instead of 64 KiB, both where Django hands a streamed
# body to the server and where the CRM client reads from its socket
# (crm_gateway.client.READ_CHUNK_BYTES), about doubled the
# throughput of 16 concurrent 200 MiB downloads through the portal (docs/performance.md),
# for a few hundred KiB more per worker.
RELAY_CHUNK_BYTES = 256 * 1024


class PortalASGIHandler(ASGIHandler):
    chunk_size = RELAY_CHUNK_BYTES


django_application = PortalASGIHandler()  # what get_asgi_application() builds, bigger chunks
# Django imports the URLconf, and with it every view module, on the first request
# (about 0.2 s here); at start-up instead, that request is not the slow one.
get_resolver().url_patterns  # noqa: B018  (the property imports the URLconf)


def _compile_templates() -> int:
    """Compile the portal's templates now (Django's cached loader keeps them): in the
    master, before the workers fork, so no worker parses a template on its first page
    of a kind (py-spy found Parser.parse under the first pages: docs/performance.md)."""
    from django.conf import settings
    from django.template.loader import get_template

    root = settings.BASE_DIR / "templates"
    names = sorted(path.relative_to(root).as_posix() for path in root.rglob("*.html"))
    for name in names:
        get_template(name)
    return len(names)


_compile_templates()

# The CRM client reads its socket in chunks of the same size (crm_gateway/client.py).
from crm_gateway import close_http_client  # noqa: E402  (needs Django set up)
from portal.access_log import noting_departures  # noqa: E402

# A request whose client left before any answer is logged as 499, not 500.
http_application = noting_departures(django_application)


async def application(scope, receive, send):
    if scope["type"] == "http":
        await http_application(scope, receive, send)
        return
    if scope["type"] != "lifespan":
        await django_application(scope, receive, send)
        return
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await close_http_client()
            await send({"type": "lifespan.shutdown.complete"})
            return
