# Rampart in a container: built with the Rust toolchain, run on a distroless base as a
# non-root user (65532) with nothing but the binary and CA certificates.
#   docker build -t rampart .
#   docker run --rm -p 8080:8080 -p 9090:9090 rampart up --listen 0.0.0.0:8080 --admin-listen 0.0.0.0:9090

FROM rust:1-bookworm AS build
WORKDIR /src
# dependencies first, so source edits do not rebuild them
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY train train
COPY policies policies
COPY docs docs
RUN cargo build --release --locked -p rampart \
 && install -D -m 0755 target/release/rampart /out/rampart

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/rampart /usr/local/bin/rampart
USER 65532:65532
WORKDIR /var/lib/rampart
EXPOSE 8080 9090 9091
ENTRYPOINT ["/usr/local/bin/rampart"]
CMD ["up", "--listen", "0.0.0.0:8080", "--admin-listen", "0.0.0.0:9090", "--data-dir", "/var/lib/rampart"]
