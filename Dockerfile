# Multi-stage build: compile with the Rust toolchain, run on a slim Debian as a non-root
# user. SQLite, libpq and OpenSSL are built from crates (bundled/vendored), so the runtime
# image needs no database client libraries.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY src src
COPY migrations migrations
COPY reference reference
RUN cargo build --release --locked --bin hocvuso

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin hocvuso \
    && mkdir -p /data && chown hocvuso /data
COPY --from=build /src/target/release/hocvuso /usr/local/bin/hocvuso
USER hocvuso
WORKDIR /data
VOLUME ["/data"]
ENV HOCVUSO_BIND=0.0.0.0:8080 \
    HOCVUSO_DATA_DIR=/data \
    HOCVUSO_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 CMD ["hocvuso", "healthcheck"]
ENTRYPOINT ["hocvuso"]
CMD ["serve"]
