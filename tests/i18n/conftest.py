"""The customer pages' fixtures (a signed-in client on the emulator's demo data)."""

from tests.pages.conftest import (  # noqa: F401 (fixtures shared with the page tests)
    contact_client,
    crm_pages,
    demo,
)
