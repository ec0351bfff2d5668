# bloom — make help lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   := bin
export CGO_ENABLED ?= 0
# VERSION is stamped into both binaries (cli.Version): bloomctl version, members' VERSION
# column, /metrics' bloom_build_info and a rollout's table show it.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X bloom/cli.Version=$(VERSION)

# man and completion: `bin/bloomctl completion bash|zsh|fish` (and bloomd's) print the scripts.
.PHONY: help build man docs image build-acl test test-acl test-portable test-race verify bench bench-allreduce demo demo-local soak scale sim fuzz golden clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' \
	  '{ name[NR] = $$1; text[NR] = $$2; if (length($$1) > w) w = length($$1) } \
	   END { for (i = 1; i <= NR; i++) printf "  %-*s  %s\n", w, name[i], text[i] }'

build: ## build bin/bloomd and bin/bloomctl (static, CGO_ENABLED=0), stamped with VERSION (git describe)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/bloomd ./cmd/bloomctl

man: build ## man pages of bloomctl and bloomd, generated from their commands, in bin/man/man1 (man -l bin/man/man1/bloomctl.1)
	$(BIN)/bloomctl man --out $(BIN)/man/man1
	$(BIN)/bloomd man --out $(BIN)/man/man1

docs: ## regenerate docs/jobspec.md (the job spec reference) and docs/environment.md from the code
	$(GO) run ./scripts/gendocs -out docs

image: ## the container image bloom:VERSION from packaging/Dockerfile (needs docker; packaging/compose.yaml starts 3 nodes of it)
	docker build -f packaging/Dockerfile --build-arg VERSION=$(VERSION) -t bloom:$(VERSION) .

build-acl: ## cgo binaries with the Ascend backend (-tags ascend) in bin/acl/ for this machine, and bin/acl/linux-arm64/ with Debian's cross compiler (apt-get install gcc-aarch64-linux-gnu)
	CGO_ENABLED=1 $(GO) build -tags ascend -ldflags "$(LDFLAGS)" -o $(BIN)/acl/ ./cmd/bloomd ./cmd/bloomctl
	@if [ "$$($(GO) env GOARCH)" = arm64 ]; then exit 0; fi; \
	  if command -v aarch64-linux-gnu-gcc >/dev/null; then \
	    echo "CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc $(GO) build -tags ascend -ldflags '$(LDFLAGS)' -o $(BIN)/acl/linux-arm64/ ./cmd/bloomd ./cmd/bloomctl"; \
	    CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc $(GO) build -tags ascend -ldflags "$(LDFLAGS)" -o $(BIN)/acl/linux-arm64/ ./cmd/bloomd ./cmd/bloomctl; \
	  else echo "no aarch64-linux-gnu-gcc: linux/arm64 not built (apt-get install gcc-aarch64-linux-gnu)"; fi

test-acl: ## the Ascend backend's tests: against CANN when ASCEND_HOME_PATH is set, else against the fake ACL; with the fake, also a 2-node NPU cluster (needs cc)
	@if ! command -v $${CC:-cc} >/dev/null; then echo "no C compiler: the Ascend backend's tests need one (apt-get install gcc)"; exit 1; fi
	CGO_ENABLED=1 $(GO) test -count=1 -tags ascend -timeout 20m ./npu/acl/...
	@if [ -z "$$ASCEND_HOME_PATH" ]; then \
	  echo "CGO_ENABLED=1 $(GO) test -count=1 -tags ascend -run TestNPUCluster ./daemon"; \
	  CGO_ENABLED=1 $(GO) test -count=1 -tags ascend -timeout 10m -run TestNPUCluster ./daemon; fi

test: verify ## what CI runs: verify, then every test, the race detector, the portable checks and the Ascend backend on the fake ACL
	$(GO) test -count=1 -timeout 20m ./...
	@if command -v $${CC:-cc} >/dev/null; then $(MAKE) --no-print-directory test-race; \
	  else echo "no C compiler: the race detector (it needs cgo) is skipped"; fi
	$(MAKE) --no-print-directory test-portable
	@if command -v $${CC:-cc} >/dev/null; then $(MAKE) --no-print-directory test-acl; \
	  else echo "no C compiler: the Ascend backend's tests against the fake ACL are skipped"; fi

# The packages the race detector runs over: 5 min 47 s on 2 cores. Left
# out, for time: ./npu/cpu (GEMM kernels: not done after 3 min under -race),
# ./trainer and ./trainer/bloom (training loops; not yet timed under -race),
# ./scripts/soak (3 min) and ./npu/acl (test-acl, cgo). Of ./daemon (6 min alone)
# TestParallelJob, workers training over shm and QUIC (the collective's
# concurrency in real processes), and TestCluster3 (the control plane).
RACE_PKGS := . ./api ./ckpt ./cli ./cli/bloomd ./collective/... ./daemon/coord ./daemon/identity \
  ./daemon/jobspec ./daemon/sched ./daemon/supervisor ./daemon/worker ./daemon/xfer ./internal/... \
  ./membership ./trainer/data/... ./trainer/eval ./trainer/serve ./trainer/tensorboard ./trainer/tokenizer
RACE_DAEMON := ^(TestParallelJob|TestCluster3)$$

test-race: ## the race detector (needs cgo and a C compiler) over the packages that take it in minutes, and two of ./daemon's cluster tests
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m -run '$(RACE_DAEMON)' ./daemon

test-portable: ## the pure-Go kernels (-tags purego) through the conformance suite, and the linux/arm64 build and vet
	$(GO) test -count=1 -tags purego ./npu/... ./internal/half ./collective ./trainer/bloom
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/bloomd ./cmd/bloomctl
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) vet ./...

verify: ## gofmt, go vet, go mod tidy diff, the layering and package-doc tests
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@cp go.mod /tmp/bloom.go.mod.$$$$; cp go.sum /tmp/bloom.go.sum.$$$$; $(GO) mod tidy; \
	  if ! diff -q go.mod /tmp/bloom.go.mod.$$$$ >/dev/null || ! diff -q go.sum /tmp/bloom.go.sum.$$$$ >/dev/null; then \
	    echo "go mod tidy changed go.mod/go.sum: commit the tidy result"; exit 1; fi; rm -f /tmp/bloom.go.*.$$$$
	$(GO) test -count=1 -run 'TestLayering|TestPackageDocs|TestPureGo' .

bench: build ## GEMM GFLOP/s and training tokens/s, with the PyTorch peer when installed
	scripts/bench.sh

bench-allreduce: build ## the collective against Open MPI, N = 2, 4, 8, 1 KiB-64 MiB, shm and quic (~15 min; needs openmpi-bin libopenmpi-dev)
	scripts/mpi/run.sh

demo: build ## a 3-node loopback cluster trains a tiny BLOOM job until the loss has clearly fallen
	BIN=$(BIN) scripts/demo.sh

demo-local: build ## train a tiny BLOOM in one process on the embedded corpus
	$(BIN)/bloomctl train --local --model-preset bloom-tiny --train-iters 300 --seq-length 64 \
	  --micro-batch-size 16 --global-batch-size 16 --lr 5e-3 --min-lr 5e-4 --lr-warmup-samples 320 \
	  --sample-prompt "The garden " --save $(BIN)/demo-model

soak: build ## 12 bloomd through crashes, killed workers, SIGTERMs, a rollout and a partition; weights of an uninterrupted run (10–15 min)
	BIN=$(BIN) $(GO) run ./scripts/soak $(SOAK_FLAGS)

scale: ## the seed's 12×8 layout: 12 bloomd, TP8×PP12 = 96 workers, both splits, a node SIGKILLed, exact resume (~2 min on 2 cores)
	BLOOM_SEED_LAYOUT=full $(GO) test -count=1 -timeout 30m -run TestSeedLayoutFull -v ./daemon

sim: ## gossip (1,000 memberlists in memory), Raft (5 voters, then + 995 non-voters) and the coordinator's pass (1,000 members, 100 jobs) in one process; prints a table (~6 min; 1,000 members need more CPU than 2 cores: SIM_FLAGS=-n 50 for the gossip that fits)
	$(GO) run ./scripts/scalesim $(SIM_FLAGS)

fuzz: ## run the safetensors fuzzer for a minute
	$(GO) test ./ckpt -run XXX -fuzz FuzzOpenSafetensors -fuzztime 60s

golden: ## regenerate the golden files with PyTorch (Debian's python3-torch)
	/usr/bin/python3 scripts/golden/gen_golden.py
	/usr/bin/python3 scripts/golden/gen_lora_golden.py
	/usr/bin/python3 scripts/golden/gen_mixed_golden.py

clean: ## remove build output
	rm -rf $(BIN)
