"""The README's first command brings up a page at the URL it prints."""

import os
import re
import signal
import subprocess
import sys
import time

import httpx2 as httpx
import pytest

from tests.emulator_server import ROOT, free_port


@pytest.mark.slow
def test_demo_command_serves_the_portal_at_the_printed_url(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CACHE_URL"}}
    env.update(PORTAL_DATA_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    # As in a fresh shell: manage.py demo picks its settings and switches DEBUG on by itself.
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DEBUG", None)
    port, emulator_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "demo",
            "--port",
            str(port),
            "--emulator-port",
            str(emulator_port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = []
    try:
        deadline = time.monotonic() + 120
        url = None
        while time.monotonic() < deadline and url is None:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            if match := re.search(r"The portal is running at (\S+)", line):
                url = match.group(1)
        assert url == f"http://127.0.0.1:{port}/", "".join(output)
        while "Press Ctrl-C" not in output[-1]:  # the welcome text ends with this line
            output.append(process.stdout.readline())
        welcome = "".join(output)
        assert "password demo-password" in welcome
        assert "user admin" in welcome
        response = httpx.get(url, follow_redirects=True, timeout=10)
        assert response.status_code == 200, response.text[:500]
        assert "text/html" in response.headers["content-type"]
        assert "Sign in" in response.text
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
