"""ASGI entry point, served by gunicorn's native ASGI worker (`gunicorn -k asgi`).

Django does not speak the ASGI lifespan protocol, so this module answers it: on
shutdown it closes the process's pooled CRM client, so no connection is left open.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_application = get_asgi_application()

from crm_gateway.client import close_http_client  # noqa: E402  (needs Django set up)


async def application(scope, receive, send):
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
