# Production image: build in the Rust image, run on a slim Debian.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && cp target/release/mcu /usr/local/bin/mcu

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/mcu --create-home mcu
COPY --from=build /usr/local/bin/mcu /usr/local/bin/mcu
USER mcu
WORKDIR /var/lib/mcu
ENV MCU_BIND=0.0.0.0:8080 MCU_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/mcu"]
CMD ["serve"]
