# ShopStream streams. `make run` starts everything on an embedded broker;
# `make test` runs every test (unit, integration on the embedded broker,
# concurrency) under the race detector.

GO          ?= go
BIN         := bin/shopstream
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Benchmarks: BENCH selects them, BENCHTIME sets their length.
BENCH       ?= .
BENCHTIME   ?= 1s

.PHONY: build run test bench lint clean

build:
	$(GO) build -o $(BIN) ./cmd/shopstream

run: build
	./$(BIN) dev

# The dashboard's browser test needs Debian's chromium; .ci/ensure-chromium
# installs it when missing (as root), otherwise that one test skips. The
# returns and views packages run twice: their services reading the
# processors' tables, as dev does, and reading views, as run does.
test:
	./.ci/ensure-chromium
	$(GO) test -race -count=1 -timeout 14m ./...
	$(GO) test -race -count=1 -timeout 5m ./processors/returns/ -args -returns.reads=views
	$(GO) test -race -count=1 -timeout 5m ./views/ -args -views.reads=views

bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem -timeout 60m ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

clean:
	rm -rf bin
