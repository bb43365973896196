# syntax=docker/dockerfile:1
# The sluice binary in a slim image; every target (-target=...) runs from it.
#
#   docker build -t sluice .
#   docker run -v $PWD/my.yaml:/etc/sluice/sluice.yaml -p 3100:3100 sluice
#
# deploy/docker-compose.yaml builds and runs it as microservices.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
ARG SLUICE_REVISION=""
ENV SLUICE_REVISION=${SLUICE_REVISION}
# The cache mounts keep downloaded crates and compiled dependencies between
# builds; the binary is copied out of the cached target directory.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin sluice \
    && cp target/release/sluice /usr/local/bin/sluice

FROM debian:bookworm-slim
# ca-certificates: https object stores; curl: the compose health checks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
# /data holds an ingester's WAL, raft log and tokens (a volume in
# deployments); owned by the unprivileged user sluice runs as.
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home sluice \
    && mkdir -p /data /etc/sluice \
    && chown sluice:sluice /data
COPY --from=build /usr/local/bin/sluice /usr/local/bin/sluice
USER 10001:10001
WORKDIR /data
# HTTP (Loki API, /ready, /metrics, raft) and gRPC (between modules).
EXPOSE 3100 9095
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["-config.file=/etc/sluice/sluice.yaml", "-config.expand-env=true"]
