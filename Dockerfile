# The otelcol-inference image the Helm chart runs (deploy/helm/otelcol-inference).
#   docker build -t <registry>/otelcol-inference:0.1.0 .
# cgo is on (go-nvml loads libnvidia-ml at run time; the NVIDIA container runtime injects it into the
# agent), so the runtime image has glibc: distroless base, no shell. Not built by `make test` (no
# container runtime on the CI machine).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
COPY otelcol-dist/go.mod otelcol-dist/go.sum otelcol-dist/
RUN cd otelcol-dist && go mod download
COPY . .
RUN cd otelcol-dist && CGO_ENABLED=1 CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations" \
    go build -trimpath -ldflags="-s -w" -o /out/otelcol-inference .

FROM gcr.io/distroless/base-debian12:nonroot
COPY --from=build /out/otelcol-inference /otelcol-inference
USER 65532:65532
EXPOSE 4317 4318 8888 13133
ENTRYPOINT ["/otelcol-inference"]
