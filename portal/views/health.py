"""Liveness and readiness probes for load balancers and the Docker HEALTHCHECK."""

import asyncio
import logging
import time

from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from crm_gateway import StaffGateway

logger = logging.getLogger(__name__)


@never_cache
async def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up. Cheap on purpose: no database, cache or CRM call."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_cache() -> None:
    key = "readyz:probe"
    cache.set(key, "1", 10)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return what was stored")


# A load balancer's probe gives up after a few seconds: answer within them.
CRM_PROBE_DEADLINE = 3.0


async def _check_crm() -> None:
    # The portal's own credential on /version: the CRM answers *and* takes the
    # credential every page needs (Basic or the cached client_credentials token).
    # The deadline bounds each CRM call; the timeout also bounds a token grant before it.
    async with asyncio.timeout(CRM_PROBE_DEADLINE):
        version = await StaffGateway(deadline=CRM_PROBE_DEADLINE).signed_in_version()
    if not version.authenticated:
        raise RuntimeError("the CRM does not take the portal's credential")


async def _timed(name: str, check) -> tuple[str, dict]:
    started = time.perf_counter()
    try:
        await check()
    except Exception as error:
        logger.warning("readiness check %s failed: %s", name, type(error).__name__)
        return name, {"ok": False, "error": type(error).__name__}
    return name, {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


@never_cache
async def readyz(request: HttpRequest) -> JsonResponse:
    """The process can serve customers: database, cache and CRM all answer."""
    results = dict(
        await asyncio.gather(
            _timed("database", sync_to_async(_check_database)),
            _timed("cache", sync_to_async(_check_cache)),
            _timed("crm", _check_crm),
        )
    )
    ready = all(result["ok"] for result in results.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": results},
        status=200 if ready else 503,
    )
