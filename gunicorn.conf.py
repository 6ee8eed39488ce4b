"""gunicorn settings for production: native ASGI workers serving portal.asgi.

Every value can be overridden with the usual GUNICORN_CMD_ARGS or the variables below.
"""

import os

wsgi_app = "portal.asgi:application"
worker_class = "asgi"
# Import the portal in the master before it opens the port. Without it, the port accepts
# connections while a worker still imports Django and the portal (about a second): a
# health probe that gives up sooner is logged as a 500 (gunicorn's status for a request
# whose client left before any answer). Preloaded, a probe is refused until the portal
# can answer, and a worker forks ready to serve, after a restart too. Nothing connects
# at import: the CRM client, the database and Redis connect in each worker, on first use.
# So a HUP forks new workers from the code the master holds: new code needs a new master
# (docs/deployment.md, "Rolling out new code").
preload_app = True
bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Each worker listens on its own socket (SO_REUSEPORT) and the kernel spreads new
# connections across them. With one shared socket, whichever worker's loop woke first
# took every connection of a burst: 32 concurrent downloads all landed on one worker,
# which relayed them on one core (docs/performance.md: 24.5 MB/s through the portal with
# one shared socket, 105 MB/s with reuse_port, side by side on this machine). The cost:
# connections waiting in a worker's queue when that worker exits are reset, so a
# worker restart can drop a few; gunicorn restarts workers only on failure here.
_reuse_port = os.environ.get("GUNICORN_REUSE_PORT", "1").strip().lower()
if _reuse_port not in {"1", "0", "true", "false"}:
    raise SystemExit(f"GUNICORN_REUSE_PORT must be 1 or 0, not {_reuse_port!r}")
reuse_port = _reuse_port in {"1", "true"}
# One ASGI worker serves many customers at once; the CRM is the bottleneck, not the CPU.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "1000"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Trust X-Forwarded-* only from the proxy addresses the operator names.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
# Sign-in links and OAuth codes are in URLs: the access log leaves them out.
logger_class = "portal.access_log.RedactingLogger"
