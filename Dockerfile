# syntax=docker/dockerfile:1
# The 1CRM portal: gunicorn's native ASGI worker serving portal.asgi, static files
# by whitenoise with hashed names. Build: docker build -t onecrm-portal .

FROM python:3.12-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir uv
WORKDIR /app
# Dependencies first, from the lock file, so code changes reuse this layer.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-default-groups --no-install-project
COPY . .
# The image runs the production settings, which never import the 1CRM emulator: a
# development tool, left out by .dockerignore. Stop the build if it comes back.
RUN test ! -e crm_emulator
# collectstatic needs settings that load; these build-time values never reach runtime.
RUN SECRET_KEY=build-only ONECRM_API_URL=https://build.invalid/1crm/api.php \
    PORTAL_BASE_URL=https://build.invalid /opt/venv/bin/python manage.py collectstatic --noinput

FROM python:3.12-slim-bookworm AS runtime
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin portal \
    && mkdir /data && chown portal /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=root:root /app /app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PORTAL_DATA_DIR=/data BIND=0.0.0.0:8000
USER portal
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "portal.healthcheck"]
# Run migrations as a release step: docker run --rm IMAGE python manage.py migrate
CMD ["gunicorn", "--config", "gunicorn.conf.py"]
