# AuthGate's container image: the `authgate` binary on distroless, as user
# 65532 (nonroot), with its SQLite data in the /data volume. Set
# DATABASE_URL=postgres://... for PostgreSQL.
#
#   docker build -t authgate .
#   docker run -p 8080:8080 -v authgate-data:/data -e AUTHGATE_SECRET_KEY=... authgate
#
# scripts/image-check builds the same layout without pulling these bases
# (it assembles the runtime from Debian's packages) and checks the result.
ARG BUILD_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
# The stage the binary comes from: `build` compiles it here; scripts/image-check
# names an image holding one built outside (no base can be pulled there).
ARG BINARY_FROM=build

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY . .
# The `dist` profile: release built for size (Cargo.toml).
RUN cargo build --profile dist --locked -p authgate-gateway --bin authgate \
 && install -D -m 0755 target/dist/authgate /out/authgate \
 && install -d -o 65532 -g 65532 /out/data

FROM ${BINARY_FROM} AS binary

FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="AuthGate" \
      org.opencontainers.image.description="Self-hostable auth platform with an MCP control plane" \
      org.opencontainers.image.source="https://github.com/authgate/authgate" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=binary /out/authgate /usr/local/bin/authgate
COPY --from=binary --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV AUTHGATE_BIND=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///data/authgate.db
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/authgate", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/authgate"]
CMD ["serve"]
