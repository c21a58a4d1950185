# calendar-scaler container image.
#
#   docker build -t ghcr.io/example/calendar-scaler:0.1.0 .
#   docker run --rm -p 9090:9090 -p 8080:8080 --read-only --tmpfs /tmp \
#     ghcr.io/example/calendar-scaler:0.1.0            # serves the bundled example calendar
#
# Base images are pinned by tag (Python patch release + Debian release). For fully
# reproducible builds pin by digest as well (python:3.11.14-slim-bookworm@sha256:...) and
# let Renovate/Dependabot bump it.

# ---------------------------------------------------------------------------------------
# Builder: build wheels for the project and its dependencies, install them into /opt/venv.
# ---------------------------------------------------------------------------------------
FROM python:3.11.14-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src

# Only what the wheel needs (see .dockerignore): metadata first, then the package.
COPY pyproject.toml README.md ./
COPY scaler/ scaler/

# `pip wheel .` builds the project's wheel from pyproject.toml (and wheels of its
# dependencies, all of which ship binary wheels for Linux, so no compiler is needed).
# The venv is then populated from those wheels only (--no-index), so what is installed
# is exactly what was just built. pip compiles .pyc files at install time, so the
# runtime image never needs to write bytecode (read-only root filesystem).
RUN pip wheel --no-cache-dir --wheel-dir /wheels . \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels \
        /wheels/keda_calendar_scaler-*.whl \
    && /opt/venv/bin/calendar-scaler --help > /dev/null

# ---------------------------------------------------------------------------------------
# Runtime: the interpreter from the same base image plus the prepared venv. No compilers,
# no pip cache, no source tree.
# ---------------------------------------------------------------------------------------
FROM python:3.11.14-slim-bookworm

LABEL org.opencontainers.image.title="calendar-scaler" \
      org.opencontainers.image.description="KEDA external scaler that raises the replica floor before calendar events (sales, drops)" \
      org.opencontainers.image.licenses="Apache-2.0"

# PYTHONDONTWRITEBYTECODE: never try to write __pycache__ (the root filesystem is
# read-only in Kubernetes). PYTHONUNBUFFERED: JSON log lines reach the container log at
# once. Time zones come from the `tzdata` Python package, a dependency of the project,
# so the image does not rely on /usr/share/zoneinfo.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# Fixed numeric UID/GID 10001 so `runAsNonRoot` can be verified by the kubelet and the
# Kubernetes manifests can name it (runAsUser: 10001). The state directory is the only
# place the scaler writes; in Kubernetes an emptyDir is mounted over it.
RUN groupadd --gid 10001 calendar-scaler \
    && useradd --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin calendar-scaler \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/calendar-scaler

COPY --from=builder /opt/venv /opt/venv

USER 10001:10001
WORKDIR /var/lib/calendar-scaler

# 9090: gRPC (externalscaler.ExternalScaler, grpc.health.v1.Health, reflection)
# 8080: HTTP (/metrics, /healthz, /readyz, status page)
EXPOSE 9090 8080

# No HEALTHCHECK: Kubernetes ignores it and uses the probes in deploy/base instead.
ENTRYPOINT ["calendar-scaler"]
CMD ["serve"]
