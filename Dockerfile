# Tidings images, one file, three targets:
#   builder  locked runtime dependencies in /opt/venv (uv, with a cache mount)
#   dev      every dependency group, plus shellcheck; docker-compose.yml bind-mounts the code
#   e2e      the dev image with Debian's Chromium and the browser suite's packages
#   runtime  (default) the runtime venv and the code only, served by gunicorn
#
# Build args: UID/GID of the non-root user (the Makefile passes the host's, so files the
# dev containers write into the bind mount stay the developer's), PYTHON_IMAGE, UV_IMAGE.
# No "# syntax=" line: the builder built into the engine is enough and nothing is pulled.

ARG PYTHON_IMAGE=python:3.13-slim-trixie
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

# checkov:skip=CKV_DOCKER_7: the tag is UV_IMAGE's default above (0.13.9), an ARG checkov cannot resolve
FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE} AS base
LABEL org.opencontainers.image.title="Tidings" \
      org.opencontainers.image.description="A small, self-hosted newsletter service" \
      org.opencontainers.image.licenses="MIT"
# PYTHONDONTWRITEBYTECODE: no __pycache__ in the bind mount (the venv is compiled at build).
# PYTHONPATH: console scripts (alembic, gunicorn) import the app from the workdir.
# FLASK_SKIP_DOTENV: configuration comes from Compose only, never from a mounted .env file.
ENV PYTHONDONTWRITEBYTECODE=1 \
    FLASK_SKIP_DOTENV=1 \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
# The user comes before any dependency layer so that a UID change rebuilds little;
# --non-unique tolerates host IDs the image already uses (macOS's GID 20 is "dialout" here).
ARG UID=1000
ARG GID=1000
RUN groupadd --non-unique --gid "${GID}" app \
    && useradd --non-unique --uid "${UID}" --gid "${GID}" --create-home --shell /bin/bash app
WORKDIR /app

# uv and its settings, for the two stages that install dependencies.
FROM base AS uv-base
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never

FROM uv-base AS builder
# Only the lock and the project metadata: this layer (the slow one) is rebuilt when the
# dependencies change, not when the code does.
COPY pyproject.toml uv.lock ./
# Then the test suites some libraries ship inside themselves (3 MB that production never
# imports) are dropped from the runtime venv.
RUN --mount=type=cache,target=/root/.cache/uv \
    UV_PROJECT_ENVIRONMENT=/opt/venv uv sync --locked --no-dev --no-install-project \
    && rm -rf /opt/venv/lib/python3.13/site-packages/huey/tests \
        /opt/venv/lib/python3.13/site-packages/sqlalchemy/testing \
        /opt/venv/lib/python3.13/site-packages/alembic/testing \
        /opt/venv/lib/python3.13/site-packages/mako/testing

FROM uv-base AS dev
# shellcheck for `make lint` (no wheel for every platform on PyPI, so Debian's). Before the
# lock, so that a new dependency does not reinstall it; the apt caches are mounts, not layers.
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
    && apt-get update \
    && apt-get install -y --no-install-recommends shellcheck
COPY pyproject.toml uv.lock ./
# Every group, synced into a venv kept between builds (a relocatable one, so that it can be
# copied): a changed lock installs and compiles only what changed, then the copy is the layer.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=cache,id=tidings-dev-venv,target=/cache/venv,sharing=locked \
    { [ -f /cache/venv/pyvenv.cfg ] || uv venv --quiet --relocatable /cache/venv; } \
    && UV_PROJECT_ENVIRONMENT=/cache/venv uv sync --locked --no-install-project \
    && cp -a /cache/venv /opt/venv
# Tool caches outside the bind mount: they never land in the checkout, and a host whose
# files the container user cannot write (a root-owned clone in CI) still works.
ENV MYPY_CACHE_DIR=/tmp/cache/mypy \
    RUFF_CACHE_DIR=/tmp/cache/ruff \
    COVERAGE_FILE=/tmp/cache/coverage \
    PYTEST_ADDOPTS="-p no:cacheprovider"
# Lets `make` tell a stale dev image from a current one (scripts/ensure-image). Last, so a
# new value costs no rebuild of the layers above.
ARG DEPS_HASH=unknown
LABEL tidings.deps-hash="${DEPS_HASH}"
USER app
EXPOSE 8000
CMD ["python", "-m", "devtools.reload", "--hup", "gunicorn", "app.wsgi:app"]

FROM dev AS e2e
# The browser suite (make e2e): Debian's Chromium, which Playwright drives (no browser can be
# downloaded where the suite runs), and the e2e dependency group on top of the dev image's.
USER root
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt,sharing=locked \
    apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-dejavu-core
RUN --mount=type=cache,target=/root/.cache/uv \
    UV_PROJECT_ENVIRONMENT=/opt/venv uv sync --locked --no-install-project --group e2e
ENV CHROMIUM=/usr/bin/chromium
USER app

FROM base AS runtime
# Production only: the settings refuse any other APP_ENV in this image, and with it the
# development placeholders for secrets.
ENV APP_ENV=production \
    TIDINGS_RUNTIME_IMAGE=1
COPY --from=builder /opt/venv /opt/venv
# Owned by root and read-only to the app user: the running service cannot rewrite its code.
COPY pyproject.toml gunicorn.conf.py ./
COPY migrations ./migrations
# Last, as what changes most. Not compiled to bytecode here: a process compiles Tidings' own
# modules as it starts (hundredths of a second), and the rebuild after an edit stays a copy.
COPY app ./app
USER app
EXPOSE 8000
# Probes every second while starting, then every 30 s (the probe is the standard library
# only); `auto` checks a worker started from this image (`python -m app.worker`) too.
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --start-interval=1s --retries=3 \
    CMD ["python", "app/probe.py", "auto"]
# gunicorn.conf.py holds the settings. --preload builds the app once, in the master: a
# configuration error stops the container with its message (workers would otherwise be
# respawned forever), and workers share memory.
CMD ["gunicorn", "--preload", "app.wsgi:app"]
