# Production image: build in the Rust image, run on a slim Debian.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, built against empty crates: this layer is rebuilt only when the
# manifests or the lock file change, not on every change of the sources.
COPY Cargo.toml Cargo.lock ./
COPY migration/Cargo.toml migration/Cargo.toml
RUN mkdir -p src migration/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs migration/src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src migration/src
# Then the sources; touched so that cargo rebuilds the two crates over the empty ones.
COPY . .
RUN touch src/main.rs src/lib.rs migration/src/lib.rs \
    && cargo build --release --locked \
    && cp target/release/mcu /usr/local/bin/mcu

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/mcu --create-home mcu \
    && mkdir /var/lib/mcu/files && chown mcu /var/lib/mcu/files
COPY --from=build /usr/local/bin/mcu /usr/local/bin/mcu
USER mcu
WORKDIR /var/lib/mcu
ENV MCU_BIND=0.0.0.0:8080 MCU_LOG_FORMAT=json
EXPOSE 8080
# Also used by docker-compose.yml: exits 0 when /readyz answers 200.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=10 CMD ["/usr/local/bin/mcu", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/mcu"]
CMD ["serve"]
