# billsync as a container: a static binary on a minimal base, run as a
# non-root user, its store on a volume.
#
#   docker build -t billsync --build-arg VERSION=$(git describe --always) .
#   docker run -v billsync-data:/var/lib/billsync -v $PWD/billsync.yaml:/etc/billsync/billsync.yaml:ro \
#     -p 8080:8080 billsync serve --config /etc/billsync/billsync.yaml
#
# scripts/check-deploy (run by .ci/run) builds the binary exactly as below
# and checks it is static.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/billsync ./cmd/billsync \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/billsync /usr/local/bin/billsync
# The volume's mount point belongs to the user billsync runs as, so a fresh
# named volume is writable.
COPY --from=build --chown=65532:65532 /out/data /var/lib/billsync
USER 65532:65532
ENV BILLSYNC_DATA=/var/lib/billsync \
    BILLSYNC_ADDR=0.0.0.0:8080
VOLUME /var/lib/billsync
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/billsync"]
CMD ["serve"]
