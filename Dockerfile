# Build: docker build -t payd .
# Run:   docker run -v payd-data:/data -v $PWD/payd.yaml:/etc/payd/payd.yaml:ro -p 8080:8080 payd
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/payd ./cmd/payd

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /data --shell /usr/sbin/nologin payd && mkdir -p /data && chown payd /data
COPY --from=build /out/payd /usr/local/bin/payd
USER payd
ENV PAYD_DATABASE_PATH=/data/payd.db PAYD_SERVER_LISTEN=0.0.0.0:8080
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD ["/usr/local/bin/payd", "version"]
ENTRYPOINT ["/usr/local/bin/payd"]
CMD ["run", "--config", "/etc/payd/payd.yaml"]
