"""`python -m portal.healthcheck`: the Docker HEALTHCHECK, an HTTP GET of /healthz.

It sends the first ALLOWED_HOSTS entry as the Host header, so Django's host check
passes without adding the container's loopback address to ALLOWED_HOSTS.
"""

import http.client
import os
import sys


def main() -> int:
    host = os.environ.get("ALLOWED_HOSTS", "localhost").split(",")[0].strip() or "localhost"
    port = int(os.environ.get("BIND", "0.0.0.0:8000").rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
    try:
        connection.request("GET", "/healthz", headers={"Host": host.lstrip(".")})
        status = connection.getresponse().status
    except OSError as error:
        print(f"healthz unreachable: {error}", file=sys.stderr)
        return 1
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
