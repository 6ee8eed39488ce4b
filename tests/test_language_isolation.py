"""A language a test's request activated is gone when the next test starts
(tests/conftest.py's `_no_language_left_over`).

The two tests run in this order (pytest-django puts database tests first, and the file
order agrees): the first asks for a French page through the test client, the second is
tests/pages/test_formatting.py's English formatting, which failed when tests/shell's
language test had run before it. `uv run pytest tests/shell/test_layout.py
tests/pages/test_formatting.py` shows the same with the real pair.
"""

import datetime as dt

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from portal.formatting import php_date


@pytest.mark.django_db
@pytest.mark.urls("tests.shell.urls")
def test_a_french_page_activates_french(client: Client):
    response = client.get("/__test__/anonymous/", headers={"Accept-Language": "fr"})
    assert response["Content-Language"] == "fr"
    # What used to leak: the request's activation, left in this test's context.
    assert translation.get_language() == "fr"


def test_the_next_test_starts_in_the_default_language():
    assert translation.get_language() == settings.LANGUAGE_CODE
    assert php_date(dt.datetime(2026, 3, 1, 14, 5, 9), "j M Y") == "1 Mar 2026"
