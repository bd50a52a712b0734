# Builds the shopstream binary for compose.yml (untested here: no Docker engine).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/shopstream ./cmd/shopstream

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/shopstream /shopstream
ENTRYPOINT ["/shopstream"]
