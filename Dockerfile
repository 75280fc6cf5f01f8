# syntax=docker/dockerfile:1
#
# shipshape container image.
#
#   podman build --format docker -t shipshape:dev .          # or: docker build -t shipshape:dev .
#
# Offline (no registry): build a local base with scripts/build-base-image.sh and pass
#   --pull=never --build-arg BASE_IMAGE=localhost/shipshape-base:py3.11-bookworm
# See docs/container.md. Build with `--format docker` under podman/buildah: the OCI image
# format has no HEALTHCHECK.
#
# The base must provide `python3` (3.11+) on PATH with the venv module; the official image has
# it at /usr/local/bin/python3, Debian's at /usr/bin/python3. Builder and runtime use the SAME
# base, so the virtual environment's interpreter symlink resolves in both stages.
ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm

# --------------------------------------------------------------------------- builder
# CKV_DOCKER_7 (base image tag): checkov cannot resolve ARGs; BASE_IMAGE defaults to a
# versioned tag above (pass a digest-pinned reference for fully reproducible builds).
# checkov:skip=CKV_DOCKER_7:The base image is the BASE_IMAGE build arg, whose default is a versioned tag
FROM ${BASE_IMAGE} AS builder

ARG UV_VERSION=0.13.8

# The build talks to PyPI only. The CA bundle is the system one so that a TLS-intercepting
# proxy's CA can be mounted over it (podman build -v HOST_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    UV_CACHE_DIR=/root/.cache/uv \
    UV_FROZEN=1 \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON_PREFERENCE=only-system \
    UV_PYTHON=python3 \
    UV_PROJECT_ENVIRONMENT=/opt/venv

# binutils: `strip` for the wheels' extension modules (68 MB -> 14 MB). Builder stage only.
# DL3008 (pin apt versions): a pinned Debian version disappears from the mirror at the next
# point release and breaks the build; this tool never reaches the runtime image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*

# uv itself lives in a throwaway venv of the builder stage; it never reaches the runtime image.
RUN python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir "uv==${UV_VERSION}"

WORKDIR /src

# 1. Third-party dependencies, exactly as locked (hashes checked), in their own layer so that
#    code changes do not reinstall them. Binary wheels only (--no-build): there is no compiler.
#    The download cache is a build cache mount: never in a layer, reused across builds.
#    Then slim the wheels: strip debug symbols from extension modules (not the vendored
#    *.libs, which patchelf rewrote and strip can corrupt), drop C/Cython sources, and prove
#    that every compiled dependency still imports.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv,sharing=locked \
    /opt/uv/bin/uv sync --frozen --no-dev --no-editable --no-install-project --no-build \
    && find /opt/venv -name '*.so' -not -path '*.libs/*' -exec strip --strip-unneeded {} + \
    && find /opt/venv -type f \( -name '*.c' -o -name '*.cpp' -o -name '*.h' -o -name '*.pyx' \
        -o -name '*.pxd' -o -name '*.pxi' \) -delete \
    && /opt/venv/bin/python -c "import importlib as i, importlib.util as u; \
[i.import_module(m) for m in ('asyncmy', 'asyncpg', 'greenlet', 'httptools', 'orjson', 'psutil', \
'pydantic_core', 'sqlalchemy', 'uvloop', 'watchfiles', 'yaml') if u.find_spec(m)]"

# 2. The project itself, installed as a regular (non-editable) wheel into the same venv.
COPY README.md ./
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv,sharing=locked \
    /opt/uv/bin/uv sync --frozen --no-dev --no-editable \
    && /opt/venv/bin/python -c "import shipshape.cli"

# --------------------------------------------------------------------------- runtime
FROM ${BASE_IMAGE} AS runtime

ARG BASE_IMAGE
# The release version the image is built for (image.yml: the semver of the release tag). Empty:
# the package version. GET /version, the greeting and build_info report it (SHIPSHAPE_VERSION).
ARG VERSION=
ARG VCS_REF=unknown
ARG BUILD_DATE=unknown
ARG SOURCE=https://github.com/shipshape/shipshape

LABEL org.opencontainers.image.title="shipshape" \
      org.opencontainers.image.description="Production-grade Python web service (FastAPI) with its delivery kit" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION:-unknown}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.url="${SOURCE}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"

# Fixed, non-root identity (match runAsUser/runAsGroup/fsGroup in the Helm chart).
RUN groupadd --system --gid 10001 shipshape \
    && useradd --system --no-log-init --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin shipshape

# The virtual environment only: no uv, no pip caches, no compilers. Owned by root and not
# writable by the service user.
COPY --from=builder /opt/venv /opt/venv

# Root CAs of Amazon RDS (infra/certs/README.md). asyncpg reads PGSSLROOTCERT when the URL names
# no sslrootcert, so `sslmode=verify-full` checks the RDS server's certificate and host name.
COPY infra/certs/rds-ca-bundle.pem /etc/ssl/certs/rds-ca-bundle.pem

# Read-only root filesystem: nothing is written outside /tmp (bytecode is precompiled,
# PYTHONDONTWRITEBYTECODE stops further writes). PYTHONSAFEPATH keeps the working directory
# (/tmp, world-writable) off sys.path. DATABASE_URL is deliberately NOT set here: the
# environment wins over DATABASE_URL_FILE, so a default would shadow mounted secrets. The
# built-in default (sqlite:///./shipshape.db) lands in the working directory, /tmp.
ENV PATH="/opt/venv/bin:${PATH}" \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1 \
    PYTHONSAFEPATH=1 \
    TMPDIR=/tmp \
    PGSSLROOTCERT=/etc/ssl/certs/rds-ca-bundle.pem \
    SHIPSHAPE_HOST=0.0.0.0 \
    SHIPSHAPE_PORT=8000 \
    SHIPSHAPE_VERSION="${VERSION}" \
    SHIPSHAPE_GIT_COMMIT="${VCS_REF}" \
    SHIPSHAPE_BUILD_DATE="${BUILD_DATE}"

WORKDIR /tmp
USER 10001:10001

EXPOSE 8000
STOPSIGNAL SIGTERM
# `shipshape healthcheck` is a stdlib HTTP GET on /livez: no curl/wget in the image.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["shipshape", "healthcheck"]

ENTRYPOINT ["shipshape"]
CMD ["serve"]
