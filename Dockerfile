# syntax=docker/dockerfile:1
# A static runtimesd on a distroless base, running as a non-root user.
#   docker build -t runtimesd:latest --build-arg VERSION=$(git describe --always) .
# The data directory is /var/lib/runtimesd: mount a volume there. runtimesd listens on
# 127.0.0.1 by default, which suits a sidecar sharing its pod's network; to publish it from a
# standalone container, pass --listen 0.0.0.0:7878 (and read README's security notes).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/runtimesd ./cmd/runtimesd
# The data directory exists in the image, owned by nonroot and 0700: Docker fills a new named
# volume from it (owner and mode included). Without it the volume's directory is root's, the
# daemon cannot create its file there, and nothing survives a restart.
RUN mkdir -m 0700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/runtimesd /runtimesd
COPY --from=build --chown=65532:65532 /out/data /var/lib/runtimesd
USER nonroot:nonroot
VOLUME ["/var/lib/runtimesd"]
ENTRYPOINT ["/runtimesd"]
CMD ["serve", "--data", "/var/lib/runtimesd"]
