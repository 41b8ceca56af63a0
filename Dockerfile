# The otelcol-inference image the Helm chart runs (deploy/helm/otelcol-inference).
#   docker build -t <registry>/otelcol-inference:0.1.0 .
# cgo is on (go-nvml loads libnvidia-ml at run time; the NVIDIA container runtime injects it into the
# agent), so the runtime image has glibc: distroless base, no shell. Not built by `make test` (no
# container runtime on the CI machine).
#
# Both bases are pinned by digest (a tag moves; a digest is the image that was checked). These were
# the digests of the tags pinned in public Dockerfiles on 2026-12-04 (no registry is reachable from
# the machine that wrote this). To update, resolve each tag and replace its digest:
#   crane digest golang:1.26-bookworm                      (or: docker buildx imagetools inspect …)
#   crane digest gcr.io/distroless/base-debian12:nonroot
# then `make vulncheck` on the new Go the build image brings (govulncheck reports the standard
# library of the Go that builds the binary).
FROM golang:1.26-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d AS build
WORKDIR /src
COPY go.mod go.sum ./
COPY otelcol-dist/go.mod otelcol-dist/go.sum otelcol-dist/
RUN cd otelcol-dist && go mod download
COPY . .
RUN cd otelcol-dist && CGO_ENABLED=1 CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations" \
    go build -trimpath -ldflags="-s -w" -o /out/otelcol-inference .

FROM gcr.io/distroless/base-debian12:nonroot@sha256:7f0c72cd138b442ae0deeb69c08b1acf5525439ba251a49ad93c320a061567e5
COPY --from=build /out/otelcol-inference /otelcol-inference
USER 65532:65532
EXPOSE 4317 4318 8888 13133
ENTRYPOINT ["/otelcol-inference"]
