# syntax=docker/dockerfile:1
# Build stage: install the client (stubs) and the server into a venv, pinned by constraints.txt.
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY constraints.txt pyproject.toml README.md ./
COPY client ./client
COPY server ./server
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install -c constraints.txt ./client .

# Runtime stage: the venv only, as a non-root user.
FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 playerstats \
    && useradd --system --uid 10001 --gid playerstats --home-dir /nonexistent --shell /usr/sbin/nologin playerstats \
    && mkdir -p /data \
    && chown playerstats:playerstats /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PLAYERSTATS_LISTEN=[::]:50051 \
    PLAYERSTATS_DATA_DIR=/data
USER 10001:10001
WORKDIR /data
EXPOSE 50051
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 CMD ["playerstats-healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["playerstats-server"]
