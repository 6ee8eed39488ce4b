"""The knowledge-base reader checks every record the CRM returns for `portal_active`,
not only asks for it: a CRM that ignores the filter (scripted here, as the emulator
never does) still shows nothing unpublished."""

from __future__ import annotations

import httpx2 as httpx
import pytest

from crm_gateway import NotFound
from crm_gateway.client import use_transport
from crm_gateway.knowledge import KnowledgeBase


async def test_the_portal_checks_every_record_even_when_the_crm_ignores_the_filter(settings):
    """A CRM that sends unpublished records although asked for published ones (the
    emulator never does: a mock transport plays that CRM): the portal drops them."""
    settings.ONECRM_API_URL = "http://crm.invalid/api.php"
    settings.ONECRM_BASIC_USERNAME = "portal"
    settings.ONECRM_BASIC_PASSWORD = "portal-password"
    records = [
        {"id": "a1", "name": "Published", "portal_active": "1", "category_id": "c1"},
        {"id": "a2", "name": "Not published", "portal_active": "0", "category_id": "c1"},
        {"id": "a3", "name": "No flag", "category_id": "c1"},
    ]

    def crm(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/data/KBArticle"):
            assert request.url.params.get("filters[portal_active]") == "1"
            return httpx.Response(200, json={"records": records, "total_results": 3})
        return httpx.Response(200, json={"record": records[1]})

    with use_transport(httpx.MockTransport(crm)):
        page = await KnowledgeBase().articles()
        assert [a.id for a in page.records] == ["a1"] and page.total == 1
        with pytest.raises(NotFound):
            await KnowledgeBase().article("a2")
