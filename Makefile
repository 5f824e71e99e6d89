# maskedmixer - build and test.
#   make            ./mm, the tests and the benchmarks
#   make demo       train a small masked mixer on the bundled fiction and generate from it
#   make zoo        every architecture, tiny, about a minute each on the fiction: a loss table
#   make retrieval  pretrain, InfoNCE-tune and evaluate retrieval on the bundled Debian pairs
#   make figure3    the paper's Figure 3 (input recovery from the last hidden layer) at CPU scale
#   make test       every test and the compile matrix; ends with "N passed, N failed, N skipped"
#   make test-asan  the tests under AddressSanitizer and UndefinedBehaviorSanitizer
#   make test-valgrind  a few tests under valgrind memcheck (a build without OpenMP or BLAS)
#   make analyze    cppcheck and clang-tidy, clean, and a -D_FORTIFY_SOURCE=2 -fstack-protector-strong build
#   make fuzz       each reader of untrusted files under libFuzzer for FUZZ_SECONDS (300) each
#   make fuzz-ci    the committed fuzz corpora replayed, then each reader fuzzed 30 s, -seed=1
#   make bench      GEMM throughput (built-in and BLAS) on this machine
#   make bench-train  training tokens/s, GFLOP/s against the GEMM ceiling, peak RSS (QUICK=1: ~30 s)
#   make bench-peer bench-train's configurations beside PyTorch's, interleaved, with the ratios
#   make fixtures   regenerate the PyTorch reference fixtures (needs python3-torch)
#   make check-fixtures  regenerate them elsewhere and compare within the tests' tolerances
#   make bench-bpe  BPE tokenizer training and encoding beside sentencepiece (needs the corpus)
#   make bench-generate  generation tokens/s: cached vs index-walking, KV cache vs recompute
#   make bench-bm25 BM25 indexing and scoring speed on the Debian retrieval pairs (PAIRS=path)
# OpenBLAS is used when pkg-config finds it (Debian: libopenblas-openmp-dev), and LAPACKE for
# the inversion's SVD (liblapacke-dev); NO_BLAS=1 (both) or NO_OPENMP=1 turn an accelerator off.

CC      ?= cc
OPT     ?= -O3 -march=native
WARN    := -Wall -Wextra -pedantic -Werror
CFLAGS  := -std=c99 $(OPT) -g $(WARN) -I.
LDLIBS  := -lm

ifneq ($(NO_OPENMP),1)
  CFLAGS += -fopenmp
endif
ifneq ($(NO_BLAS),1)
  ifeq ($(shell pkg-config --exists openblas 2>/dev/null && echo yes),yes)
    CFLAGS += -DMMIX_USE_CBLAS $(shell pkg-config --cflags openblas)
    LDLIBS := $(shell pkg-config --libs openblas) $(LDLIBS)
  else
    $(info OpenBLAS not found: using the built-in GEMM (apt-get install libopenblas-openmp-dev for the faster path))
  endif
  # LAPACK's SVD for the pseudo-inverse of the inversion (mmix_pinv); without it, a Jacobi SVD of ours
  ifeq ($(shell pkg-config --exists lapacke 2>/dev/null && echo yes),yes)
    CFLAGS += -DMMIX_USE_LAPACKE $(shell pkg-config --cflags lapacke)
    LDLIBS := $(shell pkg-config --libs lapacke) $(LDLIBS)
  endif
endif

TESTS   := test_core test_gemm test_ops test_ops2 test_fixtures test_models test_checkpoint test_train test_bpe test_safetensors test_data test_generate test_backend test_retrieval test_bm25 test_retrieval_model test_invert test_threads
HEADER  := maskedmixer.h

.PHONY: all demo zoo retrieval figure3 test test-asan test-mpi mpi bench-mpi test-valgrind analyze fuzz fuzz-ci bench bench-train bench-peer bench-bpe bench-generate bench-bm25 clean fixtures check-fixtures check-torch-load

all: mm build/hello $(TESTS:%=build/%) build/bench_gemm build/bench_train build/bench_bpe build/bench_bm25

mm: examples/mm.c examples/emb_file.h $(HEADER)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

build/%: tests/%.c tests/test.h tests/fixture.h tests/op_cases.h tests/shadow_backend.h tests/counting_hooks.h $(HEADER) | build
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

build/hello: examples/hello.c $(HEADER) | build
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

build/bench_gemm: bench/bench_gemm.c $(HEADER) | build
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

build/bench_train: bench/bench_train.c $(HEADER) | build
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

build/bench_bpe: bench/bench_bpe.c $(HEADER) | build
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

build/bench_generate: bench/bench_generate.c $(HEADER) | build
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

build/bench_bm25: bench/bench_bm25.c $(HEADER) | build
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

# The same tests built plainly: clang, no OpenMP, no BLAS - the portable C99 core alone.
build/plain/%: tests/%.c tests/test.h tests/fixture.h tests/op_cases.h tests/shadow_backend.h tests/counting_hooks.h $(HEADER) | build
	@mkdir -p build/plain
	clang -std=c99 -O2 -g $(WARN) -I. $< -o $@ -lm

build/asan/mm: examples/mm.c examples/emb_file.h $(HEADER) | build
	@mkdir -p build/asan
	$(CC) $(filter-out $(OPT),$(CFLAGS)) -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -fno-omit-frame-pointer $< -o $@ $(LDLIBS)

build/asan/%: tests/%.c tests/test.h tests/fixture.h tests/op_cases.h tests/shadow_backend.h tests/counting_hooks.h $(HEADER) | build
	@mkdir -p build/asan
	$(CC) $(filter-out $(OPT),$(CFLAGS)) -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -fno-omit-frame-pointer $< -o $@ $(LDLIBS)

# For valgrind: no OpenMP (its thread pool's memory is reported as lost), no BLAS, -O1.
build/valgrind/%: tests/%.c tests/test.h tests/fixture.h tests/op_cases.h tests/shadow_backend.h tests/counting_hooks.h $(HEADER) | build
	@mkdir -p build/valgrind
	$(CC) -std=c99 -O1 -g $(WARN) -I. $< -o $@ -lm

build:
	mkdir -p build

# libFuzzer harnesses, one per reader of untrusted bytes (tests/fuzz/), under ASan and UBSan;
# clang only (Debian: clang and libclang-rt-14-dev).
FUZZERS      := json safetensors bpe hf_tokenizer dataset_cache token_ids jsonl embeddings
FUZZ_SECONDS ?= 300
FUZZ_FLAGS   := -std=c99 -g -O1 $(WARN) -I. -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h tests/fuzz/tok_common.h examples/emb_file.h $(HEADER) | build
	@mkdir -p build/fuzz
	clang $(FUZZ_FLAGS) $< -o $@ -lm


# The main job: a tokenizer and a small masked mixer trained on data/fiction_demo.txt, with a
# sample before and after; everything is left in runs/demo/.
demo: mm
	@bash examples/demo.sh runs/demo

# Every architecture of the table, a tiny instance each trained for about a minute on the same
# corpus; a table of validation losses in runs/zoo/losses.txt.
zoo: mm
	@bash examples/zoo.sh runs/zoo

# A masked mixer and a transformer pretrained alike, InfoNCE-tuned, and the retrieval table
# beside each other (paper Table 1), on the bundled Debian pairs; everything in runs/retrieval/.
retrieval: mm
	@bash examples/retrieval.sh runs/retrieval

# The paper's Figure 3 at CPU scale: the normalized Hamming distance of inputs recovered from the
# last hidden layer of 8-block mixers and transformers across widths, untrained and briefly
# trained; runs/figure3/figure3.csv and figure3.svg (examples/figure3.sh lists its settings).
figure3: mm
	@bash examples/figure3.sh runs/figure3

test: mm build/hello $(TESTS:%=build/%) $(TESTS:%=build/plain/%)
	@bash tests/run.sh $(TESTS:%=build/%) $(TESTS:%=build/plain/%) \
	    "bash tests/test_cli.sh ./mm" "bash tests/test_cli_models.sh ./mm" "bash tests/test_cli_train.sh ./mm" \
	    "bash tests/test_cli_generate.sh ./mm" "bash tests/test_cli_retrieval.sh ./mm" "bash tests/test_cli_invert.sh ./mm" "bash tests/test_cli_args.sh ./mm" "bash tests/test_hello.sh build/hello" \
	    "bash tests/test_cli_faults.sh ./mm" \
	    "bash tests/compile_matrix.sh build/matrix"

test-asan: $(TESTS:%=build/asan/%) build/asan/mm
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    bash tests/run.sh $(TESTS:%=build/asan/%) "bash tests/test_cli.sh build/asan/mm" \
	    "bash tests/test_cli_models.sh build/asan/mm" "bash tests/test_cli_train.sh build/asan/mm" \
	    "bash tests/test_cli_generate.sh build/asan/mm" "bash tests/test_cli_retrieval.sh build/asan/mm" "bash tests/test_cli_invert.sh build/asan/mm" "bash tests/test_cli_args.sh build/asan/mm" \
	    "bash tests/test_cli_faults.sh build/asan/mm"

# Data-parallel training on MPI (Debian: libopenmpi-dev openmpi-bin): ./mm-mpi, the same tool
# built with mpicc and MMIX_USE_MPI; test-mpi trains with mpirun -np 2 against one process.
mpi: mm-mpi
mm-mpi: examples/mm.c examples/emb_file.h $(HEADER)
	OMPI_CC=$(CC) mpicc $(CFLAGS) -DMMIX_USE_MPI $< -o $@ $(LDLIBS)

test-mpi: mm-mpi
	@bash tests/run.sh "bash tests/test_mpi.sh ./mm-mpi"

# Data-parallel scaling, 1 and 2 ranks on this machine, and the paper-scale estimate.
bench-mpi: mm-mpi
	bash bench/bench_mpi.sh ./mm-mpi

# The readers' and the writers' tests under memcheck: what ASan cannot see (uninitialized reads).
VALGRIND_TESTS := test_safetensors test_checkpoint test_data
test-valgrind: $(VALGRIND_TESTS:%=build/valgrind/%)
	@for t in $(VALGRIND_TESTS); do \
	    OMP_NUM_THREADS=1 valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
	        build/valgrind/$$t || exit 1; \
	done

analyze:
	@bash tests/analyze.sh

# Each harness for FUZZ_SECONDS, growing build/fuzz/work/NAME; fuzz-ci is CI's deterministic gate.
fuzz: $(FUZZERS:%=build/fuzz/fuzz_%)
	@bash tests/fuzz/run.sh explore $(FUZZ_SECONDS) $(FUZZERS)

fuzz-ci: $(FUZZERS:%=build/fuzz/fuzz_%)
	@bash tests/fuzz/run.sh ci 30 $(FUZZERS)

bench: build/bench_gemm
	./build/bench_gemm

# Training steps of the mixer and the transformer at issue 16's shapes (bench/bench_train.c
# says what is measured and the formulas); QUICK=1 runs the small shape only, in under a minute.
bench-train: build/bench_train
	./build/bench_train

# The same configurations in PyTorch (Debian's python3-torch), each right after ours, with the
# ratio ours / PyTorch's tokens/s; CORETYPE=SkylakeX (say) sets OPENBLAS_CORETYPE for both.
bench-peer: build/bench_train
	/usr/bin/python3 bench/torch_peer.py --ours ./build/bench_train $(if $(CORETYPE),--coretype $(CORETYPE))

# The PyTorch fixtures (needs Debian's python3-torch; CI only reads the committed files).
fixtures:
	/usr/bin/python3 tests/reference/make_fixtures.py tests/reference/fixtures

# Regenerates the fixtures elsewhere and compares them with the committed ones: names,
# shapes and integers exactly, floats within the tests' tolerances (torch's last bits differ
# between CPUs); prints the worst difference.
check-fixtures:
	@rm -rf build/fixtures-check && mkdir -p build/fixtures-check
	/usr/bin/python3 tests/reference/make_fixtures.py build/fixtures-check
	/usr/bin/python3 tests/reference/compare_fixtures.py tests/reference/fixtures build/fixtures-check

# Trains tiny models with ./mm, loads the files into the PyTorch reference models with a
# strict load_state_dict, and compares PyTorch's loss with mm forward's (needs python3-torch).
check-torch-load: mm
	@rm -rf build/torch-load && mkdir -p build/torch-load
	@fx=tests/reference/fixtures; for arch in mixer llama mixer-heads mixer-softmax gpt1 transfixer mixer-ae llama-ae mixer-parallel llama-parallel; do \
	    k=3; test $$arch = mixer-heads && k=1; \
	    ./mm train --arch $$arch --vocab 37 --dim 16 --depth 2 --ctx 8 --kernel $$k --heads 4 --tokens $$fx/model_tokens.txt \
	        --steps 3 --batch 3 --pad-id 1 --save build/torch-load/$$arch.safetensors >/dev/null || exit 1; \
	    echo "$$arch: mm forward $$(./mm forward --model build/torch-load/$$arch.safetensors --tokens $$fx/model_tokens.txt), \
	        torch $$(/usr/bin/python3 tests/reference/check_our_weights.py build/torch-load/$$arch.safetensors $$fx/model_tokens.txt 1)"; \
	done

# BM25 on the Debian retrieval pairs: indexing the test split, scoring 1,000 queries x 8,192 candidates.
bench-bm25: build/bench_bm25
	./build/bench_bm25 $(or $(PAIRS),../shared/data/retrieval_debian.jsonl)

# Tokens per second of both generation methods for a mixer and a transformer at n_ctx 512.
bench-generate: build/bench_generate
	./build/bench_generate

# CORPUS=path V=size override the defaults (the shared fiction corpus, 4096).
bench-bpe: mm build/bench_bpe
	bash bench/bench_bpe.sh $(or $(CORPUS),../shared/data/corpus_fiction.txt) $(or $(V),4096)

clean:
	rm -rf build mm mm-mpi
