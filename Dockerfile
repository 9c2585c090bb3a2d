# syntax=docker/dockerfile:1.7
#
# The tracepipe binary (every subcommand: gateway, processor, sink, serve,
# process, export, …) and the bundled catalog, on Debian slim, as a non-root
# user.
#
#   docker build -t tracepipe:0.1.0 .
#   docker run --rm tracepipe:0.1.0 --help
#
# The Helm chart in helm/tracepipe runs it as `tracepipe gateway|processor|sink`.
# Build needs BuildKit (cache mounts keep the cargo registry and the target
# directory between builds).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
# What the native dependencies build with: librdkafka from its bundled source
# (configure + make, rdkafka-sys), aws-lc (rustls' crypto, cc or cmake),
# SQLite (rusqlite "bundled"), zstd (parquet); zlib from the system through
# pkg-config (libz-sys, for librdkafka).
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
    && apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential cmake perl pkg-config zlib1g-dev binutils
WORKDIR /src
# The workspace: the binary's crate and every member crate; compiled in
# (include_str!/include_bytes!) are config/, the Avro schemas, catalog/ (the
# built-in catalog), the capture extension and script, and the vendored API
# documentation bundles; benches/ is named by Cargo.toml.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY schemas ./schemas
COPY ingest ./ingest
COPY processors ./processors
COPY sinks ./sinks
COPY accounts ./accounts
COPY billing ./billing
COPY telemetry ./telemetry
COPY pipeline ./pipeline
COPY export ./export
COPY control ./control
COPY api ./api
COPY distributed ./distributed
COPY benches ./benches
COPY config ./config
COPY catalog ./catalog
COPY capture/capture.js ./capture/capture.js
COPY capture/extension ./capture/extension
COPY assets/vendor ./assets/vendor
ARG CARGO_BUILD_JOBS=
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    if [ -n "$CARGO_BUILD_JOBS" ]; then export CARGO_BUILD_JOBS; else unset CARGO_BUILD_JOBS; fi \
    && cargo build --release --locked --bin tracepipe \
    && mkdir -p /out \
    && cp target/release/tracepipe /out/tracepipe \
    && strip --strip-debug /out/tracepipe \
    && /out/tracepipe --version

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# ca-certificates: rustls verifies S3 endpoints against the system's roots.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tracepipe \
    && useradd --system --uid 10001 --gid tracepipe --create-home --home-dir /home/tracepipe \
        --shell /usr/sbin/nologin tracepipe
COPY --from=builder /out/tracepipe /usr/local/bin/tracepipe
WORKDIR /app
COPY --chown=root:root catalog ./catalog
ENV TRACEPIPE_CATALOG=/app/catalog
USER 10001:10001
# 8090: the gateway's HTTP API (TRACEPIPE_LISTEN); 9090: the processor's and
# the sink's health and metrics port (TRACEPIPE_METRICS_LISTEN).
EXPOSE 8090 9090
ENTRYPOINT ["tracepipe"]
CMD ["--help"]
