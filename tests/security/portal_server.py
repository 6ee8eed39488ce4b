"""The portal as a real ASGI server for tests that need real sockets: downloads cut
mid-body, clients that go away or read slowly. Every line the server logs is kept in a
file, so tests can check that no token was written."""

from pathlib import Path

from tests.emulator_server import EmulatorServer
from tests.portal_server import PortalServer, portal_env
from tests.portal_server import start_portal as start_portal_server

__all__ = ["PortalServer", "start_portal"]


def start_portal(
    data_dir: Path, crm: EmulatorServer, extra_env: dict[str, str] | None = None
) -> PortalServer:
    env = portal_env(data_dir, crm.api_url, LOG_LEVEL="INFO", **(extra_env or {}))
    return start_portal_server(env, log_path=data_dir / "portal-server.log")
