/* maskedmixer.h - v0.3.0 - a single-header C reference implementation of masked mixers
   (Badger, "Masked Mixers for Language Generation and Retrieval", arXiv 2409.01482).
   License: MIT, see the end of this file.

   A masked mixer is a transformer whose self-attention is replaced by a causally
   (lower-triangular) masked convolution over the token axis. This file holds the whole
   library: tensors, an autograd tape, the ops, and (as the project grows) the models,
   the optimizer, the tokenizer, retrieval and inversion.

   Comments cite the paper for what it says: "paper Sec. 3.2", "paper Eq. 2", "paper Fig. 2",
   "paper Table S3" (arXiv 2409.01482v4). What only the author's reference code shows
   (github.com/blbadger/maskedmixers), what comes from PyTorch or Hugging Face transformers,
   and the choices we made where the paper is silent are in docs/reference-notes.md, cited
   as "reference-notes Sec. N".

   =========================================================================================
   1. QUICK START
   =========================================================================================
   In exactly ONE .c file of your program (never in a header):

       #define MASKEDMIXER_IMPLEMENTATION
       #include "maskedmixer.h"

   Every other file includes "maskedmixer.h" without the define. In the implementing file,
   include it before any system header, or compile with -D_POSIX_C_SOURCE=200809L (or
   gnu99): it asks for POSIX's monotonic clock and fsync. Without them it still builds, with
   processor time for the clock and no sync of written files.

   A tiny regression, trained by hand with the tape (error checks left out for brevity;
   every op returns NULL on failure and the context says why, see section 5):

       mmix_ctx *ctx; mmix_ctx_create(&ctx, NULL);
       mmix_rng rng;  mmix_rng_seed(&rng, 42);
       mmix_tensor *W = mmix_param(ctx, "W", mmix_shape2(1, 4));       // [out, in]
       mmix_init_uniform(W, &rng, -0.5f, 0.5f);
       mmix_tensor *x = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape2(8, 4));
       ... fill x->data ...
       mmix_tensor *y    = mmix_linear(ctx, x, W, NULL);               // x W^T
       mmix_tensor *loss = mmix_mean(ctx, mmix_mul(ctx, y, y));
       mmix_zero_grad(ctx, mmix_ctx_params(ctx));                     // W's set: the context's own
       if (mmix_backward(ctx, loss) != MMIX_OK) puts(mmix_last_error(ctx));
       for (i = 0; i < W->n; i++) W->data[i] -= 0.1f * W->grad[i];
       mmix_step_reset(ctx);                                           // frees activations
       mmix_ctx_destroy(ctx);

   A masked mixer trained on token rows, then asked to continue a prompt (examples/hello.c
   is this, complete, on bytes as tokens):

       mmix_model_config c = mmix_model_config_default(MMIX_ARCH_MIXER);
       c.vocab = 256;  c.dim = 32;  c.ffn_dim = 128;  c.depth = 2;  c.n_ctx = 32;
       mmix_model m;   mmix_model_create(ctx, &m, c);  mmix_model_init(&m, &rng);
       mmix_adamw opt; mmix_adamw_init(ctx, &opt, &m.params, mmix_adamw_config_default());
       for (step = 0; step < 200; step++) {
           mmix_tensor *ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(4, 32));
           ... fill ids->ids with 4 rows of 32 token ids ...
           mmix_zero_grad(ctx, &m.params);
           mmix_backward(ctx, mmix_model_loss(ctx, &m, ids, pad_id, NULL));     // paper Sec. 3.2
           mmix_adamw_step(ctx, &opt, mmix_schedule_lr(MMIX_SCHEDULE_LINEAR, 3e-3f, step, 20, 200));
           mmix_step_reset(ctx);
       }
       mmix_generate(ctx, &m, prompt, n_prompt, max_new, stop_id, NULL,        // greedy
                     MMIX_GENERATE_CACHED, out, &n_out);                      // paper Sec. 4.2

   =========================================================================================
   2. BUILD OPTIONS (define before including the implementation)
   =========================================================================================
     MMIX_STATIC           every public function becomes static: two copies of the library
                           can live in one program (one per translation unit).
     MMIXDEF               override the linkage of public functions yourself.
     MMIX_MALLOC(sz)       memory hooks: define all three or none (checked with #error).
     MMIX_REALLOC(p,sz)
     MMIX_FREE(p)
     MMIX_ASSERT(x)        internal invariants only (default: assert). Never used for input.
     MMIX_USE_CBLAS        GEMMs through cblas_sgemm (OpenBLAS, ...). Link the BLAS yourself;
                           the Makefile does this when pkg-config finds openblas. Without it, a
                           built-in cache-blocked GEMM is used. Use an OpenMP build of the BLAS
                           (Debian: libopenblas-openmp-dev) so its threads and ours are one pool.
                           By default (MMIX_GEMM_AUTO) a fixed rule picks per product: the
                           built-in GEMM for small ones and when the BLAS runs generic kernels
                           (>>gemm); mmix_set_gemm (or mm's --gemm, MMIX_GEMM) overrides it.
     MMIX_NO_OPENMP        ignore OpenMP even when compiling with -fopenmp.
     MMIX_SAFETENSORS_MAX_HEADER  the largest safetensors header read (default 100 MiB).
     MMIX_BPE_MAX_VOCAB    the largest tokenizer vocabulary loaded or imported (default 2^30).
     MMIX_USE_LAPACKE      the pseudo-inverse (mmix_pinv) through LAPACKE_sgesdd; link -llapacke
                           yourself (the Makefile does when pkg-config finds lapacke). Without
                           it, a one-sided Jacobi SVD of ours is used.
     (OpenMP)              compile with -fopenmp to run the per-row loops in parallel.
   The core needs only C99 and the C standard library; OpenMP and a BLAS are accelerators.

   =========================================================================================
   3. CONTENTS (each section starts with a searchable tag, e.g. ">>arena")
   =========================================================================================
   Both parts run in dependency order: each section uses only what comes before it. The
   exceptions are said where they occur: the context's struct points at the tape's node type
   of >>ops (a pointer to a struct completed there), and mmix_ctx_create fills the CPU
   backend table of >>cpu_kernels (through its declaration in >>api_backend).
     Declarations:  >>api_result >>api_tensor >>api_ctx >>api_platform >>api_rng
                    >>api_backend >>api_ops >>api_autograd >>api_gradcheck >>api_optim
                    >>api_safetensors >>api_model >>api_generate >>api_bpe >>api_data
                    >>api_retrieval >>api_bm25 >>api_retrieval_model >>api_invert
     Implementation:
       >>config      compiler and platform switches, allocator hooks, OpenMP pragma macro
       >>errors      the texts of result codes and op names
       >>arena       chained bump allocators: the block and arena types
       >>ctx         the context's struct and its error state (the per-context message)
       >>alloc       counted system allocations, arena blocks, bump allocation and reset
       >>ctx_create  context creation, threads, training mode, step memory
       >>platform    the only OS-specific code: wall clock, durable file replacement
       >>json        one growable buffer and one JSON reader for every text format
       >>tensor      shapes, tensor creation, parameters
       >>rng         the PCG32 generator and PyTorch-default initializers
       >>gemm        built-in blocked sgemm and the cblas path
       >>cpu_kernels forward and backward loops of every op (the CPU backend table)
       >>ops         op constructors: shape checks, forward, tape recording
       >>autograd    the tape walk and the backward dispatch
       >>gradcheck   finite-difference gradient checking
       >>adamw       AdamW, learning-rate schedules, gradient clipping
       >>safetensors weights files: the strict header parser, reading, the atomic writer
       >>models      the model zoo: mixers, transformers, hybrid, autoencoders, bidirectional
                     and many-token models, one section per architecture
       >>checkpoint  models and optimizer state in safetensors files, token files
       >>generate    generation: cached and index-walking forwards, greedy and sampling
       >>bpe         the byte-level BPE tokenizer: pre-splits, training, encoding, files, HF import
       >>data        text datasets: documents, packing, padding, the split, the cache
       >>retrieval   embeddings, the candidate draw, InfoNCE, the top-1 evaluation
       >>bm25        BM25: Lucene's English analyzer, our Porter stemmer, candidate scoring
       >>retrieval_model  the indirect retrieval model (RetrievalMixer): the unmasked
                     blocks and the D -> 1 head, its files, its batches, its evaluation
       >>invert      input representation: the abbreviated model, gradient inversion of the
                     embeddings, the pseudo-inverse by SVD, the normalized Hamming metric

   =========================================================================================
   4. PAPER-TO-CODE MAP ("paper Sec. 3.2" = the paper, arXiv 2409.01482v4; "notes N" =
      docs/reference-notes.md, section N: what only the reference code shows, and our choices)
   =========================================================================================
     Embedding wte, no positional embedding        mmix_embedding
       (paper Sec. 3.2; notes 3)
     Masked token mixing: a Conv1d whose channels  mmix_token_mix, mmix_mask_causal
       are tokens, weights lower-triangular
       masked (paper Sec. 3.2, Fig. 2)
     Kernel k > 1, padding 'same' (paper Sec. 9.2, mmix_token_mix (W [L, L, k])
       Fig. S5; notes 2)
     Expanded mixer's rectangular masks (paper     mmix_token_mix with MMIX_MASK_LOWER
       Sec. 9.1, Fig. S2)
     Multi-headed mixer: per-head projection and   mmix_model_create(MMIX_ARCH_MIXER_HEADS),
       masked conv, concat, out_proj (paper          mmix__heads_block_forward
       Sec. 9.2, Fig. S6; notes 2c)
     Softmax-transformed conv weights, re-masked   mmix_model_create(MMIX_ARCH_MIXER_SOFTMAX),
       (paper Sec. 9.2, Table S5; notes 2d)          mmix__softmax_weight (token_mix_softmax)
     Bidirectional reverse stream, triu(2) (paper  mmix_token_mix with MMIX_MASK_UPPER, 2
       Sec. 5.1, Fig. S11; notes 12, 15)
     In-place re-masking, phantom gradients        mmix_set_masked_grad_mode(ctx,
       of the reference code (notes 1)               MMIX_MASKED_GRADS_REFERENCE)
     Linear layers, the untied lm_head (notes 3)   mmix_linear
     LayerNorm, eps 1e-5 (notes 3)                 mmix_layernorm
     Exact erf GELU (notes 3)                      mmix_gelu
     Causal-LM cross-entropy, ignore label         mmix_cross_entropy
       (paper Sec. 3.2, Sec. 9.5; notes 5)
     Llama RMSNorm, SiLU MLP (HF LlamaForCausalLM) mmix_rmsnorm, mmix_silu
     RoPE, rotate-half, theta 10000 (notes 8)      mmix_rope
     Causal multi-head attention (HF Llama)        mmix_attention
     Autoencoder: repeat the last token (paper     mmix_tokens_select, mmix_tokens_repeat
       Sec. 5.3, Fig. 8)
     Bidirectional transformer flips (paper        mmix_tokens_flip, mmix__tokens_shift
       Sec. 5.1, Fig. 6; notes 12, 15)
     Bidirectional mixer, DoubleMixerBlock (paper  mmix_model_create(MMIX_ARCH_MIXER_BIDI),
       Sec. 5.1, Fig. 6, Fig. S11; notes 15)       mmix__bidi_mixer_hidden
     Bidirectional transformer (paper Sec. 5.1,    mmix_model_create(MMIX_ARCH_LLAMA_BIDI),
       Fig. 6; notes 15)                           mmix__bidi_llama_hidden
     Sequential two-token prediction, argmax fed   MMIX_ARCH_MIXER_MTP, MMIX_ARCH_LLAMA_MTP,
       back (paper Sec. 5.2, Fig. 7a; notes 16)    mmix__two_token_terms, mmix_argmax
     Many-token prediction, zeroed half (paper     mmix_tokens_zero
       Sec. 5.2, Fig. 7)
     Retrieval embedding: position -2 of a causal  mmix_model_embedding, mmix_model_embed_rows
       LM, the encoder's last position (paper
       Sec. 6.1, 6.4; notes 20)
     Candidate draw of Algorithm 1, code-exact     mmix_retrieval_draw
       (notes 20)
     InfoNCE: cosine / tau, logsumexp (paper       mmix_infonce_loss
       Sec. 6.3, Eqs. 7-8; notes 20)
     Top-1 among n candidates, retrieval by        mmix_retrieval_evaluate,
       cosine (paper Table 1, Eq. 9; notes 20)       mmix_embedding_scores
     Indirect retrieval model: unmasked mixer      mmix_retrieval_model_create/_scores/_loss,
       blocks over c embeddings, D -> 1 head, CE     mmix__retrieval_hidden
       over c - 1 candidates (paper Sec. 6.2,
       Fig. 9; notes 19)
     Its training items from embeddings (paper     mmix_retrieval_batch
       Algorithm 1; notes 19)
     Its top-1 on the evaluation's candidate lists mmix_retrieval_model_evaluate
       (paper Sec. 6, Fig. 9; notes 19)
     Inversion objective, L1 sum (paper Eq. 2)     mmix_l1_distance
     AdamW, linear warmup/decay, clipping (paper   mmix_adamw_step, mmix_schedule_lr,
       Sec. 9.5; torch.optim.AdamW, notes 6)       mmix_clip_grad_norm
     PyTorch default init, N(0, 0.02) for Llama    mmix_init_uniform/_normal/_pytorch_linear
       (notes 4)
     Flat masked mixer, LanguageMixer (paper       mmix_model_create(MMIX_ARCH_MIXER),
       Sec. 3.2, Sec. 4.1; notes 3)                mmix__mixer_block_forward
     Llama-style transformer (paper Sec. 4,        mmix_model_create(MMIX_ARCH_LLAMA),
       Sec. 9.4; HF LlamaForCausalLM, notes 8)     mmix__llama_layer_forward
     GPT-1 baseline, HF OpenAIGPTLMHeadModel:      mmix_model_create(MMIX_ARCH_GPT1),
       post-LN, learned positions, tied head       mmix__gpt_layer_forward
       (paper Sec. 4.4, Fig. 5, Table S6; notes 8b)
     HF Conv1D layers, weights [in, out]           mmix_linear_in_out
       (notes 8b)
     Dropout, counter-based masks, also of the     mmix_dropout, mmix_attention_dropout,
       attention probabilities (notes 8b)            mmix_set_dropout_step
     Transfixer: Llama + masked mixing of the      mmix_model_create(MMIX_ARCH_TRANSFIXER),
       attention output (notes 8c)                 mmix__transfixer_layer_forward
     Mixer and transformer autoencoders: encoder,  MMIX_ARCH_MIXER_AE, MMIX_ARCH_LLAMA_AE,
       last token repeated, decoder, unshifted       mmix__encdec_hidden, mmix__encdec_middle,
       loss (paper Sec. 5.3, Fig. 8; notes 13)       mmix__reconstruct_terms
     Parallel many-token prediction: second half   MMIX_ARCH_MIXER_PARALLEL, _LLAMA_PARALLEL,
       zeroed between the stacks (paper Sec. 5.2,    mmix__encdec_middle,
       Fig. 7b/c; notes 14)                          mmix__second_half_terms
     Shifted causal-LM loss, pads ignored (paper   mmix_model_loss
       Sec. 3.2, Sec. 9.5; notes 5)
     Reference state_dict files (notes 9)          mmix_model_load, mmix_model_save
     Generation, index-walking, greedy (paper      mmix_generate, mmix_generator_feed
       Sec. 4.2); cached rows, KV cache (notes 7)    (MMIX_GENERATE_INDEX_WALKING / _CACHED)
     BPE tokenizer (notes 10)                      mmix_bpe_*
     Checkpoints, safetensors (notes 9)            mmix_safetensors_*
     Datasets, packing, padding (paper Sec. 9.5,   mmix_data_*
       Sec. 6.1; notes 11)
     Abbreviated model O: the blocks without head  mmix_model_blocks
       or final norm (paper Sec. 3.1; notes 17)
     Gradient descent on the embeddings, L1       mmix_invert, mmix_invert_step,
       objective, eta_0 -> eta_0/10 (paper Eq. 2,   mmix_invert_objective, mmix_invert_lr
       Fig. 3b last token; notes 17)
     Moore-Penrose pseudo-inverse by SVD, tokens  mmix_pinv, mmix_model_embedding_pinv,
       from e W+ (paper Eqs. 3-4; notes 17)        mmix_pinv_tokens
     epsilon: the output shift of N(0, 1/20^2)    mmix_invert_result.epsilon
       input noise (paper Sec. 3.1)
     Normalized Hamming metric, pads ignored      mmix_hamming
       (paper Eqs. 5-6, Fig. 3; notes 17)

   =========================================================================================
   5. ERRORS, MEMORY, THE TAPE
   =========================================================================================
   Errors. Functions that can fail for a reason outside the library's control (a file, a
   shape or value given by the caller, memory) report it. Plain functions return an
   mmix_result; op constructors (mmix_linear, ...) return the new tensor, or NULL when they
   fail. In both cases the context keeps the code (mmix_last_result) and a message saying
   what and where (mmix_last_error), e.g.
       "linear: x [8, 5] and W [3, 4]: x's last dim must equal W's dim 1".
   An error is sticky: while one is pending, every op returns NULL at once and leaves the
   message alone, so a forward pass is straight-line code checked once at the end, and a
   failed op can never be mistaken for an absent optional input (a NULL bias) further on.
   mmix_clear_error() ends it. The library never exits and never prints.

   Memory. A context owns two arenas. MMIX_PERSIST holds parameters, their gradients and
   (later) optimizer state. MMIX_STEP holds activations, their gradients and the tape;
   mmix_step_reset() empties it. Arenas grow by chaining blocks when needed; a reset folds
   the chain into one block, so after the first training step the steady state allocates
   nothing. mmix_ctx_reserve_step() sizes the step arena up front when the size is known.

   The tape. Ops run eagerly. When gradients are enabled and an input requires a gradient,
   the op appends a node {op, out, inputs, saved values}. Since a node is appended only
   after its inputs exist, walking the tape backwards visits each node after all its
   consumers: mmix_backward() is one reverse loop with a switch over ops, and each backward
   kernel accumulates (+=) into the inputs' gradients, parameters and inputs alike.

   Threads and reproducibility. What is promised:
   - Same seed, same thread count, same GEMM: bit-identical results, run after run, with the
     built-in GEMM or a BLAS.
   - With the built-in GEMM, also bit-identical across thread counts: no loop of ours splits
     a sum across threads, so every output element is reduced in one fixed order.
   Nothing more is promised with a BLAS: whether its results depend on the thread count is
   the BLAS's business (OpenBLAS picks kernels by CPU, and a build that does not know the
   CPU may split sums differently for 1 and 2 threads). A build with MMIX_USE_CBLAS can
   still switch to the built-in GEMM at run time with mmix_set_gemm(MMIX_GEMM_BUILTIN). The
   default, MMIX_GEMM_AUTO, decides by a fixed rule on shapes and on the BLAS's kernels,
   never by a timing, so it takes the same path on every run of a machine.
   Results of different CPUs or compilers are close but not promised to be bit-identical.
   Threads of the caller: a context and everything made on it (tensors, models, optimizers,
   tokenizers loaded through it) belong to one thread at a time; two threads may each work
   on a context of their own at the same time. Contexts share no mutable state, so two
   models trained in two threads give the same bits as the same runs one after the other
   (tests/test_threads.c). The only process-wide settings are mmix_set_num_threads and
   mmix_set_gemm: set them before starting threads, not while another thread computes.

   =========================================================================================
   6. TOKENIZER (byte-level BPE, >>api_bpe and >>bpe)
   =========================================================================================
   Ids 0..255 are the 256 bytes, so every byte string can be encoded and decode(encode(x))
   == x exactly (invalid UTF-8 and NUL bytes included). Id 256 + i is merge i, the
   concatenation of two earlier tokens. The special tokens come last: training makes an
   end-of-text token ("<|endoftext|>") and a pad token ("<|pad|>"), kept separate: documents
   end with end-of-text, which the model is trained on so it can learn to stop, while pad
   positions are ignored in the loss. (The paper's tokenizers used pad = eos; reference-notes Sec. 10.)
   `vocab_size` counts all three: 256 + merges + 2. With too little text to fill it,
   training stops early and the vocabulary is smaller (mmix_bpe_vocab_size tells).

   Pre-split. Text is cut into words before merging, and merges never cross a word. Our
   tokenizers use an ASCII approximation of GPT-2's pattern (see mmix_bpe_next_word), where
   every byte >= 0x80 counts as a letter. Words: contractions 's 't 're 've 'm 'll 'd; an
   optional space plus a run of letters, or of digits, or of other bytes; runs of white
   space, the last space of a run going to the next word. "Hello  world's 42!" -> "Hello",
   " ", " world", "'s", " 42", "!". Imported tokenizers use their file's pattern: GPT-2's
   itself (split "gpt2": the same rules over code points) or Llama-3's ("llama3": numbers in
   threes, a punctuation mark may lead a word, newlines end white space), with \p{L}, \p{N}
   and \s (White_Space) from a table generated from the Unicode 15.0.0 data
   (tests/reference/gen_unicode_classes.py).

   Training (mmix_bpe_train) merges, at each step, the adjacent pair with the highest count
   over the corpus; ties go to the lowest first id, then the lowest second id. It runs on
   unique words with counts, pair counts with occurrence lists, a lazily updated max-heap
   and neighbour-only updates: O(N log N) in the corpus size (>>bpe explains). Encoding
   applies the merges by rank with a min-heap per word, plus a cache of encoded words.
   Special names in the text stay ordinary text unless MMIX_BPE_ALLOW_SPECIAL is passed.

   The file (mmix_bpe_save / mmix_bpe_load) is text, one item per line; '#' starts a
   comment (a whole line, or after a line's fields); blank lines are ignored:
       mmix-bpe 1                         magic and format version
       split gpt2-ascii                   the pre-split
       vocab 261                          256 + merges + specials
       merges 3
       merge 256 97 97 # "aa"             id, then the two tokens it joins (ids < id)
       merge 257 97 98 # "ab"
       merge 258 256 257 # "aaab"
       special 259 eot <|endoftext|>      id, role (eot, pad or other), name
       special 260 pad <|pad|>
       end
   Loading is strict: ids in order, no unknown token, no duplicate merge, counts that add
   up, and the 'end' line (a truncated file is an error).

   Imported ids. A checkpoint trained with a Hugging Face tokenizer reads its embedding rows
   by that tokenizer's ids, so mmix_bpe_import_hf keeps them: GPT-2 encodes "T!" as 51 0
   (its byte tokens are not numbered by byte value), and so do we. Inside, tokens keep our
   numbering (bytes, merges, specials) and an id map turns them into the file's ids when
   encoding ends; decoding reads the file's ids; vocabulary entries that no merge makes are
   kept so that every id decodes. Added tokens keep their ids and contents. Such a tokenizer
   is written as version 2, which names every token by its id:
       mmix-bpe 2
       split gpt2 [prefix-space] [ignore-merges]   gpt2 or llama3; ByteLevel's add_prefix_space;
                                          BPE's ignore_merges (a word that is a token stays whole)
       vocab 50257                        ids are 0 .. vocab - 1
       merges 50000
       byte 0 188                         byte, its id (256 lines, bytes in order)
       merge 220 220 83 # " t"            the result's id, the ids of the two tokens it joins
       special 50256 eot <|endoftext|>    (special-hex ID ROLE HEX for other contents)
       token 90 7a7a # "zz"               an id that nothing makes, its bytes in hex
       end
   Our own tokenizers are still written as version 1, byte for byte as before. What a
   tokenizer.json asks for beyond this (a normalizer, pre-tokenizers other than ByteLevel
   or Split (GPT-2's or Llama-3's regex) + ByteLevel, Metaspace, WordPiece or Unigram models,
   byte_fallback, dropout) is an error naming it; reference-notes Sec. 10 lists what was
   compared with the reference encoders.

   =========================================================================================
   7. VERSION HISTORY (CHANGELOG.md has the details)
   =========================================================================================
     0.3.0  The model zoo: mixer-heads, mixer-softmax, gpt1 (dropout, mmix_linear_in_out),
            transfixer, the autoencoders, the bidirectional, two-token and parallel models.
            Objectives with terms (mmix_objective, mmix_loss_terms, mmix_model_loss_terms,
            mmix_model_counted_targets); mmix_load_options.arch, mmix_model_file_archs,
            config.json beside the weights; mmix_argmax; the backend's attention entries
            take a dropout draw.
     0.2.0  Architectures as a table (MMIX_ARCHITECTURES, mmix_arch_get/_find; files record
            mmix_arch). A model owns its parameters in one value and one gradient buffer
            (mmix_params); AdamW, clipping and zero-grad take a set. The backend owns
            memory (alloc, upload, download, ...; mmix_cpu_backend_fill replaces
            mmix_cpu_backend) and the front end moves data only through it
            (mmix_tensor_upload/_download/_item). mmix_set_gemm. Citations of the paper.
     0.1.0  The engine, the flat mixer and the Llama-style transformer, checkpoints, the
            tokenizer, training on text, generation.
*/
#ifndef MASKEDMIXER_H
#define MASKEDMIXER_H

/* Ask for POSIX declarations (fsync, fileno, clock_gettime) in the implementing file.
   Must come before the first system header, which is why it sits at the very top. */
#if defined(MASKEDMIXER_IMPLEMENTATION) && !defined(_WIN32) && !defined(_POSIX_C_SOURCE) && \
    !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE)
#if defined(_FEATURES_H) || defined(__GLIBC__)
#define MMIX__POSIX_HIDDEN /* too late: a C library header already fixed the feature set */
#else
#define _POSIX_C_SOURCE 200809L
#endif
#endif

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MMIX_VERSION_STRING "0.3.0"

#ifndef MMIXDEF
#ifdef MMIX_STATIC
/* Unused static functions would warn in a program that calls only a few of them. */
#if defined(__GNUC__) || defined(__clang__)
#define MMIXDEF static __attribute__((unused))
#else
#define MMIXDEF static
#endif
#else
#define MMIXDEF extern
#endif
#endif

// ----------------------------------------------------------------------------------------
// >>api_result  Result codes. One X-macro keeps the enum and its descriptions in step.
// ----------------------------------------------------------------------------------------
#define MMIX_RESULTS(X)                                                              \
    X(OK, "success")                                                                 \
    X(ERR_OUT_OF_MEMORY, "out of memory")                                            \
    X(ERR_INVALID_ARGUMENT, "invalid argument")                                      \
    X(ERR_SHAPE, "shape mismatch")                                                   \
    X(ERR_RANGE, "value out of range")                                               \
    X(ERR_FILE_NOT_FOUND, "file not found")                                          \
    X(ERR_IO, "input/output error")                                                  \
    X(ERR_FORMAT, "malformed or corrupt file")                                       \
    X(ERR_UNSUPPORTED, "unsupported")                                                \
    X(ERR_NUMERIC, "numerical failure (NaN, infinity or a check that did not pass)") \
    X(ERR_STALE, "stale cache: made from other inputs or settings")

typedef enum mmix_result {
#define MMIX__RESULT_ENUM(name, text) MMIX_##name,
    MMIX_RESULTS(MMIX__RESULT_ENUM)
#undef MMIX__RESULT_ENUM
    MMIX_RESULT_COUNT
} mmix_result;

/* A fixed description of a result code ("shape mismatch"). */
MMIXDEF const char *mmix_result_str(mmix_result r);

// ----------------------------------------------------------------------------------------
// >>api_tensor  Tensors: contiguous, row-major, up to 4 dims, float32 or int32.
// ----------------------------------------------------------------------------------------
#define MMIX_MAX_DIMS 4
#define MMIX_NAME_MAX 96

typedef enum mmix_dtype { MMIX_F32, MMIX_I32 } mmix_dtype;

/* Where a tensor's data lives. Only the CPU exists today; a CUDA backend adds its own. */
typedef enum mmix_device { MMIX_DEVICE_CPU, MMIX_DEVICE_CUDA } mmix_device;

/* Which arena holds a tensor: MMIX_PERSIST lives as long as the context,
   MMIX_STEP until the next mmix_step_reset(). */
typedef enum mmix_lifetime { MMIX_STEP, MMIX_PERSIST } mmix_lifetime;

typedef struct mmix_shape {
    int ndim;                   /* 0 (scalar) .. MMIX_MAX_DIMS */
    int64_t d[MMIX_MAX_DIMS];   /* unused dims are 1 */
} mmix_shape;

typedef struct mmix_tensor {
    mmix_dtype dtype;
    mmix_device device;
    mmix_lifetime lifetime;
    mmix_shape shape;
    int64_t n;                  /* number of elements, the product of the dims */
    float *data;                /* MMIX_F32 tensors: the values (NULL for int32 tensors) */
    int32_t *ids;               /* MMIX_I32 tensors: the values (NULL for float tensors) */
    float *grad;                /* d(loss)/d(this), same shape; NULL until needed */
    const struct mmix_backend *backend; /* where data, ids and grad live: only its kernels and
                                   memory entries touch them (mmix_tensor_upload/_download) */
    int requires_grad;          /* parameters, leaves marked by the caller, and whatever
                                   is computed from them while gradients are enabled */
    char name[MMIX_NAME_MAX];   /* parameters carry their checkpoint name; "" otherwise */
} mmix_tensor;

MMIXDEF mmix_shape mmix_shape0(void);
MMIXDEF mmix_shape mmix_shape1(int64_t d0);
MMIXDEF mmix_shape mmix_shape2(int64_t d0, int64_t d1);
MMIXDEF mmix_shape mmix_shape3(int64_t d0, int64_t d1, int64_t d2);
MMIXDEF mmix_shape mmix_shape4(int64_t d0, int64_t d1, int64_t d2, int64_t d3);
MMIXDEF int mmix_shape_equal(mmix_shape a, mmix_shape b);
/* "[2, 3, 4]" into buf (at least 64 bytes); returns buf. */
MMIXDEF char *mmix_shape_str(mmix_shape s, char *buf, size_t size);

// ----------------------------------------------------------------------------------------
// >>api_ctx  The context: arenas, the tape, parameters, error state, threads.
// ----------------------------------------------------------------------------------------
typedef struct mmix_ctx mmix_ctx;

typedef struct mmix_ctx_config {
    size_t persist_bytes;       /* initial size of the persistent arena; 0 = 1 MiB */
    size_t step_bytes;          /* initial size of the step arena; 0 = 1 MiB */
    int num_threads;            /* 0 = leave OpenMP's default */
} mmix_ctx_config;

MMIXDEF mmix_ctx_config mmix_ctx_config_default(void);
/* Creates a context; cfg may be NULL. On failure *out is NULL. */
MMIXDEF mmix_result mmix_ctx_create(mmix_ctx **out, const mmix_ctx_config *cfg);
MMIXDEF void mmix_ctx_destroy(mmix_ctx *ctx);

MMIXDEF mmix_result mmix_last_result(const mmix_ctx *ctx);
MMIXDEF const char *mmix_last_error(const mmix_ctx *ctx);   /* "" when none */
MMIXDEF void mmix_clear_error(mmix_ctx *ctx);
/* Warnings (a skipped buffer in a checkpoint, say) go to this callback; none by default,
   since the library never prints on its own. */
typedef void (*mmix_log_fn)(void *user, const char *message);
MMIXDEF void mmix_set_log(mmix_ctx *ctx, mmix_log_fn fn, void *user);
/* Records an error on the context, printf-style; returns code. For op and model code. */
MMIXDEF mmix_result mmix_set_error(mmix_ctx *ctx, mmix_result code, const char *fmt, ...);

/* Training mode (dropout and the like consult it); on by default. */
MMIXDEF void mmix_set_training(mmix_ctx *ctx, int training);
MMIXDEF int mmix_is_training(const mmix_ctx *ctx);
/* Dropout's randomness (mmix_dropout): no generator state, but a hash of (seed, step, the
   call's key, the element's index), so a mask never depends on the thread count, the backend
   or what ran before it. A training loop sets the step before each forward (mm train: from
   the optimizer step and the micro-batch), so masks change from step to step and a resumed
   run draws the same ones again. Both are 0 in a new context (reference-notes Sec. 8b). */
MMIXDEF void mmix_set_dropout_step(mmix_ctx *ctx, uint64_t seed, uint64_t step);
/* Gradient recording; on by default. Off = inference: ops append nothing to the tape. */
MMIXDEF void mmix_set_grad_enabled(mmix_ctx *ctx, int enabled);
MMIXDEF int mmix_grad_enabled(const mmix_ctx *ctx);

/* Threads for our loops and, with an OpenMP BLAS, for its GEMMs. Returns the count used
   (1 without OpenMP). */
MMIXDEF int mmix_set_num_threads(int n);
MMIXDEF int mmix_get_num_threads(void);

/* Empties the step arena and the tape (keeping their capacity). */
MMIXDEF void mmix_step_reset(mmix_ctx *ctx);
/* Grows the step arena to at least `bytes` in one block, so a step of known size
   allocates nothing. */
MMIXDEF mmix_result mmix_ctx_reserve_step(mmix_ctx *ctx, size_t bytes);

/* A position in the step arena and tape to come back to (e.g. between two forwards of a
   gradient check, or tokens of generation). Rewinding drops everything made after it. */
typedef struct mmix_step_mark {
    void *block, *data_block;   /* the newest block of the step arena and of its data arena */
    size_t used, data_used;
    int64_t tape_len;
} mmix_step_mark;
MMIXDEF mmix_step_mark mmix_step_mark_get(mmix_ctx *ctx);
MMIXDEF void mmix_step_rewind(mmix_ctx *ctx, mmix_step_mark mark);

typedef struct mmix_memory_stats {
    size_t persist_used, persist_capacity;
    size_t step_used, step_capacity, step_high_water;
    int64_t system_allocations;  /* calls to MMIX_MALLOC/MMIX_REALLOC by this context */
    int64_t tape_len, tape_capacity;
} mmix_memory_stats;
MMIXDEF mmix_memory_stats mmix_memory_usage(const mmix_ctx *ctx);

/* Tensors. Data is zero-filled. Returns NULL (with the error set) on a bad shape or OOM. */
MMIXDEF mmix_tensor *mmix_tensor_new(mmix_ctx *ctx, mmix_lifetime where, mmix_dtype dtype,
                                     mmix_shape shape);
/* Marks a tensor as needing a gradient (a leaf input of the inversion procedure, say).
   Persistent tensors get their gradient buffer now; step tensors during backward. */
MMIXDEF mmix_result mmix_set_requires_grad(mmix_ctx *ctx, mmix_tensor *t, int requires);
MMIXDEF void mmix_tensor_set_name(mmix_tensor *t, const char *name);
/* Moving elements between a tensor and host memory: n elements (4 bytes each, float or
   int32) from element `first`, through the tensor's backend. The only way code outside the
   backend reads or writes tensor data, so that it may live on a device. */
MMIXDEF mmix_result mmix_tensor_upload(mmix_ctx *ctx, mmix_tensor *t, int64_t first, const void *host, int64_t n);
MMIXDEF mmix_result mmix_tensor_download(mmix_ctx *ctx, const mmix_tensor *t, int64_t first, void *host,
                                         int64_t n);
/* Element i of a float tensor (a loss: i = 0), or NaN when there is no such element. */
MMIXDEF float mmix_tensor_item(const mmix_tensor *t, int64_t i);

/* A parameter set: persistent float tensors with gradients, in creation order (a model's
   is the order of its reference state_dict). What trains is a set, never "every parameter
   of the context": AdamW, clipping and zero-grad take one, and a model owns one, so two
   encoders (retrieval) or no parameter at all (inversion optimizes an input) fit in one
   context. Names are unique within a set.
   A set made by mmix_params_create keeps every value in ONE contiguous buffer and every
   gradient in another, each tensor a view at its offset (llm.c's layout), so that one
   optimizer kernel, one all-reduce or one host<->device copy covers the whole set. The
   context's own set (mmix_ctx_params: what mmix_param makes, for small experiments) gives
   each tensor its own buffer instead: data and grad are NULL there. */
typedef struct mmix_params {
    mmix_tensor **tensors;      /* count views (or tensors), in creation order */
    int64_t count;
    int64_t numel;              /* floats in data and grad: the sum of the tensors' sizes */
    float *data, *grad;         /* the two buffers; NULL for the context's own set */
    int64_t used, capacity;     /* floats handed out so far; room in tensors */
} mmix_params;
/* An empty set of numel floats (zero-filled values and gradients) on the persistent arena. */
MMIXDEF mmix_result mmix_params_create(mmix_ctx *ctx, mmix_params *set, int64_t numel);
/* The set's next parameter, a view of `shape` at its next free float: NULL with an error when
   the name is empty, too long or taken in this set, or the set has no room left. */
MMIXDEF mmix_tensor *mmix_params_add(mmix_ctx *ctx, mmix_params *set, const char *name, mmix_shape shape);
MMIXDEF mmix_tensor *mmix_params_find(const mmix_params *set, const char *name);
/* Sets every gradient of the set to zero. */
MMIXDEF void mmix_zero_grad(mmix_ctx *ctx, const mmix_params *set);

/* The context's own set, and a parameter of it with a buffer of its own. */
MMIXDEF mmix_params *mmix_ctx_params(mmix_ctx *ctx);
MMIXDEF mmix_tensor *mmix_param(mmix_ctx *ctx, const char *name, mmix_shape shape);

// ----------------------------------------------------------------------------------------
// >>api_platform  The few OS services the library needs.
// ----------------------------------------------------------------------------------------
MMIXDEF double mmix_time_seconds(void);   /* monotonic wall clock */
/* Writes `size` bytes to `path` atomically: to "path.tmp", flushed and synced, then
   renamed over `path`. On any failure the temporary file is removed and `path` is left as
   it was. */
MMIXDEF mmix_result mmix_write_file_atomic(mmix_ctx *ctx, const char *path, const void *data,
                                           size_t size);
/* Renames `from` over `to` in one step (rename on POSIX, MoveFileEx on Windows): `to` is the
   old file or the new one, never neither. A training run commits a checkpoint's files in an
   order a loader can recover from with it (examples/mm.c, save_checkpoint). */
MMIXDEF mmix_result mmix_replace_file(mmix_ctx *ctx, const char *from, const char *to);

// ----------------------------------------------------------------------------------------
// >>api_rng  A seeded generator of our own (PCG32, O'Neill 2014) and initializers.
// ----------------------------------------------------------------------------------------
typedef struct mmix_rng {
    uint64_t state;
    uint64_t inc;               /* stream selector, always odd */
} mmix_rng;

MMIXDEF void mmix_rng_seed(mmix_rng *rng, uint64_t seed);
MMIXDEF uint32_t mmix_rng_u32(mmix_rng *rng);
MMIXDEF float mmix_rng_uniform(mmix_rng *rng);        /* [0, 1), 24 random bits */
MMIXDEF float mmix_rng_normal(mmix_rng *rng);         /* N(0, 1), Box-Muller */
MMIXDEF uint32_t mmix_rng_below(mmix_rng *rng, uint32_t bound);  /* uniform in [0, bound) */

MMIXDEF void mmix_init_constant(mmix_tensor *t, float value);
MMIXDEF void mmix_init_uniform(mmix_tensor *t, mmix_rng *rng, float lo, float hi);
MMIXDEF void mmix_init_normal(mmix_tensor *t, mmix_rng *rng, float mean, float std);
/* PyTorch's default for nn.Linear / nn.Conv1d (reference-notes Sec. 4): weight and bias uniform in
   +-1/sqrt(fan_in), fan_in = product of the weight's dims after the first (in_features,
   or in_channels * kernel). bias may be NULL. */
MMIXDEF void mmix_init_pytorch_linear(mmix_tensor *weight, mmix_tensor *bias, mmix_rng *rng);

// ----------------------------------------------------------------------------------------
// >>api_backend  The kernel table. Every loop that touches tensor data goes through it,
// so a CUDA backend can replace them without touching op or model code. Sizes are
// element counts; "rows x cols" are row-major matrices; gradients (d*) are accumulated
// (+=) and may be NULL when not needed.
// ----------------------------------------------------------------------------------------
/* One dropout draw, as kernels take it (mmix_dropout, mmix_attention_dropout): element i of
   the call is dropped when the top 24 bits of mmix_dropout_hash(key, i) fall below
   threshold (p 2^24, so threshold 0 drops nothing), the others are multiplied by scale =
   1 / (1 - p). Kernels recompute the mask in backward: it is never stored. */
typedef struct mmix_dropout_draw {
    uint64_t key;
    uint32_t threshold;
    float scale;
} mmix_dropout_draw;

typedef struct mmix_backend {
    const char *name;
    /* Memory. Tensor data lives where the backend keeps it: front-end code (ops, models, the
       generator, the optimizer, checkpoints) only hands pointers on to kernels and moves
       bytes with these, so that a device backend can hold every tensor. Sizes in bytes. */
    void *(*alloc)(size_t bytes);                          /* 64-byte aligned; NULL: none left */
    void (*release)(void *p);                              /* p from alloc, or NULL */
    void (*upload)(void *dst, const void *host_src, size_t bytes);     /* host -> backend */
    void (*download)(void *host_dst, const void *src, size_t bytes);   /* backend -> host */
    void (*copy)(void *dst, const void *src, size_t bytes);            /* within the backend */
    void (*zero)(void *dst, size_t bytes);
    void (*synchronize)(void);                             /* waits for queued kernels */
    /* C = alpha op(A) op(B) + beta C, row-major; op(A) is M x K, op(B) is K x N.
       beta = 0 means C is not read. */
    void (*sgemm)(int transpose_a, int transpose_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                  int64_t ldc);
    void (*fill)(float *x, int64_t n, float value);
    void (*axpy)(float *y, const float *x, float alpha, int64_t n);          /* y += a x */
    void (*add_forward)(float *out, const float *a, const float *b, int64_t n);
    void (*mul_forward)(float *out, const float *a, const float *b, int64_t n);
    void (*mul_acc)(float *y, const float *a, const float *b, int64_t n);   /* y += a b */
    void (*scale_forward)(float *out, const float *x, float s, int64_t n);
    double (*sum_forward)(const float *x, int64_t n);
    void (*add_scalar_acc)(float *y, float value, int64_t n);               /* y += v */
    void (*embedding_forward)(float *out, const float *table, const int32_t *ids, int64_t n_ids,
                              int64_t D);
    void (*embedding_backward)(float *dtable, const float *dout, const int32_t *ids,
                               int64_t n_ids, int64_t D);
    void (*add_bias_rows)(float *out, const float *bias, int64_t rows, int64_t cols);
    void (*sum_rows_acc)(float *dbias, const float *dout, int64_t rows, int64_t cols);
    void (*layernorm_forward)(float *out, float *mean, float *rstd, const float *x, const float *w,
                              const float *b, int64_t rows, int64_t cols, float eps);
    void (*layernorm_backward)(float *dx, float *dw, float *db, const float *dout, const float *x,
                               const float *mean, const float *rstd, const float *w, int64_t rows,
                               int64_t cols);
    void (*gelu_forward)(float *out, const float *x, int64_t n);
    void (*gelu_backward)(float *dx, const float *dout, const float *x, int64_t n);
    void (*softmax_forward)(float *out, const float *x, int64_t rows, int64_t cols);
    void (*softmax_backward)(float *dx, const float *dout, const float *y, int64_t rows,
                             int64_t cols);
    /* Per-row loss (0 for ignored rows) and per-row logsumexp; targets already checked. */
    void (*cross_entropy_forward)(float *row_loss, float *row_lse, const float *logits,
                                  const int32_t *targets, int64_t rows, int64_t V,
                                  int32_t ignore_index);
    /* dlogits += scale (softmax(logits) - onehot(target)) for counted rows. */
    void (*cross_entropy_backward)(float *dlogits, const float *logits, const float *row_lse,
                                   const int32_t *targets, int64_t rows, int64_t V,
                                   int32_t ignore_index, float scale);
    /* out[r] = the first index of the largest value of row r (a NaN counts as the largest). */
    void (*argmax_rows)(int32_t *out, const float *x, int64_t rows, int64_t cols);
    /* Token mixing. Wt is the masked weight rearranged tap-major, [k][L_out][L_in]. */
    /* Wt[m][o][i] = W[o][i][m] where keep[o * L_in + i] (all when keep is NULL), else 0. */
    void (*token_mix_pack)(float *Wt, const float *W, const uint8_t *keep, int64_t L_out,
                           int64_t L_in, int64_t k);
    /* dW[o][i][m] += dWt[m][o][i] where kept (all when keep is NULL). */
    void (*token_mix_unpack_grad)(float *dW, const float *dWt, const uint8_t *keep,
                                  int64_t L_out, int64_t L_in, int64_t k);
    /* W[o][i][m] = 0 where not kept: the reference code's in-place masking. */
    void (*token_mix_mask_inplace)(float *W, const uint8_t *keep, int64_t L_out, int64_t L_in,
                                   int64_t k);
    /* dst = tril(softmax over o of tril(src)) per tap m: for each input i, over the outputs o
       of W[o][i][m], masked entries (i > o) counting as 0, then re-masked; dst may be src. The
       softmax mixer's weight projection (reference-notes Sec. 2d). */
    void (*token_mix_softmax)(float *dst, const float *src, int64_t L_out, int64_t L_in, int64_t k);
    void (*token_mix_forward)(float *out, const float *x, const float *Wt, const float *bias,
                              int64_t B, int64_t L_out, int64_t L_in, int64_t D, int64_t k);
    /* dWt [k][L_out][L_in] is accumulated; keep ([L_out][L_in] bytes or NULL): only the
       kept entries of dWt are needed (others may be left as they were), NULL: every entry
       (the reference-masked-gradients mode's phantom gradients). Masking is the caller's. */
    void (*token_mix_backward)(float *dx, float *dWt, float *dbias, const float *dout,
                               const float *x, const float *Wt, const uint8_t *keep, int64_t B,
                               int64_t L_out, int64_t L_in, int64_t D, int64_t k);
    void (*rmsnorm_forward)(float *out, float *rrms, const float *x, const float *w, int64_t rows,
                            int64_t cols, float eps);
    void (*rmsnorm_backward)(float *dx, float *dw, const float *dout, const float *x,
                             const float *rrms, const float *w, int64_t rows, int64_t cols);
    void (*silu_forward)(float *out, const float *x, int64_t n);
    void (*silu_backward)(float *dx, const float *dout, const float *x, int64_t n);
    /* inverse = 1 rotates backwards and accumulates: the backward pass. */
    void (*rope)(float *out, const float *x, int64_t B, int64_t L, int64_t H, int64_t hd,
                 float theta, int64_t pos0, int inverse);
    /* probs [B][H][Lq][Lk] are saved for the backward pass, which also takes a scratch
       buffer of the same size. drop: dropout of the probabilities (HF GPT-1's attn_dropout),
       element (b, h, i, j) being element ((b H + h) Lq + i) Lk + j of the draw; probs hold
       them before dropout. */
    void (*attention_forward)(float *out, float *probs, const float *q, const float *k,
                              const float *v, int64_t B, int64_t Lq, int64_t Lk, int64_t H,
                              int64_t hd, int causal, mmix_dropout_draw drop);
    void (*attention_backward)(float *dq, float *dk, float *dv, float *scratch, const float *dout,
                               const float *q, const float *k, const float *v,
                               const float *probs, int64_t B, int64_t Lq, int64_t Lk, int64_t H,
                               int64_t hd, mmix_dropout_draw drop);
    /* Row norms are saved: norm[r] = ||x_r||. */
    void (*l2_normalize_forward)(float *out, float *norm, const float *x, int64_t rows,
                                 int64_t cols, float eps);
    void (*l2_normalize_backward)(float *dx, const float *dout, const float *x, const float *norm,
                                  int64_t rows, int64_t cols, float eps);
    void (*cosine_forward)(float *out, float *norm_a, float *norm_b, const float *a,
                           const float *b, int64_t rows, int64_t cols, float eps);
    void (*cosine_backward)(float *da, float *db, const float *dout, const float *a,
                            const float *b, const float *norm_a, const float *norm_b,
                            int64_t rows, int64_t cols, float eps);
    void (*logsumexp_forward)(float *out, const float *x, int64_t rows, int64_t cols);
    void (*logsumexp_backward)(float *dx, const float *dout, const float *x, const float *out,
                               int64_t rows, int64_t cols);
    double (*l1_forward)(const float *a, const float *b, int64_t n);
    void (*l1_backward)(float *da, float *db, float dout, const float *a, const float *b,
                        int64_t n);
    /* out[g, r, :] = source row map[r] of group g: a[g, map[r]] when map[r] < La,
       b[g, map[r] - La] when map[r] >= La, zeros when map[r] < 0. */
    void (*token_gather_forward)(float *out, const float *a, const float *b, const int64_t *map,
                                 int64_t groups, int64_t L_out, int64_t La, int64_t Lb, int64_t D);
    void (*token_gather_backward)(float *da, float *db, const float *dout, const int64_t *map,
                                  int64_t groups, int64_t L_out, int64_t La, int64_t Lb,
                                  int64_t D);
    /* AdamW on n elements (torch.optim.AdamW's update, see >>adamw). */
    void (*adamw_update)(float *param, const float *grad, float *m, float *v, int64_t n,
                         float lr, float beta1, float beta2, float eps, float weight_decay,
                         double bias_correction1, double bias_correction2);
    double (*sum_squares)(const float *x, int64_t n);
    /* Dropout (mmix_dropout) of n elements: out = x or 0 as the draw says, times its scale. */
    void (*dropout_forward)(float *out, const float *x, int64_t n, mmix_dropout_draw drop);
    void (*dropout_backward)(float *dx, const float *dout, int64_t n, mmix_dropout_draw drop);
} mmix_backend;

/* The counter-based draw behind dropout: splitmix64's finalizer (Steele, Lea, Flood 2014)
   of key + (i + 1) * 0x9E3779B97F4A7C15, the i-th output of a splitmix64 stream seeded by
   key. Any backend computes the same masks from it. */
MMIXDEF uint64_t mmix_dropout_hash(uint64_t key, uint64_t i);

/* Fills every slot of *b, by name, with the reference CPU backend (host memory, OpenMP
   loops, built-in GEMM or cblas). A backend of one's own starts from it and replaces slots. */
MMIXDEF void mmix_cpu_backend_fill(mmix_backend *b);
/* The backend a context uses (its own copy of the CPU one by default; NULL restores that);
   set it before creating tensors, and keep it alive while the context uses it. */
MMIXDEF void mmix_set_backend(mmix_ctx *ctx, const mmix_backend *backend);
MMIXDEF const mmix_backend *mmix_get_backend(const mmix_ctx *ctx);
/* The built-in GEMM on its own (the test oracle for the cblas path and vice versa). */
MMIXDEF void mmix_sgemm_builtin(int transpose_a, int transpose_b, int64_t M, int64_t N, int64_t K,
                                float alpha, const float *A, int64_t lda, const float *B,
                                int64_t ldb, float beta, float *C, int64_t ldc);
/* 1 when built with MMIX_USE_CBLAS, 1 when built with OpenMP. */
MMIXDEF int mmix_has_cblas(void);
MMIXDEF int mmix_has_openmp(void);

/* Which GEMM the CPU backend calls, process-wide (like the thread count). A build with
   MMIX_USE_CBLAS uses the BLAS by default; MMIX_GEMM_BUILTIN switches to the built-in GEMM,
   whose results do not depend on the thread count (see "Threads and reproducibility" in
   section 5), e.g. to compare runs on different machines or core counts. Returns the GEMM
   now in use: asking for MMIX_GEMM_CBLAS in a build without it keeps MMIX_GEMM_BUILTIN.
   Set it between steps, not while another thread is computing. */
typedef enum mmix_gemm { MMIX_GEMM_BUILTIN, MMIX_GEMM_CBLAS, MMIX_GEMM_AUTO } mmix_gemm;
MMIXDEF mmix_gemm mmix_set_gemm(mmix_gemm which);
MMIXDEF mmix_gemm mmix_get_gemm(void);
/* MMIX_GEMM_AUTO (the default of a BLAS build) picks per product by a fixed rule on its
   shape and on the BLAS's kernels, never by timing (>>gemm states the rule). Names as
   `mm --gemm` and the MMIX_GEMM variable spell them: "builtin", "blas", "auto"; parse
   returns 0 for anything else. */
MMIXDEF const char *mmix_gemm_name(mmix_gemm which);
MMIXDEF int mmix_gemm_parse(const char *text, mmix_gemm *out);
/* The built-in GEMM's register tile, chosen from what the compiler targets ("8x32 (AVX-512)"). */
MMIXDEF const char *mmix_gemm_tile(void);
/* OpenBLAS's name for the kernels it runs ("SkylakeX", "Prescott"); "" without a BLAS, with
   another BLAS, or where the query cannot be linked weakly. */
MMIXDEF const char *mmix_blas_corename(void);
/* 1 when the BLAS runs kernels without AVX on a CPU that has it (OpenBLAS 0.3.21 on a CPU
   newer than it knows): then OPENBLAS_CORETYPE=mmix_blas_coretype_hint() fixes it. */
MMIXDEF int mmix_blas_is_generic(void);
/* The OPENBLAS_CORETYPE for this CPU from its vector extensions: "SkylakeX" (AVX-512),
   "Haswell" (AVX2), "Sandybridge" (AVX); "" elsewhere. */
MMIXDEF const char *mmix_blas_coretype_hint(void);

// ----------------------------------------------------------------------------------------
// >>api_ops  Op constructors. Each computes its output now and, when recording, appends
// a tape node. Outputs live in the step arena. NULL on error (see section 5).
// ----------------------------------------------------------------------------------------

/* Rows of table [V, D] picked by ids (int32, any shape S): out [S..., D].
   An id outside [0, V) is an error (MMIX_ERR_RANGE). */
MMIXDEF mmix_tensor *mmix_embedding(mmix_ctx *ctx, mmix_tensor *table, mmix_tensor *ids);
/* x [..., in] times W [out, in] transposed, plus b [out] (b may be NULL): [..., out]. */
MMIXDEF mmix_tensor *mmix_linear(mmix_ctx *ctx, mmix_tensor *x, mmix_tensor *W, mmix_tensor *b);
/* x [..., in] times W [in, out], plus b [out] (b may be NULL): [..., out]. Hugging Face's
   Conv1D (GPT-1's layers), whose weights are stored [in, out]: torch.addmm(b, x, W). */
MMIXDEF mmix_tensor *mmix_linear_in_out(mmix_ctx *ctx, mmix_tensor *x, mmix_tensor *W, mmix_tensor *b);
/* Dropout (nn.Dropout): while training (mmix_is_training) and p > 0, each element is zeroed
   with probability p and the rest scaled by 1 / (1 - p); otherwise x itself is returned.
   key names the call site within one forward (the mask is a function of the context's
   dropout seed and step, key and the element's index: see mmix_set_dropout_step), so two
   sites of one forward must use different keys. p must be in [0, 1). */
MMIXDEF mmix_tensor *mmix_dropout(mmix_ctx *ctx, mmix_tensor *x, float p, uint64_t key);
/* Batched matrix product op(A) op(B), where op transposes the last two dims when asked.
   A [..., M, K], B [..., K, N] with equal leading dims; either may instead be 2-D, and is
   then shared by every batch entry. Out [..., M, N]. */
MMIXDEF mmix_tensor *mmix_matmul(mmix_ctx *ctx, mmix_tensor *A, mmix_tensor *B, int transpose_a,
                                 int transpose_b);
MMIXDEF mmix_tensor *mmix_add(mmix_ctx *ctx, mmix_tensor *a, mmix_tensor *b);  /* same shape */
MMIXDEF mmix_tensor *mmix_mul(mmix_ctx *ctx, mmix_tensor *a, mmix_tensor *b);  /* same shape */
MMIXDEF mmix_tensor *mmix_scale(mmix_ctx *ctx, mmix_tensor *x, float s);
MMIXDEF mmix_tensor *mmix_sum(mmix_ctx *ctx, mmix_tensor *x);    /* scalar: all elements */
MMIXDEF mmix_tensor *mmix_mean(mmix_ctx *ctx, mmix_tensor *x);   /* scalar: all elements */
/* Same data, another shape with the same element count. */
MMIXDEF mmix_tensor *mmix_reshape(mmix_ctx *ctx, mmix_tensor *x, mmix_shape shape);
/* LayerNorm over the last dim (nn.LayerNorm: biased variance); w, b [D] may be NULL. */
MMIXDEF mmix_tensor *mmix_layernorm(mmix_ctx *ctx, mmix_tensor *x, mmix_tensor *w, mmix_tensor *b,
                                    float eps);
/* Exact GELU: 0.5 x (1 + erf(x / sqrt 2)) (nn.GELU(), approximate='none'). */
MMIXDEF mmix_tensor *mmix_gelu(mmix_ctx *ctx, mmix_tensor *x);
/* Softmax over the last dim. */
MMIXDEF mmix_tensor *mmix_softmax(mmix_ctx *ctx, mmix_tensor *x);
/* Mean cross-entropy of logits [..., V] against int32 targets [...], skipping positions
   whose target equals ignore_index (PyTorch: reduction='mean', ignore_index). A scalar.
   A target outside [0, V) that is not ignore_index, or no counted position, is an error. */
MMIXDEF mmix_tensor *mmix_cross_entropy(mmix_ctx *ctx, mmix_tensor *logits, mmix_tensor *targets,
                                        int32_t ignore_index);
/* The index of the largest value along the last dim of x [..., V]: int32 [...] (one value
   for 1-D x). Ties go to the lowest index and a NaN counts as the largest, as torch.argmax.
   No gradient: the output is on no tape (sequential two-token prediction feeds one pass's
   guesses to the next, paper Sec. 5.2, Fig. 7a). */
MMIXDEF mmix_tensor *mmix_argmax(mmix_ctx *ctx, mmix_tensor *x);

/* Which (output token o, input token i) pairs of a token-mixing weight are kept. */
typedef enum mmix_mask_kind {
    MMIX_MASK_NONE,             /* every pair */
    MMIX_MASK_LOWER,            /* i <= o + diagonal: causal with diagonal 0 (torch.tril) */
    MMIX_MASK_UPPER,            /* i >= o + diagonal: the reverse stream of the bidirectional
                                   mixer uses diagonal 2 (torch.triu(diagonal=2)) */
    MMIX_MASK_CUSTOM            /* keep[o * L_in + i] != 0; the array must outlive backward */
} mmix_mask_kind;
typedef struct mmix_mask {
    mmix_mask_kind kind;
    int64_t diagonal;
    const uint8_t *keep;
} mmix_mask;
MMIXDEF mmix_mask mmix_mask_causal(void);   /* {MMIX_MASK_LOWER, 0, NULL} */

/* The masked mixer's token mixing (paper Sec. 3.2, Fig. 2; k > 1: Fig. S5): a Conv1d whose
   channels are token positions, so its kernel slides over the feature axis.
     x [B, L_in, D], W [L_out, L_in, k] (PyTorch Conv1d layout), bias [L_out] or NULL:
     out[b, o, j] = bias[o] + sum_{i kept} sum_{m<k} W[o, i, m] x[b, i, j + m - left]
   with zero padding outside 0..D-1 and PyTorch's padding='same': left = (k - 1) / 2.
   The mask applies to the weight; by default the weight gradient is masked too (masked
   entries get exactly zero gradient, so they stay zero). See mmix_set_masked_grad_mode. */
MMIXDEF mmix_tensor *mmix_token_mix(mmix_ctx *ctx, mmix_tensor *x, mmix_tensor *W, mmix_tensor *bias,
                                    mmix_mask mask);

/* How the masked entries of token-mixing weights are treated. */
typedef enum mmix_masked_grad_mode {
    MMIX_MASKED_GRADS_ZERO,     /* default: zero gradient, not counted by the clip norm */
    MMIX_MASKED_GRADS_REFERENCE /* as the reference code (reference-notes Sec. 1): each
                                   forward zeroes the masked entries of W in place, and
                                   backward gives them the gradient they would have unmasked
                                   ("phantom" gradients, which count in the clip norm and move
                                   AdamW's moments). For replicating a reference run exactly. */
} mmix_masked_grad_mode;
MMIXDEF void mmix_set_masked_grad_mode(mmix_ctx *ctx, mmix_masked_grad_mode mode);
MMIXDEF mmix_masked_grad_mode mmix_get_masked_grad_mode(const mmix_ctx *ctx);

/* RMSNorm over the last dim, as HF LlamaRMSNorm: w * x / sqrt(mean(x^2) + eps); w [D]. */
MMIXDEF mmix_tensor *mmix_rmsnorm(mmix_ctx *ctx, mmix_tensor *x, mmix_tensor *w, float eps);
/* SiLU: x * sigmoid(x). */
MMIXDEF mmix_tensor *mmix_silu(mmix_ctx *ctx, mmix_tensor *x);
/* Rotary position embedding, Hugging Face convention (rotate-half, HF LlamaForCausalLM): x [B, L, H*hd]
   holds H heads of hd dims; in each head, dims t and t + hd/2 rotate together by the angle
   pos * theta^(-2t/hd), pos = pos0 + token index. */
MMIXDEF mmix_tensor *mmix_rope(mmix_ctx *ctx, mmix_tensor *x, int64_t n_heads, float theta, int64_t pos0);
/* Multi-head scaled dot-product attention. q [B, Lq, H*hd], k and v [B, Lk, H*hd] with
   Lk >= Lq; query i sits at position Lk - Lq + i (so a query can follow cached keys).
   Scores are scaled by 1/sqrt(hd); causal = 1 lets query i see keys j <= its position.
   Out [B, Lq, H*hd], heads concatenated as in HF (before o_proj). */
MMIXDEF mmix_tensor *mmix_attention(mmix_ctx *ctx, mmix_tensor *q, mmix_tensor *k, mmix_tensor *v,
                                    int64_t n_heads, int causal);
/* mmix_attention with dropout of the attention probabilities while training, as HF GPT-1's
   attn_dropout: softmax, then mmix_dropout's mask (p, key; element ((b H + h) Lq + i) Lk + j),
   then times v. In eval mode or with p = 0 it is mmix_attention. */
MMIXDEF mmix_tensor *mmix_attention_dropout(mmix_ctx *ctx, mmix_tensor *q, mmix_tensor *k, mmix_tensor *v,
                                            int64_t n_heads, int causal, float p, uint64_t key);
/* x / max(||x||, eps) over the last dim (torch.nn.functional.normalize). */
MMIXDEF mmix_tensor *mmix_l2_normalize(mmix_ctx *ctx, mmix_tensor *x, float eps);
/* Cosine similarity over the last dim of a and b (same shape [..., D]): [...]. As torch
   (1.13+): sum(a / max(||a||, eps) * b / max(||b||, eps)); torch's default eps is 1e-8. */
MMIXDEF mmix_tensor *mmix_cosine_similarity(mmix_ctx *ctx, mmix_tensor *a, mmix_tensor *b, float eps);
/* log(sum(exp(x))) over the last dim: [...]. */
MMIXDEF mmix_tensor *mmix_logsumexp(mmix_ctx *ctx, mmix_tensor *x);
/* Sum of |a - b| over all elements (the inversion objective, paper Eq. 2): a scalar. */
MMIXDEF mmix_tensor *mmix_l1_distance(mmix_ctx *ctx, mmix_tensor *a, mmix_tensor *b);

/* Token-axis ops on x [..., L, D] (the token axis is the second-to-last). A negative
   position counts from the end (-1 = the last token, -2 the one before: the retrieval
   embedding of paper Sec. 6.1). */
MMIXDEF mmix_tensor *mmix_tokens_slice(mmix_ctx *ctx, mmix_tensor *x, int64_t start, int64_t count);
/* One position, with the token axis dropped: [..., D]. */
MMIXDEF mmix_tensor *mmix_tokens_select(mmix_ctx *ctx, mmix_tensor *x, int64_t pos);
/* a [..., La, D] then b [..., Lb, D]: [..., La + Lb, D]. */
MMIXDEF mmix_tensor *mmix_tokens_concat(mmix_ctx *ctx, mmix_tensor *a, mmix_tensor *b);
/* x [..., D] repeated n times along a new token axis: [..., n, D] (the autoencoder's
   decoder input, paper Sec. 5.3, Fig. 8). */
MMIXDEF mmix_tensor *mmix_tokens_repeat(mmix_ctx *ctx, mmix_tensor *x, int64_t n);
/* Token order reversed (the bidirectional transformer, paper Sec. 5.1, Fig. 6). */
MMIXDEF mmix_tensor *mmix_tokens_flip(mmix_ctx *ctx, mmix_tensor *x);
/* A copy with positions [start, end) set to zero (parallel many-token prediction, paper
   Sec. 5.2, Fig. 7). */
MMIXDEF mmix_tensor *mmix_tokens_zero(mmix_ctx *ctx, mmix_tensor *x, int64_t start, int64_t end);

/* A user-defined op with a hand-written backward: for experiments, and for testing the
   gradient checker itself. forward fills out->data; backward adds into in[i]->grad for
   each input whose grad is not NULL, from out->grad. */
typedef struct mmix_custom_op {
    const char *name;
    void (*forward)(mmix_tensor *out, mmix_tensor *const *in, int n_in, void *user);
    void (*backward)(const mmix_tensor *out, mmix_tensor *const *in, int n_in, void *user);
} mmix_custom_op;
#define MMIX_MAX_INPUTS 3
MMIXDEF mmix_tensor *mmix_custom(mmix_ctx *ctx, const mmix_custom_op *op, void *user,
                                 mmix_shape out_shape, mmix_tensor *const *in, int n_in);

// ----------------------------------------------------------------------------------------
// >>api_autograd  Backward.
// ----------------------------------------------------------------------------------------
/* Gradients of the scalar `loss` with respect to everything on the tape that requires
   one, accumulated (+=) into their grad buffers. */
MMIXDEF mmix_result mmix_backward(mmix_ctx *ctx, mmix_tensor *loss);
/* The same with an explicit upstream gradient for `out` (same element count). */
MMIXDEF mmix_result mmix_backward_from(mmix_ctx *ctx, mmix_tensor *out, const float *out_grad);

/* Op metadata, from one X-macro table: name, number of tensor inputs. */
#define MMIX_OPS(X)                        \
    X(EMBEDDING, "embedding", 2)           \
    X(LINEAR, "linear", 3)                 \
    X(MATMUL, "matmul", 2)                 \
    X(ADD, "add", 2)                       \
    X(MUL, "mul", 2)                       \
    X(SCALE, "scale", 1)                   \
    X(SUM, "sum", 1)                       \
    X(MEAN, "mean", 1)                     \
    X(RESHAPE, "reshape", 1)               \
    X(LAYERNORM, "layernorm", 3)           \
    X(GELU, "gelu", 1)                     \
    X(SOFTMAX, "softmax", 1)               \
    X(CROSS_ENTROPY, "cross_entropy", 2)   \
    X(CUSTOM, "custom", 3)                 \
    X(TOKEN_MIX, "token_mix", 3)           \
    X(RMSNORM, "rmsnorm", 2)               \
    X(SILU, "silu", 1)                     \
    X(ROPE, "rope", 1)                     \
    X(ATTENTION, "attention", 3)           \
    X(L2_NORMALIZE, "l2_normalize", 1)     \
    X(COSINE_SIMILARITY, "cosine_similarity", 2) \
    X(LOGSUMEXP, "logsumexp", 1)           \
    X(L1_DISTANCE, "l1_distance", 2)       \
    X(TOKEN_GATHER, "token_gather", 2)     \
    X(LINEAR_IN_OUT, "linear_in_out", 3)   \
    X(DROPOUT, "dropout", 1)

typedef enum mmix_op {
#define MMIX__OP_ENUM(name, text, n_inputs) MMIX_OP_##name,
    MMIX_OPS(MMIX__OP_ENUM)
#undef MMIX__OP_ENUM
    MMIX_OP_COUNT
} mmix_op;

MMIXDEF const char *mmix_op_name(mmix_op op);

// ----------------------------------------------------------------------------------------
// >>api_gradcheck  Central finite differences against the tape's gradients.
// ----------------------------------------------------------------------------------------
/* Builds the output from the inputs with ops (called once with the tape, then with
   gradients off for every perturbed element). */
typedef mmix_tensor *(*mmix_forward_fn)(mmix_ctx *ctx, mmix_tensor *const *inputs, void *user);

typedef struct mmix_gradcheck_options {
    float step;                 /* finite-difference step h (default 2^-7) */
    double tolerance;           /* pass if |analytic - numeric| <= tolerance * max|numeric|
                                   over the input's elements (default 1e-3) */
    int64_t max_elements;       /* per input; larger inputs are sampled (default 4096) */
    uint64_t seed;              /* for the random projection and the sampling */
} mmix_gradcheck_options;

typedef struct mmix_gradcheck_report {
    int ok;                     /* every checked element passed */
    int64_t checked, failed;    /* element counts over all inputs */
    double worst_error;         /* max |analytic - numeric| / max|numeric|, over inputs */
    int worst_input;            /* where the worst error was (input index, element) */
    int64_t worst_element;
    double worst_analytic, worst_numeric;
} mmix_gradcheck_report;

MMIXDEF mmix_gradcheck_options mmix_gradcheck_options_default(void);
/* Checks d(sum(out * R))/d(input) for a fixed random R, for each input that requires a
   gradient. Float inputs are first rounded to multiples of 2^-12 so that x +- h and
   x +- 2h are exact in float32; the numeric derivative is the 4-point stencil
   (f(x-2h) - 8 f(x-h) + 8 f(x+h) - f(x+2h)) / 12h, with sum(out * R) accumulated in
   double, so float rounding stays far below the tolerance. Returns MMIX_OK when the check
   ran (report->ok tells whether it passed), or an error if fn failed. The checked inputs'
   gradients are overwritten with the analytic ones; other tensors fn uses that require
   a gradient (parameters, say) receive one backward pass's gradient, as after any backward. */
MMIXDEF mmix_result mmix_gradcheck(mmix_ctx *ctx, mmix_forward_fn fn, void *user,
                                   mmix_tensor *const *inputs, int n_inputs,
                                   const mmix_gradcheck_options *options,
                                   mmix_gradcheck_report *report);

// ----------------------------------------------------------------------------------------
// >>api_optim  AdamW, learning-rate schedules, gradient clipping (paper Sec. 9.5;
// reference-notes Sec. 6).
// ----------------------------------------------------------------------------------------
typedef struct mmix_adamw_config {
    float lr;                   /* peak learning rate; a schedule scales it per step */
    float beta1, beta2, eps;    /* torch defaults: 0.9, 0.999, 1e-8 */
    float weight_decay;         /* decoupled, applied to every parameter (torch: 0.01;
                                   the paper's Trainer runs: 0) */
} mmix_adamw_config;
MMIXDEF mmix_adamw_config mmix_adamw_config_default(void);

/* AdamW state: first and second moments of every parameter of one set, in the persistent
   arena. For a contiguous set (mmix_params_create) the moments are contiguous too, m_all
   and v_all, and m[i], v[i] are views into them. */
typedef struct mmix_adamw {
    mmix_adamw_config config;
    int64_t step;               /* optimizer steps taken */
    int64_t n_params;           /* tensors of the set */
    mmix_tensor **params, **m, **v;
    const mmix_params *set;     /* what it updates: the set must outlive the optimizer */
    float *m_all, *v_all;       /* [set->numel] each for a contiguous set, else NULL */
} mmix_adamw;

/* Creates zeroed moments for every parameter of set (a model's: &model.params). */
MMIXDEF mmix_result mmix_adamw_init(mmix_ctx *ctx, mmix_adamw *opt, const mmix_params *set,
                                    mmix_adamw_config config);
/* One update of every parameter of the set that requires a gradient, at learning rate lr
   (already scheduled), exactly as torch.optim.AdamW: p -= lr*wd*p; m, v moving averages;
   p -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps). A contiguous set whose
   parameters all train is one kernel call over its buffers (the same arithmetic per element). */
MMIXDEF mmix_result mmix_adamw_step(mmix_ctx *ctx, mmix_adamw *opt, float lr);

typedef enum mmix_schedule { MMIX_SCHEDULE_LINEAR, MMIX_SCHEDULE_CONSTANT } mmix_schedule;
/* The learning rate for optimizer step s (0-based, the step about to be taken) of T, with
   W warmup steps, as the Hugging Face schedules: lr * s / W while s < W (the first update
   uses 0 when W > 0); then lr * (T - s) / (T - W) for LINEAR (never below 0) or lr for
   CONSTANT. */
MMIXDEF float mmix_schedule_lr(mmix_schedule schedule, float lr, int64_t step, int64_t warmup,
                               int64_t total);

/* Global-norm clipping as torch.nn.utils.clip_grad_norm_: the L2 norm over every gradient
   of the set (each tensor's sum of squares, added in order, as torch does); when max_norm /
   (norm + 1e-6) < 1 every gradient is scaled by that factor. max_norm = 0 disables
   clipping. Returns the norm before clipping in *norm (may be NULL). A NaN or infinite
   norm is MMIX_ERR_NUMERIC (gradients are left untouched). */
MMIXDEF mmix_result mmix_clip_grad_norm(mmix_ctx *ctx, const mmix_params *set, float max_norm, double *norm);

// ----------------------------------------------------------------------------------------
// >>api_safetensors  Weights files in the safetensors format (reference-notes Sec. 9; see >>safetensors):
// an 8-byte little-endian header length, a JSON header, then raw little-endian data.
// ----------------------------------------------------------------------------------------
#ifndef MMIX_SAFETENSORS_MAX_HEADER
#define MMIX_SAFETENSORS_MAX_HEADER ((uint64_t)100 << 20)   /* 100 MiB */
#endif

typedef enum mmix_st_dtype {
    MMIX_ST_F32, MMIX_ST_F16, MMIX_ST_BF16, MMIX_ST_F64,
    MMIX_ST_I64, MMIX_ST_I32, MMIX_ST_I16, MMIX_ST_I8, MMIX_ST_U64, MMIX_ST_U32, MMIX_ST_U16, MMIX_ST_U8, MMIX_ST_BOOL
} mmix_st_dtype;            /* every dtype the format names is parsed; F32/F16/BF16 (and F64) can be read as floats */

typedef struct mmix_st_entry {
    char name[MMIX_NAME_MAX];   /* a longer name is an error naming it (truncated in the message) */
    mmix_st_dtype dtype;
    int ndim;                   /* 0..MMIX_MAX_DIMS; more dims is MMIX_ERR_UNSUPPORTED */
    int64_t shape[MMIX_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end;        /* byte offsets relative to the start of the data section */
} mmix_st_entry;

typedef struct mmix_safetensors {
    void *file;                 /* FILE *, open until close */
    char path[1024];            /* for messages */
    uint64_t data_start;        /* 8 + header length */
    uint64_t data_size;         /* file size - data_start */
    int64_t n_entries;
    mmix_st_entry *entries;     /* in file order */
    int64_t n_meta;
    char **meta_keys, **meta_values;   /* __metadata__, UTF-8, unescaped */
} mmix_safetensors;

/* Opens and validates: header length within the file and below MMIX_SAFETENSORS_MAX_HEADER,
   strict JSON, every entry's dtype/shape/offsets checked (end - begin == numel * dtype size,
   end <= data_size, no two entries overlap). A missing file is MMIX_ERR_FILE_NOT_FOUND;
   malformed content MMIX_ERR_FORMAT; I/O MMIX_ERR_IO; what the format allows but this
   build cannot hold (more than MMIX_MAX_DIMS dims, a name of MMIX_NAME_MAX bytes or more,
   a NUL in a string, a newer dtype such as F8_E4M3) MMIX_ERR_UNSUPPORTED. On failure *st
   is zeroed. One mmix_safetensors must not be read from two threads at once (one FILE). */
MMIXDEF mmix_result mmix_safetensors_open(mmix_ctx *ctx, const char *path, mmix_safetensors *st);
MMIXDEF const mmix_st_entry *mmix_safetensors_find(const mmix_safetensors *st, const char *name);
MMIXDEF const char *mmix_safetensors_meta(const mmix_safetensors *st, const char *key);   /* NULL if absent */
/* Reads one entry as float32 into out (entry->numel floats), converting F16, BF16, F64
   exactly as IEEE/torch do (F16 subnormals, inf, NaN included). Integer dtypes:
   MMIX_ERR_UNSUPPORTED naming the tensor and dtype. A short read is MMIX_ERR_IO. */
MMIXDEF mmix_result mmix_safetensors_read(mmix_ctx *ctx, const mmix_safetensors *st, const mmix_st_entry *e, float *out);
/* Reads into a float tensor after checking its shape equals the entry's: a mismatch is
   MMIX_ERR_SHAPE with the message "FILE: tensor 'NAME' has shape [..] in the file, the model expects [..]". */
MMIXDEF mmix_result mmix_safetensors_read_into(mmix_ctx *ctx, const mmix_safetensors *st, const mmix_st_entry *e, mmix_tensor *t);
MMIXDEF void mmix_safetensors_close(mmix_safetensors *st);   /* frees everything; safe on a zeroed struct */
MMIXDEF const char *mmix_st_dtype_name(mmix_st_dtype d);     /* "F32", ... */

/* Writes float32 tensors (each tensor's t->name, or names[i] when names != NULL) and
   string metadata (n_meta pairs; may be 0) to path atomically: streamed to "path.tmp",
   flushed, synced, renamed; on failure the temp file is removed and path is untouched.
   Header JSON: {"__metadata__":{...}, "name":{"dtype":"F32","shape":[..],"data_offsets":[b,e]}, ...}
   padded with spaces to a multiple of 8 bytes; tensors in the given order; names and
   metadata JSON-escaped. Duplicate names are MMIX_ERR_INVALID_ARGUMENT. */
MMIXDEF mmix_result mmix_safetensors_write(mmix_ctx *ctx, const char *path, mmix_tensor *const *tensors,
                                           const char *const *names, int64_t n,
                                           const char *const *meta_keys, const char *const *meta_values,
                                           int64_t n_meta);

// ----------------------------------------------------------------------------------------
// >>api_model  The model zoo (paper Secs. 3-5, 9): one table row per architecture, shared blocks.
// ----------------------------------------------------------------------------------------
/* The architecture table: one row per model. The row gives the enum value (MMIX_ARCH_id),
   the name used by `mm train --arch`, the `mmix_arch` metadata of our files and `mm info`,
   and the function that fills the architecture's descriptor: its config check, parameters,
   forwards, loss, generation, file names and metadata, in its own section of >>models.
   Adding an architecture is one row here plus that section. */
#define MMIX_ARCHITECTURES(X)                                                        \
    X(MIXER, "mixer", mmix__mixer_describe)    /* flat masked mixer (paper Sec. 3.2) */\
    X(LLAMA, "llama", mmix__llama_describe)    /* Llama-style transformer (paper Sec. 4) */\
    X(MIXER_EXPANDED, "mixer-expanded", mmix__expanded_describe) /* paper Sec. 9.1, Fig. S2 */\
    X(MIXER_HEADS, "mixer-heads", mmix__heads_describe)   /* multi-headed, paper Sec. 9.2, Fig. S6 */\
    X(MIXER_SOFTMAX, "mixer-softmax", mmix__softmax_describe) /* softmax weights, paper Sec. 9.2 */\
    X(GPT1, "gpt1", mmix__gpt_describe)        /* GPT-1 baseline (paper Sec. 4.4, Fig. 5) */\
    X(TRANSFIXER, "transfixer", mmix__transfixer_describe) /* Llama + masked mixing (notes 8c) */\
    X(MIXER_AE, "mixer-ae", mmix__mixer_ae_describe)         /* paper Sec. 5.3, Fig. 8 */    \
    X(LLAMA_AE, "llama-ae", mmix__llama_ae_describe)         /* paper Sec. 5.3, Fig. 8 */    \
    X(MIXER_PARALLEL, "mixer-parallel", mmix__mixer_parallel_describe) /* paper Sec. 5.2, Fig. 7b */\
    X(LLAMA_PARALLEL, "llama-parallel", mmix__llama_parallel_describe) /* paper Sec. 5.2, Fig. 7b */\
    X(MIXER_BIDI, "mixer-bidi", mmix__bidi_mixer_describe)   /* paper Sec. 5.1, Fig. 6 */\
    X(LLAMA_BIDI, "llama-bidi", mmix__bidi_llama_describe)   /* paper Sec. 5.1, Fig. 6 */\
    X(MIXER_MTP, "mixer-mtp", mmix__mtp_mixer_describe)      /* paper Sec. 5.2, Fig. 7a */\
    X(LLAMA_MTP, "llama-mtp", mmix__mtp_llama_describe)      /* paper Sec. 5.2, Fig. 7a */

typedef enum mmix_arch {
#define MMIX__ARCH_ENUM(id, name, describe) MMIX_ARCH_##id,
    MMIX_ARCHITECTURES(MMIX__ARCH_ENUM)
#undef MMIX__ARCH_ENUM
    MMIX_ARCH_COUNT
} mmix_arch;

/* What a model's outputs predict, and which tokens each output may see: the promise its
   masks keep (tests/test_models.c checks each against planted masked weights). L is n_ctx. */
typedef enum mmix_objective {
    MMIX_OBJECTIVE_NEXT_TOKEN,  /* causal LM: output t predicts token t + 1, sees tokens <= t */
    MMIX_OBJECTIVE_RECONSTRUCT, /* autoencoder: output t reproduces token t from one embedding
                                   of the whole input (paper Sec. 5.3): no token is hidden */
    MMIX_OBJECTIVE_NEXT_BIDI,   /* output t predicts token t + 1 and sees every other token
                                   (the bidirectional mixer, paper Sec. 5.1) */
    MMIX_OBJECTIVE_OWN_BIDI,    /* output t predicts token t and sees every other token (the
                                   bidirectional transformer, paper Sec. 5.1) */
    MMIX_OBJECTIVE_SECOND_HALF, /* outputs t >= L/2 predict token t from tokens < L/2 only;
                                   outputs t < L/2 see tokens <= t (paper Sec. 5.2, Fig. 7b) */
    MMIX_OBJECTIVE_TWO_TOKENS   /* output t predicts token t + 1, and a second pass fed the
                                   first's guesses predicts t + 2; sees tokens <= t (Fig. 7a) */
} mmix_objective;

/* What a program may ask about an architecture (the descriptor's public half). */
typedef struct mmix_arch_info {
    mmix_arch arch;
    const char *name;           /* "mixer": --arch, the mmix_arch metadata value */
    const char *title;          /* "masked mixer": for messages and `mm info` */
    const char *reference;      /* the reference model's class: "LanguageMixer" */
    const char *paper;          /* where the paper describes it */
    int fixed_window;           /* 1: inputs are exactly n_ctx tokens (the mixer's L x L mixing) */
    int can_generate;           /* 0: the architecture is not a causal language model */
    double lr;                  /* the paper's AdamW peak learning rate for it (paper Sec. 9.5) */
    const char *own_settings;   /* the settings only it reads: "kernel", "heads" (for --help) */
    mmix_objective objective;   /* what its outputs predict, and from which tokens */
} mmix_arch_info;
/* Fills *info for an architecture: 1, or 0 (and *info zeroed) for a value outside
   [0, MMIX_ARCH_COUNT). Listing them all: for (a = 0; a < MMIX_ARCH_COUNT; a++) ... */
MMIXDEF int mmix_arch_get(mmix_arch arch, mmix_arch_info *info);
/* The architecture named `name` ("mixer", "llama"): 1 and *arch set, or 0 when unknown. */
MMIXDEF int mmix_arch_find(const char *name, mmix_arch *arch);

typedef struct mmix_model_config {
    mmix_arch arch;
    int64_t vocab;              /* V */
    int64_t dim;                /* D, the model width */
    int64_t depth;              /* n, the number of blocks (of each stack: encoder, decoder) */
    int64_t n_ctx;              /* L: the mixer's token-mixing size, the transformer's window */
    int64_t kernel;             /* mixer: token-mixing kernel size k (1 in the main runs) */
    int64_t expansion;          /* mixer-expanded: inner tokens per token, e (2 in the paper) */
    int64_t heads;              /* transformer: H (no default can be guessed from weights);
                                   mixer-heads: the token-mixing heads H (4, the reference's) */
    int64_t ffn_dim;            /* feed-forward width, 4 D in every paper model */
    float norm_eps;             /* LayerNorm 1e-5 (mixer), RMSNorm 1e-6 (transformer) */
    float rope_theta;           /* 10000 */
    float dropout;              /* gpt1: dropout of the embeddings, the attention probabilities and
                                   the residual branches while training (HF resid_pdrop =
                                   embd_pdrop = attn_pdrop, 0.1 in the paper's runs;
                                   reference-notes Sec. 8b); 0: none */
} mmix_model_config;

/* The values of c's own settings into buf: one "name: value" line each ("kernel: 1\n
   layer_norm_eps: 1e-05\n"), or with one_line a phrase for a summary (", 4 heads"; "" when
   they are the defaults that need no mention). */
MMIXDEF void mmix_arch_settings(const mmix_model_config *c, int one_line, char *buf, size_t size);

/* The paper's TinyStories models (paper Sec. 4, Sec. 4.1, Sec. 9.4): the mixer V 4096,
   D 1024, n 8, L 512, k 1; the transformer V 4096, D 512, n 8, H 4, L 512. */
MMIXDEF mmix_model_config mmix_model_config_default(mmix_arch arch);

/* One head of the multi-headed mixer's token mixing (paper Sec. 9.2, Fig. S6): the reference
   MixerHead's projection and masked conv of head h (reference-notes Sec. 2c). */
typedef struct mmix_mixer_head {
    mmix_tensor *proj_w, *proj_b;               /* conv.proj_head.h: [D/H, D] and [D/H] */
    mmix_tensor *conv_w, *conv_b;               /* conv.convs.h: [L, L, 1] and [L] */
} mmix_mixer_head;

/* One pre-LayerNorm mixer block (reference-notes Sec. 3), in the reference's registration order. */
typedef struct mmix_mixer_block {
    mmix_tensor *patch_norm_w, *patch_norm_b;   /* patch_layernorm: before the feed-forward */
    mmix_tensor *seq_norm_w, *seq_norm_b;       /* seq_layernorm: before token mixing */
    mmix_tensor *ff_in_w, *ff_in_b;             /* patch_ff.0: D -> 4D */
    mmix_tensor *ff_out_w, *ff_out_b;           /* patch_ff.2: 4D -> D */
    mmix_tensor *conv_w, *conv_b;               /* conv: [L, L, k] and [L] (expanded: conv.0,
                                                   [eL, L, 1] and [eL]) */
    mmix_tensor *conv2_w, *conv2_b;             /* expanded mixer only: conv.2, [L, eL, 1], [L] */
    mmix_mixer_head *heads;                     /* multi-headed mixer only (conv_w is NULL): its
                                                   config.heads heads, then */
    mmix_tensor *out_proj_w, *out_proj_b;       /*   conv.out_proj, [D, D] and [D] */
} mmix_mixer_block;

/* One Llama decoder layer (HF LlamaDecoderLayer), in HF's state_dict order. */
typedef struct mmix_llama_layer {
    mmix_tensor *q, *k, *v, *o;                 /* self_attn.{q,k,v,o}_proj, [D, D], no bias */
    mmix_tensor *gate, *up, *down;              /* mlp: [4D, D], [4D, D], [D, 4D] */
    mmix_tensor *attn_norm, *mlp_norm;          /* input_layernorm, post_attention_layernorm */
    mmix_tensor *mix_w, *mix_b;                 /* transfixer only: mixer_layer.conv, [L, L, 1] and
                                                   [L], masked lower-triangular */
} mmix_llama_layer;

/* One GPT-1 block (HF OpenAIGPT Block), in HF's state_dict order. Weights are Conv1D's,
   stored [in, out] (mmix_linear_in_out). */
typedef struct mmix_gpt_layer {
    mmix_tensor *attn_w, *attn_b;               /* attn.c_attn: [D, 3D], [3D] (q, k, v side by side) */
    mmix_tensor *proj_w, *proj_b;               /* attn.c_proj: [D, D], [D] */
    mmix_tensor *ln1_w, *ln1_b;                 /* ln_1, after attention (post-LN) */
    mmix_tensor *fc_w, *fc_b;                   /* mlp.c_fc: [D, 4D], [4D] */
    mmix_tensor *fc_proj_w, *fc_proj_b;         /* mlp.c_proj: [4D, D], [D] */
    mmix_tensor *ln2_w, *ln2_b;                 /* ln_2, after the MLP */
} mmix_gpt_layer;

typedef struct mmix_model {
    mmix_model_config config;
    mmix_tensor *embed;                         /* wte.weight / model.embed_tokens.weight */
    mmix_mixer_block *mixer;                    /* config.depth blocks (mixer) */
    mmix_llama_layer *llama;                    /* config.depth layers (transformer) */
    mmix_mixer_block *mixer2;                   /* the second stack of a two-stack model: the */
    mmix_llama_layer *llama2;                   /*   decoder, or the reverse stream (mixer2[i]
                                                   of mixer-bidi shares mixer[i]'s patch_*) */
    mmix_gpt_layer *gpt;                        /* config.depth blocks (gpt1) */
    mmix_tensor *positions;                     /* gpt1: learned positions, [n_ctx, D] */
    mmix_tensor *final_norm;                    /* transformer: model.norm.weight */
    mmix_tensor *lm_head;                       /* [V, D], no bias; a tied head is `embed` */
    mmix_params params;                         /* every parameter, in one buffer (>>api_ctx) */
} mmix_model;

/* Creates the parameters (named as the reference state_dict, in its order) on ctx's
   persistent arena, uninitialized. Checks the config: a bad size is MMIX_ERR_INVALID_ARGUMENT. */
MMIXDEF mmix_result mmix_model_create(mmix_ctx *ctx, mmix_model *model, mmix_model_config config);
/* The reference initialization: PyTorch defaults for the mixer, N(0, 0.02)
   for the transformer (reference-notes Sec. 4). The mixer's masked token-mixing entries
   are set to zero. */
MMIXDEF void mmix_model_init(mmix_model *model, mmix_rng *rng);
/* Sets the masked (upper-triangle) token-mixing entries to zero, as the reference does
   before every use: for weights loaded from reference files. */
MMIXDEF void mmix_model_apply_masks(mmix_model *model);
MMIXDEF int64_t mmix_model_param_count(const mmix_model *model);   /* number of weights */
/* The last hidden layer [B, L, D] for token ids [B, L] (int32): the mixer's last block
   output, the transformer's output after its final norm, an encoder-decoder's last decoder
   block output. */
MMIXDEF mmix_tensor *mmix_model_hidden(mmix_ctx *ctx, const mmix_model *model, mmix_tensor *ids);
/* Logits [B, L, V] of one forward pass (a two-token model's training runs two, see
   mmix_model_loss_terms). */
MMIXDEF mmix_tensor *mmix_model_logits(mmix_ctx *ctx, const mmix_model *model, mmix_tensor *ids);
/* The training loss of the model's objective (mmix_arch_info.objective). For a causal LM
   (paper Sec. 3.2; reference-notes Sec. 5): cross-entropy of the logits at positions 0..L-2
   against the tokens at 1..L-1, skipping targets equal to pad_id (pad_id < 0: none skipped),
   the mean over all counted positions of the batch; the bidirectional transformer scores
   position t against token t, the two-token models add a second pass's term (reference-notes
   Secs. 15, 16). *logits receives the (final pass's) logits if not NULL. */
MMIXDEF mmix_tensor *mmix_model_loss(mmix_ctx *ctx, const mmix_model *model, mmix_tensor *ids,
                                     int32_t pad_id, mmix_tensor **logits);

/* The terms of an architecture's training objective (mmix_arch_info.objective): one for a
   causal LM, two for sequential two-token prediction. The loss is the sum of the terms'
   means. Term j averages the cross-entropy over count[j] targets; a term with no target
   (every one the pad) has mean NULL and count 0. */
#define MMIX_LOSS_TERMS_MAX 4
typedef struct mmix_loss_terms {
    int n;
    mmix_tensor *mean[MMIX_LOSS_TERMS_MAX];     /* [1], on the tape */
    int64_t count[MMIX_LOSS_TERMS_MAX];
} mmix_loss_terms;
/* mmix_model_loss with its terms in *terms (may be NULL). Unlike mmix_model_loss, a batch
   with nothing to count is no error: the loss is then 0 and every count 0. *logits: those
   of the final pass, every position [B, L, V]. */
MMIXDEF mmix_tensor *mmix_model_loss_terms(mmix_ctx *ctx, const mmix_model *model, mmix_tensor *ids, int32_t pad_id,
                                           mmix_loss_terms *terms, mmix_tensor **logits);
/* How many targets the objective counts in n rows of len token ids (host memory): the sum
   over its terms, the weight of these rows in a token-weighted mean of batches. */
MMIXDEF int64_t mmix_model_counted_targets(const mmix_model *model, const int32_t *ids, int64_t n, int64_t len,
                                           int32_t pad_id);

/* What a weights file cannot tell (reference-notes Sec. 8): given values override the file's
   __metadata__ (num_attention_heads, layer_norm_eps / rms_norm_eps / GPT-1's
   layer_norm_epsilon, rope_theta, n_ctx). */
typedef struct mmix_load_options {
    int64_t heads;              /* 0: from metadata; a transformer without either fails (a
                                   multi-headed mixer's file counts its heads: not read) */
    float norm_eps;             /* 0: from metadata, else the architecture's default */
    float rope_theta;           /* 0: from metadata, else 10000 */
    int64_t n_ctx;              /* 0: from metadata (transformer) or the conv weight (mixer) */
    const char *arch;           /* NULL: the file's mmix_arch metadata, else detected from its
                                   names; a name picks among the architectures whose
                                   reference files look alike (mmix_model_file_archs) */
} mmix_load_options;
MMIXDEF mmix_load_options mmix_load_options_default(void);

/* Creates a model from a safetensors file holding exactly the reference state_dict
   (F32, F16 or BF16): the architecture and sizes come from the tensor names and shapes.
   Known non-parameter buffers (rotary_emb.inv_freq) are skipped with a warning; any other
   unknown or missing tensor, or a wrong shape, is an error naming it. Masked token-mixing
   entries are zeroed (reference files carry non-zero upper triangles, reference-notes Sec. 1).
   *pad_id receives the file's pad_token_id, or -1 (pad_id may be NULL). */
MMIXDEF mmix_result mmix_model_load(mmix_ctx *ctx, mmix_model *model, const char *path,
                                    const mmix_load_options *options, int32_t *pad_id);
/* The architectures a weights file can load as, the default first: the one its mmix_arch
   metadata records, else every architecture whose reference names and shapes it holds (some
   reference files share every name: mixer and mixer-softmax, say). *n receives the count
   (0: none; archs needs MMIX_ARCH_COUNT entries). */
MMIXDEF mmix_result mmix_model_file_archs(mmix_ctx *ctx, const char *path, mmix_arch *archs, int *n);
/* Writes the model's weights (F32, reference names) with metadata describing it, so that
   the file loads here without options and in PyTorch with a strict load_state_dict (the
   transformer encoder-decoders: strict=False, for the reference's unused inner tensors that
   we do not write, reference-notes Sec. 13). */
MMIXDEF mmix_result mmix_model_save(mmix_ctx *ctx, const mmix_model *model, const char *path,
                                    int32_t pad_id);

/* Optimizer state beside the weights: AdamW's moments ("exp_avg.NAME", "exp_avg_sq.NAME"),
   its step and settings, and the caller's own metadata (schedule, data position, RNG). */
MMIXDEF mmix_result mmix_adamw_save(mmix_ctx *ctx, const mmix_adamw *opt, const char *path,
                                    const char *const *meta_keys, const char *const *meta_values,
                                    int64_t n_meta);
/* Restores moments, step and settings into an optimizer made by mmix_adamw_init for the same
   model; every parameter must have its moments with its shape. */
MMIXDEF mmix_result mmix_adamw_load(mmix_ctx *ctx, mmix_adamw *opt, const char *path);

/* Reads a token file: one sequence per line, whitespace-separated ids, every line of the
   same length (expect_len > 0 demands that length). *ids is allocated with MMIX_MALLOC
   ([lines x len], row-major; free it with mmix_free). An id outside [0, vocab) or a line
   of another length is an error naming the file and line. */
MMIXDEF mmix_result mmix_read_token_lines(mmix_ctx *ctx, const char *path, int64_t vocab,
                                          int64_t expect_len, int32_t **ids, int64_t *lines,
                                          int64_t *len);
MMIXDEF void mmix_free(void *p);

// ----------------------------------------------------------------------------------------
// >>api_generate  Generation (paper Sec. 4.2; reference-notes Sec. 7): a generator per
// sequence, sampling, a whole loop.
// ----------------------------------------------------------------------------------------
/* How a generator computes the logits of each new position. Both models are causal
   (position t depends on tokens 0..t only), so both methods give the same logits, up to
   float rounding. A generator's window is the model's n_ctx. */
typedef enum mmix_generate_method {
    MMIX_GENERATE_CACHED,       /* default. Each layer keeps what later positions read: the
                                   mixer the seq_layernorm outputs of the positions so far, the
                                   transformer their keys (after RoPE) and values. A new token
                                   at position t costs one row per layer: O(t D k) token mixing
                                   or attention, plus its norms and feed-forward. */
    MMIX_GENERATE_INDEX_WALKING /* the paper's method (paper Sec. 4.2): a whole forward for every new
                                   token, the mixer over its full window (positions not yet fed
                                   hold 0), the transformer over the tokens so far */
} mmix_generate_method;

/* How the next token is picked from a logits row. The paper decodes greedily (paper Sec. 4.2). */
typedef struct mmix_sampler {
    float temperature;          /* 0: greedy, the largest logit (ties: the lowest id, as
                                   torch.argmax); > 0: sample from softmax(logits / T) */
    int64_t top_k;              /* > 0: sample among the k largest logits only (ties at the
                                   k-th: the lowest ids); 0: among all */
    uint64_t seed;              /* mmix_generate seeds an mmix_rng with it: a seed reproduces
                                   a sample */
} mmix_sampler;
MMIXDEF mmix_sampler mmix_sampler_default(void);   /* greedy: {0, 0, 0} */

/* One sequence being generated: the model (not copied; it must outlive the generator),
   the tokens fed so far and, for MMIX_GENERATE_CACHED, the per-layer caches (depth x n_ctx
   x D floats for the mixer, twice that for the transformer): the caches in the backend's
   memory (its alloc entry), the rest in one MMIX_MALLOC block.
   A loop of one's own (error checks left out; mmix_generate is this loop):
       mmix_generator *g;  mmix_generator_create(ctx, &model, MMIX_GENERATE_CACHED, &g);
       mmix_generator_feed(g, prompt, n_prompt);             // the prompt in one pass
       while (mmix_generator_position(g) < model.config.n_ctx) {
           mmix_generator_sample(g, &sampler, &rng, &tok);   // from the last logits
           if (tok == eot) break;
           ... use tok ...
           mmix_generator_feed(g, &tok, 1);
       }
       mmix_generator_destroy(g); */
typedef struct mmix_generator mmix_generator;
MMIXDEF mmix_result mmix_generator_create(mmix_ctx *ctx, const mmix_model *model, mmix_generate_method method,
                                          mmix_generator **out);
MMIXDEF void mmix_generator_destroy(mmix_generator *gen);
/* Starts a new sequence at position 0 (the memory is kept). */
MMIXDEF void mmix_generator_reset(mmix_generator *gen);
/* Feeds n >= 1 tokens at the next n positions, in one pass (a prompt, or one sampled token),
   and computes the logits at the last of them: the prediction of the token after it. Runs
   without gradients or training mode and rewinds the step arena, so memory stays bounded.
   Errors (the generator is unchanged): an id outside [0, vocab), n < 1, more tokens than the
   window has room for. */
MMIXDEF mmix_result mmix_generator_feed(mmix_generator *gen, const int32_t *ids, int64_t n);
MMIXDEF const float *mmix_generator_logits(const mmix_generator *gen);  /* [vocab], after a feed */
MMIXDEF int64_t mmix_generator_position(const mmix_generator *gen);     /* tokens fed so far */
MMIXDEF const int32_t *mmix_generator_tokens(const mmix_generator *gen); /* those tokens */
/* Picks the next token from the current logits (rng may be NULL when greedy). A bad sampler
   is MMIX_ERR_INVALID_ARGUMENT; NaN or infinite logits are MMIX_ERR_NUMERIC. */
MMIXDEF mmix_result mmix_generator_sample(mmix_generator *gen, const mmix_sampler *sampler, mmix_rng *rng,
                                          int32_t *token);

/* Generates up to max_new tokens after a prompt of 1..n_ctx-1 tokens into out (the new tokens
   only; *n_out counts them). Stops after max_new, when the window is full (the last position
   n_ctx - 1 is filled), or when stop_id is picked (not stored; stop_id < 0: never). sampler
   NULL is greedy. An empty prompt, one that fills the window, or a bad id is an error. */
MMIXDEF mmix_result mmix_generate(mmix_ctx *ctx, const mmix_model *model, const int32_t *prompt, int64_t n_prompt,
                                  int64_t max_new, int32_t stop_id, const mmix_sampler *sampler,
                                  mmix_generate_method method, int32_t *out, int64_t *n_out);

// ----------------------------------------------------------------------------------------
// >>api_bpe  The byte-level BPE tokenizer (section 6): train, encode, decode, save, load.
// ----------------------------------------------------------------------------------------
/* In our layout ids 0..255 are the bytes; id 256 + i is merge i (the concatenation of two
   earlier tokens); the special tokens come last. The vocabulary size is all three together.
   An imported tokenizer keeps its file's ids instead (section 6): every function here
   takes and returns those, except mmix_bpe_get_merge. */
typedef struct mmix_bpe mmix_bpe;

#define MMIX_BPE_NAME_MAX 64     /* longest special-token name, in bytes */
#ifndef MMIX_BPE_MAX_VOCAB       /* the largest vocabulary a tokenizer file may declare or */
#define MMIX_BPE_MAX_VOCAB ((int64_t)1 << 30)   /* an import reach (ids are int32) */
#endif

typedef struct mmix_bpe_train_options {
    int64_t vocab_size;          /* total: 256 bytes + merges + 2 special tokens (>= 258) */
    const char *eot_name;        /* end of text; default "<|endoftext|>" */
    const char *pad_name;        /* padding; default "<|pad|>" */
} mmix_bpe_train_options;

/* Growable outputs. Zero them before first use; the functions append and grow them with
   MMIX_REALLOC; free them with the matching _free (which zeroes them again). */
typedef struct mmix_bpe_ids {
    int32_t *ids;
    int64_t n, capacity;
} mmix_bpe_ids;
typedef struct mmix_bpe_bytes {
    unsigned char *data;
    size_t size, capacity;
} mmix_bpe_bytes;
MMIXDEF void mmix_bpe_ids_free(mmix_bpe_ids *ids);
MMIXDEF void mmix_bpe_bytes_free(mmix_bpe_bytes *bytes);
/* Appends one id (an end-of-text token after each document, say). */
MMIXDEF mmix_result mmix_bpe_ids_push(mmix_ctx *ctx, mmix_bpe_ids *ids, int32_t id);

MMIXDEF mmix_bpe_train_options mmix_bpe_train_options_default(void);
/* Learns merges from `size` bytes of text (any bytes). Stops early, with a smaller
   vocabulary, when no pair of adjacent tokens is left to merge. *out is NULL on failure. */
MMIXDEF mmix_result mmix_bpe_train(mmix_ctx *ctx, const void *text, size_t size,
                                   const mmix_bpe_train_options *options, mmix_bpe **out);
/* Reads a tokenizer file (the format of section 6) / the same text from memory; `name`
   is used in error messages. Strict: any deviation is MMIX_ERR_FORMAT with the line. */
MMIXDEF mmix_result mmix_bpe_load(mmix_ctx *ctx, const char *path, mmix_bpe **out);
MMIXDEF mmix_result mmix_bpe_load_memory(mmix_ctx *ctx, const void *data, size_t size,
                                         const char *name, mmix_bpe **out);
/* Writes the tokenizer file atomically (mmix_write_file_atomic). */
MMIXDEF mmix_result mmix_bpe_save(mmix_ctx *ctx, const mmix_bpe *bpe, const char *path);
/* The file's text, appended to *out. */
MMIXDEF mmix_result mmix_bpe_save_memory(mmix_ctx *ctx, const mmix_bpe *bpe, mmix_bpe_bytes *out);
/* Imports a Hugging Face tokenizer.json of the byte-level BPE kind (GPT-2 or Llama-3
   style): its vocabulary with its own ids, its merges, its pre-split (GPT-2's or
   Llama-3's pattern with Unicode classes, add_prefix_space, ignore_merges) and its added
   tokens with their ids and contents ("<|endoftext|>"/"<|end_of_text|>"/"</s>" become eot,
   "<|pad|>"/"<pad>" pad). Encoding gives the ids the file's own tokenizer gives.
   Anything else the file asks for is MMIX_ERR_UNSUPPORTED naming it. */
MMIXDEF mmix_result mmix_bpe_import_hf(mmix_ctx *ctx, const char *path, mmix_bpe **out);
MMIXDEF mmix_result mmix_bpe_import_hf_memory(mmix_ctx *ctx, const void *json, size_t size,
                                              const char *name, mmix_bpe **out);
MMIXDEF void mmix_bpe_free(mmix_bpe *bpe);

/* Encoding flags. Without MMIX_BPE_ALLOW_SPECIAL a special token's name in the text is
   ordinary text (safe for untrusted input); with it, the name becomes the special id
   (where names overlap, the leftmost and then the longest, as Hugging Face matches
   added tokens). */
#define MMIX_BPE_ALLOW_SPECIAL 1
/* Appends the ids of `size` bytes of text to *ids. Keeps a cache of encoded words inside
   the tokenizer, so one tokenizer must not encode on two threads at once. */
MMIXDEF mmix_result mmix_bpe_encode(mmix_ctx *ctx, mmix_bpe *bpe, const void *text, size_t size,
                                    int flags, mmix_bpe_ids *ids);
/* Appends the bytes of n ids to *out: decode(encode(x)) == x for every byte string
   (with add_prefix_space, x plus the space added before it). A special id decodes to its
   name. An id outside the vocabulary, or one its file gives to no token, is MMIX_ERR_RANGE. */
MMIXDEF mmix_result mmix_bpe_decode(mmix_ctx *ctx, const mmix_bpe *bpe, const int32_t *ids,
                                    int64_t n, mmix_bpe_bytes *out);

MMIXDEF int64_t mmix_bpe_vocab_size(const mmix_bpe *bpe);
MMIXDEF int64_t mmix_bpe_merge_count(const mmix_bpe *bpe);
/* Merge i (0-based) joins tokens pair[0] and pair[1] into token 256 + i, in our layout's
   numbers (for an imported tokenizer, not its ids: mmix_bpe_token_bytes takes those). */
MMIXDEF void mmix_bpe_get_merge(const mmix_bpe *bpe, int64_t i, int32_t pair[2]);
MMIXDEF int32_t mmix_bpe_eot_id(const mmix_bpe *bpe);   /* -1 when the file has none */
MMIXDEF int32_t mmix_bpe_pad_id(const mmix_bpe *bpe);   /* -1 when the file has none */
MMIXDEF int32_t mmix_bpe_special_id(const mmix_bpe *bpe, const char *name); /* -1: none */
/* The bytes a token stands for (a special token: its name); NULL for a bad id or an id
   with no token. */
MMIXDEF const unsigned char *mmix_bpe_token_bytes(const mmix_bpe *bpe, int32_t id, size_t *len);
/* The pre-split (section 6): the end of the word that starts at `pos` (< size). Words
   partition the text; merges never cross them. */
MMIXDEF size_t mmix_bpe_next_word(const void *text, size_t size, size_t pos);
/* The same for this tokenizer's own pre-split: "gpt2-ascii" (ours, as above), "gpt2"
   (GPT-2's pattern with Unicode classes, the one Hugging Face's ByteLevel uses) or
   "llama3" (Llama-3's pattern); the split's name is mmix_bpe_split_name. */
MMIXDEF size_t mmix_bpe_split_next(const mmix_bpe *bpe, const void *text, size_t size, size_t pos);
MMIXDEF const char *mmix_bpe_split_name(const mmix_bpe *bpe);

// ----------------------------------------------------------------------------------------
// >>api_data  Text datasets (reference-notes Sec. 11): documents from text files, tokenized into rows of
// n_ctx ids (packed or padded), a deterministic train/validation split, a checked cache.
// ----------------------------------------------------------------------------------------
/* Input formats. Every file must be valid UTF-8 (an invalid byte sequence, an overlong form,
   a surrogate or a code point above U+10FFFF is MMIX_ERR_FORMAT naming the file and line; a
   leading byte-order mark is skipped). Documents that are empty (after trimming, for the
   first two formats) are skipped.
     MMIX_TEXT_BLANK_LINES     documents separated by blank lines (empty, or spaces, tabs
                               and a CR only); lines inside a document are kept, joined by
                               "\n"; a CR before a line's "\n" is dropped.
     MMIX_TEXT_EOT_SEPARATED   documents separated by the text "<|endoftext|>" (TinyStories);
                               white space around each document is trimmed.
     MMIX_TEXT_JSONL           one JSON object per non-blank line; the document is the string
                               field named jsonl_field, unescaped (\uXXXX and surrogate pairs
                               included); other fields are checked for syntax and ignored.
                               A missing or non-string field, a repeated one, or a malformed
                               line is an error naming the line. */
typedef enum mmix_text_format { MMIX_TEXT_BLANK_LINES, MMIX_TEXT_EOT_SEPARATED, MMIX_TEXT_JSONL } mmix_text_format;
/* Rows. Each document's tokens are followed by the tokenizer's end-of-text id, so the model
   learns to stop.
     MMIX_ROWS_PACKED  the split's documents joined in order and cut into full rows of n_ctx
                       ids; the tail shorter than n_ctx is dropped (no padding, no waste).
     MMIX_ROWS_PADDED  one document per row: its first n_ctx ids (a longer document loses its
                       rest, end-of-text included, as the reference's truncation does), then
                       pad ids up to n_ctx, on the right, or on the left with pad_left. */
typedef enum mmix_row_mode { MMIX_ROWS_PACKED, MMIX_ROWS_PADDED } mmix_row_mode;

typedef struct mmix_data_options {
    mmix_text_format format;     /* default MMIX_TEXT_BLANK_LINES */
    const char *jsonl_field;     /* MMIX_TEXT_JSONL: the text field; default "text" */
    mmix_row_mode rows;          /* default MMIX_ROWS_PACKED */
    int pad_left;                /* MMIX_ROWS_PADDED: pad on the left; default 0 (right) */
    int64_t n_ctx;               /* ids per row, >= 1; default 512 */
    /* The split, by document: document i (0-based, in file order, empty ones not counted)
       goes to validation when u(i) < val_fraction, where u(i) in [0, 1) is the top 53 bits
       of splitmix64(splitmix64(i) ^ split_seed), divided by 2^53 (splitmix64: the finalizer
       of Steele et al.). The same file and settings always give the same split; rows keep
       document order within each split. When val_fraction > 0 and no document is picked, the one with the smallest
       u(i) is, so a tiny corpus still has a validation document. */
    double val_fraction;         /* in [0, 1]; default 0.01 */
    uint64_t split_seed;         /* default 0 */
} mmix_data_options;
MMIXDEF mmix_data_options mmix_data_options_default(void);

/* A file's documents: document i is the n_bytes = offsets[i + 1] - offsets[i] bytes at
   text + offsets[i] (UTF-8, NUL-terminated for convenience, no separator). */
typedef struct mmix_data_docs {
    unsigned char *text;
    int64_t *offsets;            /* n + 1 entries */
    int64_t n;
} mmix_data_docs;
/* Splits a file / text in memory (`name` is used in messages) into documents. A missing file
   is MMIX_ERR_FILE_NOT_FOUND; bad input MMIX_ERR_FORMAT with "NAME:LINE: ...". On failure
   *out is zeroed. */
MMIXDEF mmix_result mmix_data_read_docs(mmix_ctx *ctx, const char *path, const mmix_data_options *opt,
                                        mmix_data_docs *out);
MMIXDEF mmix_result mmix_data_split_docs(mmix_ctx *ctx, const void *data, size_t size, const char *name,
                                         const mmix_data_options *opt, mmix_data_docs *out);
MMIXDEF void mmix_data_docs_free(mmix_data_docs *docs);   /* zeroes it; safe on a zeroed one */

/* What a tokenized dataset was made from. A cache is reused only when every field matches. */
/* Plain 64-bit FNV-1a (no final mixing), the hash of sources, tokenizers and caches below:
   start from h = MMIX_FNV1A64_OFFSET and feed the bytes in one piece or several. */
#define MMIX_FNV1A64_OFFSET 14695981039346656037ULL
MMIXDEF uint64_t mmix_fnv1a64(uint64_t h, const void *data, size_t n);

typedef struct mmix_data_identity {
    uint64_t source_size, source_hash;     /* the text file: bytes, 64-bit FNV-1a of them */
    uint64_t tokenizer_hash;               /* FNV-1a of the tokenizer's file text (mmix_bpe_save_memory) */
    int64_t vocab_size, n_ctx;
    int32_t format, rows, pad_left;
    uint64_t jsonl_field_hash;             /* FNV-1a of the field name (0 unless JSONL) */
    double val_fraction;
    uint64_t split_seed;
} mmix_data_identity;

/* Token rows, int32 [rows x n_ctx], row-major, MMIX_MALLOC'd (NULL when there are none). */
typedef struct mmix_dataset {
    int64_t n_ctx, train_rows, val_rows;
    int32_t *train, *val;
    int64_t documents, train_documents, val_documents;
    int64_t tokens;                        /* ids of all documents, end-of-text included */
    mmix_data_identity identity;
} mmix_dataset;

/* Reads, splits and tokenizes a text file. The tokenizer needs an end-of-text id, and a pad
   id for padded rows (else MMIX_ERR_INVALID_ARGUMENT); it is not const because encoding fills
   its word cache. Special-token names in the text stay ordinary text. On failure *out is
   zeroed. */
MMIXDEF mmix_result mmix_data_build(mmix_ctx *ctx, const char *path, mmix_bpe *bpe,
                                    const mmix_data_options *opt, mmix_dataset *out);
/* The identity a build of this file with these settings would have (reads the whole file). */
MMIXDEF mmix_result mmix_data_identity_of(mmix_ctx *ctx, const char *path, const mmix_bpe *bpe,
                                          const mmix_data_options *opt, mmix_data_identity *out);
/* The cache file, all integers little-endian:
       "MMIXDATA" (8 bytes), u32 version (1), u32 header size in bytes (168)
       u64 source_size, source_hash, tokenizer_hash, vocab_size, n_ctx, format, rows, pad_left,
           jsonl_field_hash, val_fraction (the IEEE-754 bits), split_seed,
           documents, train_documents, val_documents, tokens, train_rows, val_rows,
           reserved (0), reserved (0)
       i32 train ids [train_rows x n_ctx], then i32 val ids [val_rows x n_ctx]
       u64 FNV-1a of every byte before it
   Written atomically (mmix_write_file_atomic). */
MMIXDEF mmix_result mmix_data_save_cache(mmix_ctx *ctx, const char *cache_path, const mmix_dataset *d);
/* Loads a cache after checking it strictly: a truncated, corrupt or inconsistent file is
   MMIX_ERR_FORMAT; a whole file made from other inputs or settings than `expected` is
   MMIX_ERR_STALE with a message naming the first field that differs ("CACHE: stale: n_ctx is
   64 in the cache, 32 requested"); a missing one MMIX_ERR_FILE_NOT_FOUND. *out zeroed on failure. */
MMIXDEF mmix_result mmix_data_load_cache(mmix_ctx *ctx, const char *cache_path, const mmix_data_identity *expected,
                                         mmix_dataset *out);
/* Loads cache_path when it matches this file and these settings (*reused = 1); otherwise
   (missing, stale or corrupt) builds the dataset and writes the cache (*reused = 0). The text
   file is read once. Errors other than a missing, stale or corrupt cache are returned; so is
   a cache_path holding a file that is not one of our caches (no "MMIXDATA" magic), which is
   never overwritten. */
MMIXDEF mmix_result mmix_data_load_or_build(mmix_ctx *ctx, const char *path, mmix_bpe *bpe,
                                            const mmix_data_options *opt, const char *cache_path,
                                            mmix_dataset *out, int *reused);
MMIXDEF void mmix_data_free(mmix_dataset *d);             /* zeroes it; safe on a zeroed one */
/* One text as one padded row, as a dataset of MMIX_ROWS_PADDED rows makes it: its ids and
   the end-of-text id, the first n_ctx of them, then pad ids up to n_ctx (on the left with
   pad_left). row receives n_ctx ids; *n_ids (may be NULL) the text's ids before the cut. */
MMIXDEF mmix_result mmix_data_text_row(mmix_ctx *ctx, mmix_bpe *bpe, const void *text, size_t size,
                                       int64_t n_ctx, int pad_left, int32_t *row, int64_t *n_ids);

// ----------------------------------------------------------------------------------------
// >>api_retrieval  Retrieval (paper Sec. 6, Algorithm 1, Table 1; reference-notes Sec. 20):
// embeddings, the candidate draw, the InfoNCE loss, the top-1 evaluation.
// ----------------------------------------------------------------------------------------
/* The retrieval embedding of paper Sec. 6.1 for token ids [B, L]: [B, D] on the tape, not
   normalized. A causal language model's is its last hidden layer (mmix_model_hidden: after
   the final norm for transformers) at position L-2, the last one the shifted loss trains;
   an autoencoder's is its encoder's output at the last position, the vector its decoder
   reads. Rows are meant to be left-padded (mmix_data_text_row), so that both positions hold
   text. The other architectures have none: an error. */
MMIXDEF mmix_tensor *mmix_model_embedding(mmix_ctx *ctx, const mmix_model *model, mmix_tensor *ids);
/* Whether the architecture has a retrieval embedding, and where: -2 or -1 (above); 0: none. */
MMIXDEF int mmix_arch_embedding_position(mmix_arch arch);

/* Reports progress of a long job: `done` of `total` items. */
typedef void (*mmix_progress_fn)(void *user, int64_t done, int64_t total);
/* Embeds n rows of len ids (host memory, [n x len]) in batches of `batch` rows, without the
   tape: out receives n unit vectors [n x D] (L2-normalized, eps 1e-12, as F.normalize).
   progress (may be NULL) is called after each batch. The context's step memory is reset
   after each batch. */
MMIXDEF mmix_result mmix_model_embed_rows(mmix_ctx *ctx, const mmix_model *model, const int32_t *ids, int64_t n,
                                          int64_t len, int64_t batch, float *out, mmix_progress_fn progress,
                                          void *user);

/* The candidate draw of paper Algorithm 1 as the reference code makes it (code-exact, see
   reference-notes Sec. 20): for item idx of a pool of n (queries and targets row-aligned),
   c slots: slot 0 is idx (the query), slots 1..c-1 are c-1 distinct pool indices other than
   idx, uniformly drawn without replacement, then one slot m, uniform in 1..c-1, is set to
   idx (the match). So the list holds the query, its match and c-2 non-matching targets. The
   sampler keeps a scratch permutation so that a draw costs O(c), not O(n). */
typedef struct mmix_retrieval_sampler {
    int64_t n;                  /* the pool */
    int64_t *perm;              /* [n]: 0..n-1 between draws */
    int64_t *swaps;             /* [n]: the positions one draw swapped, to undo them */
} mmix_retrieval_sampler;
MMIXDEF mmix_result mmix_retrieval_sampler_init(mmix_ctx *ctx, mmix_retrieval_sampler *s, int64_t n);
MMIXDEF void mmix_retrieval_sampler_free(mmix_retrieval_sampler *s);   /* zeroes it */
/* Fills slots[0..c-1] as above and returns m (in 1..c-1); needs 2 <= c <= n and
   0 <= idx < n (else returns 0, slots untouched). */
MMIXDEF int64_t mmix_retrieval_draw(mmix_retrieval_sampler *s, mmix_rng *rng, int64_t idx, int64_t c,
                                    int64_t *slots);

/* The InfoNCE loss of paper Sec. 6.3, Eqs. 7-8, for B items of c embeddings [B, c, D]: row 0
   of an item is its query, rows 1..c-1 its candidates, and match[b] (int32 [B], in 1..c-1)
   the row of item b's match. Per item -log softmax_m(cos(q, d_j) / tau) over the c-1
   candidates, computed as -cos(q, d_m)/tau + logsumexp_j cos(q, d_j)/tau (never exp of
   cos/tau alone, which overflows at small tau); the mean over the items, a scalar. cos is
   torch's CosineSimilarity (eps 1e-8). The paper's tau is 0.02. */
MMIXDEF mmix_tensor *mmix_infonce_loss(mmix_ctx *ctx, mmix_tensor *emb, mmix_tensor *match, float tau);

/* Top-1 evaluation for n candidates (paper Sec. 6, Table 1; reference-notes Sec. 20). For
   each query i of a pool of `pool` row-aligned query/target pairs: the draw above with c = n
   (the query's slot, its match at a uniform slot, n-2 non-matching targets), the method's
   scores of the n-1 candidate targets, and the match's rank among them. A tie with the match
   counts against it (the match ranks below every candidate that scores as high), for every
   method alike. The draws depend on (seed, n, i) alone, so every method of one table meets
   the same candidate lists. */
typedef struct mmix_retrieval_result {
    int64_t n;                  /* candidates, counting the query as the paper does */
    int64_t queries;            /* 0: skipped (n > pool) */
    double top1, mrr10, recall10;   /* fractions: rank 1; mean of 1/rank over rank <= 10; rank <= 10 */
} mmix_retrieval_result;
/* A method: the scores of queries q0..q0+nq-1 against every target of the pool, into
   scores [nq x pool] (higher is better). */
typedef mmix_result (*mmix_retrieval_scores_fn)(mmix_ctx *ctx, void *user, int64_t q0, int64_t nq, float *scores);
MMIXDEF mmix_result mmix_retrieval_evaluate(mmix_ctx *ctx, int64_t pool, const int64_t *ns, int n_count, uint64_t seed,
                                            mmix_retrieval_scores_fn scores, void *user, mmix_retrieval_result *out,
                                            mmix_progress_fn progress, void *progress_user);
/* The method of the embedding models: dot products of unit query and target embeddings
   (cosine similarity), one GEMM per block of queries. user is an mmix_embedding_scorer. */
typedef struct mmix_embedding_scorer {
    const float *queries;       /* [n_queries x dim], unit rows */
    const float *targets;       /* [pool x dim], unit rows */
    int64_t n_queries, pool, dim;
} mmix_embedding_scorer;
MMIXDEF mmix_result mmix_embedding_scores(mmix_ctx *ctx, void *scorer, int64_t q0, int64_t nq, float *scores);

// ----------------------------------------------------------------------------------------
// >>api_bm25  BM25, the lexical baseline of retrieval (paper Sec. 6, Table 1; reference-notes Sec. 18), as
// Lucene and Pyserini do it: Lucene's English analyzer and its idf, exact document lengths.
// ----------------------------------------------------------------------------------------
/* The analyzer (Lucene's EnglishAnalyzer pipeline, as Pyserini's default uses it):
     1. tokens: maximal runs of ASCII letters and digits, plus the non-ASCII code points that
        are not punctuation or symbols (UTF-8 decoded; see reference-notes Sec. 18 for the
        ranges read as separators; a malformed byte is a separator). Every other byte
        separates. A token longer than MMIX_BM25_MAX_TERM bytes is cut into pieces of at most
        that many, at code point boundaries (Lucene's StandardTokenizer cuts at 255 too).
     2. the possessive: a token that ends in a letter and is followed by 's or 'S (the
        apostrophe ' U+2019 or U+FF07), the s ending the run, loses the 's (Lucene's
        EnglishPossessiveFilter). Every other apostrophe separates: "don't" is "don", "t".
     3. lower case: ASCII, and the Latin-1 capitals U+00C0-U+00DE (not U+00D7).
     4. the 33 stopwords of Lucene's English stop set are dropped: a an and are as at be but
        by for if in into is it no not of on or such that the their then there these they
        this to was will with.
     5. the Porter stemmer (mmix_porter_stem). */
#define MMIX_BM25_MAX_TERM 255
/* Called with each term in order (term is NOT NUL-terminated and is valid only during the
   call); return 0 to go on, anything else to stop. */
typedef int (*mmix_bm25_term_fn)(const char *term, size_t len, void *user);
/* Runs the analyzer over text[0..len) and returns the number of terms passed to fn (fn may
   be NULL, to count them). Allocates nothing. */
MMIXDEF int64_t mmix_bm25_analyze(const char *text, size_t len, mmix_bm25_term_fn fn, void *user);
/* One line that says what the analyzer does, for tables. */
MMIXDEF const char *mmix_bm25_analyzer_name(void);
/* Porter (1980), "An algorithm for suffix stripping", steps 1a-5b, as Lucene's PorterStemmer
   (Porter's own reference implementation) does it, with its three departures from the paper:
   words of 1 or 2 bytes are left alone, step 2 has BLI -> BLE instead of ABLI -> ABLE, and
   LOGI -> LOG. The word is stemmed in place; returns its new length (never longer). It
   expects lower case. The vowels are a e i o u, and y after a consonant (Porter's rule);
   every other byte is a consonant, digits and bytes >= 0x80 included. Only ASCII bytes are
   ever removed, so UTF-8 stays whole. */
MMIXDEF size_t mmix_porter_stem(char *word, size_t len);

typedef struct mmix_bm25_config {
    float k1;                    /* term-frequency saturation; default 0.9 (Pyserini) */
    float b;                     /* length normalization in [0, 1]; default 0.4 (Pyserini) */
} mmix_bm25_config;
MMIXDEF mmix_bm25_config mmix_bm25_config_default(void);

/* An index over a pool of documents. Every field is read-only for callers; the term
   dictionary is private. Document d's distinct terms are doc_term[doc_start[d] ..
   doc_start[d + 1]) in increasing term id, with their counts in doc_tf; term t's postings
   are post_doc[post_start[t] .. post_start[t + 1]) in increasing document id, with the
   same counts in post_tf. */
typedef struct mmix_bm25 {
    mmix_bm25_config config;
    int64_t n_docs;              /* documents given to the index */
    int64_t n_counted;           /* those with at least one term: N of the idf and avgdl */
    int64_t n_terms;             /* distinct terms of the pool; ids 0 .. n_terms - 1 */
    double avgdl;                /* mean length of the counted documents (0 when none) */
    int64_t *doc_len;            /* [n_docs] terms after analysis, exact (not Lucene's byte norm) */
    int64_t *doc_start;          /* [n_docs + 1] */
    int32_t *doc_term;           /* [doc_start[n_docs]] */
    int32_t *doc_tf;             /* [doc_start[n_docs]] */
    int64_t *post_start;         /* [n_terms + 1] */
    int64_t *post_doc;           /* [doc_start[n_docs]] */
    int32_t *post_tf;            /* [doc_start[n_docs]] */
    int64_t *df;                 /* [n_terms] documents holding the term */
    double *idf;                 /* [n_terms] ln(1 + (N - df + 0.5) / (df + 0.5)) */
    double *norm;                /* [n_docs] k1 (1 - b + b dl / avgdl) */
    void *dict;                  /* private: the term -> id hash table */
} mmix_bm25;

/* Analyzes the n_docs documents (docs[i] with lens[i] bytes; lens NULL: NUL-terminated) and
   builds the index. idf and avgdl are over this whole pool, with N the documents that have
   at least one term (Lucene's docCount). k1 must be finite and >= 0, b in [0, 1]; else
   MMIX_ERR_INVALID_ARGUMENT. On failure *bm is zeroed. */
MMIXDEF mmix_result mmix_bm25_build(mmix_ctx *ctx, mmix_bm25 *bm, const char *const *docs, const size_t *lens,
                                    int64_t n_docs, mmix_bm25_config cfg);
/* Scores the query against the n documents doc_ids[0..n) (doc_ids NULL: documents 0..n-1):
       score(q, d) = sum over the query's terms t of idf(t) tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl))
   (Robertson & Zaragoza 2009, Eq. 3.15 with Lucene's idf), a term repeated in the query
   counted once per occurrence, terms absent from the pool adding 0. Computed and returned
   in double (rounding to float would make ties the evaluation counts as wrong); the terms
   are summed in the order of their first occurrence in the query, so the result is the
   same on every run and thread. A candidate list reads only the candidates' term counts:
   O(q log q + n q log t) for q query terms and t distinct terms a document; doc_ids NULL
   (the first n documents, the whole pool for the evaluation) walks the query terms'
   postings instead, O(q log q + n + their postings), with the same sums in the same order,
   so the same bits. Allocates only for queries of more than 64 terms the pool has. Safe to call from many threads on one index, each with
   its own context (or ctx NULL: errors are then only returned). A doc id out of range is
   MMIX_ERR_RANGE. */
MMIXDEF mmix_result mmix_bm25_score(mmix_ctx *ctx, const mmix_bm25 *bm, const char *query, size_t len,
                                    const int64_t *doc_ids, int64_t n, double *scores);
/* BM25 as a method of mmix_retrieval_evaluate (a mmix_retrieval_scores_fn; user is an
   mmix_bm25_scorer): the scores of queries q0..q0+nq-1 against every document of the index
   (the index is built over the evaluated pool's targets, so pool = bm->n_docs), computed in
   double, one query a thread, and rounded to float for the harness. Rounding could merge
   scores that differ in the 8th digit, and ties count as wrong; on the Debian test split it
   merges none with the match's (bench/bench_bm25.c counts them). */
typedef struct mmix_bm25_scorer {
    const mmix_bm25 *bm;
    const char *const *queries;  /* [n_queries] query texts, row-aligned with the documents */
    const size_t *query_lens;    /* [n_queries] bytes, or NULL: NUL-terminated */
    int64_t n_queries;
} mmix_bm25_scorer;
MMIXDEF mmix_result mmix_bm25_scores(mmix_ctx *ctx, void *scorer, int64_t q0, int64_t nq, float *scores);
/* The id of a term (already analyzed: lower case, stemmed), or -1 if the pool lacks it. */
MMIXDEF int64_t mmix_bm25_term_id(const mmix_bm25 *bm, const char *term, size_t len);
MMIXDEF void mmix_bm25_free(mmix_bm25 *bm);   /* zeroes it; safe on a zeroed one */

// ----------------------------------------------------------------------------------------
// >>api_retrieval_model  The indirect retrieval model (paper Sec. 6.2, Fig. 9): the
// reference's RetrievalMixer(dim, depth, n_samples), a mixer over precomputed embeddings.
// ----------------------------------------------------------------------------------------
/* Input x [B, c, D], c = n_samples: position 0 holds a query's embedding, positions 1..c-1
   candidate targets' embeddings (made by a frozen generative model: no gradient reaches it).
   depth flat mixer blocks (the LanguageMixer's block, pre-LayerNorm, FF D -> 4D -> D with
   GELU) whose c x c token mixing carries NO mask: every candidate sees every other and the
   query (the reference's BidirectionalMixerBlock, Conv1d(c, c, 1) with bias). Then
   retrieval_head = Linear(D, 1) at every position; the scores of positions 1..c-1 are the
   model's output [B, c-1], and the loss the cross-entropy of those c-1 scores against the
   match's class index m - 1 (chance: ln(c - 1)). Prediction = mmix_argmax of the scores
   (no softmax needed, paper Sec. 6.2). Parameters are named as the reference state_dict,
   in its order: mixerblocks.i.{patch_layernorm, seq_layernorm, patch_ff.0, patch_ff.2,
   conv}.{weight, bias} (conv.weight [c, c, 1], conv.bias [c]), retrieval_head.weight [1, D],
   retrieval_head.bias [1]; all in one mmix_params buffer, so mmix_adamw_init(&rm.params),
   mmix_clip_grad_norm and mmix_zero_grad take the model as they take a language model's. */
typedef struct mmix_retrieval_model {
    int64_t dim;                /* D, the embeddings' width */
    int64_t depth;              /* the number of blocks */
    int64_t n_samples;          /* c: the query and c - 1 candidates */
    int64_t ffn_dim;            /* 4 D, as the reference's FeedForward(dim) */
    float norm_eps;             /* LayerNorm's, 1e-5 */
    mmix_mixer_block *blocks;   /* depth flat blocks (conv_w [c, c, 1], never masked) */
    mmix_tensor *head_w, *head_b;               /* retrieval_head: [1, D] and [1] */
    mmix_params params;         /* every parameter, in one buffer (>>api_ctx) */
} mmix_retrieval_model;

/* Creates the parameters on ctx's persistent arena, uninitialized. dim and depth >= 1,
   n_samples >= 2 (a query and at least one candidate), else MMIX_ERR_INVALID_ARGUMENT. */
MMIXDEF mmix_result mmix_retrieval_model_create(mmix_ctx *ctx, mmix_retrieval_model *rm, int64_t dim, int64_t depth,
                                                int64_t n_samples);
/* PyTorch's defaults in registration order, as the mixer's (reference-notes Sec. 4): LayerNorms
   1 and 0, Linear and Conv1d weights and biases uniform in +-1/sqrt(fan_in). */
MMIXDEF void mmix_retrieval_model_init(mmix_retrieval_model *rm, mmix_rng *rng);
/* depth D (4D + 2DF + F + D + c^2 + c) + D + 1 weights. */
MMIXDEF int64_t mmix_retrieval_model_param_count(const mmix_retrieval_model *rm);
/* The candidates' scores [B, c-1] for embeddings x [B, c, D] (float32): score j is position
   j + 1's. A wrong shape is MMIX_ERR_SHAPE; NULL on error. */
MMIXDEF mmix_tensor *mmix_retrieval_model_scores(mmix_ctx *ctx, const mmix_retrieval_model *rm, mmix_tensor *x);
/* The mean cross-entropy over the batch of the scores against labels (int32 [B], each the
   match's class index m - 1 in [0, c-1); -100 is ignored, as torch's default): a scalar.
   *scores receives the scores if not NULL. */
MMIXDEF mmix_tensor *mmix_retrieval_model_loss(mmix_ctx *ctx, const mmix_retrieval_model *rm, mmix_tensor *x,
                                               mmix_tensor *labels, mmix_tensor **scores);
/* Writes the weights (F32, reference names, so a strict torch load_state_dict takes them)
   with metadata mmix_model = "retrieval-mixer", dim, depth, n_samples, layer_norm_eps. */
MMIXDEF mmix_result mmix_retrieval_model_save(mmix_ctx *ctx, const mmix_retrieval_model *rm, const char *path);
/* The same, with n_extra more metadata pairs after ours (e.g. which generative model made the
   embeddings the model was trained on); n_extra may be 0. */
MMIXDEF mmix_result mmix_retrieval_model_save_meta(mmix_ctx *ctx, const mmix_retrieval_model *rm, const char *path,
                                                   const char *const *extra_keys, const char *const *extra_values,
                                                   int64_t n_extra);
/* Creates a model from a safetensors file of exactly its tensors (ours, or a reference
   RetrievalMixer state_dict: F32, F16 or BF16): the sizes from the names and shapes, checked
   against the metadata where there is some. A missing or unknown tensor, or a wrong shape, is
   an error naming it; so is a language model's file. */
MMIXDEF mmix_result mmix_retrieval_model_load(mmix_ctx *ctx, mmix_retrieval_model *rm, const char *path);

/* A batch of B training or evaluation items for the indirect model, from host embeddings Q
   and T [N, D] (row i of T is query i's match; N = the sampler's pool): item b is
   [Q[idx], T[slot 1], ..., T[slot c-1]] for idx = items[b] and the slots of
   mmix_retrieval_draw (paper Algorithm 1: c - 2 other targets and idx's own at a uniform
   slot m), and its label m - 1. *x [B, c, D] (float32) and *labels [B] (int32) are new step
   tensors. Every call draws new candidates from rng. An item outside [0, N), c outside
   [2, N] or a size below 1 is an error. */
MMIXDEF mmix_result mmix_retrieval_batch(mmix_ctx *ctx, mmix_retrieval_sampler *sampler, mmix_rng *rng,
                                         const float *Q, const float *T, int64_t D, const int64_t *items,
                                         int64_t B, int64_t c, mmix_tensor **x, mmix_tensor **labels);
/* The top-1 evaluation of paper Sec. 6 for the indirect model, on the candidate lists of
   mmix_retrieval_evaluate at n = c (the same seed and pool give every query the same list,
   so the model's row sits in one table with the other methods): for each query i of the
   pool, its own target and c - 2 others from Q and T [pool, dim], scored by the model in
   batches of `batch` items without the tape; the match's rank among the c - 1 candidates,
   a tie counting against it. *out as mmix_retrieval_evaluate fills it (out->n = c; queries
   0 when c > pool); *loss (may be NULL) receives the mean cross-entropy over the queries
   (the paper selects models by the minimum evaluation cross-entropy, Sec. 6.2). The step
   memory is reset after each batch; progress (may be NULL) is called after each. */
MMIXDEF mmix_result mmix_retrieval_model_evaluate(mmix_ctx *ctx, const mmix_retrieval_model *rm, const float *Q,
                                                  const float *T, int64_t pool, uint64_t seed, int64_t batch,
                                                  mmix_retrieval_result *out, double *loss,
                                                  mmix_progress_fn progress, void *user);

// ----------------------------------------------------------------------------------------
// >>api_invert  Input representation (paper Sec. 3, Eqs. 1-6, Fig. 3; reference-notes Sec. 17):
// how much of its input a model's last hidden layer keeps. Gradient descent recovers
// embeddings whose hidden layer matches the input's, the pseudo-inverse of the embedding
// matrix turns them back into tokens, and the normalized Hamming metric counts the misses.
// ----------------------------------------------------------------------------------------
/* The "abbreviated model" of the reference code: the blocks applied to embeddings e [B, L, D]
   (a tensor, e.g. a leaf that requires a gradient), without the head and, for transformers,
   before the final norm: [B, L, D]. Only the architectures that are one stack of blocks on the
   token embedding (mixer, llama, mixer-expanded, mixer-heads, mixer-softmax, transfixer and
   the two-token models) have one; the others are MMIX_ERR_UNSUPPORTED. */
MMIXDEF mmix_tensor *mmix_model_blocks(mmix_ctx *ctx, const mmix_model *model, mmix_tensor *e);

/* The random start e_0 (paper Eq. 2): the reference code's N(0, 1), or the paper's
   "N(e, mu = 1/2, sigma = 1/20)", read as N(1/2, 1/20^2) of e's shape, independent of e. */
typedef enum mmix_invert_start { MMIX_INVERT_START_CODE, MMIX_INVERT_START_PAPER } mmix_invert_start;

typedef struct mmix_invert_options {
    int64_t iters;              /* N, gradient steps (default 500) */
    float lr;                   /* eta_0 (default 0.02, the reference mixer scripts'); falls
                                   linearly to eta_0 / 10 (mmix_invert_lr) */
    int last_token;             /* 1: the objective sees the last position only (paper Fig. 3b) */
    mmix_invert_start start;    /* default MMIX_INVERT_START_CODE */
    uint64_t seed;              /* e_0 from PCG stream (seed, 1); the noise of the reference
                                   tokens (seed, 2) and of epsilon (seed, 3) */
} mmix_invert_options;
MMIXDEF mmix_invert_options mmix_invert_options_default(void);

/* The step size of iteration i of n: lr (n - i) / n + (lr / 10) i / n (reference code). */
MMIXDEF float mmix_invert_lr(float lr, int64_t i, int64_t n);

/* The objective of Eq. 2 on the tape: sum |O(e) - target| over every element, O =
   mmix_model_blocks; with last_token, over the last position only (target [B, L, D] either way). */
MMIXDEF mmix_tensor *mmix_invert_objective(mmix_ctx *ctx, const mmix_model *model, mmix_tensor *e,
                                           mmix_tensor *target, int last_token);

/* One plain gradient step on host embeddings e [B, L, D]: e -= lr * d(objective)/de, the
   gradient recomputed from scratch (no momentum), the model's weights untouched. *loss (may be
   NULL) is the objective before the step. target: host floats [B, L, D]. */
MMIXDEF mmix_result mmix_invert_step(mmix_ctx *ctx, const mmix_model *model, float *e, const float *target,
                                     int64_t B, int64_t L, float lr, int last_token, double *loss);

/* Moore-Penrose pseudo-inverse (paper Eqs. 3-4) of the row-major m x n matrix A into out
   (n x m), by SVD: LAPACKE_sgesdd when built with MMIX_USE_LAPACKE, else a one-sided Jacobi
   SVD in double. Singular values at or below max(m, n) * FLT_EPSILON * sigma_max count as
   zero (torch.linalg.pinv's default cutoff). */
MMIXDEF mmix_result mmix_pinv(mmix_ctx *ctx, const float *A, int64_t m, int64_t n, float *out);
/* 1 when mmix_pinv runs through LAPACKE. */
MMIXDEF int mmix_has_lapacke(void);

/* W+ [D, V] of a model's embedding matrix W [V, D] (wte / embed_tokens), into out. */
MMIXDEF mmix_result mmix_model_embedding_pinv(mmix_ctx *ctx, const mmix_model *model, float *out);
/* The k (1..16) likeliest tokens of each of n embeddings e [n, D] (paper Eq. 3: e W+, with
   pinv = W+ [D, V]), best first (ties: the lower id), into out [n, k]. */
MMIXDEF mmix_result mmix_pinv_tokens(mmix_ctx *ctx, const float *pinv, int64_t V, int64_t D, const float *e,
                                     int64_t n, int k, int32_t *out);

/* The normalized Hamming distance (paper Eq. 6): the fraction of positions i with ref[i] !=
   pad (pad < 0: none skipped) where ref[i] is not among the k tokens recovered[i * k ..].
   The paper's metric is k = 1 against the input tokens; the reference code's is k = 5 against
   the pseudo-inverse of the slightly noised true embeddings (reference-notes Sec. 17). NaN
   when every position is the pad. */
MMIXDEF double mmix_hamming(const int32_t *ref, const int32_t *recovered, int64_t n, int k, int32_t pad);

/* What one inversion found, for one row of tokens. */
typedef struct mmix_invert_result {
    double hamming;             /* the paper's metric: top-1 recovery against the input */
    double hamming_code;        /* the reference code's: top-5 against the noised reference */
    double l1;                  /* the objective at e_N: sum |O(e_N) - O(e)| */
    double l1_start;            /* ... at e_0 */
    double epsilon;             /* sum |O(e + N(0, 1/20^2)) - O(e)|, same objective (Sec. 3.1) */
} mmix_invert_result;

/* The whole procedure of paper Sec. 3 on B rows of L token ids (host, L = n_ctx for a fixed
   window; every id in [0, V)): target O(e), opt->iters gradient steps from the random start,
   then recovery through pinv (mmix_pinv of the model's embedding matrix, [D, V]; NULL: computed
   here). recovered [B, L] (may be NULL) gets the top-1 tokens; results[b] row b's figures. Rows
   are independent (the objective is a sum over rows), so a batch is B inversions at once. */
MMIXDEF mmix_result mmix_invert(mmix_ctx *ctx, const mmix_model *model, const float *pinv, const int32_t *ids,
                                int64_t B, int64_t L, int32_t pad, const mmix_invert_options *opt,
                                int32_t *recovered, mmix_invert_result *results);

#ifdef __cplusplus
}
#endif
#endif /* MASKEDMIXER_H */

/* ========================================================================================
   IMPLEMENTATION
   ======================================================================================== */
#if defined(MASKEDMIXER_IMPLEMENTATION) && !defined(MASKEDMIXER_IMPLEMENTATION_DONE)
#define MASKEDMIXER_IMPLEMENTATION_DONE

// ----------------------------------------------------------------------------------------
// >>config  Compiler and platform switches.
// ----------------------------------------------------------------------------------------
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#if defined(MMIX_MALLOC) || defined(MMIX_REALLOC) || defined(MMIX_FREE)
#if !defined(MMIX_MALLOC) || !defined(MMIX_REALLOC) || !defined(MMIX_FREE)
#error "maskedmixer.h: define all of MMIX_MALLOC, MMIX_REALLOC and MMIX_FREE, or none of them."
#endif
#else
#define MMIX_MALLOC(size) malloc(size)
#define MMIX_REALLOC(ptr, size) realloc(ptr, size)
#define MMIX_FREE(ptr) free(ptr)
#endif

#ifndef MMIX_ASSERT
#include <assert.h>
#define MMIX_ASSERT(x) assert(x)
#endif

#if defined(_OPENMP) && !defined(MMIX_NO_OPENMP)
#define MMIX__OPENMP 1
#include <omp.h>
/* An OpenMP directive that vanishes without OpenMP (a bare "#pragma omp" would be an
   unknown-pragma warning, an error under -Werror). */
#define MMIX__STRINGIFY(x) #x
#define MMIX__OMP(directive) _Pragma(MMIX__STRINGIFY(omp directive))
#else
#define MMIX__OPENMP 0
#define MMIX__OMP(directive)
#endif

/* Loops over fewer elements than this run on one thread: waking the team costs more. */
#define MMIX__PARALLEL_MIN 16384

#ifdef MMIX_USE_CBLAS
#include <cblas.h>
#endif

/* A compile-time check that works in C99 (no _Static_assert): an array of size -1 fails. */
#define MMIX__STATIC_CHECK(cond, name) typedef char mmix__static_check_##name[(cond) ? 1 : -1]

// ----------------------------------------------------------------------------------------
// >>errors  The texts of result codes and op names (the per-context message is in >>ctx).
// ----------------------------------------------------------------------------------------
static const char *const mmix__result_text[] = {
#define MMIX__RESULT_TEXT(name, text) text,
    MMIX_RESULTS(MMIX__RESULT_TEXT)
#undef MMIX__RESULT_TEXT
};
MMIX__STATIC_CHECK(sizeof(mmix__result_text) / sizeof(mmix__result_text[0]) == MMIX_RESULT_COUNT,
                   result_table);

MMIXDEF const char *mmix_result_str(mmix_result r) {
    if ((int)r < 0 || r >= MMIX_RESULT_COUNT) return "unknown result code";
    return mmix__result_text[r];
}

static const char *const mmix__op_text[] = {
#define MMIX__OP_TEXT(name, text, n_inputs) text,
    MMIX_OPS(MMIX__OP_TEXT)
#undef MMIX__OP_TEXT
};
/* Adding an op means: its constructor in >>ops, its kernels in >>cpu_kernels, its case in
   mmix__backward_node, and its gradient check in tests/. Then bump this number. */
#define MMIX__OPS_IMPLEMENTED 26
MMIX__STATIC_CHECK(MMIX_OP_COUNT == MMIX__OPS_IMPLEMENTED, op_count);
MMIX__STATIC_CHECK(sizeof(mmix__op_text) / sizeof(mmix__op_text[0]) == MMIX_OP_COUNT, op_table);

MMIXDEF const char *mmix_op_name(mmix_op op) {
    if ((int)op < 0 || op >= MMIX_OP_COUNT) return "unknown op";
    return mmix__op_text[op];
}

// ----------------------------------------------------------------------------------------
// >>arena  Chained bump allocators.
//
// An arena hands out 64-byte aligned pieces of its current block. When a request does
// not fit, a new block (at least double the capacity so far) is chained on. Resetting
// folds a chain into a single block of the total size, so the next step of the same
// shape fits without asking the system for memory. Each lifetime has two arenas: one of
// host memory for what the front end reads (tensor headers, the tape, parameter lists)
// and one whose blocks come from the backend's alloc for tensor data, which only
// kernels and the backend's memory entries touch.
//
// Only the types are here: the context (>>ctx) holds its arenas by value, and the
// allocators (>>alloc) charge every allocation to a context, so they follow its struct.
// ----------------------------------------------------------------------------------------
#define MMIX__ALIGN 64

typedef struct mmix__block {
    struct mmix__block *prev;   /* the block chained before this one */
    size_t size;                /* usable bytes in data */
    size_t used;
    unsigned char *data;        /* aligned start of the usable bytes */
    const struct mmix_backend *owner; /* data arenas: the backend whose alloc gave data */
} mmix__block;

typedef struct mmix__arena {
    mmix__block *head;          /* newest block; allocations come from here */
    size_t capacity;            /* sum of block sizes */
    size_t used_before_head;    /* bytes used in blocks older than head */
    size_t high_water;          /* most bytes ever in use since creation */
    int holds_data;             /* 1: blocks from the context's backend (tensor data) */
} mmix__arena;

// ----------------------------------------------------------------------------------------
// >>ctx  The context's struct and its error state. Every later section reads the struct;
// it holds its arenas by value, so it follows their types. Creating a context comes in
// the section >>ctx_create, after the allocators it uses.
// ----------------------------------------------------------------------------------------
struct mmix_ctx {
    mmix__arena persist, step;  /* host memory: headers, lists, the generator's bookkeeping */
    mmix__arena persist_data, step_data; /* tensor data, in the backend's memory */
    struct mmix__node *tape;    /* defined in >>ops */
    int64_t tape_len, tape_capacity;
    mmix_params own;            /* the context's own parameters (mmix_param) */
    const mmix_backend *backend;
    mmix_backend cpu_backend;   /* the default, filled at creation */
    int training, grad_enabled;
    uint64_t dropout_seed, dropout_step; /* mmix_set_dropout_step */
    mmix_masked_grad_mode masked_grad_mode;
    int64_t system_allocations;
    mmix_result last_result;
    char error[512];
    mmix_log_fn log;
    void *log_user;
};

MMIXDEF mmix_result mmix_set_error(mmix_ctx *ctx, mmix_result code, const char *fmt, ...) {
    va_list args;
    if (!ctx) return code;
    ctx->last_result = code;
    va_start(args, fmt);
    vsnprintf(ctx->error, sizeof ctx->error, fmt, args);
    va_end(args);
    return code;
}
MMIXDEF mmix_result mmix_last_result(const mmix_ctx *ctx) { return ctx ? ctx->last_result : MMIX_ERR_INVALID_ARGUMENT; }
MMIXDEF const char *mmix_last_error(const mmix_ctx *ctx) { return ctx ? ctx->error : "no context"; }
MMIXDEF void mmix_clear_error(mmix_ctx *ctx) {
    ctx->last_result = MMIX_OK;
    ctx->error[0] = '\0';
}

// ----------------------------------------------------------------------------------------
// >>alloc  Allocation: counted system allocations, the blocks of an arena (host memory, or
// the backend's for a data arena), bump allocation and reset.
// ----------------------------------------------------------------------------------------
static void *mmix__sys_malloc(mmix_ctx *ctx, size_t size) {
    if (ctx) ctx->system_allocations++;
    return MMIX_MALLOC(size);
}
static void *mmix__sys_realloc(mmix_ctx *ctx, void *ptr, size_t size) {
    if (ctx) ctx->system_allocations++;
    return MMIX_REALLOC(ptr, size);
}

/* A block for arena a: host memory right after its header, or (a data arena) the header
   on the host and the bytes from the backend. */
static mmix__block *mmix__block_new(mmix_ctx *ctx, const mmix__arena *a, size_t size) {
    size_t extra = a->holds_data ? 0 : size + MMIX__ALIGN;
    unsigned char *raw = (unsigned char *)mmix__sys_malloc(ctx, sizeof(mmix__block) + extra);
    mmix__block *b;
    uintptr_t start;
    if (!raw) return NULL;
    b = (mmix__block *)raw;
    b->prev = NULL;
    b->size = size;
    b->used = 0;
    b->owner = NULL;
    if (a->holds_data) {
        ctx->system_allocations++;
        b->data = (unsigned char *)ctx->backend->alloc(size);
        if (!b->data) {
            MMIX_FREE(raw);
            return NULL;
        }
        b->owner = ctx->backend;
        return b;
    }
    start = (uintptr_t)(raw + sizeof(mmix__block));
    start = (start + MMIX__ALIGN - 1) & ~(uintptr_t)(MMIX__ALIGN - 1);
    b->data = (unsigned char *)start;
    return b;
}

static void mmix__block_free(mmix__block *b) {
    if (b->owner) b->owner->release(b->data);
    MMIX_FREE(b);
}

static void mmix__arena_free(mmix__arena *a) {
    while (a->head) {
        mmix__block *prev = a->head->prev;
        mmix__block_free(a->head);
        a->head = prev;
    }
    a->capacity = a->used_before_head = 0;
}

static size_t mmix__arena_used(const mmix__arena *a) {
    return a->used_before_head + (a->head ? a->head->used : 0);
}

/* Returns zeroed, aligned memory, or NULL when the system has none. */
static void *mmix__arena_alloc(mmix_ctx *ctx, mmix__arena *a, size_t size) {
    size_t rounded = (size + MMIX__ALIGN - 1) & ~(size_t)(MMIX__ALIGN - 1);
    void *p;
    if (rounded < size) return NULL; /* overflow */
    if (!a->head || a->head->size - a->head->used < rounded) {
        size_t grow = a->capacity > rounded ? a->capacity : rounded;
        mmix__block *b = mmix__block_new(ctx, a, grow < ((size_t)1 << 20) ? ((size_t)1 << 20) : grow);
        if (!b) return NULL;
        b->prev = a->head;
        if (a->head) a->used_before_head += a->head->used;
        a->head = b;
        a->capacity += b->size;
    }
    p = a->head->data + a->head->used;
    a->head->used += rounded;
    if (mmix__arena_used(a) > a->high_water) a->high_water = mmix__arena_used(a);
    if (a->head->owner) a->head->owner->zero(p, size);
    else memset(p, 0, size);
    return p;
}

/* Empties the arena; a chain of blocks becomes one block of the chain's total size. */
static void mmix__arena_reset(mmix_ctx *ctx, mmix__arena *a) {
    if (a->head && a->head->prev) {
        size_t total = a->capacity;
        mmix__arena_free(a);
        a->head = mmix__block_new(ctx, a, total);
        if (a->head) a->capacity = total;
        /* If that failed, the next allocation simply starts a new chain. */
    }
    if (a->head) a->head->used = 0;
    a->used_before_head = 0;
}

// ----------------------------------------------------------------------------------------
// >>ctx_create  Context creation, modes, threads, step memory.
//
// The one use of a later section: mmix_ctx_create fills the context's CPU backend table
// with mmix_cpu_backend_fill, defined in >>cpu_kernels and called here through its
// declaration in >>api_backend.
// ----------------------------------------------------------------------------------------
MMIXDEF mmix_ctx_config mmix_ctx_config_default(void) {
    mmix_ctx_config c;
    c.persist_bytes = (size_t)1 << 20;
    c.step_bytes = (size_t)1 << 20;
    c.num_threads = 0;
    return c;
}

MMIXDEF mmix_result mmix_ctx_create(mmix_ctx **out, const mmix_ctx_config *cfg) {
    mmix_ctx_config c = cfg ? *cfg : mmix_ctx_config_default();
    mmix_ctx *ctx;
    if (!out) return MMIX_ERR_INVALID_ARGUMENT;
    *out = NULL;
    ctx = (mmix_ctx *)MMIX_MALLOC(sizeof(mmix_ctx));
    if (!ctx) return MMIX_ERR_OUT_OF_MEMORY;
    memset(ctx, 0, sizeof *ctx);
    mmix_cpu_backend_fill(&ctx->cpu_backend);
    ctx->backend = &ctx->cpu_backend;
    ctx->training = 1;
    ctx->grad_enabled = 1;
    ctx->persist_data.holds_data = ctx->step_data.holds_data = 1;
    /* the data arenas make their first block when first used, from the backend then set */
    ctx->persist.head = mmix__block_new(ctx, &ctx->persist, c.persist_bytes ? c.persist_bytes : ((size_t)1 << 20));
    ctx->step.head = mmix__block_new(ctx, &ctx->step, c.step_bytes ? c.step_bytes : ((size_t)1 << 20));
    if (!ctx->persist.head || !ctx->step.head) {
        mmix_ctx_destroy(ctx);
        return MMIX_ERR_OUT_OF_MEMORY;
    }
    ctx->persist.capacity = ctx->persist.head->size;
    ctx->step.capacity = ctx->step.head->size;
    if (c.num_threads > 0) mmix_set_num_threads(c.num_threads);
    *out = ctx;
    return MMIX_OK;
}

MMIXDEF void mmix_ctx_destroy(mmix_ctx *ctx) {
    if (!ctx) return;
    mmix__arena_free(&ctx->persist);
    mmix__arena_free(&ctx->step);
    mmix__arena_free(&ctx->persist_data);
    mmix__arena_free(&ctx->step_data);
    MMIX_FREE(ctx->tape);
    MMIX_FREE(ctx);
}

MMIXDEF void mmix_set_training(mmix_ctx *ctx, int training) { ctx->training = training ? 1 : 0; }
MMIXDEF int mmix_is_training(const mmix_ctx *ctx) { return ctx->training; }
MMIXDEF void mmix_set_dropout_step(mmix_ctx *ctx, uint64_t seed, uint64_t step) {
    ctx->dropout_seed = seed;
    ctx->dropout_step = step;
}
MMIXDEF void mmix_set_grad_enabled(mmix_ctx *ctx, int enabled) { ctx->grad_enabled = enabled ? 1 : 0; }
MMIXDEF int mmix_grad_enabled(const mmix_ctx *ctx) { return ctx->grad_enabled; }
MMIXDEF void mmix_set_backend(mmix_ctx *ctx, const mmix_backend *backend) {
    ctx->backend = backend ? backend : &ctx->cpu_backend;
    /* empty data arenas start again in the new backend's memory */
    if (mmix__arena_used(&ctx->persist_data) == 0) mmix__arena_free(&ctx->persist_data);
    if (mmix__arena_used(&ctx->step_data) == 0) mmix__arena_free(&ctx->step_data);
}
MMIXDEF const mmix_backend *mmix_get_backend(const mmix_ctx *ctx) { return ctx->backend; }

MMIXDEF int mmix_set_num_threads(int n) {
#if MMIX__OPENMP
    if (n > 0) omp_set_num_threads(n);
    return omp_get_max_threads();
#else
    (void)n;
    return 1;
#endif
}
MMIXDEF int mmix_get_num_threads(void) {
#if MMIX__OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

MMIXDEF void mmix_step_reset(mmix_ctx *ctx) {
    mmix__arena_reset(ctx, &ctx->step);
    mmix__arena_reset(ctx, &ctx->step_data);
    ctx->tape_len = 0;
}

/* Step memory is mostly tensor data: the reservation is for the step's data arena. */
MMIXDEF mmix_result mmix_ctx_reserve_step(mmix_ctx *ctx, size_t bytes) {
    mmix__arena *a = &ctx->step_data;
    if (a->capacity >= bytes) return MMIX_OK;
    if (mmix__arena_used(a) == 0) { /* nothing in use: swap for one block of the new size */
        mmix__arena_free(a);
        a->head = mmix__block_new(ctx, a, bytes);
        if (!a->head) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "reserve_step: cannot allocate "
                                            "%llu bytes", (unsigned long long)bytes);
        a->capacity = bytes;
        return MMIX_OK;
    }
    /* In use: chain a block now; the next reset folds the chain into one. */
    {
        mmix__block *b = mmix__block_new(ctx, a, bytes - a->capacity);
        if (!b) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "reserve_step: out of memory");
        b->prev = a->head;
        a->used_before_head += a->head ? a->head->used : 0;
        a->head = b;
        a->capacity += b->size;
    }
    return MMIX_OK;
}

MMIXDEF mmix_step_mark mmix_step_mark_get(mmix_ctx *ctx) {
    mmix_step_mark m;
    m.block = ctx->step.head;
    m.used = ctx->step.head ? ctx->step.head->used : 0;
    m.data_block = ctx->step_data.head;
    m.data_used = ctx->step_data.head ? ctx->step_data.head->used : 0;
    m.tape_len = ctx->tape_len;
    return m;
}
static void mmix__arena_rewind(mmix__arena *a, const void *block, size_t used) {
    while (a->head && (const void *)a->head != block) { /* drop blocks chained after the mark */
        mmix__block *prev = a->head->prev;
        a->capacity -= a->head->size;
        if (prev) a->used_before_head -= prev->used;
        mmix__block_free(a->head);
        a->head = prev;
    }
    if (a->head) a->head->used = used;
}
MMIXDEF void mmix_step_rewind(mmix_ctx *ctx, mmix_step_mark mark) {
    mmix__arena_rewind(&ctx->step, mark.block, mark.used);
    mmix__arena_rewind(&ctx->step_data, mark.data_block, mark.data_used);
    if (mark.tape_len < ctx->tape_len) ctx->tape_len = mark.tape_len;
}

MMIXDEF mmix_memory_stats mmix_memory_usage(const mmix_ctx *ctx) {
    mmix_memory_stats s;
    s.persist_used = mmix__arena_used(&ctx->persist) + mmix__arena_used(&ctx->persist_data);
    s.persist_capacity = ctx->persist.capacity + ctx->persist_data.capacity;
    s.step_used = mmix__arena_used(&ctx->step) + mmix__arena_used(&ctx->step_data);
    s.step_capacity = ctx->step.capacity + ctx->step_data.capacity;
    s.step_high_water = ctx->step.high_water + ctx->step_data.high_water;
    s.system_allocations = ctx->system_allocations;
    s.tape_len = ctx->tape_len;
    s.tape_capacity = ctx->tape_capacity;
    return s;
}

// ----------------------------------------------------------------------------------------
// >>platform  The only OS-specific code.
// ----------------------------------------------------------------------------------------
#if defined(_WIN32)
#include <io.h>
#include <windows.h>
MMIXDEF double mmix_time_seconds(void) {
    LARGE_INTEGER frequency, now;
    QueryPerformanceFrequency(&frequency);
    QueryPerformanceCounter(&now);
    return (double)now.QuadPart / (double)frequency.QuadPart;
}
static int mmix__file_sync(FILE *f) { return _commit(_fileno(f)); }
static int mmix__file_replace(const char *from, const char *to) {
    return MoveFileExA(from, to, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH) ? 0 : -1;
}
/* 64-bit file offsets: long is 32 bits on Windows, too small for big checkpoints. */
static int mmix__file_seek(FILE *f, uint64_t offset) {
    return offset <= (uint64_t)INT64_MAX && _fseeki64(f, (__int64)offset, SEEK_SET) == 0 ? 0 : -1;
}
static int mmix__file_size(FILE *f, uint64_t *size) {
    __int64 end;
    if (_fseeki64(f, 0, SEEK_END) != 0 || (end = _ftelli64(f)) < 0) return -1;
    *size = (uint64_t)end;
    return 0;
}
#elif (defined(_POSIX_C_SOURCE) || defined(__APPLE__)) && !defined(MMIX__POSIX_HIDDEN)
#include <time.h>
#include <unistd.h>
MMIXDEF double mmix_time_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static int mmix__file_sync(FILE *f) { return fsync(fileno(f)); }
/* rename() replaces the target atomically on POSIX file systems. */
static int mmix__file_replace(const char *from, const char *to) { return rename(from, to); }
#if defined(__APPLE__) || (defined(_POSIX_C_SOURCE) && _POSIX_C_SOURCE >= 200112L)
#include <sys/types.h>
/* fseeko/ftello take off_t, 64 bits on 64-bit systems (long may be 32 bits elsewhere). */
static int mmix__file_seek(FILE *f, uint64_t offset) {
    off_t o = (off_t)offset;
    if (offset > (uint64_t)INT64_MAX || o < 0 || (uint64_t)o != offset) return -1;
    return fseeko(f, o, SEEK_SET);
}
static int mmix__file_size(FILE *f, uint64_t *size) {
    off_t end;
    if (fseeko(f, 0, SEEK_END) != 0 || (end = ftello(f)) < 0) return -1;
    *size = (uint64_t)end;
    return 0;
}
#define MMIX__HAVE_FILE_SEEK 1
#endif
#else
/* Plain C: the implementing file included a system header before this one under strict
   -std=c99, so POSIX is hidden (see section 1). The clock falls back to processor time
   and files are flushed but not synced to the disk. */
#include <time.h>
MMIXDEF double mmix_time_seconds(void) { return (double)clock() / (double)CLOCKS_PER_SEC; }
static int mmix__file_sync(FILE *f) { (void)f; return 0; }
static int mmix__file_replace(const char *from, const char *to) { return rename(from, to); }
#endif
#if !defined(_WIN32) && !defined(MMIX__HAVE_FILE_SEEK)
/* Plain C: offsets are longs, so files beyond LONG_MAX bytes are refused, not misread. */
#include <limits.h>
static int mmix__file_seek(FILE *f, uint64_t offset) {
    return offset <= (uint64_t)LONG_MAX && fseek(f, (long)offset, SEEK_SET) == 0 ? 0 : -1;
}
static int mmix__file_size(FILE *f, uint64_t *size) {
    long end;
    if (fseek(f, 0, SEEK_END) != 0 || (end = ftell(f)) < 0) return -1;
    *size = (uint64_t)end;
    return 0;
}
#endif

/* Atomic replacement of a file, streamed: open "path.tmp", write through a->f, then commit
   (flush, sync, close, rename over path) or abort (close, remove the temporary). Either
   way the temporary is gone afterwards and path is whole: the old file or the new one. */
typedef struct mmix__atomic_file {
    FILE *f;
    char *tmp;                  /* "path.tmp" */
    const char *path;
} mmix__atomic_file;

static mmix_result mmix__atomic_open(mmix_ctx *ctx, const char *path, mmix__atomic_file *a) {
    size_t len = strlen(path);
    a->f = NULL;
    a->path = path;
    a->tmp = len < SIZE_MAX - 5 ? (char *)mmix__sys_malloc(ctx, len + 5) : NULL;
    if (!a->tmp) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "write '%s': out of memory", path);
    memcpy(a->tmp, path, len);
    memcpy(a->tmp + len, ".tmp", 5);
    a->f = fopen(a->tmp, "wb");
    if (!a->f) {
        mmix_set_error(ctx, MMIX_ERR_IO, "write '%s': cannot create '%s' (%s)", path, a->tmp, strerror(errno));
        MMIX_FREE(a->tmp);
        a->tmp = NULL;
        return MMIX_ERR_IO;
    }
    return MMIX_OK;
}

/* Gives up: the temporary is removed, path untouched. The caller has set the error. */
static void mmix__atomic_abort(mmix__atomic_file *a) {
    if (a->f) fclose(a->f);
    if (a->tmp) remove(a->tmp);
    MMIX_FREE(a->tmp);
    a->f = NULL;
    a->tmp = NULL;
}

/* writes_ok: whether every write so far succeeded (a failed one aborts here, so that the
   caller can write without checking each call). */
static mmix_result mmix__atomic_commit(mmix_ctx *ctx, mmix__atomic_file *a, int writes_ok) {
    int ok = writes_ok, err = writes_ok ? 0 : errno;   /* the first failure's reason: a full disk says so */
    if (fflush(a->f) != 0) err = err ? err : errno, ok = 0;
    if (mmix__file_sync(a->f) != 0) err = err ? err : errno, ok = 0;
    if (fclose(a->f) != 0) err = err ? err : errno, ok = 0;
    a->f = NULL;
    if (ok && mmix__file_replace(a->tmp, a->path) != 0) err = errno, ok = 0;
    if (!ok) {
        remove(a->tmp);
        mmix_set_error(ctx, MMIX_ERR_IO, "write '%s': writing or renaming '%s' failed (%s); '%s' is unchanged",
                       a->path, a->tmp, err ? strerror(err) : "an I/O error", a->path);
    }
    MMIX_FREE(a->tmp);
    a->tmp = NULL;
    return ok ? MMIX_OK : MMIX_ERR_IO;
}

MMIXDEF mmix_result mmix_write_file_atomic(mmix_ctx *ctx, const char *path, const void *data,
                                           size_t size) {
    mmix__atomic_file a;
    mmix_result r = mmix__atomic_open(ctx, path, &a);
    if (r != MMIX_OK) return r;
    return mmix__atomic_commit(ctx, &a, fwrite(data, 1, size, a.f) == size);
}

MMIXDEF mmix_result mmix_replace_file(mmix_ctx *ctx, const char *from, const char *to) {
    if (mmix__file_replace(from, to) == 0) return MMIX_OK;
    return mmix_set_error(ctx, MMIX_ERR_IO, "cannot rename '%s' to '%s' (%s)", from, to, strerror(errno));
}

// ----------------------------------------------------------------------------------------
// >>json  One growable buffer and one JSON reader, for every reader and writer of text
// below: the safetensors header, the tokenizer file, Hugging Face's tokenizer.json, JSONL.
//
// The buffer is the public mmix_bpe_bytes (data, size, capacity; see >>api_bpe), so that
// callers and the library grow it the same way. Appends keep it NUL-terminated (the NUL
// not counted), so text in it can go to strcmp and printf as it is. mmix__grow grows the
// other arrays (ids, entries, offsets) by the same doubling.
//
// The reader walks JSON text in place, without building a tree: the caller asks for what
// its schema expects next (a character, a string, an integer, the next member of an object
// or array) and skips what it does not need. It accepts strict JSON (RFC 8259) and rejects
// everything else: whitespace is space, tab, LF and CR; a string holds UTF-8 and no raw
// control byte, and only the escapes \" \\ \/ \b \f \n \r \t \uXXXX, with UTF-16
// surrogates in pairs (it comes out unescaped, as UTF-8); a number is
// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, so no '+', no leading zero, no NaN; the
// literals are true, false and null. No comments, no single quotes, no trailing commas,
// and a skipped value nests at most MMIX__JSON_MAX_DEPTH deep (the stack stays small on
// hostile input). Two switches serve one caller each: c_strings (the safetensors header
// refuses \u0000, its names being C strings) and raw_bytes (the tokenizer.json import lets
// string bytes from 0x80 up through unchecked, as it always has). The first error stops the
// reader, keeping its code, its byte offset and a message that says what was expected and
// what was found; the caller adds the file's name.
// ----------------------------------------------------------------------------------------
/* Returns `array` grown to hold at least `need` elements of `size` bytes, updating
   *capacity; NULL when out of memory (`array` is then untouched and still owned). */
static void *mmix__grow(void *array, int64_t *capacity, int64_t need, size_t size) {
    int64_t cap = *capacity;
    void *p;
    if (need <= cap) return array;
    while (cap < need) {
        if (cap > INT64_MAX / 2) return NULL;
        cap = cap ? 2 * cap : 64;
    }
    if ((uint64_t)cap > SIZE_MAX / size) return NULL;
    p = MMIX_REALLOC(array, (size_t)cap * size);
    if (p) *capacity = cap;
    return p;
}

/* Room for `extra` more bytes and the terminating NUL; 0 when out of memory. */
static int mmix__bytes_reserve(mmix_bpe_bytes *b, size_t extra) {
    int64_t cap = (int64_t)b->capacity;
    void *p;
    if (extra > (size_t)INT64_MAX - b->size - 1) return 0;
    if (b->size + extra + 1 <= b->capacity) return 1;
    if (!(p = mmix__grow(b->data, &cap, (int64_t)(b->size + extra + 1), 1))) return 0;
    b->data = (unsigned char *)p;
    b->capacity = (size_t)cap;
    return 1;
}
/* Appends n bytes (n = 0 only terminates); 0 when out of memory. */
static int mmix__bytes_append(mmix_bpe_bytes *b, const void *data, size_t n) {
    if (!mmix__bytes_reserve(b, n)) return 0;
    if (n) memcpy(b->data + b->size, data, n);
    b->size += n;
    b->data[b->size] = 0;
    return 1;
}
/* A short formatted line (under 256 bytes: numbers, keywords); a longer one fails. */
static int mmix__bytes_printf(mmix_bpe_bytes *b, const char *fmt, ...) {
    char line[256];
    va_list args;
    int n;
    va_start(args, fmt);
    n = vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    return n >= 0 && (size_t)n < sizeof line && mmix__bytes_append(b, line, (size_t)n);
}
/* n bytes as a quoted string, '"' and '\' escaped and \n \t \r spelled so. json: a JSON
   string (other control bytes as \u00XX, every other byte, UTF-8 included, as it is);
   otherwise a C-style literal for people (printable ASCII as it is, the rest as \xXX). */
static int mmix__bytes_append_quoted(mmix_bpe_bytes *b, const unsigned char *p, size_t n, int json) {
    size_t i;
    int ok = mmix__bytes_append(b, "\"", 1);
    for (i = 0; ok && i < n; i++) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') { char e[2]; e[0] = '\\'; e[1] = (char)c; ok = mmix__bytes_append(b, e, 2); }
        else if (c == '\n') ok = mmix__bytes_append(b, "\\n", 2);
        else if (c == '\t') ok = mmix__bytes_append(b, "\\t", 2);
        else if (c == '\r') ok = mmix__bytes_append(b, "\\r", 2);
        else if (json ? c >= 0x20 : c >= ' ' && c <= '~') ok = mmix__bytes_append(b, &c, 1);
        else ok = json ? mmix__bytes_printf(b, "\\u%04x", c) : mmix__bytes_printf(b, "\\x%02x", c);
    }
    return ok && mmix__bytes_append(b, "\"", 1);
}
MMIXDEF void mmix_bpe_bytes_free(mmix_bpe_bytes *bytes) {
    if (!bytes) return;
    MMIX_FREE(bytes->data);
    memset(bytes, 0, sizeof *bytes);
}

/* Reads a whole file, appended to out (NUL-terminated). `what` starts the messages. */
static mmix_result mmix__read_file(mmix_ctx *ctx, const char *what, const char *path, mmix_bpe_bytes *out) {
    FILE *f = path ? fopen(path, "rb") : NULL;
    unsigned char buf[65536];
    size_t n;
    if (!f) return mmix_set_error(ctx, MMIX_ERR_FILE_NOT_FOUND, "%s: cannot open '%s'", what,
                                  path ? path : "(null)");
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        if (!mmix__bytes_append(out, buf, n)) {
            fclose(f);
            return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: '%s' does not fit in memory", what, path);
        }
    if (ferror(f)) {
        fclose(f);
        return mmix_set_error(ctx, MMIX_ERR_IO, "%s: error reading '%s'", what, path);
    }
    fclose(f);
    if (!mmix__bytes_append(out, "", 0))
        return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
    return MMIX_OK;
}

/* ---- UTF-8 ---- */
/* Length of the valid UTF-8 sequence at s (n >= 1 bytes left), or 0 (RFC 3629: no overlong
   forms, no surrogates, nothing above U+10FFFF). */
static size_t mmix__utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t len, k;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
    else return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (k = 2; k < len; k++)
        if (s[k] < 0x80 || s[k] > 0xBF) return 0;
    return len;
}
/* The offset of the first byte that does not start a valid UTF-8 sequence, or n. */
static size_t mmix__utf8_invalid_at(const unsigned char *s, size_t n) {
    size_t i = 0, len;
    while (i < n && (len = mmix__utf8_len(s + i, n - i)) != 0) i += len;
    return i;
}
static int mmix__utf8_valid(const char *s) {
    size_t n = strlen(s);
    return mmix__utf8_invalid_at((const unsigned char *)s, n) == n;
}
/* Appends code point cp (at most U+10FFFF, not a surrogate) as UTF-8. */
static int mmix__utf8_put(mmix_bpe_bytes *b, uint32_t cp) {
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (unsigned char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (unsigned char)(0xC0 | (cp >> 6)); u[1] = (unsigned char)(0x80 | (cp & 63)); n = 2; }
    else if (cp < 0x10000) { u[0] = (unsigned char)(0xE0 | (cp >> 12)); u[1] = (unsigned char)(0x80 | ((cp >> 6) & 63)); u[2] = (unsigned char)(0x80 | (cp & 63)); n = 3; }
    else { u[0] = (unsigned char)(0xF0 | (cp >> 18)); u[1] = (unsigned char)(0x80 | ((cp >> 12) & 63)); u[2] = (unsigned char)(0x80 | ((cp >> 6) & 63)); u[3] = (unsigned char)(0x80 | (cp & 63)); n = 4; }
    return mmix__bytes_append(b, u, n);
}

/* ---- The JSON reader ---- */
#define MMIX__JSON_MAX_DEPTH 64

typedef struct mmix__json {
    const unsigned char *s;
    size_t n, i;                /* the text, its length, the position */
    const char *end_name;       /* the end of the text in messages: "the end of the header" */
    int c_strings;              /* \u0000 is MMIX_ERR_UNSUPPORTED: strings are kept as C strings */
    int raw_bytes;              /* strings may hold any byte from 0x80 up (not checked as UTF-8) */
    int depth;                  /* of the value being skipped */
    mmix_result code;           /* MMIX_OK until the first error; then its code, offset, message */
    size_t err_at;
    char err[384];
} mmix__json;

static void mmix__json_init(mmix__json *j, const void *text, size_t n, const char *end_name) {
    memset(j, 0, sizeof *j);
    j->s = (const unsigned char *)text;
    j->n = text ? n : 0;
    j->end_name = end_name;
    j->code = MMIX_OK;
}
/* Keeps the error "MESSAGE" at byte `at` and returns 0, so a step can `return fail(..)`. */
static int mmix__json_fail(mmix__json *j, mmix_result code, size_t at, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(j->err, sizeof j->err, fmt, args);
    va_end(args);
    j->code = code;
    j->err_at = at;
    return 0;
}
static int mmix__json_oom(mmix__json *j) { return mmix__json_fail(j, MMIX_ERR_OUT_OF_MEMORY, j->i, "out of memory"); }

static void mmix__json_ws(mmix__json *j) {
    while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' || j->s[j->i] == '\r'))
        j->i++;
}
/* The next byte after white space, or -1 at the end. */
static int mmix__json_peek(mmix__json *j) {
    mmix__json_ws(j);
    return j->i < j->n ? j->s[j->i] : -1;
}
/* What is at the position, for messages: "'x'", "byte 0x01" or the end's name. */
static const char *mmix__json_found(const mmix__json *j, char *buf, size_t size) {
    if (j->i >= j->n) snprintf(buf, size, "%s", j->end_name);
    else if (j->s[j->i] >= 0x20 && j->s[j->i] < 0x7f) snprintf(buf, size, "'%c'", j->s[j->i]);
    else snprintf(buf, size, "byte 0x%02x", j->s[j->i]);
    return buf;
}
/* Reads c (after white space) if it is next: 1 if it was, 0 (no error) if not. */
static int mmix__json_eat(mmix__json *j, char c) {
    if (mmix__json_peek(j) != (unsigned char)c) return 0;
    j->i++;
    return 1;
}
/* Reads c or fails with "expected 'c' WHAT, found ...". */
static int mmix__json_expect(mmix__json *j, char c, const char *what) {
    char found[32];
    if (mmix__json_eat(j, c)) return 1;
    return mmix__json_fail(j, MMIX_ERR_FORMAT, j->i, "expected '%c' %s, found %s", c, what,
                           mmix__json_found(j, found, sizeof found));
}
/* Steps through the members of an object or array whose opening bracket was read: 1 when
   another member follows (its comma read), 0 at the closing bracket (read), -1 on an error.
   *count starts at 0; `what` ends the message of a missing comma ("or '}' in __metadata__"). */
static int mmix__json_next(mmix__json *j, char close, int *count, const char *what) {
    if (mmix__json_eat(j, close)) return 0;
    if (*count > 0 && !mmix__json_expect(j, ',', what)) return -1;
    (*count)++;
    return 1;
}

static int mmix__json_hex4(const unsigned char *s, uint32_t *v) {
    int k;
    *v = 0;
    for (k = 0; k < 4; k++) {
        unsigned char c = s[k];
        uint32_t d;
        if (c >= '0' && c <= '9') d = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = (uint32_t)(c - 'A' + 10);
        else return 0;
        *v = (*v << 4) | d;
    }
    return 1;
}

/* A string into out, replacing its contents (NULL: checked and dropped), unescaped to
   UTF-8. `what` names it in messages ("a tensor name", ...). */
static int mmix__json_string(mmix__json *j, const char *what, mmix_bpe_bytes *out) {
    size_t start;
    char found[32];
    if (out) out->size = 0;
    if (mmix__json_peek(j) != '"')
        return mmix__json_fail(j, MMIX_ERR_FORMAT, j->i, "expected %s (a string), found %s", what,
                               mmix__json_found(j, found, sizeof found));
    start = j->i++;
    for (;;) {
        unsigned char c;
        uint32_t cp, lo;
        size_t at = j->i;
        if (j->i >= j->n) return mmix__json_fail(j, MMIX_ERR_FORMAT, start, "unterminated string (%s)", what);
        c = j->s[j->i];
        if (c == '"') { j->i++; break; }
        if (c < 0x20)
            return mmix__json_fail(j, MMIX_ERR_FORMAT, at, "control byte 0x%02x inside a string (%s); JSON "
                                   "needs it escaped", c, what);
        if (c != '\\') {
            size_t len = j->raw_bytes ? 1 : mmix__utf8_len(j->s + j->i, j->n - j->i);
            if (!len) return mmix__json_fail(j, MMIX_ERR_FORMAT, at, "invalid UTF-8 inside a string (%s)", what);
            if (out && !mmix__bytes_append(out, j->s + j->i, len)) return mmix__json_oom(j);
            j->i += len;
            continue;
        }
        /* an escape */
        if (j->i + 1 >= j->n) return mmix__json_fail(j, MMIX_ERR_FORMAT, start, "unterminated string (%s)", what);
        c = j->s[j->i + 1];
        if (c != 'u') {
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            const char *e = c ? strchr(from, c) : NULL;
            if (!e) {
                if (c >= 0x20 && c < 0x7f)
                    return mmix__json_fail(j, MMIX_ERR_FORMAT, at, "invalid escape '\\%c' in %s", c, what);
                return mmix__json_fail(j, MMIX_ERR_FORMAT, at, "invalid escape (a backslash, then byte 0x%02x) "
                                       "in %s", c, what);
            }
            if (out && !mmix__bytes_append(out, &to[e - from], 1)) return mmix__json_oom(j);
            j->i += 2;
            continue;
        }
        if (j->n - j->i < 6 || !mmix__json_hex4(j->s + j->i + 2, &cp))
            return mmix__json_fail(j, MMIX_ERR_FORMAT, at, "invalid \\u escape (four hex digits must follow) "
                                   "in %s", what);
        j->i += 6;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return mmix__json_fail(j, MMIX_ERR_FORMAT, at, "unpaired UTF-16 surrogate \\u%04X in %s",
                                   (unsigned)cp, what);
        if (cp >= 0xD800 && cp <= 0xDBFF) { /* a high surrogate: its low half must follow */
            if (j->n - j->i < 6 || j->s[j->i] != '\\' || j->s[j->i + 1] != 'u' ||
                !mmix__json_hex4(j->s + j->i + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                return mmix__json_fail(j, MMIX_ERR_FORMAT, at, "unpaired UTF-16 surrogate \\u%04X in %s",
                                       (unsigned)cp, what);
            j->i += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp == 0 && j->c_strings)
            return mmix__json_fail(j, MMIX_ERR_UNSUPPORTED, at, "\\u0000 (a NUL character) in %s: names "
                                   "and metadata are C strings here", what);
        if (out && !mmix__utf8_put(out, cp)) return mmix__json_oom(j);
    }
    if (out && !mmix__bytes_append(out, "", 0)) return mmix__json_oom(j); /* terminated, even when empty */
    return 1;
}

static int mmix__json_digit(const mmix__json *j) { return j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9'; }

/* A non-negative integer: no sign, no leading zeros, no fraction or exponent, at most
   `max`. `what` names it ("dim 2 of tensor 'w''s shape"). */
static int mmix__json_uint(mmix__json *j, uint64_t max, uint64_t *value, const char *what) {
    size_t start;
    uint64_t v = 0;
    char found[32];
    int c = mmix__json_peek(j);
    start = j->i;
    if (c == '-') return mmix__json_fail(j, MMIX_ERR_FORMAT, start, "%s is negative", what);
    if (!mmix__json_digit(j))
        return mmix__json_fail(j, MMIX_ERR_FORMAT, start, "expected %s (a non-negative integer), found %s", what,
                               mmix__json_found(j, found, sizeof found));
    if (c == '0' && j->i + 1 < j->n && j->s[j->i + 1] >= '0' && j->s[j->i + 1] <= '9')
        return mmix__json_fail(j, MMIX_ERR_FORMAT, start, "%s has a leading zero (not JSON)", what);
    for (; mmix__json_digit(j); j->i++) {
        unsigned d = (unsigned)(j->s[j->i] - '0');
        if (v > (max - d) / 10)
            return mmix__json_fail(j, MMIX_ERR_FORMAT, start, "%s is larger than %llu", what, (unsigned long long)max);
        v = 10 * v + d;
    }
    if (j->i < j->n && (j->s[j->i] == '.' || j->s[j->i] == 'e' || j->s[j->i] == 'E'))
        return mmix__json_fail(j, MMIX_ERR_FORMAT, start, "%s must be an integer (no fraction or exponent)", what);
    *value = v;
    return 1;
}

/* Skips one value of any kind, checking it all. */
static int mmix__json_skip(mmix__json *j) {
    static const char *const literals[] = {"true", "false", "null"};
    char found[32];
    int c = mmix__json_peek(j), count = 0, more, k;
    size_t start = j->i;
    if (c == '"') return mmix__json_string(j, "a string", NULL);
    if (c == '{' || c == '[') {
        if (++j->depth > MMIX__JSON_MAX_DEPTH)
            return mmix__json_fail(j, MMIX_ERR_FORMAT, start, "nested deeper than %d levels", MMIX__JSON_MAX_DEPTH);
        j->i++;
        while ((more = mmix__json_next(j, c == '{' ? '}' : ']', &count,
                                       c == '{' ? "or '}' in an object" : "or ']' in an array")) > 0) {
            if (c == '{' && (!mmix__json_string(j, "a key", NULL) || !mmix__json_expect(j, ':', "after a key")))
                return 0;
            if (!mmix__json_skip(j)) return 0;
        }
        j->depth--;
        return more == 0;
    }
    for (k = 0; k < 3; k++) {
        size_t len = strlen(literals[k]);
        if (j->n - j->i >= len && memcmp(j->s + j->i, literals[k], len) == 0) {
            j->i += len;
            return 1;
        }
    }
    if (c != '-' && !mmix__json_digit(j))
        return mmix__json_fail(j, MMIX_ERR_FORMAT, start, "expected a value, found %s",
                               mmix__json_found(j, found, sizeof found));
    /* a number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
    j->i += c == '-';
    if (!mmix__json_digit(j)) return mmix__json_fail(j, MMIX_ERR_FORMAT, start, "a number with no digits");
    if (j->s[j->i] == '0' && j->i + 1 < j->n && j->s[j->i + 1] >= '0' && j->s[j->i + 1] <= '9')
        return mmix__json_fail(j, MMIX_ERR_FORMAT, start, "a number with a leading zero (not JSON)");
    while (mmix__json_digit(j)) j->i++;
    if (j->i < j->n && j->s[j->i] == '.') {
        j->i++;
        if (!mmix__json_digit(j)) return mmix__json_fail(j, MMIX_ERR_FORMAT, start, "a number with no digit after '.'");
        while (mmix__json_digit(j)) j->i++;
    }
    if (j->i < j->n && (j->s[j->i] == 'e' || j->s[j->i] == 'E')) {
        j->i++;
        if (j->i < j->n && (j->s[j->i] == '+' || j->s[j->i] == '-')) j->i++;
        if (!mmix__json_digit(j)) return mmix__json_fail(j, MMIX_ERR_FORMAT, start, "a number with no digit in its exponent");
        while (mmix__json_digit(j)) j->i++;
    }
    return 1;
}

// ----------------------------------------------------------------------------------------
// >>tensor  Shapes, tensors, parameters.
// ----------------------------------------------------------------------------------------
MMIXDEF mmix_shape mmix_shape4(int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    mmix_shape s;
    s.ndim = 4;
    s.d[0] = d0; s.d[1] = d1; s.d[2] = d2; s.d[3] = d3;
    return s;
}
MMIXDEF mmix_shape mmix_shape0(void) { mmix_shape s = mmix_shape4(1, 1, 1, 1); s.ndim = 0; return s; }
MMIXDEF mmix_shape mmix_shape1(int64_t d0) { mmix_shape s = mmix_shape4(d0, 1, 1, 1); s.ndim = 1; return s; }
MMIXDEF mmix_shape mmix_shape2(int64_t d0, int64_t d1) { mmix_shape s = mmix_shape4(d0, d1, 1, 1); s.ndim = 2; return s; }
MMIXDEF mmix_shape mmix_shape3(int64_t d0, int64_t d1, int64_t d2) { mmix_shape s = mmix_shape4(d0, d1, d2, 1); s.ndim = 3; return s; }

MMIXDEF int mmix_shape_equal(mmix_shape a, mmix_shape b) {
    int i;
    if (a.ndim != b.ndim) return 0;
    for (i = 0; i < a.ndim; i++)
        if (a.d[i] != b.d[i]) return 0;
    return 1;
}

MMIXDEF char *mmix_shape_str(mmix_shape s, char *buf, size_t size) {
    size_t len = 0;
    int i;
    if (size == 0) return buf;
    buf[0] = '\0';
    len += (size_t)snprintf(buf + len, size - len, "[");
    /* An invalid shape (ndim outside 0..4) is printed as far as it can be. */
    for (i = 0; i < s.ndim && i < MMIX_MAX_DIMS && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, i ? ", %lld" : "%lld", (long long)s.d[i]);
    if (len < size) snprintf(buf + len, size - len, "]");
    return buf;
}

/* Element count of a shape, or -1 if a dim is out of range or the product overflows. */
static int64_t mmix__shape_numel(mmix_shape s) {
    int64_t n = 1;
    int i;
    if (s.ndim < 0 || s.ndim > MMIX_MAX_DIMS) return -1;
    for (i = 0; i < s.ndim; i++) {
        if (s.d[i] < 1) return -1;
        if (n > INT64_MAX / s.d[i]) return -1;
        n *= s.d[i];
    }
    return n;
}

/* The last dim, or 1 for a scalar; rows = everything before it. */
static int64_t mmix__last_dim(const mmix_tensor *t) { return t->shape.ndim ? t->shape.d[t->shape.ndim - 1] : 1; }
static int64_t mmix__rows(const mmix_tensor *t) { return t->n / mmix__last_dim(t); }

static mmix__arena *mmix__arena_of(mmix_ctx *ctx, mmix_lifetime where) {
    return where == MMIX_PERSIST ? &ctx->persist : &ctx->step;
}
static mmix__arena *mmix__data_arena_of(mmix_ctx *ctx, mmix_lifetime where) {
    return where == MMIX_PERSIST ? &ctx->persist_data : &ctx->step_data;
}

/* Allocates a zeroed float buffer of n elements in an arena; sets the error on failure. */
static float *mmix__alloc_floats(mmix_ctx *ctx, mmix_lifetime where, int64_t n, const char *what) {
    float *p;
    if (n < 0 || (uint64_t)n > SIZE_MAX / sizeof(float)) {
        mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: %lld floats do not fit in memory", what,
                       (long long)n);
        return NULL;
    }
    p = (float *)mmix__arena_alloc(ctx, mmix__data_arena_of(ctx, where), (size_t)n * sizeof(float));
    if (!p)
        mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: could not allocate %lld floats", what,
                       (long long)n);
    return p;
}

MMIXDEF mmix_tensor *mmix_tensor_new(mmix_ctx *ctx, mmix_lifetime where, mmix_dtype dtype,
                                     mmix_shape shape) {
    int64_t n = mmix__shape_numel(shape);
    mmix_tensor *t;
    char buf[64];
    if (n < 0) {
        mmix_set_error(ctx, MMIX_ERR_SHAPE, "tensor_new: invalid shape %s (%d dims; dims must be >= 1, "
                       "at most %d dims)", mmix_shape_str(shape, buf, sizeof buf), shape.ndim,
                       MMIX_MAX_DIMS);
        return NULL;
    }
    t = (mmix_tensor *)mmix__arena_alloc(ctx, mmix__arena_of(ctx, where), sizeof(mmix_tensor));
    if (!t) {
        mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "tensor_new: out of memory");
        return NULL;
    }
    t->dtype = dtype;
    t->device = MMIX_DEVICE_CPU;
    t->backend = ctx->backend;
    t->lifetime = where;
    t->shape = shape;
    t->n = n;
    if (dtype == MMIX_F32) {
        t->data = mmix__alloc_floats(ctx, where, n, "tensor_new");
        if (!t->data) return NULL;
    } else {
        if ((uint64_t)n > SIZE_MAX / sizeof(int32_t)) return NULL;
        t->ids = (int32_t *)mmix__arena_alloc(ctx, mmix__data_arena_of(ctx, where),
                                              (size_t)n * sizeof(int32_t));
        if (!t->ids) {
            mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "tensor_new: could not allocate %lld ids",
                           (long long)n);
            return NULL;
        }
    }
    return t;
}

/* A tensor header over memory someone else owns (a generator's cache rows, a bias slice,
   optimizer moments): ops read it like any input. */
static mmix_tensor mmix__view(const mmix_backend *backend, float *data, mmix_shape shape) {
    mmix_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = MMIX_F32;
    t.device = MMIX_DEVICE_CPU;
    t.backend = backend;
    t.lifetime = MMIX_PERSIST;
    t.shape = shape;
    t.n = mmix__shape_numel(shape);
    t.data = data;
    return t;
}

MMIXDEF void mmix_tensor_set_name(mmix_tensor *t, const char *name) {
    size_t len = strlen(name);
    if (len >= MMIX_NAME_MAX) len = MMIX_NAME_MAX - 1;
    memcpy(t->name, name, len);
    t->name[len] = '\0';
}

static int mmix__element_range_ok(mmix_ctx *ctx, const char *what, const mmix_tensor *t, int64_t first, int64_t n,
                                  const void *host) {
    if (!t || !host || first < 0 || n < 0 || first > t->n - n || !(t->dtype == MMIX_F32 ? (void *)t->data
                                                                                        : (void *)t->ids)) {
        mmix_set_error(ctx, MMIX_ERR_RANGE, "%s: elements [%lld, %lld) of a tensor of %lld (or a NULL pointer)",
                       what, (long long)first, (long long)(first + n), (long long)(t ? t->n : 0));
        return 0;
    }
    return 1;
}

MMIXDEF mmix_result mmix_tensor_upload(mmix_ctx *ctx, mmix_tensor *t, int64_t first, const void *host, int64_t n) {
    if (!mmix__element_range_ok(ctx, "tensor_upload", t, first, n, host)) return ctx->last_result;
    if (n) t->backend->upload(t->dtype == MMIX_F32 ? (void *)(t->data + first) : (void *)(t->ids + first), host,
                              (size_t)n * 4);
    return MMIX_OK;
}

MMIXDEF mmix_result mmix_tensor_download(mmix_ctx *ctx, const mmix_tensor *t, int64_t first, void *host,
                                         int64_t n) {
    if (!mmix__element_range_ok(ctx, "tensor_download", t, first, n, host)) return ctx->last_result;
    if (n) t->backend->download(host, t->dtype == MMIX_F32 ? (const void *)(t->data + first)
                                                           : (const void *)(t->ids + first), (size_t)n * 4);
    return MMIX_OK;
}

MMIXDEF float mmix_tensor_item(const mmix_tensor *t, int64_t i) {
    float v;
    if (!t || t->dtype != MMIX_F32 || !t->data || i < 0 || i >= t->n) return (float)NAN;
    t->backend->download(&v, t->data + i, sizeof v);
    return v;
}

/* A float written into element 0 of a scalar output (sum, mean, losses). */
static void mmix__set_scalar(mmix_tensor *t, double value) {
    float v = (float)value;
    t->backend->upload(t->data, &v, sizeof v);
}

/* Scans the ids of t, in host-sized chunks through the backend: the index of the first id
   outside [0, limit) that is not `skip`, or -1; *bad receives that id, *counted the number
   of ids that are not `skip` (when no id is outside). */
static int64_t mmix__scan_ids(const mmix_tensor *t, int32_t limit, int64_t skip, int32_t *bad, int64_t *counted) {
    int32_t chunk[1024];
    int64_t first, j, m;
    *counted = 0;
    for (first = 0; first < t->n; first += m) {
        m = t->n - first < 1024 ? t->n - first : 1024;
        t->backend->download(chunk, t->ids + first, (size_t)m * sizeof(int32_t));
        for (j = 0; j < m; j++) {
            if ((int64_t)chunk[j] == skip) continue;
            if (chunk[j] < 0 || chunk[j] >= limit) {
                *bad = chunk[j];
                return first + j;
            }
            (*counted)++;
        }
    }
    return -1;
}

MMIXDEF mmix_result mmix_set_requires_grad(mmix_ctx *ctx, mmix_tensor *t, int requires) {
    if (!t) return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "set_requires_grad: NULL tensor");
    if (requires && t->dtype != MMIX_F32)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT,
                              "set_requires_grad: tensor '%s' holds integers, which have no gradient",
                              t->name);
    t->requires_grad = requires ? 1 : 0;
    if (requires && t->lifetime == MMIX_PERSIST && !t->grad) {
        t->grad = mmix__alloc_floats(ctx, MMIX_PERSIST, t->n, "set_requires_grad");
        if (!t->grad) return ctx->last_result;
    }
    return MMIX_OK;
}

/* Room for one more tensor pointer in a set (the array doubles on the persistent arena). */
static int mmix__params_grow(mmix_ctx *ctx, mmix_params *set) {
    mmix_tensor **grown;
    int64_t cap;
    if (set->count < set->capacity) return 1;
    cap = set->capacity ? 2 * set->capacity : 64;
    grown = (mmix_tensor **)mmix__arena_alloc(ctx, &ctx->persist, (size_t)cap * sizeof(mmix_tensor *));
    if (!grown) {
        mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "param: out of memory");
        return 0;
    }
    if (set->count) memcpy(grown, set->tensors, (size_t)set->count * sizeof(mmix_tensor *));
    set->tensors = grown;
    set->capacity = cap;
    return 1;
}

/* The checks every new parameter passes: a name of 1..MMIX_NAME_MAX-1 bytes, unique in its set. */
static int mmix__param_name_ok(mmix_ctx *ctx, const mmix_params *set, const char *name) {
    if (!name || !name[0] || strlen(name) >= MMIX_NAME_MAX) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "param: a parameter needs a name of 1 to %d "
                       "characters", MMIX_NAME_MAX - 1);
        return 0;
    }
    if (mmix_params_find(set, name)) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "param: a parameter named '%s' already exists",
                       name);
        return 0;
    }
    return 1;
}

MMIXDEF mmix_result mmix_params_create(mmix_ctx *ctx, mmix_params *set, int64_t numel) {
    memset(set, 0, sizeof *set);
    if (numel < 1) return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "params: a set of %lld floats",
                                         (long long)numel);
    set->data = mmix__alloc_floats(ctx, MMIX_PERSIST, numel, "params");
    set->grad = set->data ? mmix__alloc_floats(ctx, MMIX_PERSIST, numel, "params") : NULL;
    if (!set->grad) return ctx->last_result;
    set->numel = numel;
    return MMIX_OK;
}

MMIXDEF mmix_tensor *mmix_params_add(mmix_ctx *ctx, mmix_params *set, const char *name, mmix_shape shape) {
    mmix_tensor *t;
    int64_t n;
    char s[64];
    if (!mmix__param_name_ok(ctx, set, name) || !mmix__params_grow(ctx, set)) return NULL;
    n = mmix__shape_numel(shape);
    if (!set->data || n < 1 || n > set->numel - set->used) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "param: '%s' %s does not fit in its set (%lld of %lld "
                       "floats used)", name, mmix_shape_str(shape, s, sizeof s), (long long)set->used,
                       (long long)set->numel);
        return NULL;
    }
    t = (mmix_tensor *)mmix__arena_alloc(ctx, &ctx->persist, sizeof(mmix_tensor));
    if (!t) {
        mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "param: out of memory");
        return NULL;
    }
    t->dtype = MMIX_F32;
    t->device = MMIX_DEVICE_CPU;
    t->backend = ctx->backend;
    t->lifetime = MMIX_PERSIST;
    t->shape = shape;
    t->n = n;
    t->data = set->data + set->used;
    t->grad = set->grad + set->used;
    t->requires_grad = 1;
    mmix_tensor_set_name(t, name);
    set->used += n;
    set->tensors[set->count++] = t;
    return t;
}

MMIXDEF mmix_tensor *mmix_params_find(const mmix_params *set, const char *name) {
    int64_t i;
    for (i = 0; set && name && i < set->count; i++)
        if (strcmp(set->tensors[i]->name, name) == 0) return set->tensors[i];
    return NULL;
}

MMIXDEF void mmix_zero_grad(mmix_ctx *ctx, const mmix_params *set) {
    int64_t i;
    if (set->grad) { /* one buffer: one call */
        ctx->backend->fill(set->grad, set->numel, 0.0f);
        return;
    }
    for (i = 0; i < set->count; i++) ctx->backend->fill(set->tensors[i]->grad, set->tensors[i]->n, 0.0f);
}

MMIXDEF mmix_params *mmix_ctx_params(mmix_ctx *ctx) { return &ctx->own; }

MMIXDEF mmix_tensor *mmix_param(mmix_ctx *ctx, const char *name, mmix_shape shape) {
    mmix_tensor *t;
    if (!mmix__param_name_ok(ctx, &ctx->own, name)) return NULL;
    t = mmix_tensor_new(ctx, MMIX_PERSIST, MMIX_F32, shape);
    if (!t) return NULL;
    mmix_tensor_set_name(t, name);
    if (mmix_set_requires_grad(ctx, t, 1) != MMIX_OK || !mmix__params_grow(ctx, &ctx->own)) return NULL;
    ctx->own.tensors[ctx->own.count++] = t;
    ctx->own.numel += t->n;
    ctx->own.used += t->n;
    return t;
}

// ----------------------------------------------------------------------------------------
// >>rng  PCG32 (O'Neill, "PCG: a family of simple fast space-efficient statistically
// good algorithms", 2014): 64-bit LCG state, output = xorshift + random rotation.
// Parity with PyTorch comes from loading its weights, not from matching its RNG.
// ----------------------------------------------------------------------------------------
MMIXDEF uint32_t mmix_rng_u32(mmix_rng *rng) {
    uint64_t old = rng->state;
    uint32_t xorshifted, rot;
    rng->state = old * 6364136223846793005ULL + rng->inc;
    xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    rot = (uint32_t)(old >> 59);
    return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
}

MMIXDEF void mmix_rng_seed(mmix_rng *rng, uint64_t seed) {
    /* pcg32_srandom_r(seed, stream 54), the reference implementation's example stream */
    rng->state = 0;
    rng->inc = (54ULL << 1) | 1ULL;
    mmix_rng_u32(rng);
    rng->state += seed;
    mmix_rng_u32(rng);
}

MMIXDEF float mmix_rng_uniform(mmix_rng *rng) {
    return (float)(mmix_rng_u32(rng) >> 8) * (1.0f / 16777216.0f);
}

MMIXDEF float mmix_rng_normal(mmix_rng *rng) {
    /* Box-Muller in double; u1 in (0, 1] keeps the log finite. */
    double u1 = ((double)mmix_rng_u32(rng) + 1.0) / 4294967296.0;
    double u2 = (double)mmix_rng_u32(rng) / 4294967296.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

MMIXDEF uint32_t mmix_rng_below(mmix_rng *rng, uint32_t bound) {
    /* Rejection sampling: no modulo bias. */
    uint32_t threshold, r;
    if (bound == 0) return 0;
    threshold = (uint32_t)(-bound) % bound;
    do r = mmix_rng_u32(rng); while (r < threshold);
    return r % bound;
}

/* Values are drawn on the host in order, a chunk at a time, and uploaded: the same numbers
   wherever the tensor lives. */
enum { MMIX__INIT_UNIFORM, MMIX__INIT_NORMAL };
static void mmix__init_random(mmix_tensor *t, mmix_rng *rng, int kind, float a, float b) {
    float chunk[1024];
    int64_t first, j, m;
    for (first = 0; first < t->n; first += m) {
        m = t->n - first < 1024 ? t->n - first : 1024;
        for (j = 0; j < m; j++)
            chunk[j] = kind == MMIX__INIT_UNIFORM ? a + (b - a) * mmix_rng_uniform(rng) : a + b * mmix_rng_normal(rng);
        t->backend->upload(t->data + first, chunk, (size_t)m * sizeof(float));
    }
}
MMIXDEF void mmix_init_constant(mmix_tensor *t, float value) { t->backend->fill(t->data, t->n, value); }
MMIXDEF void mmix_init_uniform(mmix_tensor *t, mmix_rng *rng, float lo, float hi) {
    mmix__init_random(t, rng, MMIX__INIT_UNIFORM, lo, hi);
}
MMIXDEF void mmix_init_normal(mmix_tensor *t, mmix_rng *rng, float mean, float std) {
    mmix__init_random(t, rng, MMIX__INIT_NORMAL, mean, std);
}
MMIXDEF void mmix_init_pytorch_linear(mmix_tensor *weight, mmix_tensor *bias, mmix_rng *rng) {
    /* kaiming_uniform_(a = sqrt 5): bound = sqrt(6 / ((1 + a^2) fan_in)) = 1 / sqrt(fan_in) */
    int64_t fan_in = weight->n / weight->shape.d[0];
    float bound = (float)(1.0 / sqrt((double)fan_in));
    mmix_init_uniform(weight, rng, -bound, bound);
    if (bias) mmix_init_uniform(bias, rng, -bound, bound);
}

// ----------------------------------------------------------------------------------------
// >>gemm  C = alpha op(A) op(B) + beta C, row-major.
//
// The built-in GEMM splits C into tasks of MC x NC and runs the tasks in parallel.
// Each task walks K in panels of KC: it copies ("packs") its piece of op(A) and op(B)
// into small contiguous buffers on its own stack, laid out in the order the inner
// kernel reads them, then computes MR x NR tiles of C in registers. Every element of
// C is summed over k in one fixed order whatever the thread count, so results do not
// depend on the number of threads.
// ----------------------------------------------------------------------------------------
/* The tile follows what the compiler targets, since a plain C build has no other GEMM.
   The MR x NR accumulators must stay in vector registers: AVX-512 has 32 registers of 16
   floats, so 8 x 32 (16 registers of sums: enough independent sums to hide the
   multiply-add latency); AVX2/AVX has 16 registers of 8 floats, so 4 x 32 (16 of sums, B's
   row read from memory by the multiply-adds). Rows stay 32 wide: gcc's vectorizer turned the
   16-wide rows we tried on AVX2 (4, 6, 8 x 16) into ~1 GFLOP/s code, against ~12 for 4, 6
   or 8 x 32 (one thread, make bench-train's ceiling, a loaded 2-core Xeon). Anything else
   (SSE, NEON, scalar) gets 4 x 8. Measured on the project's AVX-512 machine (make bench):
   4 x 16 tiles ran at ~14 GFLOP/s, 8 x 32 at ~55-105. MC is 8 tiles of rows; NC, KC 128. */
#if defined(__AVX512F__)
#define MMIX__GEMM_MR 8
#define MMIX__GEMM_NR 32
#define MMIX__GEMM_TILE_NAME "8x32 (AVX-512)"
#elif defined(__AVX__)
#define MMIX__GEMM_MR 4
#define MMIX__GEMM_NR 32
#define MMIX__GEMM_TILE_NAME "4x32 (AVX2/AVX)"
#else
#define MMIX__GEMM_MR 4
#define MMIX__GEMM_NR 8
#define MMIX__GEMM_TILE_NAME "4x8 (generic)"
#endif
#define MMIX__GEMM_MC (8 * MMIX__GEMM_MR)
#define MMIX__GEMM_NC 128
#define MMIX__GEMM_KC 128
/* Products of fewer multiply-adds than this run on one thread. */
#define MMIX__GEMM_PARALLEL_MIN 262144.0
/* The packing buffers hold whole tiles. */
MMIX__STATIC_CHECK(MMIX__GEMM_MC % MMIX__GEMM_MR == 0 && MMIX__GEMM_NC % MMIX__GEMM_NR == 0, gemm_tiles);

/* Packs rows [i0, i0+mc) x depth [k0, k0+kc) of op(A) as mc/MR panels of [kc][MR]. */
static void mmix__gemm_pack_a(float *Ap, int transpose_a, const float *A, int64_t lda, int64_t i0,
                              int64_t mc, int64_t k0, int64_t kc) {
    int64_t ii, k, r;
    for (ii = 0; ii < mc; ii += MMIX__GEMM_MR) {
        float *panel = Ap + ii * kc;
        for (k = 0; k < kc; k++)
            for (r = 0; r < MMIX__GEMM_MR; r++) {
                int64_t i = i0 + ii + r;
                float v = 0.0f;
                if (ii + r < mc) v = transpose_a ? A[(k0 + k) * lda + i] : A[i * lda + k0 + k];
                panel[k * MMIX__GEMM_MR + r] = v;
            }
    }
}

/* Packs depth [k0, k0+kc) x cols [j0, j0+nc) of op(B) as nc/NR panels of [kc][NR]. */
static void mmix__gemm_pack_b(float *Bp, int transpose_b, const float *B, int64_t ldb, int64_t j0,
                              int64_t nc, int64_t k0, int64_t kc) {
    int64_t jj, k, c;
    for (jj = 0; jj < nc; jj += MMIX__GEMM_NR) {
        float *panel = Bp + jj * kc;
        for (k = 0; k < kc; k++)
            for (c = 0; c < MMIX__GEMM_NR; c++) {
                int64_t j = j0 + jj + c;
                float v = 0.0f;
                if (jj + c < nc) v = transpose_b ? B[j * ldb + k0 + k] : B[(k0 + k) * ldb + j];
                panel[k * MMIX__GEMM_NR + c] = v;
            }
    }
}

/* The inner kernel: an MR x NR tile of A B over kc, kept in registers, added to C. */
static void mmix__gemm_tile(int64_t kc, const float *Ap, const float *Bp, float alpha, float *C,
                            int64_t ldc, int64_t mr, int64_t nr) {
    float acc[MMIX__GEMM_MR][MMIX__GEMM_NR];
    int64_t k, r, c;
    for (r = 0; r < MMIX__GEMM_MR; r++)
        for (c = 0; c < MMIX__GEMM_NR; c++) acc[r][c] = 0.0f;
    for (k = 0; k < kc; k++) {
        const float *a = Ap + k * MMIX__GEMM_MR;
        const float *b = Bp + k * MMIX__GEMM_NR;
        for (r = 0; r < MMIX__GEMM_MR; r++)
            for (c = 0; c < MMIX__GEMM_NR; c++) acc[r][c] += a[r] * b[c];
    }
    for (r = 0; r < mr; r++)
        for (c = 0; c < nr; c++) C[r * ldc + c] += alpha * acc[r][c];
}

MMIXDEF void mmix_sgemm_builtin(int transpose_a, int transpose_b, int64_t M, int64_t N, int64_t K,
                                float alpha, const float *A, int64_t lda, const float *B,
                                int64_t ldb, float beta, float *C, int64_t ldc) {
    int64_t m_tasks = (M + MMIX__GEMM_MC - 1) / MMIX__GEMM_MC;
    int64_t n_tasks = (N + MMIX__GEMM_NC - 1) / MMIX__GEMM_NC;
    int64_t task;
    int parallel = (double)M * (double)N * (double)K > MMIX__GEMM_PARALLEL_MIN && m_tasks * n_tasks > 1;
    (void)parallel; /* read only by the OpenMP clause */
    if (M <= 0 || N <= 0) return;
    MMIX__OMP(parallel for schedule(static) if(parallel))
    for (task = 0; task < m_tasks * n_tasks; task++) {
        /* 32 KiB + 64 KiB of packed panels on this thread's stack. */
        float Ap[MMIX__GEMM_MC * MMIX__GEMM_KC];
        float Bp[MMIX__GEMM_NC * MMIX__GEMM_KC];
        int64_t i0 = (task / n_tasks) * MMIX__GEMM_MC, j0 = (task % n_tasks) * MMIX__GEMM_NC;
        int64_t mc = M - i0 < MMIX__GEMM_MC ? M - i0 : MMIX__GEMM_MC;
        int64_t nc = N - j0 < MMIX__GEMM_NC ? N - j0 : MMIX__GEMM_NC;
        int64_t i, j, k0, ii, jj;
        for (i = 0; i < mc; i++) {
            float *row = C + (i0 + i) * ldc + j0;
            for (j = 0; j < nc; j++) row[j] = beta == 0.0f ? 0.0f : beta * row[j];
        }
        for (k0 = 0; k0 < K; k0 += MMIX__GEMM_KC) {
            int64_t kc = K - k0 < MMIX__GEMM_KC ? K - k0 : MMIX__GEMM_KC;
            mmix__gemm_pack_a(Ap, transpose_a, A, lda, i0, mc, k0, kc);
            mmix__gemm_pack_b(Bp, transpose_b, B, ldb, j0, nc, k0, kc);
            for (ii = 0; ii < mc; ii += MMIX__GEMM_MR)
                for (jj = 0; jj < nc; jj += MMIX__GEMM_NR)
                    mmix__gemm_tile(kc, Ap + ii * kc, Bp + jj * kc, alpha,
                                    C + (i0 + ii) * ldc + j0 + jj, ldc,
                                    mc - ii < MMIX__GEMM_MR ? mc - ii : MMIX__GEMM_MR,
                                    nc - jj < MMIX__GEMM_NR ? nc - jj : MMIX__GEMM_NR);
        }
    }
}

/* The batched, masked GEMM of the token mixing (>>cpu_kernels; tested against one plain
   GEMM per batch in tests/test_gemm.c):
       for b in [0, batch): C_b = alpha op(A_b) op(B_b) + beta C_b,
   with X_b = X + b * sX for X in A, B, C. All batches are tasks of one parallel loop, so a
   batch of small products (the [L, L] weight times each sequence's [L, D]) keeps every
   thread busy, and the packed panel of A is reused across a task's columns.
   sc == 0: every batch adds into the one C (beta applied once): the batch is then part of
   the sum, walked in order inside each task (the weight gradient, summed over sequences).
   Two ways to skip work, both exact:
   - For each MR rows of op(A), the depths where all of them are zero are left out of the
     tile's sum (a zero times anything adds nothing). A causal weight is zero above its
     diagonal, so its rows reach only depths 0..row: about half the products of a dense
     GEMM, without knowing the mask (a rectangular or upper mask skips its own zeros).
   - keep (bytes [M][N], or NULL): C tiles with no kept entry are not computed, and are left
     as they were; the weight gradient of masked entries, never read.
   Sums run in one fixed order per element whatever the thread count. */
static void mmix__gemm_batched(int transpose_a, int transpose_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                               float alpha, const float *A, int64_t lda, int64_t sa, const float *B,
                               int64_t ldb, int64_t sb, float beta, float *C, int64_t ldc, int64_t sc,
                               const uint8_t *keep) {
    int64_t m_tasks = (M + MMIX__GEMM_MC - 1) / MMIX__GEMM_MC;
    int64_t n_tasks = (N + MMIX__GEMM_NC - 1) / MMIX__GEMM_NC;
    int64_t c_batches = sc ? batch : 1, tasks = c_batches * m_tasks * n_tasks, task;
    int parallel = (double)batch * (double)M * (double)N * (double)K > MMIX__GEMM_PARALLEL_MIN && tasks > 1;
    (void)parallel; /* read only by the OpenMP clause */
    if (M <= 0 || N <= 0 || batch <= 0) return;
    MMIX__OMP(parallel for schedule(static) if(parallel))
    for (task = 0; task < tasks; task++) {
        float Ap[MMIX__GEMM_MC * MMIX__GEMM_KC];
        float Bp[MMIX__GEMM_NC * MMIX__GEMM_KC];
        int64_t lo[MMIX__GEMM_MC / MMIX__GEMM_MR], hi[MMIX__GEMM_MC / MMIX__GEMM_MR];
        int64_t cb = task / (m_tasks * n_tasks), rest = task % (m_tasks * n_tasks);
        int64_t i0 = (rest / n_tasks) * MMIX__GEMM_MC, j0 = (rest % n_tasks) * MMIX__GEMM_NC;
        int64_t mc = M - i0 < MMIX__GEMM_MC ? M - i0 : MMIX__GEMM_MC;
        int64_t nc = N - j0 < MMIX__GEMM_NC ? N - j0 : MMIX__GEMM_NC;
        int64_t b_first = sc ? cb : 0, b_end = sc ? cb + 1 : batch, bb, i, j, k0, ii, jj, t;
        float *Cb = C + cb * sc;
        int any_kept = !keep;
        for (i = 0; i < mc && !any_kept; i++)
            for (j = 0; j < nc && !any_kept; j++) any_kept = keep[(i0 + i) * N + j0 + j] != 0;
        if (!any_kept) continue;
        for (i = 0; i < mc; i++) {
            float *row = Cb + (i0 + i) * ldc + j0;
            for (j = 0; j < nc; j++) row[j] = beta == 0.0f ? 0.0f : beta * row[j];
        }
        for (bb = b_first; bb < b_end; bb++) {
            const float *Ab = A + bb * sa, *Bb = B + bb * sb;
            for (k0 = 0; k0 < K; k0 += MMIX__GEMM_KC) {
                int64_t kc = K - k0 < MMIX__GEMM_KC ? K - k0 : MMIX__GEMM_KC, ulo = kc, uhi = 0, ukc;
                mmix__gemm_pack_a(Ap, transpose_a, Ab, lda, i0, mc, k0, kc);
                /* Each row tile's first and last depth with a nonzero of op(A). */
                for (ii = 0, t = 0; ii < mc; ii += MMIX__GEMM_MR, t++) {
                    const float *panel = Ap + ii * kc;
                    int64_t k, r;
                    lo[t] = kc;
                    hi[t] = 0;
                    for (k = 0; k < kc; k++)
                        for (r = 0; r < MMIX__GEMM_MR; r++)
                            if (panel[k * MMIX__GEMM_MR + r] != 0.0f) {
                                if (k < lo[t]) lo[t] = k;
                                hi[t] = k + 1;
                                break;
                            }
                    if (lo[t] < ulo) ulo = lo[t];
                    if (hi[t] > uhi) uhi = hi[t];
                }
                if (uhi <= ulo) continue;
                ukc = uhi - ulo; /* only the depths some row tile reads are packed from B */
                mmix__gemm_pack_b(Bp, transpose_b, Bb, ldb, j0, nc, k0 + ulo, ukc);
                for (ii = 0, t = 0; ii < mc; ii += MMIX__GEMM_MR, t++) {
                    if (hi[t] <= lo[t]) continue;
                    for (jj = 0; jj < nc; jj += MMIX__GEMM_NR) {
                        int64_t mr = mc - ii < MMIX__GEMM_MR ? mc - ii : MMIX__GEMM_MR;
                        int64_t nr = nc - jj < MMIX__GEMM_NR ? nc - jj : MMIX__GEMM_NR;
                        if (keep) { /* a C tile with nothing kept is never read */
                            int64_t r, c, kept = 0;
                            for (r = 0; r < mr && !kept; r++)
                                for (c = 0; c < nr && !kept; c++) kept = keep[(i0 + ii + r) * N + j0 + jj + c];
                            if (!kept) continue;
                        }
                        mmix__gemm_tile(hi[t] - lo[t], Ap + ii * kc + lo[t] * MMIX__GEMM_MR,
                                        Bp + jj * ukc + (lo[t] - ulo) * MMIX__GEMM_NR, alpha,
                                        Cb + (i0 + ii) * ldc + j0 + jj, ldc, mr, nr);
                    }
                }
            }
        }
    }
}

/* Which GEMM runs (mmix_set_gemm, MMIX_GEMM), a fixed rule, never a timing, so that the
   same build on the same machine always takes the same path:
     builtin  always the built-in GEMM (results independent of the thread count);
     blas     always cblas_sgemm (a build without a BLAS keeps builtin);
     auto     (the default of a BLAS build) the built-in GEMM when the BLAS runs generic
              kernels on a CPU with wider vectors (mmix_blas_is_generic: OpenBLAS names a
              pre-AVX core, e.g. Debian's 0.3.21 on a CPU newer than it knows picks
              "Prescott"), or when the product is small (M N K < 64^3, or M or N under
              MMIX__GEMM_MR: a BLAS's call and thread start-up cost more than the work);
              the BLAS otherwise.
   The token mixing always uses the built-in batched GEMM above: its triangular skipping
   and its batching exist only there (>>cpu_kernels). */
#ifdef MMIX_USE_CBLAS
static mmix_gemm mmix__gemm_in_use = MMIX_GEMM_AUTO;
#else
static mmix_gemm mmix__gemm_in_use = MMIX_GEMM_BUILTIN;
#endif

MMIXDEF mmix_gemm mmix_set_gemm(mmix_gemm which) {
#ifdef MMIX_USE_CBLAS
    if (which == MMIX_GEMM_BUILTIN || which == MMIX_GEMM_CBLAS || which == MMIX_GEMM_AUTO) mmix__gemm_in_use = which;
#else
    (void)which;
#endif
    return mmix__gemm_in_use;
}
MMIXDEF mmix_gemm mmix_get_gemm(void) { return mmix__gemm_in_use; }

MMIXDEF const char *mmix_gemm_name(mmix_gemm which) {
    return which == MMIX_GEMM_BUILTIN ? "builtin" : which == MMIX_GEMM_CBLAS ? "blas" : "auto";
}

MMIXDEF int mmix_gemm_parse(const char *text, mmix_gemm *out) {
    if (!text) return 0;
    if (strcmp(text, "builtin") == 0) *out = MMIX_GEMM_BUILTIN;
    else if (strcmp(text, "blas") == 0) *out = MMIX_GEMM_CBLAS;
    else if (strcmp(text, "auto") == 0) *out = MMIX_GEMM_AUTO;
    else return 0;
    return 1;
}

MMIXDEF const char *mmix_gemm_tile(void) { return MMIX__GEMM_TILE_NAME; }

/* OpenBLAS's own report of the kernels it chose. Declared weak where the toolchain allows,
   so that a different BLAS (no such function) still links: the name is then "". */
#if defined(MMIX_USE_CBLAS) && defined(__GNUC__) && defined(__ELF__)
#ifdef __cplusplus
extern "C" char *openblas_get_corename(void) __attribute__((weak));
#else
extern char *openblas_get_corename(void) __attribute__((weak));
#endif
#define MMIX__HAS_COREQUERY 1
#else
#define MMIX__HAS_COREQUERY 0
#endif

MMIXDEF const char *mmix_blas_corename(void) {
#if MMIX__HAS_COREQUERY
    if (openblas_get_corename) {
        const char *name = openblas_get_corename();
        return name ? name : "";
    }
#endif
    return "";
}

/* What OPENBLAS_CORETYPE should say on this CPU (OpenBLAS's names), "" when we cannot tell. */
MMIXDEF const char *mmix_blas_coretype_hint(void) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    if (__builtin_cpu_supports("avx512f")) return "SkylakeX";
    if (__builtin_cpu_supports("avx2")) return "Haswell";
    if (__builtin_cpu_supports("avx")) return "Sandybridge";
#endif
    return "";
}

MMIXDEF int mmix_blas_is_generic(void) {
    /* OpenBLAS's x86 cores without AVX kernels. */
    static const char *pre_avx[] = {"prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai",
                                    "coppermine", "northwood", "banias", "nano", "opteron", "opteron_sse3",
                                    "barcelona", "bobcat", "athlon", "generic"};
    const char *name = mmix_blas_corename();
    size_t i, j;
    if (!name[0] || !mmix_blas_coretype_hint()[0]) return 0;
    for (i = 0; i < sizeof pre_avx / sizeof pre_avx[0]; i++) {
        for (j = 0; name[j] && pre_avx[i][j]; j++) {
            char ch = name[j] >= 'A' && name[j] <= 'Z' ? (char)(name[j] - 'A' + 'a') : name[j];
            if (ch != pre_avx[i][j]) break;
        }
        if (!name[j] && !pre_avx[i][j]) return 1;
    }
    return 0;
}

static void mmix__cpu_sgemm(int transpose_a, int transpose_b, int64_t M, int64_t N, int64_t K,
                            float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                            float beta, float *C, int64_t ldc) {
#ifdef MMIX_USE_CBLAS
    static int generic = -1; /* asked once: the BLAS's choice does not change */
    int builtin = mmix__gemm_in_use == MMIX_GEMM_BUILTIN;
    if (M <= 0 || N <= 0) return;
    if (mmix__gemm_in_use == MMIX_GEMM_AUTO) {
        if (generic < 0) generic = mmix_blas_is_generic();
        builtin = generic || (double)M * (double)N * (double)K < 262144.0 || M < MMIX__GEMM_MR || N < MMIX__GEMM_MR;
    }
    /* The built-in GEMM also for K = 0, which some BLAS reject (C = beta C is all that is
       asked then). */
    if (builtin || K <= 0) {
        mmix_sgemm_builtin(transpose_a, transpose_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    MMIX_ASSERT(M <= INT32_MAX && N <= INT32_MAX && K <= INT32_MAX);
    cblas_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans,
                transpose_b ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, alpha, A, (int)lda,
                B, (int)ldb, beta, C, (int)ldc);
#else
    mmix_sgemm_builtin(transpose_a, transpose_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

MMIXDEF int mmix_has_cblas(void) {
#ifdef MMIX_USE_CBLAS
    return 1;
#else
    return 0;
#endif
}
MMIXDEF int mmix_has_openmp(void) { return MMIX__OPENMP; }

// ----------------------------------------------------------------------------------------
// >>cpu_kernels  The loops of every op, forward and backward (llm.c style).
//
// Rule for reproducibility: a loop may run in parallel over independent outputs, but
// a sum is never split across threads. Sums over rows (bias and LayerNorm gradients)
// are parallel over columns, each column summed top to bottom by one thread.
// ----------------------------------------------------------------------------------------
static void mmix__cpu_fill(float *x, int64_t n, float value) {
    int64_t i;
    MMIX__OMP(parallel for schedule(static) if(n > MMIX__PARALLEL_MIN))
    for (i = 0; i < n; i++) x[i] = value;
}

static void mmix__cpu_axpy(float *y, const float *x, float alpha, int64_t n) {
    int64_t i;
    MMIX__OMP(parallel for schedule(static) if(n > MMIX__PARALLEL_MIN))
    for (i = 0; i < n; i++) y[i] += alpha * x[i];
}

static void mmix__cpu_add_forward(float *out, const float *a, const float *b, int64_t n) {
    int64_t i;
    MMIX__OMP(parallel for schedule(static) if(n > MMIX__PARALLEL_MIN))
    for (i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void mmix__cpu_mul_forward(float *out, const float *a, const float *b, int64_t n) {
    int64_t i;
    MMIX__OMP(parallel for schedule(static) if(n > MMIX__PARALLEL_MIN))
    for (i = 0; i < n; i++) out[i] = a[i] * b[i];
}

static void mmix__cpu_mul_acc(float *y, const float *a, const float *b, int64_t n) {
    int64_t i;
    MMIX__OMP(parallel for schedule(static) if(n > MMIX__PARALLEL_MIN))
    for (i = 0; i < n; i++) y[i] += a[i] * b[i];
}

static void mmix__cpu_scale_forward(float *out, const float *x, float s, int64_t n) {
    int64_t i;
    MMIX__OMP(parallel for schedule(static) if(n > MMIX__PARALLEL_MIN))
    for (i = 0; i < n; i++) out[i] = s * x[i];
}

/* Serial, in double: a loss-sized reduction, and the same answer on any thread count. */
static double mmix__cpu_sum_forward(const float *x, int64_t n) {
    double s = 0.0;
    int64_t i;
    for (i = 0; i < n; i++) s += x[i];
    return s;
}

static void mmix__cpu_add_scalar_acc(float *y, float value, int64_t n) {
    int64_t i;
    MMIX__OMP(parallel for schedule(static) if(n > MMIX__PARALLEL_MIN))
    for (i = 0; i < n; i++) y[i] += value;
}

static void mmix__cpu_embedding_forward(float *out, const float *table, const int32_t *ids,
                                        int64_t n_ids, int64_t D) {
    int64_t i;
    MMIX__OMP(parallel for schedule(static) if(n_ids * D > MMIX__PARALLEL_MIN))
    for (i = 0; i < n_ids; i++) memcpy(out + i * D, table + (int64_t)ids[i] * D, (size_t)D * sizeof(float));
}

/* Two positions may hold the same id, so threads split the columns, not the positions. */
static void mmix__cpu_embedding_backward(float *dtable, const float *dout, const int32_t *ids,
                                         int64_t n_ids, int64_t D) {
    int64_t c0;
    MMIX__OMP(parallel for schedule(static) if(n_ids * D > MMIX__PARALLEL_MIN))
    for (c0 = 0; c0 < D; c0 += 64) {
        int64_t c1 = c0 + 64 < D ? c0 + 64 : D, i, c;
        for (i = 0; i < n_ids; i++) {
            float *dst = dtable + (int64_t)ids[i] * D;
            const float *src = dout + i * D;
            for (c = c0; c < c1; c++) dst[c] += src[c];
        }
    }
}

static void mmix__cpu_add_bias_rows(float *out, const float *bias, int64_t rows, int64_t cols) {
    int64_t r;
    MMIX__OMP(parallel for schedule(static) if(rows * cols > MMIX__PARALLEL_MIN))
    for (r = 0; r < rows; r++) {
        int64_t c;
        for (c = 0; c < cols; c++) out[r * cols + c] += bias[c];
    }
}

static void mmix__cpu_sum_rows_acc(float *dbias, const float *dout, int64_t rows, int64_t cols) {
    int64_t c0;
    MMIX__OMP(parallel for schedule(static) if(rows * cols > MMIX__PARALLEL_MIN))
    for (c0 = 0; c0 < cols; c0 += 64) {
        int64_t c1 = c0 + 64 < cols ? c0 + 64 : cols, r, c;
        for (r = 0; r < rows; r++)
            for (c = c0; c < c1; c++) dbias[c] += dout[r * cols + c];
    }
}

/* LayerNorm, nn.LayerNorm semantics: biased variance, eps inside the square root.
   mean and 1/std are saved per row for the backward pass. Statistics in double. */
static void mmix__cpu_layernorm_forward(float *out, float *mean, float *rstd, const float *x,
                                        const float *w, const float *b, int64_t rows, int64_t cols,
                                        float eps) {
    int64_t r;
    MMIX__OMP(parallel for schedule(static) if(rows * cols > MMIX__PARALLEL_MIN))
    for (r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = out + r * cols;
        double m = 0.0, v = 0.0;
        int64_t c;
        for (c = 0; c < cols; c++) m += xr[c];
        m /= (double)cols;
        for (c = 0; c < cols; c++) v += ((double)xr[c] - m) * ((double)xr[c] - m);
        v /= (double)cols;
        v = 1.0 / sqrt(v + (double)eps);
        /* Centre with the double mean: a row with a large mean and a small spread would
           lose its low bits to a float mean. */
        for (c = 0; c < cols; c++) {
            float y = (float)(((double)xr[c] - m) * v);
            if (w) y *= w[c];
            if (b) y += b[c];
            yr[c] = y;
        }
        mean[r] = (float)m;
        rstd[r] = (float)v;
    }
}

/* With xhat = (x - mean) rstd and g = dout w:
   dx = rstd (g - mean(g) - xhat mean(g xhat)),  dw = sum_rows dout xhat,  db = sum_rows dout. */
static void mmix__cpu_layernorm_backward(float *dx, float *dw, float *db, const float *dout,
                                         const float *x, const float *mean, const float *rstd,
                                         const float *w, int64_t rows, int64_t cols) {
    int64_t r, c0;
    if (dx) {
        MMIX__OMP(parallel for schedule(static) if(rows * cols > MMIX__PARALLEL_MIN))
        for (r = 0; r < rows; r++) {
            const float *xr = x + r * cols, *gr = dout + r * cols;
            double g_mean = 0.0, gx_mean = 0.0;
            int64_t c;
            for (c = 0; c < cols; c++) {
                double g = (double)gr[c] * (w ? w[c] : 1.0f);
                double xhat = ((double)xr[c] - mean[r]) * rstd[r];
                g_mean += g;
                gx_mean += g * xhat;
            }
            g_mean /= (double)cols;
            gx_mean /= (double)cols;
            for (c = 0; c < cols; c++) {
                double g = (double)gr[c] * (w ? w[c] : 1.0f);
                double xhat = ((double)xr[c] - mean[r]) * rstd[r];
                dx[r * cols + c] += (float)(rstd[r] * (g - g_mean - xhat * gx_mean));
            }
        }
    }
    if (dw || db) {
        MMIX__OMP(parallel for schedule(static) if(rows * cols > MMIX__PARALLEL_MIN))
        for (c0 = 0; c0 < cols; c0 += 64) {
            int64_t c1 = c0 + 64 < cols ? c0 + 64 : cols, rr, c;
            for (rr = 0; rr < rows; rr++)
                for (c = c0; c < c1; c++) {
                    float g = dout[rr * cols + c];
                    if (dw) dw[c] += g * ((x[rr * cols + c] - mean[rr]) * rstd[rr]);
                    if (db) db[c] += g;
                }
        }
    }
}

/* Exact GELU (torch.nn.GELU(), reference-notes Sec. 3): 0.5 x (1 + erf(x / sqrt 2)); its derivative is
   0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi). Evaluated in double. */
static void mmix__cpu_gelu_forward(float *out, const float *x, int64_t n) {
    int64_t i;
    MMIX__OMP(parallel for schedule(static) if(n > MMIX__PARALLEL_MIN / 8))
    for (i = 0; i < n; i++) {
        double v = x[i];
        out[i] = (float)(0.5 * v * (1.0 + erf(v * 0.70710678118654752440)));
    }
}

static void mmix__cpu_gelu_backward(float *dx, const float *dout, const float *x, int64_t n) {
    int64_t i;
    MMIX__OMP(parallel for schedule(static) if(n > MMIX__PARALLEL_MIN / 8))
    for (i = 0; i < n; i++) {
        double v = x[i];
        double cdf = 0.5 * (1.0 + erf(v * 0.70710678118654752440));
        double pdf = exp(-0.5 * v * v) * 0.39894228040143267794;
        dx[i] += (float)((double)dout[i] * (cdf + v * pdf));
    }
}

static void mmix__cpu_softmax_forward(float *out, const float *x, int64_t rows, int64_t cols) {
    int64_t r;
    MMIX__OMP(parallel for schedule(static) if(rows * cols > MMIX__PARALLEL_MIN / 4))
    for (r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = out + r * cols;
        float max = xr[0];
        double total = 0.0;
        int64_t c;
        for (c = 1; c < cols; c++)
            if (xr[c] > max) max = xr[c];
        for (c = 0; c < cols; c++) {
            yr[c] = expf(xr[c] - max);
            total += yr[c];
        }
        for (c = 0; c < cols; c++) yr[c] = (float)(yr[c] / total);
    }
}

/* dx = y (dout - sum(dout y)) per row. */
static void mmix__cpu_softmax_backward(float *dx, const float *dout, const float *y, int64_t rows,
                                       int64_t cols) {
    int64_t r;
    MMIX__OMP(parallel for schedule(static) if(rows * cols > MMIX__PARALLEL_MIN))
    for (r = 0; r < rows; r++) {
        const float *yr = y + r * cols, *gr = dout + r * cols;
        double dot = 0.0;
        int64_t c;
        for (c = 0; c < cols; c++) dot += (double)gr[c] * yr[c];
        for (c = 0; c < cols; c++) dx[r * cols + c] += (float)(yr[c] * ((double)gr[c] - dot));
    }
}

/* loss_r = logsumexp(logits_r) - logits_r[target_r]. Only the logsumexp is saved: the
   backward pass recomputes softmax from the logits instead of storing rows x V probabilities. */
static void mmix__cpu_cross_entropy_forward(float *row_loss, float *row_lse, const float *logits,
                                            const int32_t *targets, int64_t rows, int64_t V,
                                            int32_t ignore_index) {
    int64_t r;
    MMIX__OMP(parallel for schedule(static) if(rows * V > MMIX__PARALLEL_MIN / 4))
    for (r = 0; r < rows; r++) {
        const float *lr = logits + r * V;
        float max;
        double total = 0.0, lse;
        int64_t v;
        if (targets[r] == ignore_index) {
            row_loss[r] = row_lse[r] = 0.0f;
            continue;
        }
        max = lr[0];
        for (v = 1; v < V; v++)
            if (lr[v] > max) max = lr[v];
        for (v = 0; v < V; v++) total += expf(lr[v] - max);
        lse = (double)max + log(total);
        row_lse[r] = (float)lse;
        row_loss[r] = (float)(lse - lr[targets[r]]);
    }
}

static void mmix__cpu_cross_entropy_backward(float *dlogits, const float *logits, const float *row_lse,
                                             const int32_t *targets, int64_t rows, int64_t V,
                                             int32_t ignore_index, float scale) {
    int64_t r;
    MMIX__OMP(parallel for schedule(static) if(rows * V > MMIX__PARALLEL_MIN / 4))
    for (r = 0; r < rows; r++) {
        const float *lr = logits + r * V;
        float *dr = dlogits + r * V;
        int64_t v;
        if (targets[r] == ignore_index) continue;
        for (v = 0; v < V; v++) dr[v] += scale * expf(lr[v] - row_lse[r]);
        dr[targets[r]] -= scale;
    }
}

/* A row's first largest value; the scan stops at a NaN, which wins (torch.argmax). */
static void mmix__cpu_argmax_rows(int32_t *out, const float *x, int64_t rows, int64_t cols) {
    int64_t r;
    MMIX__OMP(parallel for schedule(static) if(rows * cols > MMIX__PARALLEL_MIN))
    for (r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        int64_t v, best = 0;
        for (v = 1; v < cols && xr[best] == xr[best]; v++)
            if (xr[v] > xr[best] || xr[v] != xr[v]) best = v;
        out[r] = (int32_t)best;
    }
}

/* Token mixing (paper Sec. 3.2, Fig. 2; k > 1: Fig. S5). For each kernel tap m the
   contribution is one GEMM, Wt[m] (L_out x L_in) times the columns of x shifted by
   m - left; columns that would read outside 0..D-1 read the zero padding, i.e. are left out
   of that tap's GEMM. */
static void mmix__token_mix_columns(int64_t D, int64_t k, int64_t m, int64_t *shift, int64_t *j0,
                                    int64_t *j1) {
    int64_t left = (k - 1) / 2;
    *shift = m - left;                        /* output column j reads input column j + shift */
    *j0 = *shift < 0 ? -*shift : 0;
    *j1 = *shift > 0 ? D - *shift : D;
}

static void mmix__cpu_token_mix_pack(float *Wt, const float *W, const uint8_t *keep, int64_t L_out,
                                     int64_t L_in, int64_t k) {
    int64_t o;
    MMIX__OMP(parallel for schedule(static) if(L_out * L_in * k > MMIX__PARALLEL_MIN))
    for (o = 0; o < L_out; o++) {
        int64_t i, m;
        for (i = 0; i < L_in; i++)
            for (m = 0; m < k; m++)
                Wt[(m * L_out + o) * L_in + i] = (!keep || keep[o * L_in + i]) ? W[(o * L_in + i) * k + m] : 0.0f;
    }
}

static void mmix__cpu_token_mix_unpack_grad(float *dW, const float *dWt, const uint8_t *keep,
                                            int64_t L_out, int64_t L_in, int64_t k) {
    int64_t o;
    MMIX__OMP(parallel for schedule(static) if(L_out * L_in * k > MMIX__PARALLEL_MIN))
    for (o = 0; o < L_out; o++) {
        int64_t i, m;
        for (i = 0; i < L_in; i++)
            if (!keep || keep[o * L_in + i])
                for (m = 0; m < k; m++) dW[(o * L_in + i) * k + m] += dWt[(m * L_out + o) * L_in + i];
    }
}

static void mmix__cpu_token_mix_mask_inplace(float *W, const uint8_t *keep, int64_t L_out, int64_t L_in,
                                             int64_t k) {
    int64_t o;
    for (o = 0; o < L_out; o++) {
        int64_t i, m;
        for (i = 0; i < L_in; i++)
            if (!keep[o * L_in + i])
                for (m = 0; m < k; m++) W[(o * L_in + i) * k + m] = 0.0f;
    }
}

/* Column by column (input i, tap m): the max, the sum of exponentials in double, then the
   re-masked quotients. Each column is read whole before it is written, so dst may be src. */
static void mmix__cpu_token_mix_softmax(float *dst, const float *src, int64_t L_out, int64_t L_in, int64_t k) {
    int64_t i;
    MMIX__OMP(parallel for schedule(static) if(L_out * L_in * k > MMIX__PARALLEL_MIN))
    for (i = 0; i < L_in; i++) {
        int64_t o, m;
        for (m = 0; m < k; m++) {
            float max = i > 0 ? 0.0f : src[m]; /* column 0 has no masked entry; others have zeros */
            double total = 0.0;
            for (o = i; o < L_out; o++)
                if (src[(o * L_in + i) * k + m] > max) max = src[(o * L_in + i) * k + m];
            total = (double)(i < L_out ? i : L_out) * exp(-(double)max); /* the masked zeros */
            for (o = i; o < L_out; o++) total += exp((double)src[(o * L_in + i) * k + m] - (double)max);
            for (o = 0; o < L_out; o++)
                dst[(o * L_in + i) * k + m] =
                    o >= i ? (float)(exp((double)src[(o * L_in + i) * k + m] - (double)max) / total) : 0.0f;
        }
    }
}

/* The readable reference kernels: one GEMM per sequence and tap, every product computed.
   The fast kernels below are tested against them (tests/test_gemm.c), which run them
   instead while mmix__token_mix_reference is set (a test switch, process-wide). */
static int mmix__token_mix_reference = 0;

static void mmix__token_mix_forward_reference(float *out, const float *x, const float *Wt, const float *bias,
                                              int64_t B, int64_t L_out, int64_t L_in, int64_t D, int64_t k) {
    int64_t b, o, j, m, shift, j0, j1;
    for (b = 0; b < B; b++) {
        float *y = out + b * L_out * D;
        const float *xb = x + b * L_in * D;
        for (o = 0; o < L_out; o++)
            for (j = 0; j < D; j++) y[o * D + j] = bias ? bias[o] : 0.0f;
        for (m = 0; m < k; m++) {
            mmix__token_mix_columns(D, k, m, &shift, &j0, &j1);
            if (j1 > j0)
                mmix_sgemm_builtin(0, 0, L_out, j1 - j0, L_in, 1.0f, Wt + m * L_out * L_in, L_in,
                                   xb + j0 + shift, D, 1.0f, y + j0, D);
        }
    }
}

static void mmix__token_mix_backward_reference(float *dx, float *dWt, const float *dout, const float *x,
                                               const float *Wt, int64_t B, int64_t L_out, int64_t L_in,
                                               int64_t D, int64_t k) {
    int64_t b, m, shift, j0, j1;
    for (b = 0; b < B; b++) {
        const float *g = dout + b * L_out * D, *xb = x + b * L_in * D;
        for (m = 0; m < k; m++) {
            mmix__token_mix_columns(D, k, m, &shift, &j0, &j1);
            if (j1 <= j0) continue;
            /* dx[:, j + shift] += Wt[m]^T dout[:, j];  dWt[m] += dout[:, j] x[:, j + shift]^T */
            if (dx)
                mmix_sgemm_builtin(1, 0, L_in, j1 - j0, L_out, 1.0f, Wt + m * L_out * L_in, L_in, g + j0, D,
                                   1.0f, dx + b * L_in * D + j0 + shift, D);
            if (dWt)
                mmix_sgemm_builtin(0, 1, L_out, L_in, j1 - j0, 1.0f, g + j0, D, xb + j0 + shift, D, 1.0f,
                                   dWt + m * L_out * L_in, L_in);
        }
    }
}

/* The fast kernels: per tap, one batched GEMM over all sequences (mmix__gemm_batched in
   >>gemm), which leaves out the zero (masked) part of the weight: a causal mask's upper
   triangle costs nothing, forward (W X) and backward (W^T dY). The weight gradient, a sum
   over sequences, is computed only on tiles with a kept entry (keep), all of it when keep
   is NULL. */
static void mmix__cpu_token_mix_forward(float *out, const float *x, const float *Wt, const float *bias,
                                        int64_t B, int64_t L_out, int64_t L_in, int64_t D, int64_t k) {
    int64_t r, m, shift, j0, j1;
    if (mmix__token_mix_reference) {
        mmix__token_mix_forward_reference(out, x, Wt, bias, B, L_out, L_in, D, k);
        return;
    }
    MMIX__OMP(parallel for schedule(static) if(B * L_out * D > MMIX__PARALLEL_MIN))
    for (r = 0; r < B * L_out; r++) {
        float v = bias ? bias[r % L_out] : 0.0f, *y = out + r * D;
        int64_t j;
        for (j = 0; j < D; j++) y[j] = v;
    }
    for (m = 0; m < k; m++) {
        mmix__token_mix_columns(D, k, m, &shift, &j0, &j1);
        if (j1 > j0)
            mmix__gemm_batched(0, 0, B, L_out, j1 - j0, L_in, 1.0f, Wt + m * L_out * L_in, L_in, 0,
                               x + j0 + shift, D, L_in * D, 1.0f, out + j0, D, L_out * D, NULL);
    }
}

static void mmix__cpu_token_mix_backward(float *dx, float *dWt, float *dbias, const float *dout,
                                         const float *x, const float *Wt, const uint8_t *keep, int64_t B,
                                         int64_t L_out, int64_t L_in, int64_t D, int64_t k) {
    int64_t o, m, shift, j0, j1;
    if (mmix__token_mix_reference) mmix__token_mix_backward_reference(dx, dWt, dout, x, Wt, B, L_out, L_in, D, k);
    for (m = 0; m < k && !mmix__token_mix_reference; m++) {
        mmix__token_mix_columns(D, k, m, &shift, &j0, &j1);
        if (j1 <= j0) continue;
        if (dx)
            mmix__gemm_batched(1, 0, B, L_in, j1 - j0, L_out, 1.0f, Wt + m * L_out * L_in, L_in, 0, dout + j0, D,
                               L_out * D, 1.0f, dx + j0 + shift, D, L_in * D, NULL);
        if (dWt)
            mmix__gemm_batched(0, 1, B, L_out, L_in, j1 - j0, 1.0f, dout + j0, D, L_out * D, x + j0 + shift, D,
                               L_in * D, 1.0f, dWt + m * L_out * L_in, L_in, 0, keep);
    }
    if (dbias) {
        MMIX__OMP(parallel for schedule(static) if(B * L_out * D > MMIX__PARALLEL_MIN))
        for (o = 0; o < L_out; o++) {
            int64_t bb, j;
            float total = 0.0f;
            for (bb = 0; bb < B; bb++)
                for (j = 0; j < D; j++) total += dout[(bb * L_out + o) * D + j];
            dbias[o] += total;
        }
    }
}

/* RMSNorm (HF LlamaRMSNorm): y = w * (x / sqrt(mean(x^2) + eps)); 1/rms saved per row.
   With r = 1/rms and g = dout w:  dx = r (g - x r^2 mean(g x)),  dw = sum_rows dout x r. */
static void mmix__cpu_rmsnorm_forward(float *out, float *rrms, const float *x, const float *w,
                                      int64_t rows, int64_t cols, float eps) {
    int64_t r;
    MMIX__OMP(parallel for schedule(static) if(rows * cols > MMIX__PARALLEL_MIN))
    for (r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        double ms = 0.0;
        float inv;
        int64_t c;
        for (c = 0; c < cols; c++) ms += (double)xr[c] * xr[c];
        inv = (float)(1.0 / sqrt(ms / (double)cols + (double)eps));
        for (c = 0; c < cols; c++) out[r * cols + c] = (w ? w[c] : 1.0f) * (xr[c] * inv);
        rrms[r] = inv;
    }
}

static void mmix__cpu_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x,
                                       const float *rrms, const float *w, int64_t rows, int64_t cols) {
    int64_t r, c0;
    if (dx) {
        MMIX__OMP(parallel for schedule(static) if(rows * cols > MMIX__PARALLEL_MIN))
        for (r = 0; r < rows; r++) {
            const float *xr = x + r * cols, *gr = dout + r * cols;
            double gx = 0.0, inv = rrms[r];
            int64_t c;
            for (c = 0; c < cols; c++) gx += (double)gr[c] * (w ? w[c] : 1.0f) * xr[c];
            gx /= (double)cols;
            for (c = 0; c < cols; c++)
                dx[r * cols + c] += (float)(inv * ((double)gr[c] * (w ? w[c] : 1.0f) - xr[c] * inv * inv * gx));
        }
    }
    if (dw) {
        MMIX__OMP(parallel for schedule(static) if(rows * cols > MMIX__PARALLEL_MIN))
        for (c0 = 0; c0 < cols; c0 += 64) {
            int64_t c1 = c0 + 64 < cols ? c0 + 64 : cols, rr, c;
            for (rr = 0; rr < rows; rr++)
                for (c = c0; c < c1; c++) dw[c] += dout[rr * cols + c] * (x[rr * cols + c] * rrms[rr]);
        }
    }
}

/* SiLU: x sigmoid(x); derivative sigmoid(x) (1 + x (1 - sigmoid(x))). */
static void mmix__cpu_silu_forward(float *out, const float *x, int64_t n) {
    int64_t i;
    MMIX__OMP(parallel for schedule(static) if(n > MMIX__PARALLEL_MIN / 8))
    for (i = 0; i < n; i++) out[i] = (float)((double)x[i] / (1.0 + exp(-(double)x[i])));
}

static void mmix__cpu_silu_backward(float *dx, const float *dout, const float *x, int64_t n) {
    int64_t i;
    MMIX__OMP(parallel for schedule(static) if(n > MMIX__PARALLEL_MIN / 8))
    for (i = 0; i < n; i++) {
        double sig = 1.0 / (1.0 + exp(-(double)x[i]));
        dx[i] += (float)((double)dout[i] * sig * (1.0 + (double)x[i] * (1.0 - sig)));
    }
}

/* RoPE, HF rotate-half (HF LlamaForCausalLM, reference-notes Sec. 8). The frequencies
   follow HF's float32 arithmetic step by step (inv_freq = 1 / theta^(2t/hd) rounded to
   float, angle = float(pos) * inv_freq in float), so the angles are the very floats the
   reference uses. */
#define MMIX__ROPE_MAX_HALF 1024
static void mmix__cpu_rope(float *out, const float *x, int64_t B, int64_t L, int64_t H, int64_t hd,
                           float theta, int64_t pos0, int inverse) {
    float inv_freq[MMIX__ROPE_MAX_HALF];
    int64_t half = hd / 2, t, row;
    for (t = 0; t < half; t++) {
        float exponent = (float)(2 * t) / (float)hd;
        float power = (float)pow((double)theta, (double)exponent);
        inv_freq[t] = 1.0f / power;
    }
    MMIX__OMP(parallel for schedule(static) if(B * L * H * hd > MMIX__PARALLEL_MIN / 4))
    for (row = 0; row < B * L; row++) {
        float angle_pos = (float)(pos0 + row % L);
        int64_t tt, h;
        for (tt = 0; tt < half; tt++) {
            float angle = angle_pos * inv_freq[tt];
            float c = (float)cos((double)angle), sn = (float)sin((double)angle);
            for (h = 0; h < H; h++) {
                const float *xi = x + row * H * hd + h * hd;
                float *yo = out + row * H * hd + h * hd;
                float a = xi[tt], b = xi[tt + half];
                if (!inverse) { /* y = x cos + rotate_half(x) sin, rotate_half(x) = (-x2, x1) */
                    yo[tt] = a * c - b * sn;
                    yo[tt + half] = b * c + a * sn;
                } else {        /* the transpose rotation, accumulated: the backward pass */
                    yo[tt] += a * c + b * sn;
                    yo[tt + half] += b * c - a * sn;
                }
            }
        }
    }
}

MMIXDEF uint64_t mmix_dropout_hash(uint64_t key, uint64_t i) {
    uint64_t z = key + (i + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Whether element i of a draw is dropped (never, for threshold 0). */
static int mmix__dropped(mmix_dropout_draw drop, uint64_t i) {
    return (uint32_t)(mmix_dropout_hash(drop.key, i) >> 40) < drop.threshold;
}

/* Attention, one (batch, head) pair per task: S = Q K^T / sqrt(hd), masked, softmax,
   times V. Q, K, V are strided views (row stride H*hd) into the [B, L, H*hd] tensors. With
   dropout, probs keep the undropped P and the output is (dropout(P)) V, row by row. */
static void mmix__cpu_attention_forward(float *out, float *probs, const float *q, const float *k,
                                        const float *v, int64_t B, int64_t Lq, int64_t Lk, int64_t H,
                                        int64_t hd, int causal, mmix_dropout_draw drop) {
    int64_t D = H * hd, bh;
    float scale = (float)(1.0 / sqrt((double)hd));
    MMIX__OMP(parallel for schedule(static) if(B * H > 1 && B * Lq * Lk * D > MMIX__PARALLEL_MIN))
    for (bh = 0; bh < B * H; bh++) {
        int64_t b = bh / H, h = bh % H, i, j;
        const float *Q = q + b * Lq * D + h * hd, *K = k + b * Lk * D + h * hd, *V = v + b * Lk * D + h * hd;
        float *P = probs + bh * Lq * Lk;
        mmix__cpu_sgemm(0, 1, Lq, Lk, hd, scale, Q, D, K, D, 0.0f, P, Lk);
        for (i = 0; i < Lq; i++) {
            float *row = P + i * Lk, max;
            int64_t visible = causal ? (Lk - Lq + i + 1) : Lk; /* keys 0..visible-1 */
            double total = 0.0;
            max = row[0];
            for (j = 1; j < visible; j++)
                if (row[j] > max) max = row[j];
            for (j = 0; j < visible; j++) {
                row[j] = expf(row[j] - max);
                total += row[j];
            }
            for (j = 0; j < visible; j++) row[j] = (float)(row[j] / total);
            for (j = visible; j < Lk; j++) row[j] = 0.0f;
        }
        if (drop.threshold == 0) {
            mmix__cpu_sgemm(0, 0, Lq, hd, Lk, 1.0f, P, Lk, V, D, 0.0f, out + b * Lq * D + h * hd, D);
            continue;
        }
        for (i = 0; i < Lq; i++) { /* out_i = sum_j dropout(P)_ij V_j, in order of j */
            float *o = out + (b * Lq + i) * D + h * hd;
            int64_t t;
            for (t = 0; t < hd; t++) o[t] = 0.0f;
            for (j = 0; j < Lk; j++) {
                float w = P[i * Lk + j];
                if (w == 0.0f || mmix__dropped(drop, (uint64_t)((bh * Lq + i) * Lk + j))) continue;
                w *= drop.scale;
                for (t = 0; t < hd; t++) o[t] += w * V[j * D + t];
            }
        }
    }
}

/* dP = dO V^T; dV += P^T dO; dS = P (dP - rowsum(dP P)); dQ += dS K / sqrt(hd);
   dK += dS^T Q / sqrt(hd). Masked entries have P = 0, hence dS = 0. With dropout (mask M,
   scale s): dV += (s M P)^T dO and dP = s M (dO V^T); dS as before, from the undropped P. */
static void mmix__cpu_attention_backward(float *dq, float *dk, float *dv, float *scratch,
                                         const float *dout, const float *q, const float *k,
                                         const float *v, const float *probs, int64_t B, int64_t Lq,
                                         int64_t Lk, int64_t H, int64_t hd, mmix_dropout_draw drop) {
    int64_t D = H * hd, bh;
    float scale = (float)(1.0 / sqrt((double)hd));
    MMIX__OMP(parallel for schedule(static) if(B * H > 1 && B * Lq * Lk * D > MMIX__PARALLEL_MIN))
    for (bh = 0; bh < B * H; bh++) {
        int64_t b = bh / H, h = bh % H, i, j, off_q = b * Lq * D + h * hd, off_k = b * Lk * D + h * hd;
        const float *P = probs + bh * Lq * Lk, *dO = dout + off_q;
        float *dS = scratch + bh * Lq * Lk;
        mmix__cpu_sgemm(0, 1, Lq, Lk, hd, 1.0f, dO, D, v + off_k, D, 0.0f, dS, Lk);
        if (dv && drop.threshold == 0) mmix__cpu_sgemm(1, 0, Lk, hd, Lq, 1.0f, P, Lk, dO, D, 1.0f, dv + off_k, D);
        if (drop.threshold != 0)
            for (i = 0; i < Lq; i++)
                for (j = 0; j < Lk; j++) {
                    float w = P[i * Lk + j];
                    int64_t t;
                    if (mmix__dropped(drop, (uint64_t)((bh * Lq + i) * Lk + j))) {
                        dS[i * Lk + j] = 0.0f;
                        continue;
                    }
                    dS[i * Lk + j] *= drop.scale;
                    for (t = 0; dv && w != 0.0f && t < hd; t++) dv[off_k + j * D + t] += w * drop.scale * dO[i * D + t];
                }
        for (i = 0; i < Lq; i++) {
            double dot = 0.0;
            for (j = 0; j < Lk; j++) dot += (double)dS[i * Lk + j] * P[i * Lk + j];
            for (j = 0; j < Lk; j++) dS[i * Lk + j] = (float)(P[i * Lk + j] * ((double)dS[i * Lk + j] - dot));
        }
        if (dq) mmix__cpu_sgemm(0, 0, Lq, hd, Lk, scale, dS, Lk, k + off_k, D, 1.0f, dq + off_q, D);
        if (dk) mmix__cpu_sgemm(1, 0, Lk, hd, Lq, scale, dS, Lk, q + off_q, D, 1.0f, dk + off_k, D);
    }
}

/* y = x / max(||x||, eps). Where ||x|| > eps: dx = (g - y (y . g)) / ||x||; else dx = g / eps. */
static void mmix__cpu_l2_normalize_forward(float *out, float *norm, const float *x, int64_t rows,
                                           int64_t cols, float eps) {
    int64_t r;
    MMIX__OMP(parallel for schedule(static) if(rows * cols > MMIX__PARALLEL_MIN))
    for (r = 0; r < rows; r++) {
        double ss = 0.0, den;
        int64_t c;
        for (c = 0; c < cols; c++) ss += (double)x[r * cols + c] * x[r * cols + c];
        norm[r] = (float)sqrt(ss);
        den = norm[r] > eps ? (double)norm[r] : (double)eps;
        for (c = 0; c < cols; c++) out[r * cols + c] = (float)(x[r * cols + c] / den);
    }
}

static void mmix__cpu_l2_normalize_backward(float *dx, const float *dout, const float *x, const float *norm,
                                            int64_t rows, int64_t cols, float eps) {
    int64_t r;
    MMIX__OMP(parallel for schedule(static) if(rows * cols > MMIX__PARALLEL_MIN))
    for (r = 0; r < rows; r++) {
        const float *xr = x + r * cols, *gr = dout + r * cols;
        int64_t c;
        if (norm[r] > eps) {
            double n = norm[r], yg = 0.0;
            for (c = 0; c < cols; c++) yg += (xr[c] / n) * gr[c];
            for (c = 0; c < cols; c++) dx[r * cols + c] += (float)((gr[c] - (xr[c] / n) * yg) / n);
        } else {
            for (c = 0; c < cols; c++) dx[r * cols + c] += (float)(gr[c] / (double)eps);
        }
    }
}

/* cos = (a / na) . (b / nb), n = max(||.||, eps). Where ||a|| > eps:
   d cos / da = (b / nb - (a / na) cos) / na; else (b / nb) / eps. Likewise for b. */
static void mmix__cpu_cosine_forward(float *out, float *norm_a, float *norm_b, const float *a,
                                     const float *b, int64_t rows, int64_t cols, float eps) {
    int64_t r;
    MMIX__OMP(parallel for schedule(static) if(rows * cols > MMIX__PARALLEL_MIN))
    for (r = 0; r < rows; r++) {
        double sa = 0.0, sb = 0.0, dot = 0.0, na, nb;
        int64_t c;
        for (c = 0; c < cols; c++) {
            sa += (double)a[r * cols + c] * a[r * cols + c];
            sb += (double)b[r * cols + c] * b[r * cols + c];
            dot += (double)a[r * cols + c] * b[r * cols + c];
        }
        norm_a[r] = (float)sqrt(sa);
        norm_b[r] = (float)sqrt(sb);
        na = sqrt(sa) > eps ? sqrt(sa) : (double)eps;
        nb = sqrt(sb) > eps ? sqrt(sb) : (double)eps;
        out[r] = (float)(dot / (na * nb));
    }
}

static void mmix__cpu_cosine_backward(float *da, float *db, const float *dout, const float *a,
                                      const float *b, const float *norm_a, const float *norm_b,
                                      int64_t rows, int64_t cols, float eps) {
    int64_t r;
    MMIX__OMP(parallel for schedule(static) if(rows * cols > MMIX__PARALLEL_MIN))
    for (r = 0; r < rows; r++) {
        double na = norm_a[r] > eps ? norm_a[r] : (double)eps, nb = norm_b[r] > eps ? norm_b[r] : (double)eps;
        double dot = 0.0, cosv;
        int64_t c;
        for (c = 0; c < cols; c++) dot += (double)a[r * cols + c] * b[r * cols + c];
        cosv = dot / (na * nb);
        for (c = 0; c < cols; c++) {
            double ac = a[r * cols + c], bc = b[r * cols + c];
            if (da) da[r * cols + c] += (float)(dout[r] * (norm_a[r] > eps ? (bc / nb - (ac / na) * cosv) / na : (bc / nb) / eps));
            if (db) db[r * cols + c] += (float)(dout[r] * (norm_b[r] > eps ? (ac / na - (bc / nb) * cosv) / nb : (ac / na) / eps));
        }
    }
}

static void mmix__cpu_logsumexp_forward(float *out, const float *x, int64_t rows, int64_t cols) {
    int64_t r;
    MMIX__OMP(parallel for schedule(static) if(rows * cols > MMIX__PARALLEL_MIN))
    for (r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float max = xr[0];
        double total = 0.0;
        int64_t c;
        for (c = 1; c < cols; c++)
            if (xr[c] > max) max = xr[c];
        for (c = 0; c < cols; c++) total += exp((double)xr[c] - max);
        /* cppcheck-suppress invalidFunctionArg ; total >= 1: the max's own term is exp(0) */
        out[r] = (float)((double)max + log(total));
    }
}

/* d logsumexp / dx = softmax(x) = exp(x - logsumexp(x)). */
static void mmix__cpu_logsumexp_backward(float *dx, const float *dout, const float *x, const float *out,
                                         int64_t rows, int64_t cols) {
    int64_t r;
    MMIX__OMP(parallel for schedule(static) if(rows * cols > MMIX__PARALLEL_MIN))
    for (r = 0; r < rows; r++) {
        int64_t c;
        for (c = 0; c < cols; c++) dx[r * cols + c] += (float)(dout[r] * exp((double)x[r * cols + c] - out[r]));
    }
}

static double mmix__cpu_l1_forward(const float *a, const float *b, int64_t n) {
    double s = 0.0;
    int64_t i;
    for (i = 0; i < n; i++) s += fabs((double)a[i] - (double)b[i]);
    return s;
}

/* d|a - b| = sign(a - b), with sign(0) = 0 as torch's abs. */
static void mmix__cpu_l1_backward(float *da, float *db, float dout, const float *a, const float *b, int64_t n) {
    int64_t i;
    MMIX__OMP(parallel for schedule(static) if(n > MMIX__PARALLEL_MIN))
    for (i = 0; i < n; i++) {
        float sign = a[i] > b[i] ? 1.0f : (a[i] < b[i] ? -1.0f : 0.0f);
        if (da) da[i] += dout * sign;
        if (db) db[i] -= dout * sign;
    }
}

static const float *mmix__gather_source(const float *a, const float *b, int64_t g, int64_t src, int64_t La,
                                        int64_t Lb, int64_t D) {
    return src < La ? a + (g * La + src) * D : b + (g * Lb + src - La) * D;
}

static void mmix__cpu_token_gather_forward(float *out, const float *a, const float *b, const int64_t *map,
                                           int64_t groups, int64_t L_out, int64_t La, int64_t Lb, int64_t D) {
    int64_t row;
    MMIX__OMP(parallel for schedule(static) if(groups * L_out * D > MMIX__PARALLEL_MIN))
    for (row = 0; row < groups * L_out; row++) {
        int64_t g = row / L_out, src = map[row % L_out];
        if (src < 0)
            memset(out + row * D, 0, (size_t)D * sizeof(float));
        else
            memcpy(out + row * D, mmix__gather_source(a, b, g, src, La, Lb, D), (size_t)D * sizeof(float));
    }
}

/* Several output rows may read one source row (repeat): each group is summed by one
   thread, rows in order. */
static void mmix__cpu_token_gather_backward(float *da, float *db, const float *dout, const int64_t *map,
                                            int64_t groups, int64_t L_out, int64_t La, int64_t Lb, int64_t D) {
    int64_t g;
    MMIX__OMP(parallel for schedule(static) if(groups > 1 && groups * L_out * D > MMIX__PARALLEL_MIN))
    for (g = 0; g < groups; g++) {
        int64_t r, c;
        for (r = 0; r < L_out; r++) {
            int64_t src = map[r];
            float *dst;
            if (src < 0) continue;
            dst = (float *)(src < La ? (da ? da + (g * La + src) * D : NULL) : (db ? db + (g * Lb + src - La) * D : NULL));
            if (!dst) continue;
            for (c = 0; c < D; c++) dst[c] += dout[(g * L_out + r) * D + c];
        }
    }
}

/* torch.optim.AdamW's single-tensor update (torch 1.13-2.x), operation by operation. */
static void mmix__cpu_adamw_update(float *param, const float *grad, float *m, float *v, int64_t n,
                                   float lr, float beta1, float beta2, float eps, float weight_decay,
                                   double bias_correction1, double bias_correction2) {
    float decay = (float)(1.0 - (double)lr * (double)weight_decay);
    float one_minus_b1 = (float)(1.0 - (double)beta1), one_minus_b2 = (float)(1.0 - (double)beta2);
    float step_size = (float)((double)lr / bias_correction1);
    float bc2_sqrt = (float)sqrt(bias_correction2);
    int64_t i;
    MMIX__OMP(parallel for schedule(static) if(n > MMIX__PARALLEL_MIN))
    for (i = 0; i < n; i++) {
        float g = grad[i], denom;
        param[i] *= decay;
        m[i] = m[i] * beta1 + one_minus_b1 * g;
        v[i] = v[i] * beta2 + one_minus_b2 * g * g;
        denom = sqrtf(v[i]) / bc2_sqrt + eps;
        param[i] += -step_size * (m[i] / denom);
    }
}

static double mmix__cpu_sum_squares(const float *x, int64_t n) {
    double s = 0.0;
    int64_t i;
    for (i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

/* Dropout: each element's fate is its own hash, so any split of the loop over threads
   draws the same mask. The backward recomputes it (no mask is stored). */
static void mmix__cpu_dropout_forward(float *out, const float *x, int64_t n, mmix_dropout_draw drop) {
    int64_t i;
    MMIX__OMP(parallel for schedule(static) if(n > MMIX__PARALLEL_MIN / 8))
    for (i = 0; i < n; i++) out[i] = mmix__dropped(drop, (uint64_t)i) ? 0.0f : x[i] * drop.scale;
}

static void mmix__cpu_dropout_backward(float *dx, const float *dout, int64_t n, mmix_dropout_draw drop) {
    int64_t i;
    MMIX__OMP(parallel for schedule(static) if(n > MMIX__PARALLEL_MIN / 8))
    for (i = 0; i < n; i++)
        if (!mmix__dropped(drop, (uint64_t)i)) dx[i] += dout[i] * drop.scale;
}

/* Host memory: the system allocator (MMIX_MALLOC), 64-byte aligned by hand, and memcpy. */
static void *mmix__cpu_alloc(size_t bytes) {
    unsigned char *raw;
    uintptr_t start;
    if (bytes > SIZE_MAX - MMIX__ALIGN - sizeof(void *)) return NULL;
    /* cppcheck-suppress pointerSize ; room for the block, its alignment and the pointer kept before it */
    raw = (unsigned char *)MMIX_MALLOC(bytes + MMIX__ALIGN + sizeof(void *));
    if (!raw) return NULL;
    start = ((uintptr_t)(raw + sizeof(void *)) + MMIX__ALIGN - 1) & ~(uintptr_t)(MMIX__ALIGN - 1);
    ((void **)start)[-1] = raw; /* the system's pointer, just before the aligned block */
    return (void *)start;
}
static void mmix__cpu_release(void *p) {
    if (p) MMIX_FREE(((void **)p)[-1]);
}
static void mmix__cpu_copy(void *dst, const void *src, size_t bytes) {
    if (bytes) memcpy(dst, src, bytes);
}
static void mmix__cpu_zero(void *dst, size_t bytes) {
    if (bytes) memset(dst, 0, bytes);
}
static void mmix__cpu_synchronize(void) {} /* every CPU kernel has finished when it returns */

/* By name, slot by slot: slots of one signature cannot be swapped unnoticed, as they could
   in a positional initializer (and designated initializers are not C++ before C++20). */
MMIXDEF void mmix_cpu_backend_fill(mmix_backend *b) {
    memset(b, 0, sizeof *b);
    b->name = "cpu";
    b->alloc = mmix__cpu_alloc;
    b->release = mmix__cpu_release;
    b->upload = mmix__cpu_copy;
    b->download = mmix__cpu_copy;
    b->copy = mmix__cpu_copy;
    b->zero = mmix__cpu_zero;
    b->synchronize = mmix__cpu_synchronize;
    b->sgemm = mmix__cpu_sgemm;
    b->fill = mmix__cpu_fill;
    b->axpy = mmix__cpu_axpy;
    b->add_forward = mmix__cpu_add_forward;
    b->mul_forward = mmix__cpu_mul_forward;
    b->mul_acc = mmix__cpu_mul_acc;
    b->scale_forward = mmix__cpu_scale_forward;
    b->sum_forward = mmix__cpu_sum_forward;
    b->add_scalar_acc = mmix__cpu_add_scalar_acc;
    b->embedding_forward = mmix__cpu_embedding_forward;
    b->embedding_backward = mmix__cpu_embedding_backward;
    b->add_bias_rows = mmix__cpu_add_bias_rows;
    b->sum_rows_acc = mmix__cpu_sum_rows_acc;
    b->layernorm_forward = mmix__cpu_layernorm_forward;
    b->layernorm_backward = mmix__cpu_layernorm_backward;
    b->gelu_forward = mmix__cpu_gelu_forward;
    b->gelu_backward = mmix__cpu_gelu_backward;
    b->softmax_forward = mmix__cpu_softmax_forward;
    b->softmax_backward = mmix__cpu_softmax_backward;
    b->cross_entropy_forward = mmix__cpu_cross_entropy_forward;
    b->cross_entropy_backward = mmix__cpu_cross_entropy_backward;
    b->argmax_rows = mmix__cpu_argmax_rows;
    b->token_mix_pack = mmix__cpu_token_mix_pack;
    b->token_mix_unpack_grad = mmix__cpu_token_mix_unpack_grad;
    b->token_mix_mask_inplace = mmix__cpu_token_mix_mask_inplace;
    b->token_mix_softmax = mmix__cpu_token_mix_softmax;
    b->token_mix_forward = mmix__cpu_token_mix_forward;
    b->token_mix_backward = mmix__cpu_token_mix_backward;
    b->rmsnorm_forward = mmix__cpu_rmsnorm_forward;
    b->rmsnorm_backward = mmix__cpu_rmsnorm_backward;
    b->silu_forward = mmix__cpu_silu_forward;
    b->silu_backward = mmix__cpu_silu_backward;
    b->rope = mmix__cpu_rope;
    b->attention_forward = mmix__cpu_attention_forward;
    b->attention_backward = mmix__cpu_attention_backward;
    b->l2_normalize_forward = mmix__cpu_l2_normalize_forward;
    b->l2_normalize_backward = mmix__cpu_l2_normalize_backward;
    b->cosine_forward = mmix__cpu_cosine_forward;
    b->cosine_backward = mmix__cpu_cosine_backward;
    b->logsumexp_forward = mmix__cpu_logsumexp_forward;
    b->logsumexp_backward = mmix__cpu_logsumexp_backward;
    b->l1_forward = mmix__cpu_l1_forward;
    b->l1_backward = mmix__cpu_l1_backward;
    b->token_gather_forward = mmix__cpu_token_gather_forward;
    b->token_gather_backward = mmix__cpu_token_gather_backward;
    b->adamw_update = mmix__cpu_adamw_update;
    b->sum_squares = mmix__cpu_sum_squares;
    b->dropout_forward = mmix__cpu_dropout_forward;
    b->dropout_backward = mmix__cpu_dropout_backward;
}

// ----------------------------------------------------------------------------------------
// >>ops  Op constructors: check the inputs (they come from callers, so a bad shape is
// an error with a message, not an assert), compute the output through the backend,
// and append a tape node when a gradient will be needed.
// ----------------------------------------------------------------------------------------
typedef struct mmix__node {
    mmix_op op;
    mmix_tensor *out;
    mmix_tensor *in[MMIX_MAX_INPUTS];
    float *saved[2];            /* LayerNorm mean/rstd, cross-entropy row logsumexp, ... */
    const void *aux;            /* token-mix keep mask, token-gather map */
    float fparam;               /* scale factor, 1/count, ... */
    int64_t iparam[3];          /* matmul transposes, ignore_index, ... */
    const mmix_custom_op *custom;
    void *custom_user;
    mmix_dropout_draw drop;     /* dropout and attention: the draw to recompute the mask from */
} mmix__node;

/* An error stays on the context until mmix_clear_error(): every op refuses to run while
   one is pending, so a failure early in a forward pass cannot be mistaken for, say, an
   absent optional bias further down. */
static int mmix__op_can_run(mmix_ctx *ctx) { return ctx && ctx->last_result == MMIX_OK; }

static int mmix__check_f32(mmix_ctx *ctx, const char *op, const char *arg, const mmix_tensor *t) {
    if (!t) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op, arg);
        return 0;
    }
    if (t->dtype != MMIX_F32) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "%s: %s%s%s%s must hold floats, it holds int32",
                       op, arg, t->name[0] ? " '" : "", t->name, t->name[0] ? "'" : "");
        return 0;
    }
    return 1;
}

static int mmix__check_i32(mmix_ctx *ctx, const char *op, const char *arg, const mmix_tensor *t) {
    if (!t) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op, arg);
        return 0;
    }
    if (t->dtype != MMIX_I32) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "%s: %s must hold int32 token ids, it holds floats",
                       op, arg);
        return 0;
    }
    return 1;
}

/* A shape error naming both operands: "add: a [2, 3] and b [3, 2] must have the same shape". */
static mmix_tensor *mmix__shape_error(mmix_ctx *ctx, const char *op, const char *a_name,
                                      const mmix_tensor *a, const char *b_name, const mmix_tensor *b,
                                      const char *rule) {
    char sa[64], sb[64];
    mmix_set_error(ctx, MMIX_ERR_SHAPE, "%s: %s%s%s%s %s and %s%s%s%s %s: %s", op, a_name,
                   a->name[0] ? " '" : "", a->name, a->name[0] ? "'" : "",
                   mmix_shape_str(a->shape, sa, sizeof sa), b_name, b->name[0] ? " '" : "",
                   b->name, b->name[0] ? "'" : "", mmix_shape_str(b->shape, sb, sizeof sb), rule);
    return NULL;
}

static mmix_tensor *mmix__new_output(mmix_ctx *ctx, mmix_shape shape) {
    return mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, shape);
}

static int mmix__wants_grad(const mmix_ctx *ctx, const mmix_tensor *a, const mmix_tensor *b,
                            const mmix_tensor *c) {
    return ctx->grad_enabled && ((a && a->requires_grad) || (b && b->requires_grad) ||
                                 (c && c->requires_grad));
}

/* Appends a node for `out` (the tape grows by doubling; its capacity survives resets).
   Returns NULL, with the error set, when memory runs out. */
static mmix__node *mmix__record(mmix_ctx *ctx, mmix_op op, mmix_tensor *out, mmix_tensor *a,
                                mmix_tensor *b, mmix_tensor *c) {
    mmix__node *node;
    if (ctx->tape_len == ctx->tape_capacity) {
        int64_t cap = ctx->tape_capacity ? 2 * ctx->tape_capacity : 256;
        mmix__node *grown = (mmix__node *)mmix__sys_realloc(ctx, ctx->tape,
                                                            (size_t)cap * sizeof(mmix__node));
        if (!grown) {
            mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: out of memory growing the tape",
                           mmix_op_name(op));
            return NULL;
        }
        ctx->tape = grown;
        ctx->tape_capacity = cap;
    }
    node = &ctx->tape[ctx->tape_len++];
    memset(node, 0, sizeof *node);
    node->op = op;
    node->out = out;
    node->in[0] = a;
    node->in[1] = b;
    node->in[2] = c;
    out->requires_grad = 1;
    return node;
}

MMIXDEF mmix_tensor *mmix_embedding(mmix_ctx *ctx, mmix_tensor *table, mmix_tensor *ids) {
    mmix_tensor *out;
    mmix_shape shape;
    int64_t V, D, i, counted;
    int32_t bad = 0;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "embedding", "table", table) ||
        !mmix__check_i32(ctx, "embedding", "ids", ids))
        return NULL;
    if (table->shape.ndim != 2)
        return mmix__shape_error(ctx, "embedding", "table", table, "ids", ids, "the table must be 2-D [V, D]");
    if (ids->shape.ndim >= MMIX_MAX_DIMS)
        return mmix__shape_error(ctx, "embedding", "table", table, "ids", ids,
                                 "ids may have at most 3 dims (the output adds one)");
    V = table->shape.d[0];
    D = table->shape.d[1];
    i = mmix__scan_ids(ids, V > INT32_MAX ? INT32_MAX : (int32_t)V, INT64_MIN, &bad, &counted);
    if (i >= 0) {
        mmix_set_error(ctx, MMIX_ERR_RANGE, "embedding: token id %ld at position %lld is outside "
                       "the vocabulary [0, %lld) of table%s%s%s", (long)bad, (long long)i,
                       (long long)V, table->name[0] ? " '" : "", table->name,
                       table->name[0] ? "'" : "");
        return NULL;
    }
    shape = ids->shape;
    shape.d[shape.ndim++] = D;
    out = mmix__new_output(ctx, shape);
    if (!out) return NULL;
    ctx->backend->embedding_forward(out->data, table->data, ids->ids, ids->n, D);
    if (mmix__wants_grad(ctx, table, NULL, NULL) && !mmix__record(ctx, MMIX_OP_EMBEDDING, out, table, ids, NULL))
        return NULL;
    return out;
}

/* Both layouts of a linear layer: W [out, in] (torch.nn.Linear: out = x W^T + b), or with
   in_out W [in, out] (Hugging Face's Conv1D, GPT-1's layers: out = x W + b). */
static mmix_tensor *mmix__linear_op(mmix_ctx *ctx, const char *name, mmix_tensor *x, mmix_tensor *W, mmix_tensor *b,
                                    int in_out) {
    mmix_tensor *out;
    mmix_shape shape;
    int64_t in_dim, out_dim, rows;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, name, "x", x) || !mmix__check_f32(ctx, name, "W", W) ||
        (b && !mmix__check_f32(ctx, name, "b", b)))
        return NULL;
    if (W->shape.ndim != 2)
        return mmix__shape_error(ctx, name, "x", x, "W", W, in_out ? "W must be 2-D [in, out]" : "W must be 2-D [out, in]");
    in_dim = W->shape.d[in_out ? 0 : 1];
    out_dim = W->shape.d[in_out ? 1 : 0];
    if (x->shape.ndim < 1 || mmix__last_dim(x) != in_dim)
        return mmix__shape_error(ctx, name, "x", x, "W", W,
                                 in_out ? "x's last dim must equal W's dim 0" : "x's last dim must equal W's dim 1");
    if (b && (b->shape.ndim != 1 || b->shape.d[0] != out_dim))
        return mmix__shape_error(ctx, name, "W", W, "b", b, "b must be 1-D [out]");
    rows = x->n / in_dim;
    shape = x->shape;
    shape.d[shape.ndim - 1] = out_dim;
    out = mmix__new_output(ctx, shape);
    if (!out) return NULL;
    ctx->backend->sgemm(0, !in_out, rows, out_dim, in_dim, 1.0f, x->data, in_dim, W->data, in_out ? out_dim : in_dim,
                        0.0f, out->data, out_dim);
    if (b) ctx->backend->add_bias_rows(out->data, b->data, rows, out_dim);
    if (mmix__wants_grad(ctx, x, W, b) &&
        !mmix__record(ctx, in_out ? MMIX_OP_LINEAR_IN_OUT : MMIX_OP_LINEAR, out, x, W, b))
        return NULL;
    return out;
}

MMIXDEF mmix_tensor *mmix_linear(mmix_ctx *ctx, mmix_tensor *x, mmix_tensor *W, mmix_tensor *b) {
    return mmix__linear_op(ctx, "linear", x, W, b, 0);
}

MMIXDEF mmix_tensor *mmix_linear_in_out(mmix_ctx *ctx, mmix_tensor *x, mmix_tensor *W, mmix_tensor *b) {
    return mmix__linear_op(ctx, "linear_in_out", x, W, b, 1);
}

/* The draw of one dropout call at site `key` with probability p (checked by the caller):
   nothing dropped (threshold 0) in eval mode or for p = 0; else the call's own stream, the
   context's seed, then its step, then the key, each hashed in. 0 after an error for a bad p. */
static int mmix__dropout_draw(mmix_ctx *ctx, const char *op, float p, uint64_t key, mmix_dropout_draw *drop) {
    drop->key = 0;
    drop->threshold = 0;
    drop->scale = 1.0f;
    if (!(p >= 0.0f && p < 1.0f)) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "%s: p = %g must be in [0, 1)", op, (double)p);
        return 0;
    }
    if (!ctx->training || p == 0.0f) return 1; /* eval mode: the identity, as nn.Dropout */
    drop->key = mmix_dropout_hash(mmix_dropout_hash(mmix_dropout_hash(ctx->dropout_seed, 0), ctx->dropout_step), key);
    drop->threshold = (uint32_t)((double)p * 16777216.0); /* p 2^24 of the 24 random bits, rounded down */
    if (drop->threshold == 0) drop->threshold = 1;          /* a p too small to round to: 2^-24 */
    drop->scale = 1.0f / (1.0f - p); /* torch: the kept noise is 1 / (1 - p), then multiplied */
    return 1;
}

MMIXDEF mmix_tensor *mmix_dropout(mmix_ctx *ctx, mmix_tensor *x, float p, uint64_t key) {
    mmix_tensor *out;
    mmix__node *node;
    mmix_dropout_draw drop;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "dropout", "x", x) ||
        !mmix__dropout_draw(ctx, "dropout", p, key, &drop))
        return NULL;
    if (drop.threshold == 0) return x;
    out = mmix__new_output(ctx, x->shape);
    if (!out) return NULL;
    ctx->backend->dropout_forward(out->data, x->data, x->n, drop);
    if (mmix__wants_grad(ctx, x, NULL, NULL)) {
        node = mmix__record(ctx, MMIX_OP_DROPOUT, out, x, NULL, NULL);
        if (!node) return NULL;
        node->drop = drop;
    }
    return out;
}

/* The two matrix dims of a matmul operand and its batch count (1 when 2-D: shared). */
static void mmix__matmul_dims(const mmix_tensor *t, int64_t *rows, int64_t *cols, int64_t *batch) {
    *rows = t->shape.d[t->shape.ndim - 2];
    *cols = t->shape.d[t->shape.ndim - 1];
    *batch = t->n / (*rows * *cols);
}

MMIXDEF mmix_tensor *mmix_matmul(mmix_ctx *ctx, mmix_tensor *A, mmix_tensor *B, int transpose_a,
                                 int transpose_b) {
    mmix_tensor *out;
    mmix_shape shape;
    int64_t a_rows, a_cols, a_batch, b_rows, b_cols, b_batch, M, K, N, K2, batch, i;
    mmix__node *node;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "matmul", "A", A) ||
        !mmix__check_f32(ctx, "matmul", "B", B))
        return NULL;
    if (A->shape.ndim < 2 || B->shape.ndim < 2)
        return mmix__shape_error(ctx, "matmul", "A", A, "B", B, "both operands need at least 2 dims");
    if (A->shape.ndim > 2 && B->shape.ndim > 2) {
        int same = A->shape.ndim == B->shape.ndim;
        for (i = 0; same && i < A->shape.ndim - 2; i++) same = A->shape.d[i] == B->shape.d[i];
        if (!same)
            return mmix__shape_error(ctx, "matmul", "A", A, "B", B,
                                     "batched operands need equal leading (batch) dims");
    }
    mmix__matmul_dims(A, &a_rows, &a_cols, &a_batch);
    mmix__matmul_dims(B, &b_rows, &b_cols, &b_batch);
    M = transpose_a ? a_cols : a_rows;
    K = transpose_a ? a_rows : a_cols;
    K2 = transpose_b ? b_cols : b_rows;
    N = transpose_b ? b_rows : b_cols;
    if (K != K2)
        return mmix__shape_error(ctx, "matmul", "A", A, "B", B,
                                 "the inner dims of op(A) and op(B) differ");
    shape = A->shape.ndim >= B->shape.ndim ? A->shape : B->shape;
    shape.d[shape.ndim - 2] = M;
    shape.d[shape.ndim - 1] = N;
    out = mmix__new_output(ctx, shape);
    if (!out) return NULL;
    batch = a_batch > b_batch ? a_batch : b_batch;
    for (i = 0; i < batch; i++)
        ctx->backend->sgemm(transpose_a, transpose_b, M, N, K, 1.0f,
                            A->data + (a_batch > 1 ? i * a_rows * a_cols : 0), a_cols,
                            B->data + (b_batch > 1 ? i * b_rows * b_cols : 0), b_cols, 0.0f,
                            out->data + i * M * N, N);
    if (mmix__wants_grad(ctx, A, B, NULL)) {
        node = mmix__record(ctx, MMIX_OP_MATMUL, out, A, B, NULL);
        if (!node) return NULL;
        node->iparam[0] = transpose_a;
        node->iparam[1] = transpose_b;
    }
    return out;
}

/* add and mul share their checks. */
static mmix_tensor *mmix__elementwise(mmix_ctx *ctx, mmix_op op, mmix_tensor *a, mmix_tensor *b) {
    const char *name = mmix_op_name(op);
    mmix_tensor *out;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, name, "a", a) || !mmix__check_f32(ctx, name, "b", b))
        return NULL;
    if (!mmix_shape_equal(a->shape, b->shape))
        return mmix__shape_error(ctx, name, "a", a, "b", b, "the operands must have the same shape");
    out = mmix__new_output(ctx, a->shape);
    if (!out) return NULL;
    if (op == MMIX_OP_ADD)
        ctx->backend->add_forward(out->data, a->data, b->data, a->n);
    else
        ctx->backend->mul_forward(out->data, a->data, b->data, a->n);
    if (mmix__wants_grad(ctx, a, b, NULL) && !mmix__record(ctx, op, out, a, b, NULL)) return NULL;
    return out;
}
MMIXDEF mmix_tensor *mmix_add(mmix_ctx *ctx, mmix_tensor *a, mmix_tensor *b) { return mmix__elementwise(ctx, MMIX_OP_ADD, a, b); }
MMIXDEF mmix_tensor *mmix_mul(mmix_ctx *ctx, mmix_tensor *a, mmix_tensor *b) { return mmix__elementwise(ctx, MMIX_OP_MUL, a, b); }

MMIXDEF mmix_tensor *mmix_scale(mmix_ctx *ctx, mmix_tensor *x, float s) {
    mmix_tensor *out;
    mmix__node *node;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "scale", "x", x)) return NULL;
    out = mmix__new_output(ctx, x->shape);
    if (!out) return NULL;
    ctx->backend->scale_forward(out->data, x->data, s, x->n);
    if (mmix__wants_grad(ctx, x, NULL, NULL)) {
        node = mmix__record(ctx, MMIX_OP_SCALE, out, x, NULL, NULL);
        if (!node) return NULL;
        node->fparam = s;
    }
    return out;
}

/* sum and mean: a scalar from all elements (mean = sum / n). */
static mmix_tensor *mmix__reduce(mmix_ctx *ctx, mmix_op op, mmix_tensor *x) {
    const char *name = mmix_op_name(op);
    mmix_tensor *out;
    double total;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, name, "x", x)) return NULL;
    out = mmix__new_output(ctx, mmix_shape0());
    if (!out) return NULL;
    total = ctx->backend->sum_forward(x->data, x->n);
    mmix__set_scalar(out, op == MMIX_OP_MEAN ? total / (double)x->n : total);
    if (mmix__wants_grad(ctx, x, NULL, NULL) && !mmix__record(ctx, op, out, x, NULL, NULL)) return NULL;
    return out;
}
MMIXDEF mmix_tensor *mmix_sum(mmix_ctx *ctx, mmix_tensor *x) { return mmix__reduce(ctx, MMIX_OP_SUM, x); }
MMIXDEF mmix_tensor *mmix_mean(mmix_ctx *ctx, mmix_tensor *x) { return mmix__reduce(ctx, MMIX_OP_MEAN, x); }

MMIXDEF mmix_tensor *mmix_reshape(mmix_ctx *ctx, mmix_tensor *x, mmix_shape shape) {
    mmix_tensor *out;
    char sa[64], sb[64];
    int64_t n = mmix__shape_numel(shape);
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "reshape", "x", x)) return NULL;
    if (n != x->n) {
        mmix_set_error(ctx, MMIX_ERR_SHAPE, "reshape: cannot view x %s (%lld elements) as %s",
                       mmix_shape_str(x->shape, sa, sizeof sa), (long long)x->n,
                       mmix_shape_str(shape, sb, sizeof sb));
        return NULL;
    }
    /* A header sharing x's data: no copy. */
    out = (mmix_tensor *)mmix__arena_alloc(ctx, &ctx->step, sizeof(mmix_tensor));
    if (!out) {
        mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "reshape: out of memory");
        return NULL;
    }
    *out = *x;
    out->lifetime = MMIX_STEP;
    out->shape = shape;
    out->grad = NULL;
    out->requires_grad = 0;
    out->name[0] = '\0';
    if (mmix__wants_grad(ctx, x, NULL, NULL) && !mmix__record(ctx, MMIX_OP_RESHAPE, out, x, NULL, NULL))
        return NULL;
    return out;
}

MMIXDEF mmix_tensor *mmix_layernorm(mmix_ctx *ctx, mmix_tensor *x, mmix_tensor *w, mmix_tensor *b,
                                    float eps) {
    mmix_tensor *out;
    float *mean, *rstd;
    int64_t D, rows;
    mmix__node *node;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "layernorm", "x", x) ||
        (w && !mmix__check_f32(ctx, "layernorm", "w", w)) || (b && !mmix__check_f32(ctx, "layernorm", "b", b)))
        return NULL;
    if (x->shape.ndim < 1)
        return mmix__shape_error(ctx, "layernorm", "x", x, "x", x, "x needs at least 1 dim");
    D = mmix__last_dim(x);
    rows = x->n / D;
    if (w && (w->shape.ndim != 1 || w->shape.d[0] != D))
        return mmix__shape_error(ctx, "layernorm", "x", x, "w", w, "w must be 1-D of x's last dim");
    if (b && (b->shape.ndim != 1 || b->shape.d[0] != D))
        return mmix__shape_error(ctx, "layernorm", "x", x, "b", b, "b must be 1-D of x's last dim");
    if (!(eps > 0.0f)) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "layernorm: eps must be positive, got %g", (double)eps);
        return NULL;
    }
    out = mmix__new_output(ctx, x->shape);
    mean = mmix__alloc_floats(ctx, MMIX_STEP, rows, "layernorm");
    rstd = mmix__alloc_floats(ctx, MMIX_STEP, rows, "layernorm");
    if (!out || !mean || !rstd) return NULL;
    ctx->backend->layernorm_forward(out->data, mean, rstd, x->data, w ? w->data : NULL,
                                    b ? b->data : NULL, rows, D, eps);
    if (mmix__wants_grad(ctx, x, w, b)) {
        node = mmix__record(ctx, MMIX_OP_LAYERNORM, out, x, w, b);
        if (!node) return NULL;
        node->saved[0] = mean;
        node->saved[1] = rstd;
    }
    return out;
}

/* gelu and silu: one input, one output of its shape, an elementwise kernel. */
static mmix_tensor *mmix__unary(mmix_ctx *ctx, mmix_op op, mmix_tensor *x) {
    mmix_tensor *out;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, mmix_op_name(op), "x", x)) return NULL;
    out = mmix__new_output(ctx, x->shape);
    if (!out) return NULL;
    if (op == MMIX_OP_GELU)
        ctx->backend->gelu_forward(out->data, x->data, x->n);
    else
        ctx->backend->silu_forward(out->data, x->data, x->n);
    if (mmix__wants_grad(ctx, x, NULL, NULL) && !mmix__record(ctx, op, out, x, NULL, NULL)) return NULL;
    return out;
}
MMIXDEF mmix_tensor *mmix_gelu(mmix_ctx *ctx, mmix_tensor *x) { return mmix__unary(ctx, MMIX_OP_GELU, x); }

MMIXDEF mmix_tensor *mmix_softmax(mmix_ctx *ctx, mmix_tensor *x) {
    mmix_tensor *out;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "softmax", "x", x)) return NULL;
    out = mmix__new_output(ctx, x->shape);
    if (!out) return NULL;
    ctx->backend->softmax_forward(out->data, x->data, mmix__rows(x), mmix__last_dim(x));
    if (mmix__wants_grad(ctx, x, NULL, NULL) && !mmix__record(ctx, MMIX_OP_SOFTMAX, out, x, NULL, NULL))
        return NULL;
    return out;
}

MMIXDEF mmix_tensor *mmix_cross_entropy(mmix_ctx *ctx, mmix_tensor *logits, mmix_tensor *targets,
                                        int32_t ignore_index) {
    mmix_tensor *out;
    float *row_loss, *row_lse;
    int64_t V, rows, r, counted = 0;
    int32_t bad = 0;
    mmix__node *node;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "cross_entropy", "logits", logits) ||
        !mmix__check_i32(ctx, "cross_entropy", "targets", targets))
        return NULL;
    if (logits->shape.ndim < 1)
        return mmix__shape_error(ctx, "cross_entropy", "logits", logits, "targets", targets,
                                 "logits need a class dim");
    V = mmix__last_dim(logits);
    rows = logits->n / V;
    if (targets->n != rows)
        return mmix__shape_error(ctx, "cross_entropy", "logits", logits, "targets", targets,
                                 "there must be one target per row of logits");
    r = mmix__scan_ids(targets, V > INT32_MAX ? INT32_MAX : (int32_t)V, ignore_index, &bad, &counted);
    if (r >= 0) {
        mmix_set_error(ctx, MMIX_ERR_RANGE, "cross_entropy: target %ld at position %lld is outside "
                       "[0, %lld) and is not the ignore label %ld", (long)bad, (long long)r,
                       (long long)V, (long)ignore_index);
        return NULL;
    }
    if (counted == 0) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "cross_entropy: all %lld targets are the ignore "
                       "label %ld, so there is no position to average over", (long long)rows,
                       (long)ignore_index);
        return NULL;
    }
    out = mmix__new_output(ctx, mmix_shape0());
    row_loss = mmix__alloc_floats(ctx, MMIX_STEP, rows, "cross_entropy");
    row_lse = mmix__alloc_floats(ctx, MMIX_STEP, rows, "cross_entropy");
    if (!out || !row_loss || !row_lse) return NULL;
    ctx->backend->cross_entropy_forward(row_loss, row_lse, logits->data, targets->ids, rows, V,
                                        ignore_index);
    /* The mean over counted positions of the whole batch (token-weighted, reference-notes Sec. 5). */
    mmix__set_scalar(out, ctx->backend->sum_forward(row_loss, rows) / (double)counted);
    if (mmix__wants_grad(ctx, logits, NULL, NULL)) {
        node = mmix__record(ctx, MMIX_OP_CROSS_ENTROPY, out, logits, targets, NULL);
        if (!node) return NULL;
        node->saved[0] = row_lse;
        node->fparam = (float)(1.0 / (double)counted);
        node->iparam[0] = ignore_index;
    }
    return out;
}

MMIXDEF mmix_tensor *mmix_argmax(mmix_ctx *ctx, mmix_tensor *x) {
    mmix_tensor *out;
    mmix_shape shape;
    int64_t V;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "argmax", "x", x)) return NULL;
    if (x->shape.ndim < 1 || (V = mmix__last_dim(x)) < 1 || V > INT32_MAX)
        return mmix__shape_error(ctx, "argmax", "x", x, "x", x, "x needs a last dim of 1 to 2^31 - 1 values");
    shape = x->shape; /* [..., V] -> [...] */
    shape.d[--shape.ndim] = 1;
    out = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, shape);
    if (!out) return NULL;
    ctx->backend->argmax_rows(out->ids, x->data, x->n / V, V);
    return out; /* no tape node: an index has no gradient */
}

MMIXDEF mmix_tensor *mmix_custom(mmix_ctx *ctx, const mmix_custom_op *op, void *user,
                                 mmix_shape out_shape, mmix_tensor *const *in, int n_in) {
    mmix_tensor *out, *args[MMIX_MAX_INPUTS] = {NULL, NULL, NULL};
    mmix__node *node;
    int i;
    if (!mmix__op_can_run(ctx)) return NULL;
    if (!op || !op->forward || n_in < 0 || n_in > MMIX_MAX_INPUTS) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "custom: needs an op with a forward function and "
                       "0 to %d inputs", MMIX_MAX_INPUTS);
        return NULL;
    }
    for (i = 0; i < n_in; i++) {
        if (!in[i]) {
            mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "custom '%s': input %d is NULL",
                           op->name ? op->name : "", i);
            return NULL;
        }
        args[i] = in[i];
    }
    out = mmix__new_output(ctx, out_shape);
    if (!out) return NULL;
    op->forward(out, args, n_in, user);
    if (mmix__wants_grad(ctx, args[0], args[1], args[2])) {
        if (!op->backward) {
            mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "custom '%s': an input needs a gradient but "
                           "the op has no backward function", op->name ? op->name : "");
            return NULL;
        }
        node = mmix__record(ctx, MMIX_OP_CUSTOM, out, args[0], args[1], args[2]);
        if (!node) return NULL;
        node->custom = op;
        node->custom_user = user;
        node->iparam[0] = n_in;
    }
    return out;
}

MMIXDEF mmix_mask mmix_mask_causal(void) {
    mmix_mask m;
    m.kind = MMIX_MASK_LOWER;
    m.diagonal = 0;
    m.keep = NULL;
    return m;
}

/* Host bytes a kernel reads (a keep mask, a token map), copied into the step's data arena. */
static void *mmix__to_backend(mmix_ctx *ctx, const void *host, size_t bytes) {
    void *p = mmix__arena_alloc(ctx, &ctx->step_data, bytes);
    if (p) ctx->backend->upload(p, host, bytes);
    return p;
}

/* The keep mask as bytes [L_out * L_in] in the step's data arena; NULL when everything is kept. */
static const uint8_t *mmix__mask_bytes(mmix_ctx *ctx, mmix_mask mask, int64_t L_out, int64_t L_in) {
    uint8_t *keep;
    const uint8_t *host;
    int64_t o, i;
    if (mask.kind == MMIX_MASK_NONE) return NULL;
    host = mask.keep;
    if (mask.kind != MMIX_MASK_CUSTOM) { /* built on the host ... */
        keep = (uint8_t *)mmix__arena_alloc(ctx, &ctx->step, (size_t)(L_out * L_in));
        if (!keep) return NULL;
        for (o = 0; o < L_out; o++)
            for (i = 0; i < L_in; i++)
                keep[o * L_in + i] = (uint8_t)(mask.kind == MMIX_MASK_LOWER ? i <= o + mask.diagonal
                                                                            : i >= o + mask.diagonal);
        host = keep;
    }
    return (const uint8_t *)mmix__to_backend(ctx, host, (size_t)(L_out * L_in)); /* ... read by kernels */
}

MMIXDEF mmix_tensor *mmix_token_mix(mmix_ctx *ctx, mmix_tensor *x, mmix_tensor *W, mmix_tensor *bias,
                                    mmix_mask mask) {
    mmix_tensor *out;
    mmix_shape shape;
    const uint8_t *keep;
    float *Wt;
    int64_t L_out, L_in, k, D, groups;
    mmix__node *node;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "token_mix", "x", x) ||
        !mmix__check_f32(ctx, "token_mix", "W", W) || (bias && !mmix__check_f32(ctx, "token_mix", "bias", bias)))
        return NULL;
    if (W->shape.ndim != 3)
        return mmix__shape_error(ctx, "token_mix", "x", x, "W", W, "W must be 3-D [L_out, L_in, k]");
    L_out = W->shape.d[0];
    L_in = W->shape.d[1];
    k = W->shape.d[2];
    if (x->shape.ndim < 2 || x->shape.d[x->shape.ndim - 2] != L_in)
        return mmix__shape_error(ctx, "token_mix", "x", x, "W", W,
                                 "x's token dim (second to last) must equal W's dim 1 (L_in)");
    if (bias && (bias->shape.ndim != 1 || bias->shape.d[0] != L_out))
        return mmix__shape_error(ctx, "token_mix", "W", W, "bias", bias, "bias must be 1-D [L_out]");
    if (mask.kind == MMIX_MASK_CUSTOM && !mask.keep) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "token_mix: a custom mask needs its keep array");
        return NULL;
    }
    D = mmix__last_dim(x);
    groups = x->n / (L_in * D);
    keep = mmix__mask_bytes(ctx, mask, L_out, L_in);
    Wt = mmix__alloc_floats(ctx, MMIX_STEP, k * L_out * L_in, "token_mix");
    shape = x->shape;
    shape.d[shape.ndim - 2] = L_out;
    out = mmix__new_output(ctx, shape);
    if (!out || !Wt || (mask.kind != MMIX_MASK_NONE && !keep)) {
        if (mmix__op_can_run(ctx)) mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "token_mix: out of memory");
        return NULL;
    }
    /* The reference code zeroes masked weights in place at every forward (reference-notes Sec. 1). */
    if (ctx->masked_grad_mode == MMIX_MASKED_GRADS_REFERENCE && keep)
        ctx->backend->token_mix_mask_inplace(W->data, keep, L_out, L_in, k);
    ctx->backend->token_mix_pack(Wt, W->data, keep, L_out, L_in, k);
    ctx->backend->token_mix_forward(out->data, x->data, Wt, bias ? bias->data : NULL, groups, L_out,
                                    L_in, D, k);
    if (mmix__wants_grad(ctx, x, W, bias)) {
        node = mmix__record(ctx, MMIX_OP_TOKEN_MIX, out, x, W, bias);
        if (!node) return NULL;
        node->saved[0] = Wt;
        node->aux = keep;
        node->iparam[0] = ctx->masked_grad_mode;
    }
    return out;
}

MMIXDEF void mmix_set_masked_grad_mode(mmix_ctx *ctx, mmix_masked_grad_mode mode) { ctx->masked_grad_mode = mode; }
MMIXDEF mmix_masked_grad_mode mmix_get_masked_grad_mode(const mmix_ctx *ctx) { return ctx->masked_grad_mode; }

MMIXDEF mmix_tensor *mmix_rmsnorm(mmix_ctx *ctx, mmix_tensor *x, mmix_tensor *w, float eps) {
    mmix_tensor *out;
    float *rrms;
    int64_t D;
    mmix__node *node;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "rmsnorm", "x", x) ||
        (w && !mmix__check_f32(ctx, "rmsnorm", "w", w)))
        return NULL;
    D = mmix__last_dim(x);
    if (x->shape.ndim < 1 || (w && (w->shape.ndim != 1 || w->shape.d[0] != D)))
        return mmix__shape_error(ctx, "rmsnorm", "x", x, "w", w ? w : x, "w must be 1-D of x's last dim");
    if (!(eps > 0.0f)) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "rmsnorm: eps must be positive, got %g", (double)eps);
        return NULL;
    }
    out = mmix__new_output(ctx, x->shape);
    rrms = mmix__alloc_floats(ctx, MMIX_STEP, x->n / D, "rmsnorm");
    if (!out || !rrms) return NULL;
    ctx->backend->rmsnorm_forward(out->data, rrms, x->data, w ? w->data : NULL, x->n / D, D, eps);
    if (mmix__wants_grad(ctx, x, w, NULL)) {
        node = mmix__record(ctx, MMIX_OP_RMSNORM, out, x, w, NULL);
        if (!node) return NULL;
        node->saved[0] = rrms;
    }
    return out;
}

MMIXDEF mmix_tensor *mmix_silu(mmix_ctx *ctx, mmix_tensor *x) { return mmix__unary(ctx, MMIX_OP_SILU, x); }

/* Batch, tokens, heads and head dim of a [B, L, H*hd] tensor; 0 with the error set if not. */
static int mmix__heads(mmix_ctx *ctx, const char *op, const mmix_tensor *x, int64_t n_heads, int64_t *B,
                       int64_t *L, int64_t *hd) {
    char sx[64];
    if (x->shape.ndim != 3 || n_heads < 1 || x->shape.d[2] % n_heads != 0 || (x->shape.d[2] / n_heads) % 2) {
        mmix_set_error(ctx, MMIX_ERR_SHAPE, "%s: x %s must be [B, L, H*hd] with H = %lld heads of an even "
                       "head dim hd", op, mmix_shape_str(x->shape, sx, sizeof sx), (long long)n_heads);
        return 0;
    }
    *B = x->shape.d[0];
    *L = x->shape.d[1];
    *hd = x->shape.d[2] / n_heads;
    return 1;
}

MMIXDEF mmix_tensor *mmix_rope(mmix_ctx *ctx, mmix_tensor *x, int64_t n_heads, float theta, int64_t pos0) {
    mmix_tensor *out;
    int64_t B, L, hd;
    mmix__node *node;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "rope", "x", x) ||
        !mmix__heads(ctx, "rope", x, n_heads, &B, &L, &hd))
        return NULL;
    if (hd / 2 > MMIX__ROPE_MAX_HALF || !(theta > 0.0f) || pos0 < 0) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "rope: needs head dim <= %d, theta > 0 and "
                       "pos0 >= 0 (got hd %lld, theta %g, pos0 %lld)", 2 * MMIX__ROPE_MAX_HALF,
                       (long long)hd, (double)theta, (long long)pos0);
        return NULL;
    }
    out = mmix__new_output(ctx, x->shape);
    if (!out) return NULL;
    ctx->backend->rope(out->data, x->data, B, L, n_heads, hd, theta, pos0, 0);
    if (mmix__wants_grad(ctx, x, NULL, NULL)) {
        node = mmix__record(ctx, MMIX_OP_ROPE, out, x, NULL, NULL);
        if (!node) return NULL;
        node->fparam = theta;
        node->iparam[0] = n_heads;
        node->iparam[1] = pos0;
    }
    return out;
}

MMIXDEF mmix_tensor *mmix_attention(mmix_ctx *ctx, mmix_tensor *q, mmix_tensor *k, mmix_tensor *v,
                                    int64_t n_heads, int causal) {
    return mmix_attention_dropout(ctx, q, k, v, n_heads, causal, 0.0f, 0);
}

MMIXDEF mmix_tensor *mmix_attention_dropout(mmix_ctx *ctx, mmix_tensor *q, mmix_tensor *k, mmix_tensor *v,
                                            int64_t n_heads, int causal, float p, uint64_t key) {
    mmix_tensor *out;
    float *probs;
    int64_t B, Lq, Lk, hd, B2, hd2;
    mmix__node *node;
    mmix_dropout_draw drop;
    if (!mmix__op_can_run(ctx) || !mmix__dropout_draw(ctx, "attention", p, key, &drop) ||
        !mmix__check_f32(ctx, "attention", "q", q) ||
        !mmix__check_f32(ctx, "attention", "k", k) || !mmix__check_f32(ctx, "attention", "v", v) ||
        !mmix__heads(ctx, "attention", q, n_heads, &B, &Lq, &hd) ||
        !mmix__heads(ctx, "attention", k, n_heads, &B2, &Lk, &hd2))
        return NULL;
    if (B2 != B || hd2 != hd || !mmix_shape_equal(k->shape, v->shape) || Lk < Lq)
        return mmix__shape_error(ctx, "attention", "q", q, "k", k,
                                 "k and v must have equal shapes [B, Lk, D] with q's B and D, and Lk >= Lq");
    out = mmix__new_output(ctx, q->shape);
    probs = mmix__alloc_floats(ctx, MMIX_STEP, B * n_heads * Lq * Lk, "attention");
    if (!out || !probs) return NULL;
    ctx->backend->attention_forward(out->data, probs, q->data, k->data, v->data, B, Lq, Lk, n_heads, hd,
                                    causal, drop);
    if (mmix__wants_grad(ctx, q, k, v)) {
        node = mmix__record(ctx, MMIX_OP_ATTENTION, out, q, k, v);
        if (!node) return NULL;
        node->saved[0] = probs;
        node->iparam[0] = n_heads;
        node->drop = drop;
    }
    return out;
}

MMIXDEF mmix_tensor *mmix_l2_normalize(mmix_ctx *ctx, mmix_tensor *x, float eps) {
    mmix_tensor *out;
    float *norm;
    mmix__node *node;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "l2_normalize", "x", x)) return NULL;
    out = mmix__new_output(ctx, x->shape);
    norm = mmix__alloc_floats(ctx, MMIX_STEP, mmix__rows(x), "l2_normalize");
    if (!out || !norm) return NULL;
    ctx->backend->l2_normalize_forward(out->data, norm, x->data, mmix__rows(x), mmix__last_dim(x), eps);
    if (mmix__wants_grad(ctx, x, NULL, NULL)) {
        node = mmix__record(ctx, MMIX_OP_L2_NORMALIZE, out, x, NULL, NULL);
        if (!node) return NULL;
        node->saved[0] = norm;
        node->fparam = eps;
    }
    return out;
}

/* The shape of x without its last dim (a scalar for a 1-D x). */
static mmix_shape mmix__drop_last_dim(mmix_shape s) {
    if (s.ndim > 0) s.d[--s.ndim] = 1;
    return s;
}

MMIXDEF mmix_tensor *mmix_cosine_similarity(mmix_ctx *ctx, mmix_tensor *a, mmix_tensor *b, float eps) {
    mmix_tensor *out;
    float *norm_a, *norm_b;
    mmix__node *node;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "cosine_similarity", "a", a) ||
        !mmix__check_f32(ctx, "cosine_similarity", "b", b))
        return NULL;
    if (!mmix_shape_equal(a->shape, b->shape) || a->shape.ndim < 1)
        return mmix__shape_error(ctx, "cosine_similarity", "a", a, "b", b, "a and b must have the same shape");
    out = mmix__new_output(ctx, mmix__drop_last_dim(a->shape));
    norm_a = mmix__alloc_floats(ctx, MMIX_STEP, mmix__rows(a), "cosine_similarity");
    norm_b = mmix__alloc_floats(ctx, MMIX_STEP, mmix__rows(a), "cosine_similarity");
    if (!out || !norm_a || !norm_b) return NULL;
    ctx->backend->cosine_forward(out->data, norm_a, norm_b, a->data, b->data, mmix__rows(a),
                                 mmix__last_dim(a), eps);
    if (mmix__wants_grad(ctx, a, b, NULL)) {
        node = mmix__record(ctx, MMIX_OP_COSINE_SIMILARITY, out, a, b, NULL);
        if (!node) return NULL;
        node->saved[0] = norm_a;
        node->saved[1] = norm_b;
        node->fparam = eps;
    }
    return out;
}

MMIXDEF mmix_tensor *mmix_logsumexp(mmix_ctx *ctx, mmix_tensor *x) {
    mmix_tensor *out;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "logsumexp", "x", x)) return NULL;
    if (x->shape.ndim < 1)
        return mmix__shape_error(ctx, "logsumexp", "x", x, "x", x, "x needs at least 1 dim");
    out = mmix__new_output(ctx, mmix__drop_last_dim(x->shape));
    if (!out) return NULL;
    ctx->backend->logsumexp_forward(out->data, x->data, mmix__rows(x), mmix__last_dim(x));
    if (mmix__wants_grad(ctx, x, NULL, NULL) && !mmix__record(ctx, MMIX_OP_LOGSUMEXP, out, x, NULL, NULL))
        return NULL;
    return out;
}

MMIXDEF mmix_tensor *mmix_l1_distance(mmix_ctx *ctx, mmix_tensor *a, mmix_tensor *b) {
    mmix_tensor *out;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "l1_distance", "a", a) ||
        !mmix__check_f32(ctx, "l1_distance", "b", b))
        return NULL;
    if (!mmix_shape_equal(a->shape, b->shape))
        return mmix__shape_error(ctx, "l1_distance", "a", a, "b", b, "a and b must have the same shape");
    out = mmix__new_output(ctx, mmix_shape0());
    if (!out) return NULL;
    mmix__set_scalar(out, ctx->backend->l1_forward(a->data, b->data, a->n));
    if (mmix__wants_grad(ctx, a, b, NULL) && !mmix__record(ctx, MMIX_OP_L1_DISTANCE, out, a, b, NULL))
        return NULL;
    return out;
}

/* Token-axis ops are one op underneath: output token r of each group copies source token
   map[r] (from a, or from b past a's tokens) or is zero when map[r] < 0. The public ops
   below only build the map. */
static int64_t *mmix__token_map(mmix_ctx *ctx, int64_t L_out, const char *op) {
    int64_t *map = (int64_t *)mmix__arena_alloc(ctx, &ctx->step, (size_t)L_out * sizeof(int64_t));
    if (!map) mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    return map;
}

static mmix_tensor *mmix__token_gather(mmix_ctx *ctx, mmix_tensor *a, mmix_tensor *b, const int64_t *map,
                                       int64_t L_out, int64_t La, int64_t Lb, mmix_shape out_shape) {
    int64_t D = mmix__last_dim(a), groups = a->n / (La * D);
    mmix_tensor *out = mmix__new_output(ctx, out_shape);
    int64_t *device_map = (int64_t *)mmix__to_backend(ctx, map, (size_t)L_out * sizeof(int64_t));
    mmix__node *node;
    if (!out || !device_map) return NULL;
    map = device_map; /* the kernels read the backend's copy */
    ctx->backend->token_gather_forward(out->data, a->data, b ? b->data : NULL, map, groups, L_out, La, Lb, D);
    if (mmix__wants_grad(ctx, a, b, NULL)) {
        node = mmix__record(ctx, MMIX_OP_TOKEN_GATHER, out, a, b, NULL);
        if (!node) return NULL;
        node->aux = map;
        node->iparam[0] = L_out;
        node->iparam[1] = La;
        node->iparam[2] = Lb;
    }
    return out;
}

/* Checks x has a token axis; returns its length (0 with the error set otherwise). */
static int64_t mmix__token_len(mmix_ctx *ctx, const char *op, mmix_tensor *x) {
    char sx[64];
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, op, "x", x)) return 0;
    if (x->shape.ndim < 2) {
        mmix_set_error(ctx, MMIX_ERR_SHAPE, "%s: x %s needs a token axis: [..., L, D]", op,
                       mmix_shape_str(x->shape, sx, sizeof sx));
        return 0;
    }
    return x->shape.d[x->shape.ndim - 2];
}

MMIXDEF mmix_tensor *mmix_tokens_slice(mmix_ctx *ctx, mmix_tensor *x, int64_t start, int64_t count) {
    int64_t L = mmix__token_len(ctx, "tokens_slice", x), r, *map;
    mmix_shape shape;
    if (!L) return NULL;
    if (start < 0) start += L;
    if (start < 0 || count < 1 || start + count > L) {
        mmix_set_error(ctx, MMIX_ERR_RANGE, "tokens_slice: %lld tokens from position %lld do not fit in %lld",
                       (long long)count, (long long)start, (long long)L);
        return NULL;
    }
    map = mmix__token_map(ctx, count, "tokens_slice");
    if (!map) return NULL;
    for (r = 0; r < count; r++) map[r] = start + r;
    shape = x->shape;
    shape.d[shape.ndim - 2] = count;
    return mmix__token_gather(ctx, x, NULL, map, count, L, 0, shape);
}

MMIXDEF mmix_tensor *mmix_tokens_select(mmix_ctx *ctx, mmix_tensor *x, int64_t pos) {
    int64_t L = mmix__token_len(ctx, "tokens_select", x), *map;
    mmix_shape shape;
    if (!L) return NULL;
    if (pos < 0) pos += L;
    if (pos < 0 || pos >= L) {
        mmix_set_error(ctx, MMIX_ERR_RANGE, "tokens_select: position %lld is outside the %lld tokens",
                       (long long)pos, (long long)L);
        return NULL;
    }
    map = mmix__token_map(ctx, 1, "tokens_select");
    if (!map) return NULL;
    map[0] = pos;
    shape = x->shape; /* drop the token axis: [..., L, D] -> [..., D] */
    shape.d[shape.ndim - 2] = shape.d[shape.ndim - 1];
    shape.d[--shape.ndim] = 1;
    return mmix__token_gather(ctx, x, NULL, map, 1, L, 0, shape);
}

MMIXDEF mmix_tensor *mmix_tokens_concat(mmix_ctx *ctx, mmix_tensor *a, mmix_tensor *b) {
    int64_t La = mmix__token_len(ctx, "tokens_concat", a), Lb, r, *map;
    mmix_shape sa, sb;
    if (!La) return NULL;
    Lb = mmix__token_len(ctx, "tokens_concat", b);
    if (!Lb) return NULL;
    sa = a->shape;
    sb = b->shape;
    sa.d[sa.ndim - 2] = sb.d[sb.ndim - 2] = 1;
    if (!mmix_shape_equal(sa, sb))
        return mmix__shape_error(ctx, "tokens_concat", "a", a, "b", b, "all dims but the token axis must match");
    map = mmix__token_map(ctx, La + Lb, "tokens_concat");
    if (!map) return NULL;
    for (r = 0; r < La + Lb; r++) map[r] = r;
    sa.d[sa.ndim - 2] = La + Lb;
    return mmix__token_gather(ctx, a, b, map, La + Lb, La, Lb, sa);
}

MMIXDEF mmix_tensor *mmix_tokens_repeat(mmix_ctx *ctx, mmix_tensor *x, int64_t n) {
    int64_t r, *map;
    mmix_shape shape;
    char sx[64];
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "tokens_repeat", "x", x)) return NULL;
    if (x->shape.ndim < 1 || x->shape.ndim >= MMIX_MAX_DIMS || n < 1) {
        mmix_set_error(ctx, MMIX_ERR_SHAPE, "tokens_repeat: x %s must have 1 to 3 dims and n >= 1 (n = %lld)",
                       mmix_shape_str(x->shape, sx, sizeof sx), (long long)n);
        return NULL;
    }
    map = mmix__token_map(ctx, n, "tokens_repeat");
    if (!map) return NULL;
    for (r = 0; r < n; r++) map[r] = 0;
    shape = x->shape; /* [..., D] -> [..., n, D] */
    shape.d[shape.ndim] = shape.d[shape.ndim - 1];
    shape.d[shape.ndim - 1] = n;
    shape.ndim++;
    return mmix__token_gather(ctx, x, NULL, map, n, 1, 0, shape);
}

MMIXDEF mmix_tensor *mmix_tokens_flip(mmix_ctx *ctx, mmix_tensor *x) {
    int64_t L = mmix__token_len(ctx, "tokens_flip", x), r, *map;
    if (!L) return NULL;
    map = mmix__token_map(ctx, L, "tokens_flip");
    if (!map) return NULL;
    for (r = 0; r < L; r++) map[r] = L - 1 - r;
    return mmix__token_gather(ctx, x, NULL, map, L, L, 0, x->shape);
}

MMIXDEF mmix_tensor *mmix_tokens_zero(mmix_ctx *ctx, mmix_tensor *x, int64_t start, int64_t end) {
    int64_t L = mmix__token_len(ctx, "tokens_zero", x), r, *map;
    if (!L) return NULL;
    if (start < 0) start += L;
    if (end < 0) end += L;
    if (start < 0 || end < start || end > L) {
        mmix_set_error(ctx, MMIX_ERR_RANGE, "tokens_zero: range [%lld, %lld) is not inside the %lld tokens",
                       (long long)start, (long long)end, (long long)L);
        return NULL;
    }
    map = mmix__token_map(ctx, L, "tokens_zero");
    if (!map) return NULL;
    for (r = 0; r < L; r++) map[r] = (r >= start && r < end) ? -1 : r;
    return mmix__token_gather(ctx, x, NULL, map, L, L, 0, x->shape);
}

// ----------------------------------------------------------------------------------------
// >>autograd  One reverse walk over the tape.
// ----------------------------------------------------------------------------------------
/* Gives t a zeroed gradient buffer in its own arena if it needs one and has none. */
static int mmix__ensure_grad(mmix_ctx *ctx, mmix_tensor *t) {
    if (!t || !t->requires_grad || t->grad || t->dtype != MMIX_F32) return 1;
    t->grad = mmix__alloc_floats(ctx, t->lifetime, t->n, "backward");
    return t->grad != NULL;
}

static float *mmix__grad_or_null(mmix_tensor *t) { return (t && t->requires_grad) ? t->grad : NULL; }

/* The upstream gradient of a scalar output, read through the backend. */
static float mmix__scalar_grad(const mmix_backend *be, const float *dout) {
    float g;
    be->download(&g, dout, sizeof g);
    return g;
}

static void mmix__backward_node(mmix_ctx *ctx, mmix__node *node) {
    const mmix_backend *be = ctx->backend;
    mmix_tensor *out = node->out, *a = node->in[0], *b = node->in[1], *c = node->in[2];
    float *dout = out->grad;
    float *da = mmix__grad_or_null(a), *db = mmix__grad_or_null(b), *dc = mmix__grad_or_null(c);
    switch (node->op) {
    case MMIX_OP_EMBEDDING: /* a = table [V, D], b = ids */
        if (da) be->embedding_backward(da, dout, b->ids, b->n, a->shape.d[1]);
        break;
    case MMIX_OP_LINEAR: { /* out = x W^T + b:  dx += dout W,  dW += dout^T x,  db += sum_rows dout */
        int64_t in_dim = b->shape.d[1], out_dim = b->shape.d[0], rows = a->n / in_dim;
        if (da) be->sgemm(0, 0, rows, in_dim, out_dim, 1.0f, dout, out_dim, b->data, in_dim, 1.0f, da, in_dim);
        if (db) be->sgemm(1, 0, out_dim, in_dim, rows, 1.0f, dout, out_dim, a->data, in_dim, 1.0f, db, in_dim);
        if (dc) be->sum_rows_acc(dc, dout, rows, out_dim);
        break;
    }
    case MMIX_OP_LINEAR_IN_OUT: { /* out = x W + b, W [in, out]:  dx += dout W^T,  dW += x^T dout */
        int64_t in_dim = b->shape.d[0], out_dim = b->shape.d[1], rows = a->n / in_dim;
        if (da) be->sgemm(0, 1, rows, in_dim, out_dim, 1.0f, dout, out_dim, b->data, out_dim, 1.0f, da, in_dim);
        if (db) be->sgemm(1, 0, in_dim, out_dim, rows, 1.0f, a->data, in_dim, dout, out_dim, 1.0f, db, out_dim);
        if (dc) be->sum_rows_acc(dc, dout, rows, out_dim);
        break;
    }
    case MMIX_OP_DROPOUT: /* the same mask again, from the call's draw */
        if (da) be->dropout_backward(da, dout, a->n, node->drop);
        break;
    case MMIX_OP_MATMUL: { /* out = op(A) op(B): d op(A) = dout op(B)^T, d op(B) = op(A)^T dout */
        int ta = (int)node->iparam[0], tb = (int)node->iparam[1];
        int64_t a_rows, a_cols, a_batch, b_rows, b_cols, b_batch, batch, i, M, N, K;
        mmix__matmul_dims(a, &a_rows, &a_cols, &a_batch);
        mmix__matmul_dims(b, &b_rows, &b_cols, &b_batch);
        M = ta ? a_cols : a_rows;
        K = ta ? a_rows : a_cols;
        N = tb ? b_rows : b_cols;
        batch = a_batch > b_batch ? a_batch : b_batch;
        /* A shared (2-D) operand sums its gradient over the batch, in batch order. */
        for (i = 0; i < batch; i++) {
            const float *g = dout + i * M * N;
            int64_t ao = a_batch > 1 ? i * a_rows * a_cols : 0, bo = b_batch > 1 ? i * b_rows * b_cols : 0;
            if (da && !ta) be->sgemm(0, !tb, M, K, N, 1.0f, g, N, b->data + bo, b_cols, 1.0f, da + ao, a_cols);
            if (da && ta) be->sgemm(tb, 1, K, M, N, 1.0f, b->data + bo, b_cols, g, N, 1.0f, da + ao, a_cols);
            if (db && !tb) be->sgemm(!ta, 0, K, N, M, 1.0f, a->data + ao, a_cols, g, N, 1.0f, db + bo, b_cols);
            if (db && tb) be->sgemm(1, ta, N, K, M, 1.0f, g, N, a->data + ao, a_cols, 1.0f, db + bo, b_cols);
        }
        break;
    }
    case MMIX_OP_ADD:
        if (da) be->axpy(da, dout, 1.0f, out->n);
        if (db) be->axpy(db, dout, 1.0f, out->n);
        break;
    case MMIX_OP_MUL:
        if (da) be->mul_acc(da, dout, b->data, out->n);
        if (db) be->mul_acc(db, dout, a->data, out->n);
        break;
    case MMIX_OP_SCALE:
        if (da) be->axpy(da, dout, node->fparam, out->n);
        break;
    case MMIX_OP_SUM:
        if (da) be->add_scalar_acc(da, mmix__scalar_grad(be, dout), a->n);
        break;
    case MMIX_OP_MEAN:
        if (da) be->add_scalar_acc(da, (float)((double)mmix__scalar_grad(be, dout) / (double)a->n), a->n);
        break;
    case MMIX_OP_RESHAPE:
        if (da) be->axpy(da, dout, 1.0f, out->n);
        break;
    case MMIX_OP_LAYERNORM: {
        int64_t D = mmix__last_dim(a);
        be->layernorm_backward(da, db, dc, dout, a->data, node->saved[0], node->saved[1],
                               b ? b->data : NULL, a->n / D, D);
        break;
    }
    case MMIX_OP_GELU:
        if (da) be->gelu_backward(da, dout, a->data, a->n);
        break;
    case MMIX_OP_SOFTMAX:
        if (da) be->softmax_backward(da, dout, out->data, mmix__rows(a), mmix__last_dim(a));
        break;
    case MMIX_OP_CROSS_ENTROPY: {
        int64_t V = mmix__last_dim(a);
        if (da) be->cross_entropy_backward(da, a->data, node->saved[0], b->ids, a->n / V, V,
                                           (int32_t)node->iparam[0], mmix__scalar_grad(be, dout) * node->fparam);
        break;
    }
    case MMIX_OP_CUSTOM:
        node->custom->backward(out, node->in, (int)node->iparam[0], node->custom_user);
        break;
    case MMIX_OP_TOKEN_MIX: { /* a = x [.., L_in, D], b = W [L_out, L_in, k], c = bias */
        int64_t L_out = b->shape.d[0], L_in = b->shape.d[1], k = b->shape.d[2], D = mmix__last_dim(a);
        float *dWt = NULL;
        const uint8_t *keep = (const uint8_t *)node->aux;
        if (db) {
            dWt = mmix__alloc_floats(ctx, MMIX_STEP, k * L_out * L_in, "token_mix backward");
            if (!dWt) return;
        }
        be->token_mix_backward(da, dWt, dc, dout, a->data, node->saved[0],
                               node->iparam[0] == MMIX_MASKED_GRADS_REFERENCE ? NULL : keep,
                               a->n / (L_in * D), L_out, L_in, D, k);
        /* Masked entries: zero gradient by default; the unmasked ("phantom") gradient in
           the reference mode. */
        if (db) be->token_mix_unpack_grad(db, dWt, node->iparam[0] == MMIX_MASKED_GRADS_REFERENCE ? NULL : keep,
                                          L_out, L_in, k);
        break;
    }
    case MMIX_OP_RMSNORM: {
        int64_t D = mmix__last_dim(a);
        be->rmsnorm_backward(da, db, dout, a->data, node->saved[0], b ? b->data : NULL, a->n / D, D);
        break;
    }
    case MMIX_OP_SILU:
        if (da) be->silu_backward(da, dout, a->data, a->n);
        break;
    case MMIX_OP_ROPE: {
        int64_t H = node->iparam[0];
        if (da) be->rope(da, dout, a->shape.d[0], a->shape.d[1], H, a->shape.d[2] / H, node->fparam,
                         node->iparam[1], 1);
        break;
    }
    case MMIX_OP_ATTENTION: { /* a = q, b = k, c = v */
        int64_t H = node->iparam[0], B = a->shape.d[0], Lq = a->shape.d[1], Lk = b->shape.d[1];
        float *scratch = mmix__alloc_floats(ctx, MMIX_STEP, B * H * Lq * Lk, "attention backward");
        if (!scratch) return;
        be->attention_backward(da, db, dc, scratch, dout, a->data, b->data, c->data, node->saved[0], B, Lq, Lk,
                               H, a->shape.d[2] / H, node->drop);
        break;
    }
    case MMIX_OP_L2_NORMALIZE:
        if (da) be->l2_normalize_backward(da, dout, a->data, node->saved[0], mmix__rows(a), mmix__last_dim(a),
                                          node->fparam);
        break;
    case MMIX_OP_COSINE_SIMILARITY:
        be->cosine_backward(da, db, dout, a->data, b->data, node->saved[0], node->saved[1], mmix__rows(a),
                            mmix__last_dim(a), node->fparam);
        break;
    case MMIX_OP_LOGSUMEXP:
        if (da) be->logsumexp_backward(da, dout, a->data, out->data, mmix__rows(a), mmix__last_dim(a));
        break;
    case MMIX_OP_L1_DISTANCE:
        be->l1_backward(da, db, mmix__scalar_grad(be, dout), a->data, b->data, a->n);
        break;
    case MMIX_OP_TOKEN_GATHER: {
        int64_t La = node->iparam[1], D = mmix__last_dim(a);
        be->token_gather_backward(da, db, dout, (const int64_t *)node->aux, a->n / (La * D), node->iparam[0],
                                  La, node->iparam[2], D);
        break;
    }
    case MMIX_OP_COUNT:
        MMIX_ASSERT(0 && "not an op");
        break;
    }
}

MMIXDEF mmix_result mmix_backward_from(mmix_ctx *ctx, mmix_tensor *out, const float *out_grad) {
    int64_t i, k;
    float *seed;
    if (!ctx) return MMIX_ERR_INVALID_ARGUMENT;
    if (ctx->last_result != MMIX_OK) return ctx->last_result;
    if (!out || !out_grad)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "backward: the output or its gradient is NULL");
    if (!out->requires_grad || out->dtype != MMIX_F32)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "backward: the output does not depend on "
                              "anything that requires a gradient (or gradients were disabled)");
    /* Intermediate gradients hold the latest backward only: forget the previous ones, so a
       second backward in the same step does not propagate the first one's gradients again. */
    for (i = 0; i < ctx->tape_len; i++) ctx->tape[i].out->grad = NULL;
    if (!mmix__ensure_grad(ctx, out)) return ctx->last_result;
    seed = mmix__alloc_floats(ctx, MMIX_STEP, out->n, "backward"); /* the host gradient, uploaded */
    if (!seed) return ctx->last_result;
    ctx->backend->upload(seed, out_grad, (size_t)out->n * sizeof(float));
    ctx->backend->axpy(out->grad, seed, 1.0f, out->n);
    for (i = ctx->tape_len - 1; i >= 0; i--) {
        mmix__node *node = &ctx->tape[i];
        if (!node->out->grad) continue; /* not on a path to `out` */
        for (k = 0; k < MMIX_MAX_INPUTS; k++)
            if (!mmix__ensure_grad(ctx, node->in[k])) return ctx->last_result;
        mmix__backward_node(ctx, node);
        if (ctx->last_result != MMIX_OK) return ctx->last_result; /* out of memory */
    }
    return MMIX_OK;
}

MMIXDEF mmix_result mmix_backward(mmix_ctx *ctx, mmix_tensor *loss) {
    float one = 1.0f;
    if (ctx && ctx->last_result == MMIX_OK && loss && loss->n != 1) {
        char s[64];
        return mmix_set_error(ctx, MMIX_ERR_SHAPE, "backward: the loss must be a single number, got %s "
                              "(use mmix_backward_from for a non-scalar output)",
                              mmix_shape_str(loss->shape, s, sizeof s));
    }
    return mmix_backward_from(ctx, loss, &one);
}

// ----------------------------------------------------------------------------------------
// >>gradcheck  Finite differences against the tape (see the declaration for the
// method). A public tool: users who add an op check it the same way we do.
// ----------------------------------------------------------------------------------------
MMIXDEF mmix_gradcheck_options mmix_gradcheck_options_default(void) {
    mmix_gradcheck_options o;
    o.step = 0.0078125f; /* 2^-7: x +- h, x +- 2h are exact for x on the 2^-12 grid */
    o.tolerance = 1e-3;
    o.max_elements = 4096;
    o.seed = 1234;
    return o;
}

/* sum(out * R) in double, for the perturbed forward passes; out is fetched into host. */
static double mmix__projected(const mmix_tensor *out, const float *R, float *host) {
    double s = 0.0;
    int64_t i;
    out->backend->download(host, out->data, (size_t)out->n * sizeof(float));
    for (i = 0; i < out->n; i++) s += (double)host[i] * R[i];
    return s;
}

/* One float of backend memory, read or written (gradcheck perturbs one element at a time). */
static float mmix__get_float(const mmix_backend *be, const float *p) {
    float v;
    be->download(&v, p, sizeof v);
    return v;
}
static void mmix__put_float(const mmix_backend *be, float *p, float v) { be->upload(p, &v, sizeof v); }

MMIXDEF mmix_result mmix_gradcheck(mmix_ctx *ctx, mmix_forward_fn fn, void *user,
                                   mmix_tensor *const *inputs, int n_inputs,
                                   const mmix_gradcheck_options *options,
                                   mmix_gradcheck_report *report) {
    mmix_gradcheck_options opt = options ? *options : mmix_gradcheck_options_default();
    mmix_gradcheck_report rep;
    mmix_step_mark mark;
    mmix_rng rng;
    mmix_tensor *out;
    float *R = NULL, *host = NULL;
    double *numeric = NULL;
    int64_t *picked = NULL, n_out, e, i;
    int k, s, was_enabled = ctx->grad_enabled;
    mmix_result result = MMIX_OK;
    const double offsets[4] = {-2.0, -1.0, 1.0, 2.0}, weights[4] = {1.0, -8.0, 8.0, -1.0};

    memset(&rep, 0, sizeof rep);
    rep.ok = 1;
    rep.worst_input = -1;
    if (ctx->last_result != MMIX_OK) return ctx->last_result;
    mmix_rng_seed(&rng, opt.seed);
    /* Inputs on the 2^-12 grid, with zeroed gradient buffers made before the mark. */
    for (k = 0; k < n_inputs; k++) {
        mmix_tensor *t = inputs[k];
        float *values;
        if (!t || t->dtype != MMIX_F32 || !t->requires_grad) continue;
        values = (float *)MMIX_MALLOC((size_t)t->n * sizeof(float));
        if (!values) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "gradcheck: out of memory");
        mmix_tensor_download(ctx, t, 0, values, t->n);
        for (i = 0; i < t->n; i++) values[i] = (float)(floor((double)values[i] * 4096.0 + 0.5) / 4096.0);
        mmix_tensor_upload(ctx, t, 0, values, t->n);
        MMIX_FREE(values);
        if (!mmix__ensure_grad(ctx, t)) return ctx->last_result;
        ctx->backend->fill(t->grad, t->n, 0.0f);
    }
    mark = mmix_step_mark_get(ctx);
    ctx->grad_enabled = 1;
    out = fn(ctx, inputs, user);
    if (!out) { result = ctx->last_result; goto done; }
    n_out = out->n;
    R = (float *)MMIX_MALLOC((size_t)n_out * sizeof(float));
    host = (float *)MMIX_MALLOC((size_t)n_out * sizeof(float));
    numeric = (double *)MMIX_MALLOC((size_t)opt.max_elements * sizeof(double));
    picked = (int64_t *)MMIX_MALLOC((size_t)opt.max_elements * sizeof(int64_t));
    if (!R || !host || !numeric || !picked) {
        result = mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "gradcheck: out of memory");
        goto done;
    }
    for (i = 0; i < n_out; i++) R[i] = 2.0f * mmix_rng_uniform(&rng) - 1.0f;
    result = mmix_backward_from(ctx, out, R);
    if (result != MMIX_OK) goto done;
    mmix_step_rewind(ctx, mark);
    ctx->grad_enabled = 0;

    for (k = 0; k < n_inputs; k++) {
        mmix_tensor *t = inputs[k];
        int64_t n_pick;
        double scale = 0.0;
        if (!t || t->dtype != MMIX_F32 || !t->requires_grad) continue;
        n_pick = t->n <= opt.max_elements ? t->n : opt.max_elements;
        for (e = 0; e < n_pick; e++)
            picked[e] = t->n <= opt.max_elements ? e : (int64_t)mmix_rng_below(&rng, (uint32_t)t->n);
        for (e = 0; e < n_pick; e++) {
            float *x = t->data + picked[e], original = mmix__get_float(t->backend, x);
            double d = 0.0;
            for (s = 0; s < 4; s++) {
                mmix__put_float(t->backend, x, (float)((double)original + offsets[s] * opt.step));
                out = fn(ctx, inputs, user);
                if (!out || out->n != n_out) {
                    mmix__put_float(t->backend, x, original);
                    result = out ? mmix_set_error(ctx, MMIX_ERR_SHAPE, "gradcheck: the output size changed")
                                 : ctx->last_result;
                    goto done;
                }
                d += weights[s] * mmix__projected(out, R, host);
                mmix_step_rewind(ctx, mark);
            }
            mmix__put_float(t->backend, x, original);
            numeric[e] = d / (12.0 * opt.step);
            if (fabs(numeric[e]) > scale) scale = fabs(numeric[e]);
        }
        /* Errors are measured against the input's largest gradient, so an element whose
           gradient is near zero is not held to an impossible relative standard. */
        if (scale == 0.0)
            for (e = 0; e < n_pick; e++)
                if (fabs(mmix__get_float(t->backend, t->grad + picked[e])) > scale)
                    scale = fabs(mmix__get_float(t->backend, t->grad + picked[e]));
        if (scale == 0.0) scale = 1.0;
        for (e = 0; e < n_pick; e++) {
            double analytic = mmix__get_float(t->backend, t->grad + picked[e]);
            double err = fabs(analytic - numeric[e]) / scale;
            rep.checked++;
            if (!(err <= opt.tolerance)) { /* NaN fails too */
                rep.failed++;
                rep.ok = 0;
            }
            if (!(err <= rep.worst_error) || rep.worst_input < 0) {
                rep.worst_error = err;
                rep.worst_input = k;
                rep.worst_element = picked[e];
                rep.worst_analytic = analytic;
                rep.worst_numeric = numeric[e];
            }
        }
    }
done:
    mmix_step_rewind(ctx, mark);
    ctx->grad_enabled = was_enabled;
    MMIX_FREE(R);
    MMIX_FREE(host);
    MMIX_FREE(numeric);
    MMIX_FREE(picked);
    if (report) *report = rep;
    return result;
}

// ----------------------------------------------------------------------------------------
// >>adamw  AdamW, schedules and clipping, as torch and the Hugging Face Trainer do them
// (reference-notes Sec. 6). An optimizer step is a plain pass over the parameter list.
// ----------------------------------------------------------------------------------------
MMIXDEF mmix_adamw_config mmix_adamw_config_default(void) {
    mmix_adamw_config c;
    c.lr = 1e-3f;
    c.beta1 = 0.9f;
    c.beta2 = 0.999f;
    c.eps = 1e-8f;
    c.weight_decay = 0.01f;
    return c;
}

MMIXDEF mmix_result mmix_adamw_init(mmix_ctx *ctx, mmix_adamw *opt, const mmix_params *set,
                                    mmix_adamw_config config) {
    int64_t i, n = set ? set->count : 0, offset = 0;
    memset(opt, 0, sizeof *opt);
    opt->config = config;
    if (!set) return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "adamw: no parameter set");
    if (!(config.lr >= 0.0f) || !(config.beta1 >= 0.0f && config.beta1 < 1.0f) ||
        !(config.beta2 >= 0.0f && config.beta2 < 1.0f) || !(config.eps > 0.0f) || !(config.weight_decay >= 0.0f))
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "adamw: invalid settings (lr %g, betas %g %g, "
                              "eps %g, weight decay %g)", (double)config.lr, (double)config.beta1,
                              (double)config.beta2, (double)config.eps, (double)config.weight_decay);
    opt->params = (mmix_tensor **)mmix__arena_alloc(ctx, &ctx->persist, (size_t)(3 * (n ? n : 1)) * sizeof(mmix_tensor *));
    if (!opt->params) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "adamw: out of memory");
    opt->m = opt->params + n;
    opt->v = opt->params + 2 * n;
    if (set->data) { /* a contiguous set: contiguous moments, each tensor's a view */
        opt->m_all = mmix__alloc_floats(ctx, MMIX_PERSIST, set->numel, "adamw");
        opt->v_all = opt->m_all ? mmix__alloc_floats(ctx, MMIX_PERSIST, set->numel, "adamw") : NULL;
        if (!opt->v_all) return ctx->last_result;
    }
    for (i = 0; i < n; i++) {
        const mmix_tensor *p = set->tensors[i];
        opt->params[i] = set->tensors[i];
        if (set->data) {
            opt->m[i] = (mmix_tensor *)mmix__arena_alloc(ctx, &ctx->persist, sizeof(mmix_tensor));
            opt->v[i] = (mmix_tensor *)mmix__arena_alloc(ctx, &ctx->persist, sizeof(mmix_tensor));
            if (!opt->m[i] || !opt->v[i]) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "adamw: out of memory");
            *opt->m[i] = mmix__view(ctx->backend, opt->m_all + offset, p->shape);
            *opt->v[i] = mmix__view(ctx->backend, opt->v_all + offset, p->shape);
            offset += p->n;
        } else {
            opt->m[i] = mmix_tensor_new(ctx, MMIX_PERSIST, MMIX_F32, p->shape);
            opt->v[i] = mmix_tensor_new(ctx, MMIX_PERSIST, MMIX_F32, p->shape);
            if (!opt->m[i] || !opt->v[i]) return ctx->last_result;
        }
    }
    opt->n_params = n;
    opt->set = set;
    return MMIX_OK;
}

MMIXDEF mmix_result mmix_adamw_step(mmix_ctx *ctx, mmix_adamw *opt, float lr) {
    const mmix_adamw_config *c = &opt->config;
    double bias_correction1, bias_correction2;
    int64_t i, training = 0;
    if (ctx->last_result != MMIX_OK) return ctx->last_result;
    opt->step++;
    bias_correction1 = 1.0 - pow((double)c->beta1, (double)opt->step);
    bias_correction2 = 1.0 - pow((double)c->beta2, (double)opt->step);
    for (i = 0; i < opt->n_params; i++) training += opt->params[i]->requires_grad && opt->params[i]->grad;
    if (opt->m_all && training == opt->n_params && opt->set->used == opt->set->numel) {
        ctx->backend->adamw_update(opt->set->data, opt->set->grad, opt->m_all, opt->v_all, opt->set->numel, lr,
                                   c->beta1, c->beta2, c->eps, c->weight_decay, bias_correction1, bias_correction2);
        return MMIX_OK;
    }
    for (i = 0; i < opt->n_params; i++) {
        mmix_tensor *p = opt->params[i];
        if (!p->requires_grad || !p->grad) continue;
        ctx->backend->adamw_update(p->data, p->grad, opt->m[i]->data, opt->v[i]->data, p->n, lr, c->beta1,
                                   c->beta2, c->eps, c->weight_decay, bias_correction1, bias_correction2);
    }
    return MMIX_OK;
}

MMIXDEF float mmix_schedule_lr(mmix_schedule schedule, float lr, int64_t step, int64_t warmup, int64_t total) {
    double factor;
    if (step < warmup)
        factor = (double)step / (double)(warmup > 1 ? warmup : 1);
    else if (schedule == MMIX_SCHEDULE_CONSTANT)
        factor = 1.0;
    else {
        factor = (double)(total - step) / (double)(total - warmup > 1 ? total - warmup : 1);
        if (factor < 0.0) factor = 0.0;
    }
    return (float)((double)lr * factor);
}

MMIXDEF mmix_result mmix_clip_grad_norm(mmix_ctx *ctx, const mmix_params *set, float max_norm, double *norm) {
    double total = 0.0, coef;
    int64_t i;
    for (i = 0; i < set->count; i++)
        if (set->tensors[i]->requires_grad && set->tensors[i]->grad)
            total += ctx->backend->sum_squares(set->tensors[i]->grad, set->tensors[i]->n);
    total = sqrt(total);
    if (norm) *norm = total;
    if (!isfinite(total))
        return mmix_set_error(ctx, MMIX_ERR_NUMERIC, "clip_grad_norm: the gradient norm is %g", total);
    if (max_norm <= 0.0f) return MMIX_OK;
    coef = (double)max_norm / (total + 1e-6);
    if (coef < 1.0)
        for (i = 0; i < set->count; i++)
            if (set->tensors[i]->requires_grad && set->tensors[i]->grad)
                ctx->backend->scale_forward(set->tensors[i]->grad, set->tensors[i]->grad, (float)coef,
                                            set->tensors[i]->n);
    return MMIX_OK;
}

// ----------------------------------------------------------------------------------------
// >>safetensors  Weights files (reference-notes Sec. 9): the safetensors format of Hugging Face.
//
//   [8 bytes: N, little-endian u64] [N bytes: JSON header] [data: raw little-endian]
//   {"__metadata__": {"key": "value", ...},
//    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}
//
// Offsets are relative to the start of the data. The header is read with the JSON reader
// (see >>json) walking this one schema, without building a tree: any byte the schema does
// not expect is an error at that byte ("PATH: header byte I: ..."). The schema fixes the nesting
// at three levels (header, entry, shape), so a "[[[[..." bomb fails at its second bracket
// and deep input costs nothing. What the format allows is accepted: entries in any order,
// gaps between tensors, zero-sized dims, a missing __metadata__, whitespace between
// tokens, spaces (only) after the object up to N (the format's padding). The header must
// begin with '{', as the format says. Everything is checked against the file before any
// data is read, so a corrupt or truncated file is an error at open, never a wrong read.
// ----------------------------------------------------------------------------------------
static const char *const mmix__st_dtype_names[] = {"F32", "F16", "BF16", "F64", "I64", "I32", "I16",
                                                   "I8", "U64", "U32", "U16", "U8", "BOOL"};
static const unsigned char mmix__st_dtype_sizes[] = {4, 2, 2, 8, 8, 4, 2, 1, 8, 4, 2, 1, 1};
MMIX__STATIC_CHECK(sizeof(mmix__st_dtype_names) / sizeof(mmix__st_dtype_names[0]) == MMIX_ST_BOOL + 1,
                   st_dtype_names);
MMIX__STATIC_CHECK(sizeof(mmix__st_dtype_sizes) == MMIX_ST_BOOL + 1, st_dtype_sizes);

/* Dtypes newer versions of the format name, which this build cannot hold: a file using one
   is valid but unsupported (MMIX_ERR_UNSUPPORTED), not corrupt. */
static const char *const mmix__st_newer_dtypes[] = {"F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3",
                                                    "F6_E3M2", "F4", "C64", "U4", "I4"};

MMIXDEF const char *mmix_st_dtype_name(mmix_st_dtype d) {
    if ((int)d < 0 || (int)d > (int)MMIX_ST_BOOL) return "unknown dtype";
    return mmix__st_dtype_names[d];
}

/* Host byte order, asked at run time (no macro says it portably). */
static int mmix__little_endian(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}
static uint64_t mmix__load_le64(const unsigned char *p) {
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* ---- The header parser: the schema, on the reader of >>json ---- */
/* The reader and the last string it read. The buffer gets room for the whole header up
   front (a string never grows when unescaped), so reading a string never allocates. */
typedef struct mmix__st_parser {
    mmix__json j;
    mmix_bpe_bytes str;
} mmix__st_parser;

static int mmix__st_string(mmix__st_parser *p, const char *what) { return mmix__json_string(&p->j, what, &p->str); }
static const char *mmix__st_str(const mmix__st_parser *p) { return (const char *)p->str.data; }

static char *mmix__st_strdup(const char *s, size_t len) {
    char *c = (char *)MMIX_MALLOC(len + 1);
    if (c) { memcpy(c, s, len); c[len] = '\0'; }
    return c;
}

/* One tensor entry, its name already in e->name: {"dtype":..,"shape":[..],"data_offsets":[b,e]},
   keys in any order, each exactly once. */
static int mmix__st_entry(mmix__st_parser *p, mmix_st_entry *e, uint64_t data_size) {
    int seen[3] = {0, 0, 0}, k, members = 0, more;
    static const char *const keys[3] = {"dtype", "shape", "data_offsets"};
    size_t entry_at = p->j.i, key_at, value_at;
    char what[MMIX_NAME_MAX + 64];
    uint64_t v, numel = 1, bytes;
    if (!mmix__json_expect(&p->j, '{', "(a tensor entry is an object)")) return 0;
    while ((more = mmix__json_next(&p->j, '}', &members, "or '}' in a tensor entry")) > 0) {
        mmix__json_peek(&p->j);
        key_at = p->j.i;
        if (!mmix__st_string(p, "a key of a tensor entry")) return 0;
        for (k = 0; k < 3; k++)
            if (strcmp(mmix__st_str(p), keys[k]) == 0) break;
        if (k == 3)
            return mmix__json_fail(&p->j, MMIX_ERR_FORMAT, key_at, "tensor '%s': unknown key '%.60s' (an entry has "
                                 "exactly dtype, shape and data_offsets)", e->name, mmix__st_str(p));
        if (seen[k]) return mmix__json_fail(&p->j, MMIX_ERR_FORMAT, key_at, "tensor '%s': duplicate key '%s'", e->name, keys[k]);
        seen[k] = 1;
        if (!mmix__json_expect(&p->j, ':', "after a key")) return 0;
        mmix__json_peek(&p->j);
        value_at = p->j.i;
        if (k == 0) { /* dtype */
            int d;
            snprintf(what, sizeof what, "the dtype of tensor '%s'", e->name);
            if (!mmix__st_string(p, what)) return 0;
            for (d = 0; d <= (int)MMIX_ST_BOOL; d++)
                if (strcmp(mmix__st_str(p), mmix__st_dtype_names[d]) == 0) break;
            if (d > (int)MMIX_ST_BOOL) {
                size_t u;
                for (u = 0; u < sizeof mmix__st_newer_dtypes / sizeof mmix__st_newer_dtypes[0]; u++)
                    if (strcmp(mmix__st_str(p), mmix__st_newer_dtypes[u]) == 0)
                        return mmix__json_fail(&p->j, MMIX_ERR_UNSUPPORTED, value_at, "tensor '%s': dtype %s is not supported "
                                             "by this build", e->name, mmix__st_str(p));
                return mmix__json_fail(&p->j, MMIX_ERR_FORMAT, value_at, "tensor '%s': unknown dtype '%.40s'", e->name, mmix__st_str(p));
            }
            e->dtype = (mmix_st_dtype)d;
        } else if (k == 1) { /* shape: all dims are read, so that the message can say how many */
            int ndim = 0, dims = 0, more_dims;
            if (!mmix__json_expect(&p->j, '[', "(a shape is an array of integers)")) return 0;
            numel = 1;
            while ((more_dims = mmix__json_next(&p->j, ']', &dims, "or ']' in a shape")) > 0) {
                snprintf(what, sizeof what, "dim %d of tensor '%s''s shape", ndim, e->name);
                if (!mmix__json_uint(&p->j, (uint64_t)INT64_MAX, &v, what)) return 0;
                if (ndim < MMIX_MAX_DIMS) e->shape[ndim] = (int64_t)v;
                /* the element count, saturated: overflow is reported below with the shape */
                numel = (v != 0 && numel > (uint64_t)INT64_MAX / v) ? (uint64_t)INT64_MAX + 1 : numel * v;
                ndim++;
            }
            if (more_dims < 0) return 0;
            if (ndim > MMIX_MAX_DIMS)
                return mmix__json_fail(&p->j, MMIX_ERR_UNSUPPORTED, value_at, "tensor '%s' has %d dims; this build holds at "
                                     "most %d", e->name, ndim, MMIX_MAX_DIMS);
            if (numel > (uint64_t)INT64_MAX)
                return mmix__json_fail(&p->j, MMIX_ERR_FORMAT, value_at, "tensor '%s': its shape has more than 2^63 elements",
                                     e->name);
            e->ndim = ndim;
            e->numel = (int64_t)numel;
        } else { /* data_offsets: exactly [begin, end] */
            if (!mmix__json_expect(&p->j, '[', "(data_offsets is an array of two integers)")) return 0;
            snprintf(what, sizeof what, "the begin offset of tensor '%s'", e->name);
            if (!mmix__json_uint(&p->j, UINT64_MAX, &e->begin, what)) return 0;
            if (!mmix__json_expect(&p->j, ',', "(data_offsets is an array of exactly two integers)")) return 0;
            snprintf(what, sizeof what, "the end offset of tensor '%s'", e->name);
            if (!mmix__json_uint(&p->j, UINT64_MAX, &e->end, what)) return 0;
            if (!mmix__json_expect(&p->j, ']', "(data_offsets is an array of exactly two integers)")) return 0;
        }
    }
    if (more < 0) return 0;
    for (k = 0; k < 3; k++)
        if (!seen[k])
            return mmix__json_fail(&p->j, MMIX_ERR_FORMAT, entry_at, "tensor '%s': the key '%s' is missing", e->name, keys[k]);
    /* The offsets against the shape and the file. */
    if (e->begin > e->end)
        return mmix__json_fail(&p->j, MMIX_ERR_FORMAT, entry_at, "tensor '%s': data_offsets [%llu, %llu] are reversed",
                             e->name, (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end > data_size)
        return mmix__json_fail(&p->j, MMIX_ERR_FORMAT, entry_at, "tensor '%s': data_offsets [%llu, %llu] end beyond "
                             "the data section (%llu bytes): truncated file?", e->name,
                             (unsigned long long)e->begin, (unsigned long long)e->end, (unsigned long long)data_size);
    if ((uint64_t)e->numel > UINT64_MAX / mmix__st_dtype_sizes[e->dtype])
        return mmix__json_fail(&p->j, MMIX_ERR_FORMAT, entry_at, "tensor '%s': %lld elements of %s need more than 2^64 "
                             "bytes", e->name, (long long)e->numel, mmix__st_dtype_names[e->dtype]);
    bytes = (uint64_t)e->numel * mmix__st_dtype_sizes[e->dtype];
    if (e->end - e->begin != bytes)
        return mmix__json_fail(&p->j, MMIX_ERR_FORMAT, entry_at, "tensor '%s': data_offsets [%llu, %llu] hold %llu "
                             "bytes, but %lld elements of %s need %llu", e->name, (unsigned long long)e->begin,
                             (unsigned long long)e->end, (unsigned long long)(e->end - e->begin),
                             (long long)e->numel, mmix__st_dtype_names[e->dtype], (unsigned long long)bytes);
    return 1;
}

/* __metadata__: {"key": "value", ...}, strings only. */
static int mmix__st_metadata(mmix__st_parser *p, mmix_safetensors *st, int64_t *capacity) {
    int members = 0, more;
    char what[128];
    if (!mmix__json_expect(&p->j, '{', "(__metadata__ is an object of strings)")) return 0;
    while ((more = mmix__json_next(&p->j, '}', &members, "or '}' in __metadata__")) > 0) {
        char *key;
        if (!mmix__st_string(p, "a __metadata__ key")) return 0;
        if (st->n_meta == *capacity) { /* keys and values grow together */
            int64_t cap = *capacity;
            void *grown = mmix__grow(st->meta_keys, &cap, st->n_meta + 1, sizeof(char *));
            if (!grown) return mmix__json_oom(&p->j);
            st->meta_keys = (char **)grown;
            cap = *capacity;
            if (!(grown = mmix__grow(st->meta_values, &cap, st->n_meta + 1, sizeof(char *))))
                return mmix__json_oom(&p->j);
            st->meta_values = (char **)grown;
            *capacity = cap;
        }
        key = mmix__st_strdup(mmix__st_str(p), p->str.size);
        if (!key) return mmix__json_oom(&p->j);
        st->meta_keys[st->n_meta] = key;
        st->meta_values[st->n_meta] = NULL;
        st->n_meta++; /* counted now, so that close frees the key if the value fails */
        if (!mmix__json_expect(&p->j, ':', "after a __metadata__ key")) return 0;
        snprintf(what, sizeof what, "the value of __metadata__ key '%.60s'", key);
        if (!mmix__st_string(p, what)) return 0;
        st->meta_values[st->n_meta - 1] = mmix__st_strdup(mmix__st_str(p), p->str.size);
        if (!st->meta_values[st->n_meta - 1]) return mmix__json_oom(&p->j);
    }
    return more == 0;
}

/* Sorting helpers: names (for duplicates) and byte ranges (for overlaps). */
typedef struct mmix__st_sorted {
    const char *name;
    uint64_t begin, end;
} mmix__st_sorted;
static int mmix__st_cmp_name(const void *a, const void *b) {
    return strcmp(((const mmix__st_sorted *)a)->name, ((const mmix__st_sorted *)b)->name);
}
static int mmix__st_cmp_begin(const void *a, const void *b) {
    uint64_t x = ((const mmix__st_sorted *)a)->begin, y = ((const mmix__st_sorted *)b)->begin;
    return x < y ? -1 : x > y;
}
/* The first name that occurs twice among n, or NULL. O(n log n), so that a header with
   many entries is not quadratic. */
static const char *mmix__st_duplicate(mmix__st_sorted *v, int64_t n) {
    int64_t i;
    qsort(v, (size_t)n, sizeof *v, mmix__st_cmp_name);
    for (i = 1; i < n; i++)
        if (strcmp(v[i - 1].name, v[i].name) == 0) return v[i].name;
    return NULL;
}

/* Duplicate tensor names, duplicate metadata keys, overlapping tensors. */
static mmix_result mmix__st_check_entries(mmix_ctx *ctx, mmix_safetensors *st) {
    int64_t n = st->n_entries > st->n_meta ? st->n_entries : st->n_meta, i, prev = -1;
    mmix__st_sorted *v;
    const char *dup;
    mmix_result r = MMIX_OK;
    if (n == 0) return MMIX_OK;
    v = (mmix__st_sorted *)MMIX_MALLOC((size_t)n * sizeof *v);
    if (!v) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: out of memory", st->path);
    for (i = 0; i < st->n_entries; i++) {
        v[i].name = st->entries[i].name;
        v[i].begin = st->entries[i].begin;
        v[i].end = st->entries[i].end;
    }
    if ((dup = mmix__st_duplicate(v, st->n_entries)) != NULL) {
        r = mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: the header names tensor '%s' twice", st->path, dup);
        goto done;
    }
    /* Sorted by begin, ranges overlap only if one begins before the previous non-empty one
       ends. Empty tensors occupy no bytes and overlap nothing. */
    qsort(v, (size_t)st->n_entries, sizeof *v, mmix__st_cmp_begin);
    for (i = 0; i < st->n_entries; i++) {
        if (v[i].begin == v[i].end) continue;
        if (prev >= 0 && v[i].begin < v[prev].end) {
            r = mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap "
                               "in the data section", st->path, v[prev].name, (unsigned long long)v[prev].begin,
                               (unsigned long long)v[prev].end, v[i].name, (unsigned long long)v[i].begin,
                               (unsigned long long)v[i].end);
            goto done;
        }
        prev = i;
    }
    for (i = 0; i < st->n_meta; i++) v[i].name = st->meta_keys[i];
    if ((dup = mmix__st_duplicate(v, st->n_meta)) != NULL)
        r = mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: __metadata__ has the key '%.60s' twice", st->path, dup);
done:
    MMIX_FREE(v);
    return r;
}

/* The whole header: {"name": entry, "__metadata__": {...}, ...} then spaces up to n. */
static mmix_result mmix__st_parse(mmix_ctx *ctx, mmix_safetensors *st, const unsigned char *s, size_t n) {
    mmix__st_parser p;
    mmix__json *j = &p.j;
    int64_t capacity = 0, meta_capacity = 0;
    int members = 0, more, have_meta = 0;
    mmix__json_init(j, s, n, "the end of the header");
    j->c_strings = 1;
    memset(&p.str, 0, sizeof p.str);
    if (!mmix__bytes_reserve(&p.str, n))
        return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: out of memory for the header", st->path);
    if (n == 0 || s[0] != '{') {
        mmix__json_fail(j, MMIX_ERR_FORMAT, 0, "the header must be a JSON object, starting with '{' (not a "
                        "safetensors file?)");
        goto fail;
    }
    j->i = 1;
    while ((more = mmix__json_next(j, '}', &members, "or '}' between the header's entries")) > 0) {
        size_t key_at;
        mmix__json_peek(j);
        key_at = j->i;
        if (!mmix__st_string(&p, "a tensor name or __metadata__")) goto fail;
        if (strcmp(mmix__st_str(&p), "__metadata__") == 0) {
            if (have_meta) {
                mmix__json_fail(j, MMIX_ERR_FORMAT, key_at, "a second __metadata__");
                goto fail;
            }
            have_meta = 1;
            if (!mmix__json_expect(j, ':', "after __metadata__") || !mmix__st_metadata(&p, st, &meta_capacity))
                goto fail;
        } else {
            mmix_st_entry *e;
            if (p.str.size >= MMIX_NAME_MAX) {
                mmix__json_fail(j, MMIX_ERR_UNSUPPORTED, key_at, "tensor name '%.40s...' is %llu bytes; this build "
                                "holds names of at most %d (MMIX_NAME_MAX - 1)", mmix__st_str(&p),
                                (unsigned long long)p.str.size, MMIX_NAME_MAX - 1);
                goto fail;
            }
            if (st->n_entries == capacity) { /* (the header's size bounds the count: no overflow) */
                void *grown = mmix__grow(st->entries, &capacity, st->n_entries + 1, sizeof *e);
                if (!grown) {
                    mmix__json_oom(j);
                    goto fail;
                }
                st->entries = (mmix_st_entry *)grown;
            }
            e = &st->entries[st->n_entries];
            memset(e, 0, sizeof *e);
            memcpy(e->name, p.str.data, p.str.size + 1);
            if (!mmix__json_expect(j, ':', "after a tensor name") || !mmix__st_entry(&p, e, st->data_size)) goto fail;
            st->n_entries++;
        }
    }
    if (more < 0) goto fail;
    /* Only the format's padding may follow: spaces, up to the header length. */
    for (; j->i < n; j->i++)
        if (s[j->i] != ' ') {
            char found[32];
            mmix__json_fail(j, MMIX_ERR_FORMAT, j->i, "%s after the header's closing '}': only spaces may pad it",
                            mmix__json_found(j, found, sizeof found));
            goto fail;
        }
    mmix_bpe_bytes_free(&p.str);
    return mmix__st_check_entries(ctx, st);
fail:
    mmix_bpe_bytes_free(&p.str);
    if (j->code == MMIX_ERR_OUT_OF_MEMORY)
        return mmix_set_error(ctx, j->code, "%s: out of memory reading the header", st->path);
    return mmix_set_error(ctx, j->code, "%s: header byte %llu: %s", st->path, (unsigned long long)j->err_at, j->err);
}

MMIXDEF void mmix_safetensors_close(mmix_safetensors *st) {
    int64_t i;
    if (!st) return;
    if (st->file) fclose((FILE *)st->file);
    for (i = 0; i < st->n_meta; i++) {
        MMIX_FREE(st->meta_keys[i]);
        MMIX_FREE(st->meta_values[i]);
    }
    MMIX_FREE(st->meta_keys);
    MMIX_FREE(st->meta_values);
    MMIX_FREE(st->entries);
    memset(st, 0, sizeof *st);
}

MMIXDEF mmix_result mmix_safetensors_open(mmix_ctx *ctx, const char *path, mmix_safetensors *st) {
    unsigned char len8[8];
    unsigned char *header = NULL;
    uint64_t file_size, n;
    FILE *f;
    mmix_result r;
    if (!st) return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "safetensors open: st is NULL");
    memset(st, 0, sizeof *st);
    if (!path) return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "safetensors open: path is NULL");
    snprintf(st->path, sizeof st->path, "%s", path);
    f = fopen(path, "rb");
    if (!f) return mmix_set_error(ctx, MMIX_ERR_FILE_NOT_FOUND, "%s: cannot open the file", st->path);
    st->file = f;
    if (mmix__file_size(f, &file_size) != 0 || mmix__file_seek(f, 0) != 0) {
        r = mmix_set_error(ctx, MMIX_ERR_IO, "%s: cannot find the file's size (not a regular file?)", st->path);
        goto fail;
    }
    if (file_size < 8) {
        r = mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: the file has %llu bytes, fewer than the 8 of the header "
                           "length: truncated, or not a safetensors file", st->path, (unsigned long long)file_size);
        goto fail;
    }
    if (fread(len8, 1, 8, f) != 8) {
        r = mmix_set_error(ctx, MMIX_ERR_IO, "%s: error reading the header length (a directory?)", st->path);
        goto fail;
    }
    n = mmix__load_le64(len8);
    if (n > (uint64_t)MMIX_SAFETENSORS_MAX_HEADER || (uint64_t)(size_t)n != n) {
        r = mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: header length %llu is above the limit of %llu bytes "
                           "(MMIX_SAFETENSORS_MAX_HEADER): corrupt, or not a safetensors file", st->path,
                           (unsigned long long)n, (unsigned long long)MMIX_SAFETENSORS_MAX_HEADER);
        goto fail;
    }
    if (n > file_size - 8) {
        r = mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: header length %llu runs past the end of the file (%llu "
                           "bytes): truncated or corrupt", st->path, (unsigned long long)n,
                           (unsigned long long)file_size);
        goto fail;
    }
    st->data_start = 8 + n;
    st->data_size = file_size - st->data_start;
    header = (unsigned char *)MMIX_MALLOC(n ? (size_t)n : 1);
    if (!header) {
        r = mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: out of memory for a %llu-byte header", st->path,
                           (unsigned long long)n);
        goto fail;
    }
    if (fread(header, 1, (size_t)n, f) != (size_t)n) {
        r = mmix_set_error(ctx, MMIX_ERR_IO, "%s: error reading the %llu-byte header", st->path, (unsigned long long)n);
        goto fail;
    }
    r = mmix__st_parse(ctx, st, header, (size_t)n);
    if (r != MMIX_OK) goto fail;
    MMIX_FREE(header);
    return MMIX_OK;
fail:
    MMIX_FREE(header);
    mmix_safetensors_close(st);
    return r;
}

MMIXDEF const mmix_st_entry *mmix_safetensors_find(const mmix_safetensors *st, const char *name) {
    int64_t i;
    if (!st || !name) return NULL;
    for (i = 0; i < st->n_entries; i++)
        if (strcmp(st->entries[i].name, name) == 0) return &st->entries[i];
    return NULL;
}

MMIXDEF const char *mmix_safetensors_meta(const mmix_safetensors *st, const char *key) {
    int64_t i;
    if (!st || !key) return NULL;
    for (i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

/* IEEE half to float, exactly (every half is a float): subnormals are normalized, inf stays
   inf, a NaN keeps its payload and comes out quiet, as a hardware conversion (and torch)
   gives it. */
static float mmix__f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
    float f;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13) | (mant ? 0x00400000u : 0u);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13); /* rebias 15 -> 127 */
    } else if (mant == 0) {
        bits = sign; /* +-0 */
    } else { /* subnormal: mant * 2^-24; shift the leading 1 up to the implicit bit */
        uint32_t e = 113;
        while (!(mant & 0x400u)) { mant <<= 1; e--; }
        bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
    }
    memcpy(&f, &bits, sizeof f);
    return f;
}
static float mmix__bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16; /* bfloat16 is the top half of a float */
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}
/* Round to nearest even, as a cast does; beyond the float range it is +-inf (C leaves the
   out-of-range cast undefined, so it is not left to the compiler). */
static float mmix__f64_to_f32(double d) {
    const double overflow = 340282356779733661637539395458142568448.0; /* FLT_MAX + half an ulp */
    if (d >= overflow) return (float)HUGE_VAL;
    if (d <= -overflow) return -(float)HUGE_VAL;
    return (float)d;
}

MMIXDEF mmix_result mmix_safetensors_read(mmix_ctx *ctx, const mmix_safetensors *st, const mmix_st_entry *e,
                                          float *out) {
    unsigned char buf[1 << 15];
    FILE *f;
    uint64_t size, done = 0;
    int64_t k = 0;
    unsigned dsize;
    int le = mmix__little_endian();
    if (!st || !st->file || !e || (!out && e->numel > 0))
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "safetensors read: NULL argument or a closed file");
    if ((int)e->dtype < 0 || (int)e->dtype > (int)MMIX_ST_BOOL || e->numel < 0 || e->begin > e->end ||
        e->end > st->data_size || e->end - e->begin != (uint64_t)e->numel * mmix__st_dtype_sizes[e->dtype])
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "%s: tensor '%.60s': the entry does not belong to "
                              "this file", st->path, e->name);
    if (e->dtype != MMIX_ST_F32 && e->dtype != MMIX_ST_F16 && e->dtype != MMIX_ST_BF16 && e->dtype != MMIX_ST_F64)
        return mmix_set_error(ctx, MMIX_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s; only F32, F16, BF16 and "
                              "F64 can be read as floats", st->path, e->name, mmix__st_dtype_names[e->dtype]);
    f = (FILE *)st->file;
    size = e->end - e->begin;
    dsize = mmix__st_dtype_sizes[e->dtype];
    if (size == 0) return MMIX_OK;
    if ((uint64_t)(size_t)size != size)
        return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: tensor '%s' does not fit in memory", st->path, e->name);
    if (mmix__file_seek(f, st->data_start + e->begin) != 0)
        return mmix_set_error(ctx, MMIX_ERR_IO, "%s: tensor '%s': cannot seek to byte %llu", st->path, e->name,
                              (unsigned long long)(st->data_start + e->begin));
    if (e->dtype == MMIX_ST_F32 && le) { /* the common case: straight into out */
        done = fread(out, 1, (size_t)size, f);
    } else {
        while (done < size) {
            size_t want = size - done < sizeof buf ? (size_t)(size - done) : sizeof buf, got, j;
            got = fread(buf, 1, want, f);
            done += got;
            for (j = 0; j + dsize <= got; j += dsize, k++) {
                const unsigned char *b = buf + j;
                if (e->dtype == MMIX_ST_F32) {
                    uint32_t bits = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
                    memcpy(&out[k], &bits, 4);
                } else if (e->dtype == MMIX_ST_F16) {
                    out[k] = mmix__f16_to_f32((uint16_t)(b[0] | b[1] << 8));
                } else if (e->dtype == MMIX_ST_BF16) {
                    out[k] = mmix__bf16_to_f32((uint16_t)(b[0] | b[1] << 8));
                } else {
                    uint64_t bits = mmix__load_le64(b);
                    double d;
                    memcpy(&d, &bits, 8);
                    out[k] = mmix__f64_to_f32(d);
                }
            }
            if (got < want) break; /* (chunks are a multiple of every dtype size: none splits one) */
        }
    }
    if (done != size)
        return mmix_set_error(ctx, MMIX_ERR_IO, "%s: tensor '%s': read %llu of %llu bytes (the file was truncated "
                              "or changed since it was opened?)", st->path, e->name, (unsigned long long)done,
                              (unsigned long long)size);
    return MMIX_OK;
}

MMIXDEF mmix_result mmix_safetensors_read_into(mmix_ctx *ctx, const mmix_safetensors *st, const mmix_st_entry *e,
                                               mmix_tensor *t) {
    mmix_shape file_shape;
    mmix_result r;
    float *host;
    int i, same;
    char a[96], b[96];
    if (!st || !e || !t) return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "safetensors read_into: NULL argument");
    if (t->dtype != MMIX_F32 || !t->data)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "%s: tensor '%s': read_into needs a float tensor",
                              st->path, e->name);
    file_shape = mmix_shape0();
    file_shape.ndim = e->ndim;
    for (i = 0; i < e->ndim && i < MMIX_MAX_DIMS; i++) file_shape.d[i] = e->shape[i];
    same = mmix_shape_equal(file_shape, t->shape) && e->numel == t->n;
    if (!same)
        return mmix_set_error(ctx, MMIX_ERR_SHAPE, "%s: tensor '%s' has shape %s in the file, the model expects %s",
                              st->path, e->name, mmix_shape_str(file_shape, a, sizeof a),
                              mmix_shape_str(t->shape, b, sizeof b));
    /* decoded on the host, then uploaded to wherever the tensor lives */
    host = (float *)MMIX_MALLOC((size_t)(t->n ? t->n : 1) * sizeof(float));
    if (!host) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: tensor '%s': out of memory", st->path, e->name);
    r = mmix_safetensors_read(ctx, st, e, host);
    if (r == MMIX_OK) mmix_tensor_upload(ctx, t, 0, host, t->n);
    MMIX_FREE(host);
    return r;
}

/* ---- The writer ---- */
/* Data as little-endian float32: straight from memory on little-endian hosts. */
/* A tensor's floats, little-endian, fetched from its backend a chunk at a time. */
static int mmix__st_write_floats(FILE *f, const mmix_tensor *t) {
    float chunk[1024];
    unsigned char buf[4 * 1024];
    int64_t first, i, m;
    int le = mmix__little_endian();
    for (first = 0; first < t->n; first += m) {
        m = t->n - first < 1024 ? t->n - first : 1024;
        t->backend->download(chunk, t->data + first, (size_t)m * sizeof(float));
        if (le) {
            if (fwrite(chunk, sizeof(float), (size_t)m, f) != (size_t)m) return 0;
            continue;
        }
        for (i = 0; i < m; i++) {
            uint32_t bits;
            memcpy(&bits, &chunk[i], 4);
            buf[4 * i] = (unsigned char)bits;
            buf[4 * i + 1] = (unsigned char)(bits >> 8);
            buf[4 * i + 2] = (unsigned char)(bits >> 16);
            buf[4 * i + 3] = (unsigned char)(bits >> 24);
        }
        if (fwrite(buf, 4, (size_t)m, f) != (size_t)m) return 0;
    }
    return 1;
}

MMIXDEF mmix_result mmix_safetensors_write(mmix_ctx *ctx, const char *path, mmix_tensor *const *tensors,
                                           const char *const *names, int64_t n,
                                           const char *const *meta_keys, const char *const *meta_values,
                                           int64_t n_meta) {
    mmix_bpe_bytes h = {NULL, 0, 0};
    mmix__st_sorted *v = NULL;
    mmix__atomic_file file;
    unsigned char len8[8];
    uint64_t offset = 0;
    int64_t i, most = n > n_meta ? n : n_meta;
    const char *dup;
    mmix_result r = MMIX_OK;
    int k, ok;
    if (!path || n < 0 || n_meta < 0 || (n > 0 && !tensors) || (n_meta > 0 && (!meta_keys || !meta_values)))
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "safetensors write: NULL or negative argument");
    /* Everything is checked before the file is touched. */
    for (i = 0; i < n; i++) {
        const mmix_tensor *t = tensors[i];
        const char *name = names ? names[i] : (t ? t->name : NULL);
        if (!t || !name)
            return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "write '%s': tensor %lld or its name is NULL",
                                  path, (long long)i);
        if (t->dtype != MMIX_F32 || (!t->data && t->n > 0))
            return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "write '%s': tensor '%s' is not a float tensor "
                                  "on the CPU", path, name);
        if (strcmp(name, "__metadata__") == 0)
            return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "write '%s': tensor %lld: the name __metadata__ "
                                  "is reserved by the format", path, (long long)i);
        if (!mmix__utf8_valid(name))
            return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "write '%s': tensor %lld: the name '%.60s' is "
                                  "not valid UTF-8", path, (long long)i, name);
        if (strlen(name) >= MMIX_NAME_MAX)
            return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "write '%s': tensor name '%.40s...' is longer "
                                  "than %d bytes, which could not be read back", path, name, MMIX_NAME_MAX - 1);
        if (t->shape.ndim < 0 || t->shape.ndim > MMIX_MAX_DIMS || t->n < 0)
            return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "write '%s': tensor '%s' has an invalid shape",
                                  path, name);
    }
    for (i = 0; i < n_meta; i++) {
        if (!meta_keys[i] || !meta_values[i])
            return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "write '%s': metadata pair %lld is NULL", path,
                                  (long long)i);
        if (!mmix__utf8_valid(meta_keys[i]) || !mmix__utf8_valid(meta_values[i]))
            return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "write '%s': metadata '%.60s' is not valid "
                                  "UTF-8", path, meta_keys[i]);
    }
    if (most > 0) {
        if ((uint64_t)most > SIZE_MAX / sizeof *v ||
            !(v = (mmix__st_sorted *)MMIX_MALLOC((size_t)most * sizeof *v)))
            return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "write '%s': out of memory", path);
        for (i = 0; i < n; i++) v[i].name = names ? names[i] : tensors[i]->name;
        if ((dup = mmix__st_duplicate(v, n)) != NULL)
            r = mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "write '%s': two tensors are named '%s'", path, dup);
        for (i = 0; r == MMIX_OK && i < n_meta; i++) v[i].name = meta_keys[i];
        if (r == MMIX_OK && (dup = mmix__st_duplicate(v, n_meta)) != NULL)
            r = mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "write '%s': two metadata keys are '%.60s'", path, dup);
        MMIX_FREE(v);
        if (r != MMIX_OK) return r;
    }

    /* The header, in memory (it is small); the data is streamed after it. */
    ok = mmix__bytes_append(&h, "{", 1);
    if (n_meta > 0) {
        ok = ok && mmix__bytes_printf(&h, "\"__metadata__\":{");
        for (i = 0; ok && i < n_meta; i++)
            ok = (i == 0 || mmix__bytes_append(&h, ",", 1)) &&
                 mmix__bytes_append_quoted(&h, (const unsigned char *)meta_keys[i], strlen(meta_keys[i]), 1) &&
                 mmix__bytes_append(&h, ":", 1) &&
                 mmix__bytes_append_quoted(&h, (const unsigned char *)meta_values[i], strlen(meta_values[i]), 1);
        ok = ok && mmix__bytes_append(&h, "}", 1);
    }
    for (i = 0; ok && i < n; i++) {
        const mmix_tensor *t = tensors[i];
        const char *name = names ? names[i] : t->name;
        uint64_t bytes = (uint64_t)t->n * sizeof(float);
        if ((uint64_t)t->n > UINT64_MAX / sizeof(float) || bytes > UINT64_MAX - offset) {
            mmix_bpe_bytes_free(&h);
            return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "write '%s': the tensors hold more than 2^64 bytes",
                                  path);
        }
        ok = (i == 0 && n_meta == 0) || mmix__bytes_append(&h, ",", 1);
        ok = ok && mmix__bytes_append_quoted(&h, (const unsigned char *)name, strlen(name), 1) &&
             mmix__bytes_printf(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (k = 0; ok && k < t->shape.ndim; k++) ok = mmix__bytes_printf(&h, k ? ",%lld" : "%lld", (long long)t->shape.d[k]);
        ok = ok && mmix__bytes_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                                      (unsigned long long)(offset + bytes));
        offset += bytes;
    }
    ok = ok && mmix__bytes_append(&h, "}", 1);
    while (ok && h.size % 8 != 0) ok = mmix__bytes_append(&h, " ", 1); /* the data starts 8-aligned */
    if (!ok) {
        mmix_bpe_bytes_free(&h);
        return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "write '%s': out of memory for the header", path);
    }
    if ((uint64_t)h.size > (uint64_t)MMIX_SAFETENSORS_MAX_HEADER) {
        mmix_bpe_bytes_free(&h);
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "write '%s': the header would be %llu bytes, above "
                              "MMIX_SAFETENSORS_MAX_HEADER", path, (unsigned long long)h.size);
    }
    for (k = 0; k < 8; k++) len8[k] = (unsigned char)((uint64_t)h.size >> (8 * k));

    if ((r = mmix__atomic_open(ctx, path, &file)) != MMIX_OK) {
        mmix_bpe_bytes_free(&h);
        return r;
    }
    ok = fwrite(len8, 1, 8, file.f) == 8 && fwrite(h.data, 1, h.size, file.f) == h.size;
    for (i = 0; ok && i < n; i++) ok = mmix__st_write_floats(file.f, tensors[i]);
    mmix_bpe_bytes_free(&h);
    if (!ok) {
        mmix_set_error(ctx, MMIX_ERR_IO, "write '%s': writing '%s' failed (%s); '%s' is unchanged", path,
                       file.tmp, errno ? strerror(errno) : "disk full?", path);
        mmix__atomic_abort(&file);
        return MMIX_ERR_IO;
    }
    return mmix__atomic_commit(ctx, &file, 1);
}

// ----------------------------------------------------------------------------------------
// >>models  The model zoo (paper Secs. 3-5, 9; reference-notes Secs. 2-3, 8, 13-16). Each
// model is a list of blocks; a block owns its parameters (named as the reference
// state_dict) and has one forward function, used by training, full forwards and the
// generator alike. Each
// architecture is one descriptor (mmix__arch), filled field by field in its own section
// below and found through the table MMIX_ARCHITECTURES; the public model functions only
// dispatch through it.
// ----------------------------------------------------------------------------------------
/* Metadata being written: up to 16 key/value pairs, the values formatted in place. */
typedef struct mmix__meta {
    const char *keys[16], *values[16];
    char text[16][40];
    int n;
} mmix__meta;

static void mmix__meta_add(mmix__meta *m, const char *key, const char *fmt, ...) {
    va_list args;
    if (m->n == 16) return;
    va_start(args, fmt);
    vsnprintf(m->text[m->n], sizeof m->text[m->n], fmt, args);
    va_end(args);
    m->keys[m->n] = key;
    m->values[m->n] = m->text[m->n];
    m->n++;
}

/* Everything the library knows about one architecture. Slots marked "may be NULL" say so;
   every other slot is set by every architecture (tests/test_models.c checks). */
typedef struct mmix__arch {
    mmix_arch_info info;
    /* the paper's configuration for this architecture (sizes shared by all are already set) */
    void (*defaults)(mmix_model_config *c);
    /* NULL when c is valid for this architecture, else what is wrong (sizes are positive) */
    const char *(*check)(const mmix_model_config *c);
    int64_t (*param_count)(const mmix_model_config *c);
    /* the parameters, named and ordered as the reference state_dict, lm_head included (or
       pointed at embed when tied); 0 on failure */
    int (*create)(mmix_ctx *ctx, mmix_model *m);
    void (*init)(mmix_model *m, mmix_rng *rng);
    void (*apply_masks)(mmix_model *m);                 /* may be NULL: nothing masked in the weights */
    /* forwards: the last hidden layer [B, L, D], the logits [B, L, V] */
    mmix_tensor *(*hidden)(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *ids);
    mmix_tensor *(*logits)(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *ids);
    /* the retrieval embedding [B, D] (paper Sec. 6.1), not normalized; NULL: none (outputs
       that see later tokens, or two streams, have no one vector that summarizes a row) */
    mmix_tensor *(*embedding)(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *ids);
    int embedding_position;                             /* where it is taken: -2, -1; 0: none */
    /* the input of the first block for ids [B, n] at positions p..p+n-1 (may be NULL: the
       token embedding alone; GPT-1 adds learned positions) */
    mmix_tensor *(*embed)(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *ids, int64_t p);
    /* the objective: its terms on ids into *t (mmix__add_term each; *logits those of the
       final pass), 0 on failure; and where each term's targets start, first[j] (term j
       counts the tokens first[j]..L-1 that are not the pad), returning the term count */
    int (*terms)(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *ids, int32_t pad_id, mmix_loss_terms *t,
                 mmix_tensor **logits);
    int (*targets)(const mmix_model_config *c, int64_t *first);
    /* generation (all three NULL when info.can_generate is 0): floats of one layer's cache;
       layer i on rows x at positions p.. (cache NULL: a full forward from position 0);
       what follows the last layer (may be NULL: nothing) */
    int64_t (*cache_floats)(const mmix_model_config *c);
    mmix_tensor *(*block)(mmix_ctx *ctx, const mmix_model *m, int64_t i, mmix_tensor *x, float *cache, int64_t p);
    mmix_tensor *(*final)(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *x);
    /* files: whether a reference file's names are this architecture's; the config from its
       names, shapes and metadata (options win); the metadata that tells it again */
    int (*detect)(const mmix_safetensors *st);
    mmix_result (*read_config)(mmix_ctx *ctx, const mmix_safetensors *st, const mmix_load_options *opt,
                               mmix_model_config *c);
    void (*write_meta)(const mmix_model_config *c, mmix__meta *meta);
    /* whether a reference file's tensor is one the model does not use (the inner models'
       embeddings of the transformer autoencoder, say): loaded with a warning. May be NULL */
    int (*ignored)(const char *name);
    /* mmix_arch_settings */
    void (*settings)(const mmix_model_config *c, int one_line, char *buf, size_t size);
} mmix__arch;

#define MMIX__ARCH_DECLARE(id, name, describe) static void describe(mmix__arch *d);
MMIX_ARCHITECTURES(MMIX__ARCH_DECLARE)
#undef MMIX__ARCH_DECLARE

/* The descriptor of arch into *d: 1, or 0 (and *d zeroed) for an unknown value. */
static int mmix__arch_describe(mmix_arch arch, mmix__arch *d) {
    memset(d, 0, sizeof *d);
    switch (arch) {
#define MMIX__ARCH_CASE(id, arch_name, describe) \
    case MMIX_ARCH_##id: d->info.name = arch_name; describe(d); break;
        MMIX_ARCHITECTURES(MMIX__ARCH_CASE)
#undef MMIX__ARCH_CASE
    default: return 0;
    }
    d->info.arch = arch;
    return 1;
}

MMIXDEF int mmix_arch_get(mmix_arch arch, mmix_arch_info *info) {
    mmix__arch d;
    int known = mmix__arch_describe(arch, &d);
    *info = d.info;
    return known;
}

MMIXDEF int mmix_arch_find(const char *name, mmix_arch *arch) {
    mmix__arch d;
    int a;
    for (a = 0; name && a < MMIX_ARCH_COUNT; a++)
        if (mmix__arch_describe((mmix_arch)a, &d) && strcmp(d.info.name, name) == 0) {
            *arch = (mmix_arch)a;
            return 1;
        }
    return 0;
}

MMIXDEF void mmix_arch_settings(const mmix_model_config *c, int one_line, char *buf, size_t size) {
    mmix__arch d;
    if (size) buf[0] = '\0';
    if (size && mmix__arch_describe(c->arch, &d)) d.settings(c, one_line, buf, size);
}

/* The descriptor of a model: its config's architecture, known since mmix_model_create. */
static mmix__arch mmix__arch_of(const mmix_model *m) {
    mmix__arch d;
    mmix__arch_describe(m->config.arch, &d);
    return d;
}

MMIXDEF mmix_model_config mmix_model_config_default(mmix_arch arch) {
    mmix_model_config c;
    mmix__arch d;
    memset(&c, 0, sizeof c);
    c.arch = arch;
    c.vocab = 4096;
    c.n_ctx = 512;
    c.depth = 8;
    c.kernel = 1;
    c.rope_theta = 10000.0f;
    if (mmix__arch_describe(arch, &d)) d.defaults(&c);
    c.ffn_dim = 4 * c.dim;
    return c;
}

/* The model's next parameter, named after its block: prefix, the block's index, the
   tensor's own name ("mixerblocks", 3, "conv.weight": "mixerblocks.3.conv.weight"). Blocks
   take the prefix from their caller, so an encoder and a decoder (the autoencoders) or two
   streams build the same block under their own reference names. */
static mmix_tensor *mmix__block_param(mmix_ctx *ctx, mmix_model *m, mmix_shape shape, const char *prefix, int64_t i,
                                      const char *suffix) {
    char name[MMIX_NAME_MAX];
    if (snprintf(name, sizeof name, "%s.%lld.%s", prefix, (long long)i, suffix) >= (int)sizeof name) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "model: the name %s.%lld.%s is too long", prefix, (long long)i,
                       suffix);
        return NULL;
    }
    return mmix_params_add(ctx, &m->params, name, shape);
}

/* The first block's input: the architecture's embedding, or the token embedding alone. */
static mmix_tensor *mmix__embed(mmix_ctx *ctx, const mmix_model *m, const mmix__arch *d, mmix_tensor *ids, int64_t p) {
    return d->embed ? d->embed(ctx, m, ids, p) : mmix_embedding(ctx, m->embed, ids);
}

/* The shared stack of the language models: embedding, the blocks, the final piece. */
static mmix_tensor *mmix__stack_hidden(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *ids) {
    mmix__arch d = mmix__arch_of(m);
    mmix_tensor *x = mmix__embed(ctx, m, &d, ids, 0);
    int64_t i;
    for (i = 0; x && i < m->config.depth; i++) x = d.block(ctx, m, i, x, NULL, 0);
    return d.final ? d.final(ctx, m, x) : x;
}

/* A causal LM's retrieval embedding (paper Sec. 6.1): the last hidden layer at position L-2,
   the last position whose output the shifted loss trains (output L-1 predicts nothing). */
static mmix_tensor *mmix__causal_embedding(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *ids) {
    mmix_tensor *h = mmix_model_hidden(ctx, m, ids);
    return h ? mmix_tokens_select(ctx, h, -2) : NULL;
}

/* The untied language-model head: logits = hidden lm_head^T. */
static mmix_tensor *mmix__lm_logits(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *ids) {
    return mmix_linear(ctx, mmix_model_hidden(ctx, m, ids), m->lm_head, NULL);
}

/* One term of an objective (paper Sec. 3.2; reference-notes Sec. 5): the cross-entropy of
   the logits [B, L, V] at positions first - shift .. L - 1 - shift against the tokens at
   first .. L - 1, pad targets ignored, averaged over the counted ones. A causal LM's one term
   is first 1, shift 1 (position t predicts token t + 1); an autoencoder's first 0, shift 0.
   Appended to *t; a term with no counted target gets mean NULL and count 0. 0 on failure. */
static int mmix__add_term(mmix_ctx *ctx, mmix_tensor *logits, mmix_tensor *ids, int32_t pad_id, int64_t first,
                          int64_t shift, mmix_loss_terms *t) {
    mmix_tensor *targets;
    int32_t chunk[1024];
    int64_t B, L, b, p, j, mlen, count = 0, n;
    if (!logits || !ids) return 0;
    B = ids->shape.d[0];
    L = ids->shape.d[1];
    n = L - first;
    MMIX_ASSERT(t->n < MMIX_LOSS_TERMS_MAX && first >= shift && shift >= 0);
    if (n < 1) {
        mmix_set_error(ctx, MMIX_ERR_SHAPE, "model loss: sequences of %lld token(s) have nothing to predict", (long long)L);
        return 0;
    }
    targets = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(B, n));
    if (!targets) return 0;
    /* row b's targets are its ids first..L-1, moved through the host a chunk at a time */
    for (b = 0; b < B; b++)
        for (p = 0; p < n; p += mlen) {
            mlen = n - p < 1024 ? n - p : 1024;
            mmix_tensor_download(ctx, ids, b * L + first + p, chunk, mlen);
            for (j = 0; j < mlen; j++) {
                if (pad_id >= 0 && chunk[j] == pad_id) chunk[j] = -100;
                count += chunk[j] != -100;
            }
            mmix_tensor_upload(ctx, targets, b * n + p, chunk, mlen);
        }
    t->count[t->n] = count;
    t->mean[t->n] = NULL;
    if (count > 0) {
        t->mean[t->n] = mmix_cross_entropy(ctx, mmix_tokens_slice(ctx, logits, first - shift, n), targets, -100);
        if (!t->mean[t->n]) return 0;
    }
    t->n++;
    return 1;
}

/* The causal-LM objective: one term, position t predicts token t + 1. */
static int mmix__causal_lm_terms(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *ids, int32_t pad_id,
                                 mmix_loss_terms *t, mmix_tensor **logits) {
    *logits = mmix_model_logits(ctx, m, ids);
    return mmix__add_term(ctx, *logits, ids, pad_id, 1, 1, t);
}
static int mmix__causal_lm_targets(const mmix_model_config *c, int64_t *first) {
    (void)c;
    first[0] = 1;
    return 1;
}

/* A metadata number, or `fallback` when the key is absent; a value that is not a number
   is an error. */
static int mmix__meta_number(mmix_ctx *ctx, const mmix_safetensors *st, const char *key, double fallback,
                             double *out) {
    const char *v = mmix_safetensors_meta(st, key);
    char *end;
    *out = fallback;
    if (!v) return 1;
    *out = strtod(v, &end);
    if (end == v || *end != '\0') {
        mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: metadata %s = \"%s\" is not a number", st->path, key, v);
        return 0;
    }
    /* Callers turn counts into integers and settings into floats: a NaN, an infinity or a
       value beyond 2^53 would make that conversion undefined (C99 6.3.1.4), so none passes. */
    if (!(*out >= -9007199254740992.0 && *out <= 9007199254740992.0)) {
        mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: metadata %s = \"%.40s\" is not a finite number within +-2^53",
                       st->path, key, v);
        return 0;
    }
    return 1;
}

/* A reference file's sizes shared by the language models: V and D from the embedding, the
   depth from the blocks present, the feed-forward width from block 0. The names take the
   block index as %lld. */
static mmix_result mmix__read_lm_sizes(mmix_ctx *ctx, const mmix_safetensors *st, const char *embed_name,
                                       const char *block_fmt, const char *ff_name, mmix_model_config *c) {
    const mmix_st_entry *e = mmix_safetensors_find(st, embed_name);
    char name[MMIX_NAME_MAX];
    if (!e) return mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: tensor '%s' is missing", st->path, embed_name);
    if (e->ndim != 2) return mmix_set_error(ctx, MMIX_ERR_SHAPE, "%s: tensor '%s' should be 2-D", st->path, embed_name);
    c->vocab = e->shape[0];
    c->dim = e->shape[1];
    for (c->depth = 0;; c->depth++) {
        snprintf(name, sizeof name, block_fmt, (long long)c->depth);
        if (!mmix_safetensors_find(st, name)) break;
    }
    if (c->depth == 0) {
        snprintf(name, sizeof name, block_fmt, 0LL);
        return mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: no %s found: the model has no blocks", st->path, name);
    }
    e = mmix_safetensors_find(st, ff_name);
    if (!e || e->ndim != 2)
        return mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: the feed-forward weight of block 0 is missing or not 2-D", st->path);
    c->ffn_dim = e->shape[0];
    return MMIX_OK;
}

// ---- The flat masked mixer (paper Sec. 3.2, Fig. 2): LanguageMixer -----------------------
/* Mixer block i as `prefix`.i.*, in the reference's registration order. With `shared` the
   block reuses that block's patch_layernorm and patch_ff instead of making its own (two
   streams that share them, as the bidirectional mixer's do) and makes only its norms and
   conv for the token axis. */
static int mmix__mixer_block_norms_ff(mmix_ctx *ctx, mmix_model *m, mmix_mixer_block *b, const char *prefix, int64_t i,
                                      const mmix_mixer_block *shared) {
    const mmix_model_config *c = &m->config;
    int64_t D = c->dim, F = c->ffn_dim;
    if (shared) {
        b->patch_norm_w = shared->patch_norm_w;
        b->patch_norm_b = shared->patch_norm_b;
    } else {
        b->patch_norm_w = mmix__block_param(ctx, m, mmix_shape1(D), prefix, i, "patch_layernorm.weight");
        b->patch_norm_b = mmix__block_param(ctx, m, mmix_shape1(D), prefix, i, "patch_layernorm.bias");
    }
    b->seq_norm_w = mmix__block_param(ctx, m, mmix_shape1(D), prefix, i, "seq_layernorm.weight");
    b->seq_norm_b = mmix__block_param(ctx, m, mmix_shape1(D), prefix, i, "seq_layernorm.bias");
    if (shared) {
        b->ff_in_w = shared->ff_in_w;
        b->ff_in_b = shared->ff_in_b;
        b->ff_out_w = shared->ff_out_w;
        b->ff_out_b = shared->ff_out_b;
    } else {
        b->ff_in_w = mmix__block_param(ctx, m, mmix_shape2(F, D), prefix, i, "patch_ff.0.weight");
        b->ff_in_b = mmix__block_param(ctx, m, mmix_shape1(F), prefix, i, "patch_ff.0.bias");
        b->ff_out_w = mmix__block_param(ctx, m, mmix_shape2(D, F), prefix, i, "patch_ff.2.weight");
        b->ff_out_b = mmix__block_param(ctx, m, mmix_shape1(D), prefix, i, "patch_ff.2.bias");
    }
    return b->ff_out_b != NULL;
}

static int mmix__mixer_block_create(mmix_ctx *ctx, mmix_model *m, mmix_mixer_block *b, const char *prefix, int64_t i,
                                    const mmix_mixer_block *shared) {
    int64_t L = m->config.n_ctx;
    if (!mmix__mixer_block_norms_ff(ctx, m, b, prefix, i, shared)) return 0;
    b->conv_w = mmix__block_param(ctx, m, mmix_shape3(L, L, m->config.kernel), prefix, i, "conv.weight");
    b->conv_b = mmix__block_param(ctx, m, mmix_shape1(L), prefix, i, "conv.bias");
    return b->conv_b != NULL;
}

/* The block's second half, per token: h + FF(LN_patch(h)), FF = Linear, GELU, Linear. */
static mmix_tensor *mmix__mixer_ff_forward(mmix_ctx *ctx, const mmix_mixer_block *b, const mmix_model_config *c,
                                           mmix_tensor *h) {
    mmix_tensor *ff = mmix_layernorm(ctx, h, b->patch_norm_w, b->patch_norm_b, c->norm_eps);
    ff = mmix_linear(ctx, mmix_gelu(ctx, mmix_linear(ctx, ff, b->ff_in_w, b->ff_in_b)), b->ff_out_w, b->ff_out_b);
    return mmix_add(ctx, h, ff);
}

/* Generation's token mixing (see >>generate): output rows p..P-1 of a causally masked
   mixing W [R, C, k] with bias [R], for inputs whose rows 0..P-1 are in `seen` ([P, D],
   the new ones included). Only W[p..P-1, 0..P-1, :] is read, the causal mask shifted by p:
   inputs >= P are never needed. */
static mmix_tensor *mmix__mix_new_rows(mmix_ctx *ctx, const mmix_tensor *W, const mmix_tensor *bias, float *seen,
                                       int64_t p, int64_t n, int64_t D) {
    int64_t P = p + n, C = W->shape.d[1], k = W->shape.d[2], r;
    mmix_tensor *rows = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape3(n, P, k)), in, b;
    mmix_mask mask;
    if (!rows) return NULL;
    for (r = 0; r < n; r++)
        ctx->backend->copy(rows->data + r * P * k, W->data + (p + r) * C * k, (size_t)(P * k) * sizeof(float));
    in = mmix__view(ctx->backend, seen, mmix_shape3(1, P, D));
    b = mmix__view(ctx->backend, bias->data + p, mmix_shape1(n));
    mask.kind = MMIX_MASK_LOWER; /* new row r is position p + r: it reads inputs i <= p + r */
    mask.diagonal = p;
    mask.keep = NULL;
    return mmix_token_mix(ctx, &in, rows, &b, mask);
}

/* Paper Sec. 3.2, reference-notes Sec. 3: h = x + Conv(LN_seq(x)); y = h + FF(LN_patch(h)),
   for x [B, L, D] (cache NULL).
   With a cache [n_ctx, D] (generation, see >>generate): x is n new tokens [1, n, D] at
   positions p..P-1; their seq_layernorm rows join the cache, and conv rows p..P-1 read
   cache rows 0..P-1. The block and its conv weight are given, not the block's index: a
   two-stack model runs it on either stack, the softmax mixer on its projected weight. */
static mmix_tensor *mmix__flat_block_forward(mmix_ctx *ctx, const mmix_model_config *c, const mmix_mixer_block *b,
                                             mmix_tensor *conv_w, mmix_tensor *x, float *cache, int64_t p) {
    mmix_tensor *norm = mmix_layernorm(ctx, x, b->seq_norm_w, b->seq_norm_b, c->norm_eps);
    int64_t n, D = c->dim;
    if (!cache) return mmix__mixer_ff_forward(ctx, b, c, mmix_add(ctx, x, mmix_token_mix(ctx, norm, conv_w, b->conv_b,
                                                                                          mmix_mask_causal())));
    if (!norm || !conv_w) return NULL;
    n = x->shape.d[1];
    ctx->backend->copy(cache + p * D, norm->data, (size_t)(n * D) * sizeof(float));
    return mmix__mixer_ff_forward(ctx, b, c, mmix_add(ctx, x, mmix__mix_new_rows(ctx, conv_w, b->conv_b, cache, p, n, D)));
}

/* A flat block with its conv weight as it is. */
static mmix_tensor *mmix__mixer_block_run(mmix_ctx *ctx, const mmix_mixer_block *b, const mmix_model_config *c,
                                          mmix_tensor *x, float *cache, int64_t p) {
    return mmix__flat_block_forward(ctx, c, b, b->conv_w, x, cache, p);
}

/* Block i of the model's (first) stack: the descriptor's block slot. */
static mmix_tensor *mmix__mixer_block_forward(mmix_ctx *ctx, const mmix_model *m, int64_t i, mmix_tensor *x,
                                              float *cache, int64_t p) {
    return mmix__mixer_block_run(ctx, &m->mixer[i], &m->config, x, cache, p);
}

static void mmix__mixer_defaults(mmix_model_config *c) {
    c->dim = 1024;
    c->norm_eps = 1e-5f;
}

static const char *mmix__mixer_check(const mmix_model_config *c) {
    return c->kernel < 1 ? "the token-mixing kernel must be at least 1" : NULL;
}

/* reference-notes Sec. 3: 2VD + n (4D + 2DF + F + D + L^2 k + L) */
static int64_t mmix__mixer_param_count(const mmix_model_config *c) {
    int64_t D = c->dim, F = c->ffn_dim, L = c->n_ctx;
    return 2 * c->vocab * D + c->depth * (4 * D + 2 * D * F + F + D + L * L * c->kernel + L);
}

/* The flat block under the signature mmix__mixers_create takes. */
static int mmix__flat_block_create(mmix_ctx *ctx, mmix_model *m, mmix_mixer_block *b, const char *prefix, int64_t i) {
    return mmix__mixer_block_create(ctx, m, b, prefix, i, NULL);
}

/* Every mixer: wte, the blocks "mixerblocks.i" that block_create makes, lm_head; every name
   after `prefix` ("": the LanguageMixer itself; "model.": inside a wrapper whose attribute
   `model` holds it). */
static int mmix__mixers_create(mmix_ctx *ctx, mmix_model *m, const char *prefix,
                               int (*block_create)(mmix_ctx *, mmix_model *, mmix_mixer_block *, const char *, int64_t)) {
    const mmix_model_config *c = &m->config;
    char name[MMIX_NAME_MAX];
    int64_t i;
    m->mixer = (mmix_mixer_block *)mmix__arena_alloc(ctx, &ctx->persist, (size_t)c->depth * sizeof(mmix_mixer_block));
    snprintf(name, sizeof name, "%swte.weight", prefix);
    m->embed = mmix_params_add(ctx, &m->params, name, mmix_shape2(c->vocab, c->dim));
    snprintf(name, sizeof name, "%smixerblocks", prefix);
    for (i = 0; m->mixer && m->embed && i < c->depth; i++)
        if (!block_create(ctx, m, &m->mixer[i], name, i)) return 0;
    snprintf(name, sizeof name, "%slm_head.weight", prefix);
    if (m->mixer && m->embed) m->lm_head = mmix_params_add(ctx, &m->params, name, mmix_shape2(c->vocab, c->dim));
    return m->lm_head != NULL;
}

static int mmix__mixer_create(mmix_ctx *ctx, mmix_model *m) { return mmix__mixers_create(ctx, m, "", mmix__flat_block_create); }

/* Zeroes the masked entries of a token-mixing weight W [R, C, k] (lower-triangular masks of
   every mixer): in row r the entries j > r, one contiguous run of (C - 1 - r) k floats. */
static void mmix__zero_upper(mmix_tensor *w) {
    int64_t r, R = w->shape.d[0], C = w->shape.d[1], k = w->shape.d[2];
    for (r = 0; r < R && r + 1 < C; r++)
        w->backend->zero(w->data + (r * C + r + 1) * k, (size_t)((C - 1 - r) * k) * sizeof(float));
}

/* Every mixer's masks: its conv, the expanded mixer's second one, the heads' convs. */
static void mmix__mixers_apply_masks(mmix_model *m) {
    int64_t i, h;
    for (i = 0; i < m->config.depth; i++) {
        const mmix_mixer_block *b = &m->mixer[i];
        if (b->conv_w) mmix__zero_upper(b->conv_w);
        if (b->conv2_w) mmix__zero_upper(b->conv2_w);
        for (h = 0; b->heads && h < m->config.heads; h++) mmix__zero_upper(b->heads[h].conv_w);
    }
}

/* One block's PyTorch defaults, in registration order (reference-notes Sec. 4). The expanded
   mixer's conv.2 follows its conv.0; the multi-headed mixer's `heads` heads come as
   MixerHead registers them: every projection, then every conv, then out_proj. */
static void mmix__mixer_block_init(mmix_mixer_block *b, int64_t heads, mmix_rng *rng) {
    int64_t h;
    mmix_init_constant(b->patch_norm_w, 1.0f);
    mmix_init_constant(b->patch_norm_b, 0.0f);
    mmix_init_constant(b->seq_norm_w, 1.0f);
    mmix_init_constant(b->seq_norm_b, 0.0f);
    mmix_init_pytorch_linear(b->ff_in_w, b->ff_in_b, rng);
    mmix_init_pytorch_linear(b->ff_out_w, b->ff_out_b, rng);
    if (b->conv_w) mmix_init_pytorch_linear(b->conv_w, b->conv_b, rng);
    if (b->conv2_w) mmix_init_pytorch_linear(b->conv2_w, b->conv2_b, rng);
    for (h = 0; b->heads && h < heads; h++) mmix_init_pytorch_linear(b->heads[h].proj_w, b->heads[h].proj_b, rng);
    for (h = 0; b->heads && h < heads; h++) mmix_init_pytorch_linear(b->heads[h].conv_w, b->heads[h].conv_b, rng);
    if (b->out_proj_w) mmix_init_pytorch_linear(b->out_proj_w, b->out_proj_b, rng);
}

/* PyTorch defaults, in registration order (reference-notes Sec. 4); then the masked entries
   zeroed. */
static void mmix__mixers_init(mmix_model *m, mmix_rng *rng) {
    int64_t i;
    mmix_init_normal(m->embed, rng, 0.0f, 1.0f);
    for (i = 0; i < m->config.depth; i++) mmix__mixer_block_init(&m->mixer[i], m->config.heads, rng);
    mmix_init_pytorch_linear(m->lm_head, NULL, rng);
    mmix__mixers_apply_masks(m);
}

/* The cache keeps each layer's seq_layernorm outputs, the conv's input: [n_ctx, D]. */
static int64_t mmix__mixer_cache_floats(const mmix_model_config *c) { return c->n_ctx * c->dim; }

static int mmix__mixer_detect(const mmix_safetensors *st) {
    return mmix_safetensors_find(st, "wte.weight") && mmix_safetensors_find(st, "mixerblocks.0.conv.weight");
}

/* What every mixer's file tells alike: the sizes from the names (after `prefix`: the
   embedding prefix + "wte.weight", block i of the stack `blocks` there when its `conv` tensor
   is, "conv.weight" or "conv.0.weight") and shapes, the LayerNorm eps from metadata; *conv
   receives block 0's conv tensor, whose shape the caller reads. */
static mmix_result mmix__mixers_read_config(mmix_ctx *ctx, const mmix_safetensors *st, const char *prefix,
                                            const char *blocks, const char *conv, mmix_model_config *c,
                                            const mmix_st_entry **conv0) {
    char fmt[MMIX_NAME_MAX], first[MMIX_NAME_MAX], embed[MMIX_NAME_MAX], ff[MMIX_NAME_MAX];
    double v;
    mmix_result r;
    snprintf(fmt, sizeof fmt, "%s%s.%%lld.%s", prefix, blocks, conv);
    snprintf(first, sizeof first, "%s%s.0.%s", prefix, blocks, conv);
    snprintf(embed, sizeof embed, "%swte.weight", prefix);
    snprintf(ff, sizeof ff, "%s%s.0.patch_ff.0.weight", prefix, blocks);
    r = mmix__read_lm_sizes(ctx, st, embed, fmt, ff, c);
    if (r != MMIX_OK) return r;
    *conv0 = mmix_safetensors_find(st, first);
    if (!mmix__meta_number(ctx, st, "layer_norm_eps", 1e-5, &v)) return ctx->last_result;
    c->norm_eps = (float)v;
    return MMIX_OK;
}

/* L and k from the conv weight [L, L, k]. */
static mmix_result mmix__flat_read_config(mmix_ctx *ctx, const mmix_safetensors *st, const char *prefix,
                                          mmix_model_config *c) {
    const mmix_st_entry *e;
    mmix_result r = mmix__mixers_read_config(ctx, st, prefix, "mixerblocks", "conv.weight", c, &e);
    if (r != MMIX_OK) return r;
    if (e->ndim != 3 || e->shape[0] != e->shape[1])
        return mmix_set_error(ctx, MMIX_ERR_SHAPE, "%s: %smixerblocks.0.conv.weight must be [L, L, k]", st->path,
                              prefix);
    c->n_ctx = e->shape[0];
    c->kernel = e->shape[2];
    return MMIX_OK;
}

static mmix_result mmix__mixer_read_config(mmix_ctx *ctx, const mmix_safetensors *st, const mmix_load_options *opt,
                                           mmix_model_config *c) {
    (void)opt;
    return mmix__flat_read_config(ctx, st, "", c);
}

static void mmix__mixer_write_meta(const mmix_model_config *c, mmix__meta *meta) {
    mmix__meta_add(meta, "layer_norm_eps", "%.9g", (double)c->norm_eps);
}

static void mmix__mixer_settings(const mmix_model_config *c, int one_line, char *buf, size_t size) {
    if (!one_line) snprintf(buf, size, "kernel: %lld\nlayer_norm_eps: %g\n", (long long)c->kernel, (double)c->norm_eps);
    else if (c->kernel != 1) snprintf(buf, size, ", kernel %lld", (long long)c->kernel);
}

static void mmix__mixer_describe(mmix__arch *d) {
    d->info.title = "masked mixer";
    d->info.reference = "LanguageMixer";
    d->info.paper = "paper Sec. 3.2, Fig. 2";
    d->info.fixed_window = 1;
    d->info.can_generate = 1;
    d->info.objective = MMIX_OBJECTIVE_NEXT_TOKEN;
    d->info.lr = 5e-4;
    d->info.own_settings = "kernel";
    d->defaults = mmix__mixer_defaults;
    d->check = mmix__mixer_check;
    d->param_count = mmix__mixer_param_count;
    d->create = mmix__mixer_create;
    d->init = mmix__mixers_init;
    d->apply_masks = mmix__mixers_apply_masks;
    d->hidden = mmix__stack_hidden;
    d->logits = mmix__lm_logits;
    d->embedding = mmix__causal_embedding;
    d->embedding_position = -2;
    d->terms = mmix__causal_lm_terms;
    d->targets = mmix__causal_lm_targets;
    d->cache_floats = mmix__mixer_cache_floats;
    d->block = mmix__mixer_block_forward;
    d->final = NULL; /* the last block's output is the last hidden layer */
    d->detect = mmix__mixer_detect;
    d->read_config = mmix__mixer_read_config;
    d->write_meta = mmix__mixer_write_meta;
    d->ignored = NULL;
    d->settings = mmix__mixer_settings;
}

// ---- The expanded mixer (paper Sec. 9.1, Table S2, Fig. S2): the original MLP-Mixer's -----
// ---- two token-mixing layers, each causally masked ----------------------------------------
/* Its token mixer is ConvForward(L, e): conv.0 mixes the L tokens into eL inner units (weight
   [eL, L, 1], bias), GELU, and conv.2 mixes them back to L (weight [L, eL, 1], bias). Each
   weight is masked lower-triangular as its own 2-D matrix: inner unit r reads tokens <= r,
   output o reads inner units <= o, so output o depends on tokens <= o alone. Inner units
   r >= L are never read (the paper's Fig. S2 "unused parameters"). */
static int mmix__expanded_block_create(mmix_ctx *ctx, mmix_model *m, mmix_mixer_block *b, const char *prefix, int64_t i) {
    int64_t L = m->config.n_ctx, E = m->config.expansion * L;
    if (!mmix__mixer_block_norms_ff(ctx, m, b, prefix, i, NULL)) return 0;
    b->conv_w = mmix__block_param(ctx, m, mmix_shape3(E, L, 1), prefix, i, "conv.0.weight");
    b->conv_b = mmix__block_param(ctx, m, mmix_shape1(E), prefix, i, "conv.0.bias");
    b->conv2_w = mmix__block_param(ctx, m, mmix_shape3(L, E, 1), prefix, i, "conv.2.weight");
    b->conv2_b = mmix__block_param(ctx, m, mmix_shape1(L), prefix, i, "conv.2.bias");
    return b->conv2_b != NULL;
}

/* h = x + W2 GELU(W1 LN_seq(x) + c1) + c2, both W masked; then the feed-forward half. With a
   cache (two [n_ctx, D] halves: the seq_layernorm rows, then the inner units' rows), new
   positions p..P-1 compute inner units p..P-1 from norm rows 0..P-1 and outputs p..P-1 from
   inner units 0..P-1: every row they read is cached or new. */
static mmix_tensor *mmix__expanded_block_forward(mmix_ctx *ctx, const mmix_model *m, int64_t i, mmix_tensor *x,
                                                 float *cache, int64_t p) {
    const mmix_mixer_block *b = &m->mixer[i];
    const mmix_model_config *c = &m->config;
    mmix_tensor *norm = mmix_layernorm(ctx, x, b->seq_norm_w, b->seq_norm_b, c->norm_eps), *inner;
    int64_t n, D = c->dim;
    float *inner_cache;
    if (!cache) {
        inner = mmix_gelu(ctx, mmix_token_mix(ctx, norm, b->conv_w, b->conv_b, mmix_mask_causal()));
        return mmix__mixer_ff_forward(ctx, b, c, mmix_add(ctx, x, mmix_token_mix(ctx, inner, b->conv2_w, b->conv2_b,
                                                                                  mmix_mask_causal())));
    }
    if (!norm) return NULL;
    n = x->shape.d[1];
    inner_cache = cache + c->n_ctx * D;
    ctx->backend->copy(cache + p * D, norm->data, (size_t)(n * D) * sizeof(float));
    inner = mmix_gelu(ctx, mmix__mix_new_rows(ctx, b->conv_w, b->conv_b, cache, p, n, D));
    if (!inner) return NULL;
    ctx->backend->copy(inner_cache + p * D, inner->data, (size_t)(n * D) * sizeof(float));
    return mmix__mixer_ff_forward(ctx, b, c, mmix_add(ctx, x, mmix__mix_new_rows(ctx, b->conv2_w, b->conv2_b,
                                                                                 inner_cache, p, n, D)));
}

static void mmix__expanded_defaults(mmix_model_config *c) {
    mmix__mixer_defaults(c);
    c->expansion = 2;
}

static const char *mmix__expanded_check(const mmix_model_config *c) {
    if (c->expansion < 1) return "the expansion factor must be at least 1";
    return c->kernel != 1 ? "the expanded mixer's convolutions have kernel 1" : NULL;
}

/* 2VD + n (4D + 2DF + F + D + 2 e L^2 + e L + L) */
static int64_t mmix__expanded_param_count(const mmix_model_config *c) {
    int64_t D = c->dim, F = c->ffn_dim, L = c->n_ctx, E = c->expansion * L;
    return 2 * c->vocab * D + c->depth * (4 * D + 2 * D * F + F + D + 2 * E * L + E + L);
}





static int mmix__expanded_create(mmix_ctx *ctx, mmix_model *m) {
    return mmix__mixers_create(ctx, m, "", mmix__expanded_block_create);
}

static int64_t mmix__expanded_cache_floats(const mmix_model_config *c) { return 2 * c->n_ctx * c->dim; }

static int mmix__expanded_detect(const mmix_safetensors *st) {
    return mmix_safetensors_find(st, "wte.weight") && mmix_safetensors_find(st, "mixerblocks.0.conv.0.weight");
}

/* L and e from conv.0's weight [eL, L, 1]. */
static mmix_result mmix__expanded_read_config(mmix_ctx *ctx, const mmix_safetensors *st, const mmix_load_options *opt,
                                              mmix_model_config *c) {
    const mmix_st_entry *e;
    mmix_result r = mmix__mixers_read_config(ctx, st, "", "mixerblocks", "conv.0.weight", c, &e);
    (void)opt;
    if (r != MMIX_OK) return r;
    if (e->ndim != 3 || e->shape[2] != 1 || e->shape[1] < 1 || e->shape[0] % e->shape[1] != 0)
        return mmix_set_error(ctx, MMIX_ERR_SHAPE, "%s: mixerblocks.0.conv.0.weight must be [e L, L, 1]", st->path);
    c->n_ctx = e->shape[1];
    c->expansion = e->shape[0] / e->shape[1];
    c->kernel = 1;
    return MMIX_OK;
}

static void mmix__expanded_settings(const mmix_model_config *c, int one_line, char *buf, size_t size) {
    if (!one_line) snprintf(buf, size, "expansion: %lld\nlayer_norm_eps: %g\n", (long long)c->expansion, (double)c->norm_eps);
    else snprintf(buf, size, ", expansion %lld", (long long)c->expansion);
}

static void mmix__expanded_describe(mmix__arch *d) {
    mmix__mixer_describe(d); /* a flat mixer but for its blocks */
    d->info.title = "expanded masked mixer";
    d->info.reference = "LanguageMixer with expand_conv (ConvForward)";
    d->info.paper = "paper Sec. 9.1, Table S2, Fig. S2";
    d->info.own_settings = "expansion";
    d->defaults = mmix__expanded_defaults;
    d->check = mmix__expanded_check;
    d->param_count = mmix__expanded_param_count;
    d->create = mmix__expanded_create;
    d->cache_floats = mmix__expanded_cache_floats;
    d->block = mmix__expanded_block_forward;
    d->detect = mmix__expanded_detect;
    d->read_config = mmix__expanded_read_config;
    d->settings = mmix__expanded_settings;
}

// ---- The multi-headed mixer (paper Sec. 9.2, Fig. S6, Table S5): MixerHead ----------------
/* Its token mixing is the reference's MixerHead(D, L, D/H, H) (reference-notes Sec. 2c): head
   h projects LN_seq(x) to D/H features (conv.proj_head.h, with bias), mixes them over the
   tokens with its own causally masked Conv1d(L, L, 1) (conv.convs.h), and conv.out_proj maps
   the heads' features, side by side in head order, back to D. The registration order is the
   flat block's norms and feed-forward, then proj_head.0..H-1, convs.0..H-1, out_proj.
   Not reproduced (bugs of other versions): the paper-era head loop's stale index (every head
   the last conv on the un-projected input), mixer_multiconv.py's out_proj of the wrong size,
   and a softmax after tril without re-masking, which is not causal. */
static int mmix__heads_block_create(mmix_ctx *ctx, mmix_model *m, mmix_mixer_block *b, const char *prefix, int64_t i) {
    const mmix_model_config *c = &m->config;
    int64_t D = c->dim, L = c->n_ctx, H = c->heads, hd = D / H, h;
    char name[48]; /* the tensor's own name, "conv.proj_head.h.weight" */
    if (!mmix__mixer_block_norms_ff(ctx, m, b, prefix, i, NULL)) return 0;
    b->heads = (mmix_mixer_head *)mmix__arena_alloc(ctx, &ctx->persist, (size_t)H * sizeof(mmix_mixer_head));
    if (!b->heads) return 0;
    for (h = 0; h < H; h++) {
        snprintf(name, sizeof name, "conv.proj_head.%lld.weight", (long long)h);
        b->heads[h].proj_w = mmix__block_param(ctx, m, mmix_shape2(hd, D), prefix, i, name);
        snprintf(name, sizeof name, "conv.proj_head.%lld.bias", (long long)h);
        b->heads[h].proj_b = mmix__block_param(ctx, m, mmix_shape1(hd), prefix, i, name);
    }
    for (h = 0; h < H; h++) {
        snprintf(name, sizeof name, "conv.convs.%lld.weight", (long long)h);
        b->heads[h].conv_w = mmix__block_param(ctx, m, mmix_shape3(L, L, 1), prefix, i, name);
        snprintf(name, sizeof name, "conv.convs.%lld.bias", (long long)h);
        b->heads[h].conv_b = mmix__block_param(ctx, m, mmix_shape1(L), prefix, i, name);
    }
    b->out_proj_w = mmix__block_param(ctx, m, mmix_shape2(D, D), prefix, i, "conv.out_proj.weight");
    b->out_proj_b = mmix__block_param(ctx, m, mmix_shape1(D), prefix, i, "conv.out_proj.bias");
    return b->out_proj_b != NULL;
}

/* h = x + out_proj(concat_h Conv_h(proj_head_h(LN_seq(x)))); then the feed-forward half. The
   heads' outputs [B, n, D/H] are put side by side (torch.cat along features) as B n groups
   of one row each, [B n, 1, D/H], joined along that row axis and viewed back as [B, n, D].
   With a cache (head h's projected rows, [n_ctx, D/H] each, H of them: [n_ctx, D] in all),
   new positions p..P-1 project their rows into it and mix rows 0..P-1 of their own head. */
static mmix_tensor *mmix__heads_block_forward(mmix_ctx *ctx, const mmix_model *m, int64_t i, mmix_tensor *x,
                                              float *cache, int64_t p) {
    const mmix_mixer_block *b = &m->mixer[i];
    const mmix_model_config *c = &m->config;
    mmix_tensor *norm = mmix_layernorm(ctx, x, b->seq_norm_w, b->seq_norm_b, c->norm_eps), *joined = NULL, *z;
    int64_t H = c->heads, hd = c->dim / H, h, n, groups;
    if (!norm) return NULL;
    n = norm->shape.d[1];
    groups = norm->shape.d[0] * n;
    for (h = 0; h < H; h++) {
        const mmix_mixer_head *head = &b->heads[h];
        z = mmix_linear(ctx, norm, head->proj_w, head->proj_b);
        if (!cache) {
            z = mmix_token_mix(ctx, z, head->conv_w, head->conv_b, mmix_mask_causal());
        } else {
            float *seen = cache + h * c->n_ctx * hd;
            if (!z) return NULL;
            ctx->backend->copy(seen + p * hd, z->data, (size_t)(n * hd) * sizeof(float));
            z = mmix__mix_new_rows(ctx, head->conv_w, head->conv_b, seen, p, n, hd);
        }
        z = mmix_reshape(ctx, z, mmix_shape3(groups, 1, hd));
        joined = joined ? mmix_tokens_concat(ctx, joined, z) : z;
    }
    joined = mmix_reshape(ctx, joined, norm->shape);
    return mmix__mixer_ff_forward(ctx, b, c, mmix_add(ctx, x, mmix_linear(ctx, joined, b->out_proj_w, b->out_proj_b)));
}

/* H = 4: the default of the reference's MixerBlock(dim, length, causal, n_heads=4). */
static void mmix__heads_defaults(mmix_model_config *c) {
    mmix__mixer_defaults(c);
    c->heads = 4;
}

static const char *mmix__heads_check(const mmix_model_config *c) {
    if (c->heads < 1 || c->dim % c->heads != 0) return "a multi-headed mixer's dim must split into its heads";
    return c->kernel != 1 ? "the multi-headed mixer's convolutions have kernel 1" : NULL;
}

/* 2VD + n (4D + 2DF + F + D + 2 (D^2 + D) + H (L^2 + L)): the H projections [D/H, D] hold
   D^2 weights and D biases together, as out_proj does. */
static int64_t mmix__heads_param_count(const mmix_model_config *c) {
    int64_t D = c->dim, F = c->ffn_dim, L = c->n_ctx;
    return 2 * c->vocab * D + c->depth * (4 * D + 2 * D * F + F + D + 2 * (D * D + D) + c->heads * (L * L + L));
}

static int mmix__heads_create(mmix_ctx *ctx, mmix_model *m) { return mmix__mixers_create(ctx, m, "", mmix__heads_block_create); }

static int mmix__heads_detect(const mmix_safetensors *st) {
    return mmix_safetensors_find(st, "wte.weight") && mmix_safetensors_find(st, "mixerblocks.0.conv.proj_head.0.weight");
}

/* H by counting block 0's conv.proj_head.h, L from conv.convs.0's weight [L, L, 1]. The file
   says H, so the --heads load option is not read. */
static mmix_result mmix__heads_read_config(mmix_ctx *ctx, const mmix_safetensors *st, const mmix_load_options *opt,
                                           mmix_model_config *c) {
    const mmix_st_entry *proj, *conv = mmix_safetensors_find(st, "mixerblocks.0.conv.convs.0.weight");
    char name[MMIX_NAME_MAX];
    mmix_result r = mmix__mixers_read_config(ctx, st, "", "mixerblocks", "conv.proj_head.0.weight", c, &proj);
    (void)opt;
    if (r != MMIX_OK) return r;
    for (c->heads = 0;; c->heads++) {
        snprintf(name, sizeof name, "mixerblocks.0.conv.proj_head.%lld.weight", (long long)c->heads);
        if (!mmix_safetensors_find(st, name)) break;
    }
    if (!conv || conv->ndim != 3 || conv->shape[0] != conv->shape[1] || conv->shape[2] != 1)
        return mmix_set_error(ctx, MMIX_ERR_SHAPE, "%s: mixerblocks.0.conv.convs.0.weight must be there, [L, L, 1]",
                              st->path);
    if (proj->ndim != 2 || proj->shape[1] != c->dim || proj->shape[0] * c->heads != c->dim)
        return mmix_set_error(ctx, MMIX_ERR_SHAPE, "%s: %lld heads' mixerblocks.0.conv.proj_head.h.weight must be "
                              "[dim / heads, dim] with dim %lld", st->path, (long long)c->heads, (long long)c->dim);
    c->n_ctx = conv->shape[0];
    c->kernel = 1;
    return MMIX_OK;
}

static void mmix__heads_settings(const mmix_model_config *c, int one_line, char *buf, size_t size) {
    if (!one_line) snprintf(buf, size, "heads: %lld\nlayer_norm_eps: %g\n", (long long)c->heads, (double)c->norm_eps);
    else snprintf(buf, size, ", %lld heads", (long long)c->heads);
}

static void mmix__heads_describe(mmix__arch *d) {
    mmix__mixer_describe(d); /* a flat mixer but for its token mixing */
    d->info.title = "multi-headed masked mixer";
    d->info.reference = "LanguageMixer with MixerHead (mixer_autoencoder.py)";
    d->info.paper = "paper Sec. 9.2, Fig. S6, Table S5";
    d->info.own_settings = "heads";
    d->defaults = mmix__heads_defaults;
    d->check = mmix__heads_check;
    d->param_count = mmix__heads_param_count;
    d->create = mmix__heads_create;
    d->cache_floats = mmix__mixer_cache_floats; /* H heads of [n_ctx, D/H] rows: n_ctx D */
    d->block = mmix__heads_block_forward;
    d->detect = mmix__heads_detect;
    d->read_config = mmix__heads_read_config;
    d->settings = mmix__heads_settings;
}

// ---- The softmax mixer (paper Sec. 9.2, Table S5): the flat mixer, its conv weights ------
// ---- softmax-projected before every use -----------------------------------------------------
/* Paper Sec. 9.2: "Softmax-transforming (without temperature) the 1D convolutional weights
   before re-masking". As the reference does it (reference-notes Sec. 2d), every forward
   replaces each block's conv weight W [L, L, k] by P(W) = tril(softmax over the output tokens
   of tril(W)), per kernel tap, and the conv then uses P(W). The projection is outside autograd
   (the gradient is the conv's, with respect to P(W)), and it is not idempotent: the reference
   writes P(W) into the parameter, the optimizer moves those values, and the next forward
   projects again. So does a training forward here (training mode with gradients recorded):
   the numbers of a reference training run. Every other forward (evaluation, generation, a
   forward without gradients) uses P(W) of a copy and leaves the parameter as it is: it gives
   what the reference's next forward would give, and repeated forwards agree (the cached and
   index-walking generators, the causality checks). Writing through a const model is sound
   here as the reference mode's in-place masking is: it goes through the backend, before
   any op of this forward reads W, and token mixing packs its own copy of W for backward.
   A generator projects each layer's copy again for every chunk it feeds: O(L^2 k) a layer. */
static mmix_tensor *mmix__softmax_weight(mmix_ctx *ctx, mmix_tensor *W) {
    mmix_tensor *P = W;
    if (!mmix__op_can_run(ctx)) return NULL;
    if (!(ctx->training && ctx->grad_enabled)) P = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, W->shape);
    if (P) ctx->backend->token_mix_softmax(P->data, W->data, W->shape.d[0], W->shape.d[1], W->shape.d[2]);
    return P;
}

/* The flat block with P(W) for its conv weight. */
static mmix_tensor *mmix__softmax_block_forward(mmix_ctx *ctx, const mmix_model *m, int64_t i, mmix_tensor *x,
                                                float *cache, int64_t p) {
    return mmix__flat_block_forward(ctx, &m->config, &m->mixer[i], mmix__softmax_weight(ctx, m->mixer[i].conv_w), x, cache, p);
}

/* The flat mixer's, with every slot but the block forward; its files are the flat mixer's
   too (the same names: mixer is their default, --arch mixer-softmax picks this). */
static void mmix__softmax_describe(mmix__arch *d) {
    mmix__mixer_describe(d);
    d->info.title = "softmax masked mixer";
    d->info.reference = "LanguageMixer with softmax-projected conv weights";
    d->info.paper = "paper Sec. 9.2, Table S5";
    d->block = mmix__softmax_block_forward;
}

// ---- The Llama-style transformer (paper Sec. 4, Sec. 9.4): LlamaForCausalLM --------------
/* Llama layer i as `prefix`.i.* ("model.layers" in LlamaForCausalLM), in HF's order. */
static int mmix__llama_layer_create(mmix_ctx *ctx, mmix_model *m, mmix_llama_layer *l, const char *prefix, int64_t i) {
    const mmix_model_config *c = &m->config;
    int64_t D = c->dim, F = c->ffn_dim;
    l->q = mmix__block_param(ctx, m, mmix_shape2(D, D), prefix, i, "self_attn.q_proj.weight");
    l->k = mmix__block_param(ctx, m, mmix_shape2(D, D), prefix, i, "self_attn.k_proj.weight");
    l->v = mmix__block_param(ctx, m, mmix_shape2(D, D), prefix, i, "self_attn.v_proj.weight");
    l->o = mmix__block_param(ctx, m, mmix_shape2(D, D), prefix, i, "self_attn.o_proj.weight");
    l->gate = mmix__block_param(ctx, m, mmix_shape2(F, D), prefix, i, "mlp.gate_proj.weight");
    l->up = mmix__block_param(ctx, m, mmix_shape2(F, D), prefix, i, "mlp.up_proj.weight");
    l->down = mmix__block_param(ctx, m, mmix_shape2(D, F), prefix, i, "mlp.down_proj.weight");
    l->attn_norm = mmix__block_param(ctx, m, mmix_shape1(D), prefix, i, "input_layernorm.weight");
    l->mlp_norm = mmix__block_param(ctx, m, mmix_shape1(D), prefix, i, "post_attention_layernorm.weight");
    return l->mlp_norm != NULL;
}

/* The layer's second half, per token: h + down(silu(gate(n)) * up(n)), n = RMSNorm(h). */
static mmix_tensor *mmix__llama_mlp_forward(mmix_ctx *ctx, const mmix_llama_layer *l, const mmix_model_config *c,
                                            mmix_tensor *h) {
    mmix_tensor *n = mmix_rmsnorm(ctx, h, l->mlp_norm, c->norm_eps), *mlp;
    mlp = mmix_mul(ctx, mmix_silu(ctx, mmix_linear(ctx, n, l->gate, NULL)), mmix_linear(ctx, n, l->up, NULL));
    return mmix_add(ctx, h, mmix_linear(ctx, mlp, l->down, NULL));
}

/* Causal multi-head attention of every transformer, with or without a cache, its
   probabilities dropped out at rate drop under key (GPT-1; 0: none). Without a cache, q, k, v
   [B, n, D] attend among themselves. With one (keys then values, [2, n_ctx, D]; see
   >>generate) they are n new tokens at positions p..P-1: their keys and values join the
   cache, and their queries attend to cache rows 0..P-1 (query r sits at p + r). */
static mmix_tensor *mmix__cached_attention(mmix_ctx *ctx, const mmix_model_config *c, mmix_tensor *q, mmix_tensor *k,
                                           mmix_tensor *v, float *cache, int64_t p, float drop, uint64_t key) {
    float *keys, *values;
    mmix_tensor K, V;
    int64_t n, D = c->dim;
    if (!cache) return mmix_attention_dropout(ctx, q, k, v, c->heads, 1, drop, key);
    if (!q || !k || !v) return NULL;
    keys = cache;
    values = cache + c->n_ctx * D;
    n = q->shape.d[1];
    ctx->backend->copy(keys + p * D, k->data, (size_t)(n * D) * sizeof(float));
    ctx->backend->copy(values + p * D, v->data, (size_t)(n * D) * sizeof(float));
    K = mmix__view(ctx->backend, keys, mmix_shape3(1, p + n, D));
    V = mmix__view(ctx->backend, values, mmix_shape3(1, p + n, D));
    return mmix_attention_dropout(ctx, q, &K, &V, c->heads, 1, drop, key);
}

/* HF LlamaAttention of RMSNorm(x): o_proj(Attn(RoPE(q), RoPE(k), v)), RoPE at positions
   p.. (the cache as mmix__cached_attention's). Causal mask only: pads are not masked out. */
static mmix_tensor *mmix__llama_attention(mmix_ctx *ctx, const mmix_llama_layer *l, const mmix_model_config *c,
                                          mmix_tensor *x, float *cache, int64_t p) {
    mmix_tensor *norm, *q, *k, *v;
    norm = mmix_rmsnorm(ctx, x, l->attn_norm, c->norm_eps);
    q = mmix_rope(ctx, mmix_linear(ctx, norm, l->q, NULL), c->heads, c->rope_theta, p);
    k = mmix_rope(ctx, mmix_linear(ctx, norm, l->k, NULL), c->heads, c->rope_theta, p);
    v = mmix_linear(ctx, norm, l->v, NULL);
    return mmix_linear(ctx, mmix__cached_attention(ctx, c, q, k, v, cache, p, 0.0f, 0), l->o, NULL);
}

/* HF LlamaDecoderLayer: x += o_proj(Attn(...)) of RMSNorm(x); x += down(silu(gate) * up) of
   RMSNorm(x). With a cache, x holds the new tokens at positions p..P-1 (>>generate). The
   layer is given, not its index: a two-stack model runs it on either stack. */
static mmix_tensor *mmix__llama_layer_run(mmix_ctx *ctx, const mmix_llama_layer *l, const mmix_model_config *c,
                                          mmix_tensor *x, float *cache, int64_t p) {
    return mmix__llama_mlp_forward(ctx, l, c, mmix_add(ctx, x, mmix__llama_attention(ctx, l, c, x, cache, p)));
}

/* Layer i of the model's (first) stack: the descriptor's block slot. */
static mmix_tensor *mmix__llama_layer_forward(mmix_ctx *ctx, const mmix_model *m, int64_t i, mmix_tensor *x,
                                              float *cache, int64_t p) {
    return mmix__llama_layer_run(ctx, &m->llama[i], &m->config, x, cache, p);
}

/* model.norm: the RMSNorm after the last layer. */
static mmix_tensor *mmix__llama_final(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *x) {
    return mmix_rmsnorm(ctx, x, m->final_norm, m->config.norm_eps);
}

static void mmix__llama_defaults(mmix_model_config *c) {
    c->dim = 512;
    c->heads = 4;
    c->norm_eps = 1e-6f;
}

static const char *mmix__llama_check(const mmix_model_config *c) {
    if (c->heads < 1 || c->dim % c->heads != 0 || (c->dim / c->heads) % 2 != 0)
        return "a transformer's dim must split into heads of an even size";
    return c->rope_theta > 0.0f ? NULL : "rope_theta must be positive";
}

/* HF LlamaForCausalLM's parameters: 2VD + n (4D^2 + 3DF + 2D) + D */
static int64_t mmix__llama_param_count(const mmix_model_config *c) {
    int64_t D = c->dim, F = c->ffn_dim;
    return 2 * c->vocab * D + c->depth * (4 * D * D + 3 * D * F + 2 * D) + D;
}

/* LlamaForCausalLM's parameters, every name after `prefix` ("": the model itself; "model.":
   inside a wrapper whose attribute `model` holds it). */
static int mmix__llamas_create(mmix_ctx *ctx, mmix_model *m, const char *prefix) {
    const mmix_model_config *c = &m->config;
    char name[MMIX_NAME_MAX];
    int64_t i;
    m->llama = (mmix_llama_layer *)mmix__arena_alloc(ctx, &ctx->persist, (size_t)c->depth * sizeof(mmix_llama_layer));
    snprintf(name, sizeof name, "%smodel.embed_tokens.weight", prefix);
    m->embed = mmix_params_add(ctx, &m->params, name, mmix_shape2(c->vocab, c->dim));
    snprintf(name, sizeof name, "%smodel.layers", prefix);
    for (i = 0; m->llama && m->embed && i < c->depth; i++)
        if (!mmix__llama_layer_create(ctx, m, &m->llama[i], name, i)) return 0;
    snprintf(name, sizeof name, "%smodel.norm.weight", prefix);
    if (m->llama && m->embed) m->final_norm = mmix_params_add(ctx, &m->params, name, mmix_shape1(c->dim));
    snprintf(name, sizeof name, "%slm_head.weight", prefix);
    if (m->final_norm) m->lm_head = mmix_params_add(ctx, &m->params, name, mmix_shape2(c->vocab, c->dim));
    return m->lm_head != NULL;
}

/* One layer as HF _init_weights does: N(0, 0.02) for its Linears, norms 1. */
static void mmix__llama_layer_init(mmix_llama_layer *l, mmix_rng *rng) {
    mmix_init_normal(l->q, rng, 0.0f, 0.02f);
    mmix_init_normal(l->k, rng, 0.0f, 0.02f);
    mmix_init_normal(l->v, rng, 0.0f, 0.02f);
    mmix_init_normal(l->o, rng, 0.0f, 0.02f);
    mmix_init_normal(l->gate, rng, 0.0f, 0.02f);
    mmix_init_normal(l->up, rng, 0.0f, 0.02f);
    mmix_init_normal(l->down, rng, 0.0f, 0.02f);
    mmix_init_constant(l->attn_norm, 1.0f);
    mmix_init_constant(l->mlp_norm, 1.0f);
}

static int mmix__llama_create(mmix_ctx *ctx, mmix_model *m) { return mmix__llamas_create(ctx, m, ""); }

/* HF _init_weights: N(0, 0.02) for Linear and Embedding, norms 1. */
static void mmix__llama_init(mmix_model *m, mmix_rng *rng) {
    int64_t i;
    mmix_init_normal(m->embed, rng, 0.0f, 0.02f);
    for (i = 0; i < m->config.depth; i++) mmix__llama_layer_init(&m->llama[i], rng);
    mmix_init_constant(m->final_norm, 1.0f);
    mmix_init_normal(m->lm_head, rng, 0.0f, 0.02f);
}

/* The cache keeps each layer's keys (after RoPE) and values: [2, n_ctx, D]. */
static int64_t mmix__llama_cache_floats(const mmix_model_config *c) { return 2 * c->n_ctx * c->dim; }

/* A Llama file, but not a transfixer's (its layers have mixer_layer tensors besides). */
static int mmix__llama_detect(const mmix_safetensors *st) {
    return mmix_safetensors_find(st, "model.embed_tokens.weight") != NULL &&
           mmix_safetensors_find(st, "model.layers.0.mixer_layer.conv.weight") == NULL;
}

/* What a transformer's weights cannot tell: H, eps, theta and the window, from metadata
   (reference-notes Sec. 8: the weights cannot tell the head count) or the options. */
static mmix_result mmix__llama_read_settings(mmix_ctx *ctx, const mmix_safetensors *st, const mmix_load_options *opt,
                                             mmix_model_config *c) {
    double v;
    if (!mmix__meta_number(ctx, st, "num_attention_heads", 0, &v)) return ctx->last_result;
    c->heads = opt && opt->heads > 0 ? opt->heads : (int64_t)v;
    if (c->heads <= 0)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "%s: a transformer's head count is not in the file "
                              "(no num_attention_heads metadata): give it with --heads", st->path);
    if (!mmix__meta_number(ctx, st, "rms_norm_eps", 1e-6, &v)) return ctx->last_result;
    c->norm_eps = (float)v;
    if (!mmix__meta_number(ctx, st, "rope_theta", 10000.0, &v)) return ctx->last_result;
    c->rope_theta = (float)v;
    if (!mmix__meta_number(ctx, st, "n_ctx", 0, &v)) return ctx->last_result;
    c->n_ctx = (int64_t)v;
    return MMIX_OK;
}

/* Sizes from the names (the embedding `embed`, the layers `layers`.i) and shapes, then the
   settings. */
static mmix_result mmix__llamas_read_config(mmix_ctx *ctx, const mmix_safetensors *st, const mmix_load_options *opt,
                                            mmix_model_config *c, const char *embed, const char *layers) {
    char q_fmt[MMIX_NAME_MAX], gate0[MMIX_NAME_MAX];
    mmix_result r;
    snprintf(q_fmt, sizeof q_fmt, "%s.%%lld.self_attn.q_proj.weight", layers);
    snprintf(gate0, sizeof gate0, "%s.0.mlp.gate_proj.weight", layers);
    r = mmix__read_lm_sizes(ctx, st, embed, q_fmt, gate0, c);
    return r != MMIX_OK ? r : mmix__llama_read_settings(ctx, st, opt, c);
}

static mmix_result mmix__llama_read_config(mmix_ctx *ctx, const mmix_safetensors *st, const mmix_load_options *opt,
                                           mmix_model_config *c) {
    return mmix__llamas_read_config(ctx, st, opt, c, "model.embed_tokens.weight", "model.layers");
}

static void mmix__llama_write_meta(const mmix_model_config *c, mmix__meta *meta) {
    mmix__meta_add(meta, "num_attention_heads", "%lld", (long long)c->heads);
    mmix__meta_add(meta, "rms_norm_eps", "%.9g", (double)c->norm_eps);
    mmix__meta_add(meta, "rope_theta", "%.9g", (double)c->rope_theta);
}

static void mmix__llama_settings(const mmix_model_config *c, int one_line, char *buf, size_t size) {
    if (one_line) snprintf(buf, size, ", %lld heads", (long long)c->heads);
    else snprintf(buf, size, "heads: %lld\nrms_norm_eps: %g\nrope_theta: %g\n", (long long)c->heads,
                  (double)c->norm_eps, (double)c->rope_theta);
}

static void mmix__llama_describe(mmix__arch *d) {
    d->info.title = "Llama-style transformer";
    d->info.reference = "LlamaForCausalLM";
    d->info.paper = "paper Secs. 3.3 and 4, the baseline";
    d->info.fixed_window = 0;
    d->info.can_generate = 1;
    d->info.objective = MMIX_OBJECTIVE_NEXT_TOKEN;
    d->info.lr = 2e-4;
    d->info.own_settings = "heads";
    d->defaults = mmix__llama_defaults;
    d->check = mmix__llama_check;
    d->param_count = mmix__llama_param_count;
    d->create = mmix__llama_create;
    d->init = mmix__llama_init;
    d->apply_masks = NULL; /* the causal mask is on attention scores, not on weights */
    d->hidden = mmix__stack_hidden;
    d->logits = mmix__lm_logits;
    d->embedding = mmix__causal_embedding;
    d->embedding_position = -2;
    d->terms = mmix__causal_lm_terms;
    d->targets = mmix__causal_lm_targets;
    d->cache_floats = mmix__llama_cache_floats;
    d->block = mmix__llama_layer_forward;
    d->final = mmix__llama_final;
    d->detect = mmix__llama_detect;
    d->read_config = mmix__llama_read_config;
    d->write_meta = mmix__llama_write_meta;
    d->ignored = NULL;
    d->settings = mmix__llama_settings;
}

// ---- GPT-1 (paper Sec. 4.4, Fig. 5, Table S6; reference-notes Sec. 8b): OpenAIGPTLMHeadModel
/* Block i as transformer.h.i.*, in HF's order: attn (c_attn, c_proj), ln_1, mlp (c_fc,
   c_proj), ln_2. Conv1D weights are [in, out]. */
static int mmix__gpt_layer_create(mmix_ctx *ctx, mmix_model *m, mmix_gpt_layer *l, const char *prefix, int64_t i) {
    int64_t D = m->config.dim, F = m->config.ffn_dim;
    l->attn_w = mmix__block_param(ctx, m, mmix_shape2(D, 3 * D), prefix, i, "attn.c_attn.weight");
    l->attn_b = mmix__block_param(ctx, m, mmix_shape1(3 * D), prefix, i, "attn.c_attn.bias");
    l->proj_w = mmix__block_param(ctx, m, mmix_shape2(D, D), prefix, i, "attn.c_proj.weight");
    l->proj_b = mmix__block_param(ctx, m, mmix_shape1(D), prefix, i, "attn.c_proj.bias");
    l->ln1_w = mmix__block_param(ctx, m, mmix_shape1(D), prefix, i, "ln_1.weight");
    l->ln1_b = mmix__block_param(ctx, m, mmix_shape1(D), prefix, i, "ln_1.bias");
    l->fc_w = mmix__block_param(ctx, m, mmix_shape2(D, F), prefix, i, "mlp.c_fc.weight");
    l->fc_b = mmix__block_param(ctx, m, mmix_shape1(F), prefix, i, "mlp.c_fc.bias");
    l->fc_proj_w = mmix__block_param(ctx, m, mmix_shape2(F, D), prefix, i, "mlp.c_proj.weight");
    l->fc_proj_b = mmix__block_param(ctx, m, mmix_shape1(D), prefix, i, "mlp.c_proj.bias");
    l->ln2_w = mmix__block_param(ctx, m, mmix_shape1(D), prefix, i, "ln_2.weight");
    l->ln2_b = mmix__block_param(ctx, m, mmix_shape1(D), prefix, i, "ln_2.bias");
    return l->ln2_b != NULL;
}

/* Where each dropout of one forward draws from (mmix_dropout's key): 0 the embeddings,
   then per block its attention probabilities (0), attention output (1) and MLP output (2). */
static uint64_t mmix__gpt_dropout_site(int64_t block, int which) { return (uint64_t)(1 + 3 * block + which); }

/* OpenAIGPTModel's input: tokens_embed(ids) + positions_embed(p..p+n-1), then dropout. */
static mmix_tensor *mmix__gpt_embed(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *ids, int64_t p) {
    mmix_tensor *pos, *tok;
    int32_t chunk[1024];
    int64_t B, n, b, j, t, len;
    if (!ids) return mmix_embedding(ctx, m->embed, ids); /* its own error */
    if (ids->shape.ndim != 2) {
        mmix_set_error(ctx, MMIX_ERR_SHAPE, "gpt1: token ids must be [batch, length]");
        return NULL;
    }
    B = ids->shape.d[0];
    n = ids->shape.d[1];
    if (p + n > m->config.n_ctx) {
        mmix_set_error(ctx, MMIX_ERR_SHAPE, "gpt1: positions %lld..%lld are beyond its %lld learned positions (n_ctx)",
                       (long long)p, (long long)(p + n - 1), (long long)m->config.n_ctx);
        return NULL;
    }
    pos = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, ids->shape);
    if (!pos) return NULL;
    for (b = 0; b < B; b++) /* every row's positions p..p+n-1, a chunk at a time */
        for (t = 0; t < n; t += len) {
            len = n - t < 1024 ? n - t : 1024;
            for (j = 0; j < len; j++) chunk[j] = (int32_t)(p + t + j);
            mmix_tensor_upload(ctx, pos, b * n + t, chunk, len);
        }
    tok = mmix_embedding(ctx, m->embed, ids);
    return mmix_dropout(ctx, mmix_add(ctx, tok, mmix_embedding(ctx, m->positions, pos)), m->config.dropout, 0);
}

/* HF's split of c_attn's output [B, n, 3D] into q, k or v [B, n, D] (x.split(D, dim=2)). */
static mmix_tensor *mmix__gpt_qkv(mmix_ctx *ctx, mmix_tensor *qkv, int64_t which) {
    int64_t B, n, D;
    if (!qkv) return NULL;
    B = qkv->shape.d[0];
    n = qkv->shape.d[1];
    D = qkv->shape.d[2] / 3;
    return mmix_reshape(ctx, mmix_tokens_slice(ctx, mmix_reshape(ctx, qkv, mmix_shape4(B, n, 3, D)), which, 1),
                        mmix_shape3(B, n, D));
}

/* HF OpenAIGPT Block, post-LN: a = dropout(c_proj(Attn(q, k, v))); n = LN_1(x + a);
   m = dropout(c_proj(GELU(c_fc(n)))); out = LN_2(n + m). Attention is causal with scale
   1/sqrt(hd) (HF's -1e4 mask gives the same probabilities), its probabilities dropped out
   too, and has no positions of its own (they were added to the input; reference-notes Sec.
   8b). With a cache (keys then values, [2, n_ctx, D]) x is the new tokens at positions p..P-1. */
static mmix_tensor *mmix__gpt_layer_forward(mmix_ctx *ctx, const mmix_model *m, int64_t i, mmix_tensor *x,
                                            float *cache, int64_t p) {
    const mmix_gpt_layer *l = &m->gpt[i];
    const mmix_model_config *c = &m->config;
    mmix_tensor *qkv = mmix_linear_in_out(ctx, x, l->attn_w, l->attn_b), *a, *n, *h;
    a = mmix__cached_attention(ctx, c, mmix__gpt_qkv(ctx, qkv, 0), mmix__gpt_qkv(ctx, qkv, 1),
                               mmix__gpt_qkv(ctx, qkv, 2), cache, p, c->dropout, mmix__gpt_dropout_site(i, 0));
    a = mmix_dropout(ctx, mmix_linear_in_out(ctx, a, l->proj_w, l->proj_b), c->dropout, mmix__gpt_dropout_site(i, 1));
    n = mmix_layernorm(ctx, mmix_add(ctx, x, a), l->ln1_w, l->ln1_b, c->norm_eps);
    h = mmix_linear_in_out(ctx, mmix_gelu(ctx, mmix_linear_in_out(ctx, n, l->fc_w, l->fc_b)), l->fc_proj_w,
                           l->fc_proj_b);
    h = mmix_dropout(ctx, h, c->dropout, mmix__gpt_dropout_site(i, 2));
    return mmix_layernorm(ctx, mmix_add(ctx, n, h), l->ln2_w, l->ln2_b, c->norm_eps);
}

/* OpenAIGPTConfig(n_embd 512, n_layer 8, n_head 4, n_positions 512) of the TinyStories runs
   (paper Sec. 4.4), its other defaults kept: LayerNorm eps 1e-5, dropout 0.1. */
static void mmix__gpt_defaults(mmix_model_config *c) {
    c->dim = 512;
    c->heads = 4;
    c->norm_eps = 1e-5f;
    c->dropout = 0.1f;
}

static const char *mmix__gpt_check(const mmix_model_config *c) {
    if (c->heads < 1 || c->dim % c->heads != 0) return "GPT-1's dim must split into heads";
    return c->dropout >= 0.0f && c->dropout < 1.0f ? NULL : "dropout must be in [0, 1)";
}

/* VD + LD + n (4D^2 + 2DF + 9D + F): the tied head adds nothing. */
static int64_t mmix__gpt_param_count(const mmix_model_config *c) {
    int64_t D = c->dim, F = c->ffn_dim;
    return c->vocab * D + c->n_ctx * D + c->depth * (4 * D * D + 2 * D * F + 9 * D + F);
}

/* tokens_embed, positions_embed, the blocks; lm_head is tokens_embed (tied). */
static int mmix__gpt_create(mmix_ctx *ctx, mmix_model *m) {
    const mmix_model_config *c = &m->config;
    int64_t i;
    m->gpt = (mmix_gpt_layer *)mmix__arena_alloc(ctx, &ctx->persist, (size_t)c->depth * sizeof(mmix_gpt_layer));
    m->embed = mmix_params_add(ctx, &m->params, "transformer.tokens_embed.weight", mmix_shape2(c->vocab, c->dim));
    m->positions = mmix_params_add(ctx, &m->params, "transformer.positions_embed.weight",
                                   mmix_shape2(c->n_ctx, c->dim));
    for (i = 0; m->gpt && m->positions && i < c->depth; i++)
        if (!mmix__gpt_layer_create(ctx, m, &m->gpt[i], "transformer.h", i)) return 0;
    m->lm_head = m->gpt && m->positions ? m->embed : NULL;
    return m->lm_head != NULL;
}

/* HF _init_weights: N(0, 0.02) for Conv1D and Embedding weights, biases 0, LayerNorm 1 and 0. */
static void mmix__gpt_init(mmix_model *m, mmix_rng *rng) {
    int64_t i;
    mmix_init_normal(m->embed, rng, 0.0f, 0.02f);
    mmix_init_normal(m->positions, rng, 0.0f, 0.02f);
    for (i = 0; i < m->config.depth; i++) {
        mmix_gpt_layer *l = &m->gpt[i];
        mmix_tensor *weights[4], *biases[4], *norms[4];
        int j;
        weights[0] = l->attn_w; weights[1] = l->proj_w; weights[2] = l->fc_w; weights[3] = l->fc_proj_w;
        biases[0] = l->attn_b; biases[1] = l->proj_b; biases[2] = l->fc_b; biases[3] = l->fc_proj_b;
        norms[0] = l->ln1_w; norms[1] = l->ln1_b; norms[2] = l->ln2_w; norms[3] = l->ln2_b;
        for (j = 0; j < 4; j++) {
            mmix_init_normal(weights[j], rng, 0.0f, 0.02f);
            mmix_init_constant(biases[j], 0.0f);
            mmix_init_constant(norms[j], j % 2 ? 0.0f : 1.0f);
        }
    }
}

/* The cache keeps each block's keys and values: [2, n_ctx, D]. */
static int64_t mmix__gpt_cache_floats(const mmix_model_config *c) { return 2 * c->n_ctx * c->dim; }

static int mmix__gpt_detect(const mmix_safetensors *st) {
    return mmix_safetensors_find(st, "transformer.tokens_embed.weight") != NULL &&
           mmix_safetensors_find(st, "transformer.positions_embed.weight") != NULL;
}

/* Sizes from the names and shapes (n_ctx: the learned positions' rows); the head count from
   metadata or the options (reference-notes Sec. 8b); eps and dropout from metadata. */
static mmix_result mmix__gpt_read_config(mmix_ctx *ctx, const mmix_safetensors *st, const mmix_load_options *opt,
                                         mmix_model_config *c) {
    const mmix_st_entry *pos = mmix_safetensors_find(st, "transformer.positions_embed.weight"), *fc;
    double v;
    mmix_result r = mmix__read_lm_sizes(ctx, st, "transformer.tokens_embed.weight",
                                        "transformer.h.%lld.attn.c_attn.weight", "transformer.h.0.mlp.c_fc.weight", c);
    if (r != MMIX_OK) return r;
    fc = mmix_safetensors_find(st, "transformer.h.0.mlp.c_fc.weight");
    c->ffn_dim = fc->shape[1]; /* Conv1D: [D, 4D] */
    if (!pos || pos->ndim != 2)
        return mmix_set_error(ctx, MMIX_ERR_SHAPE, "%s: transformer.positions_embed.weight is missing or not 2-D",
                              st->path);
    c->n_ctx = pos->shape[0];
    if (!mmix__meta_number(ctx, st, "num_attention_heads", 0, &v)) return ctx->last_result;
    c->heads = opt && opt->heads > 0 ? opt->heads : (int64_t)v;
    if (c->heads <= 0)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "%s: a transformer's head count is not in the file "
                              "(no num_attention_heads metadata): give it with --heads", st->path);
    if (!mmix__meta_number(ctx, st, "layer_norm_epsilon", 1e-5, &v)) return ctx->last_result;
    c->norm_eps = (float)v;
    if (!mmix__meta_number(ctx, st, "resid_pdrop", 0.1, &v)) return ctx->last_result;
    c->dropout = (float)v;
    return MMIX_OK;
}

static void mmix__gpt_write_meta(const mmix_model_config *c, mmix__meta *meta) {
    mmix__meta_add(meta, "num_attention_heads", "%lld", (long long)c->heads);
    mmix__meta_add(meta, "layer_norm_epsilon", "%.9g", (double)c->norm_eps);
    mmix__meta_add(meta, "resid_pdrop", "%.9g", (double)c->dropout);
}

/* HF keeps lm_head.weight out of saved files (it is tokens_embed), but a state_dict() has it:
   such a file loads, its copy unused (reference-notes Sec. 8b). */
static int mmix__gpt_ignored(const char *name) { return strcmp(name, "lm_head.weight") == 0; }

static void mmix__gpt_settings(const mmix_model_config *c, int one_line, char *buf, size_t size) {
    if (one_line) snprintf(buf, size, ", %lld heads", (long long)c->heads);
    else snprintf(buf, size, "heads: %lld\nlayer_norm_epsilon: %g\ndropout: %g\n", (long long)c->heads,
                  (double)c->norm_eps, (double)c->dropout);
}

static void mmix__gpt_describe(mmix__arch *d) {
    d->info.title = "GPT-1 transformer";
    d->info.reference = "OpenAIGPTLMHeadModel";
    d->info.paper = "paper Sec. 4.4, Fig. 5, Table S6";
    d->info.fixed_window = 0;
    d->info.can_generate = 1;
    d->info.objective = MMIX_OBJECTIVE_NEXT_TOKEN;
    d->info.lr = 2e-4;
    d->info.own_settings = "heads and --dropout";
    d->defaults = mmix__gpt_defaults;
    d->check = mmix__gpt_check;
    d->param_count = mmix__gpt_param_count;
    d->create = mmix__gpt_create;
    d->init = mmix__gpt_init;
    d->apply_masks = NULL;
    d->hidden = mmix__stack_hidden;
    d->logits = mmix__lm_logits;
    d->embedding = mmix__causal_embedding;
    d->embedding_position = -2;
    d->embed = mmix__gpt_embed;
    d->terms = mmix__causal_lm_terms;
    d->targets = mmix__causal_lm_targets;
    d->cache_floats = mmix__gpt_cache_floats;
    d->block = mmix__gpt_layer_forward;
    d->final = NULL; /* post-LN: the last block ends in ln_2 */
    d->detect = mmix__gpt_detect;
    d->read_config = mmix__gpt_read_config;
    d->write_meta = mmix__gpt_write_meta;
    d->ignored = mmix__gpt_ignored;
    d->settings = mmix__gpt_settings;
}

// ---- The transfixer (reference-notes Sec. 8c): a Llama whose layers add a masked -------
// ---- token mixing of the attention output ------------------------------------------------
/* Llama layer i plus mixer_layer.conv (Conv1d(L, L, 1), bias), after the Llama tensors. */
static int mmix__transfixer_layer_create(mmix_ctx *ctx, mmix_model *m, mmix_llama_layer *l, const char *prefix,
                                         int64_t i) {
    int64_t L = m->config.n_ctx;
    if (!mmix__llama_layer_create(ctx, m, l, prefix, i)) return 0;
    l->mix_w = mmix__block_param(ctx, m, mmix_shape3(L, L, 1), prefix, i, "mixer_layer.conv.weight");
    l->mix_b = mmix__block_param(ctx, m, mmix_shape1(L), prefix, i, "mixer_layer.conv.bias");
    return l->mix_b != NULL;
}

/* r = x; a = o_proj(Attn(RMSNorm(x))); x = a + Conv(a) + r, the conv tril-masked; then the
   Llama MLP half. With a cache (keys, values, and the attention outputs a: [3, n_ctx, D]) the
   new rows' a join the third part, and conv rows p..P-1 read its rows 0..P-1. */
static mmix_tensor *mmix__transfixer_layer_forward(mmix_ctx *ctx, const mmix_model *m, int64_t i, mmix_tensor *x,
                                                   float *cache, int64_t p) {
    const mmix_llama_layer *l = &m->llama[i];
    const mmix_model_config *c = &m->config;
    mmix_tensor *a = mmix__llama_attention(ctx, l, c, x, cache, p), *mixed;
    int64_t n, D = c->dim;
    float *rows;
    if (!cache) {
        mixed = mmix_token_mix(ctx, a, l->mix_w, l->mix_b, mmix_mask_causal());
    } else {
        if (!a) return NULL;
        n = a->shape.d[1];
        rows = cache + 2 * c->n_ctx * D;
        ctx->backend->copy(rows + p * D, a->data, (size_t)(n * D) * sizeof(float));
        mixed = mmix__mix_new_rows(ctx, l->mix_w, l->mix_b, rows, p, n, D);
    }
    return mmix__llama_mlp_forward(ctx, l, c, mmix_add(ctx, mmix_add(ctx, a, mixed), x));
}

/* 2VD + n (4D^2 + 3DF + 2D + L^2 + L) + D */
static int64_t mmix__transfixer_param_count(const mmix_model_config *c) {
    return mmix__llama_param_count(c) + c->depth * (c->n_ctx * c->n_ctx + c->n_ctx);
}

static int mmix__transfixer_create(mmix_ctx *ctx, mmix_model *m) {
    const mmix_model_config *c = &m->config;
    int64_t i;
    m->llama = (mmix_llama_layer *)mmix__arena_alloc(ctx, &ctx->persist, (size_t)c->depth * sizeof(mmix_llama_layer));
    m->embed = mmix_params_add(ctx, &m->params, "model.embed_tokens.weight", mmix_shape2(c->vocab, c->dim));
    for (i = 0; m->llama && m->embed && i < c->depth; i++)
        if (!mmix__transfixer_layer_create(ctx, m, &m->llama[i], "model.layers", i)) return 0;
    if (m->llama && m->embed) m->final_norm = mmix_params_add(ctx, &m->params, "model.norm.weight", mmix_shape1(c->dim));
    if (m->final_norm) m->lm_head = mmix_params_add(ctx, &m->params, "lm_head.weight", mmix_shape2(c->vocab, c->dim));
    return m->lm_head != NULL;
}

static void mmix__transfixer_apply_masks(mmix_model *m) {
    int64_t i;
    for (i = 0; i < m->config.depth; i++) mmix__zero_upper(m->llama[i].mix_w);
}

/* HF _init_weights for Linear and Embedding (N(0, 0.02)); the conv, which it does not touch,
   keeps PyTorch's default (reference-notes Sec. 4); then the mask. */
static void mmix__transfixer_init(mmix_model *m, mmix_rng *rng) {
    int64_t i;
    mmix__llama_init(m, rng);
    for (i = 0; i < m->config.depth; i++) mmix_init_pytorch_linear(m->llama[i].mix_w, m->llama[i].mix_b, rng);
    mmix__transfixer_apply_masks(m);
}

static int64_t mmix__transfixer_cache_floats(const mmix_model_config *c) { return 3 * c->n_ctx * c->dim; }

static int mmix__transfixer_detect(const mmix_safetensors *st) {
    return mmix_safetensors_find(st, "model.embed_tokens.weight") != NULL &&
           mmix_safetensors_find(st, "model.layers.0.mixer_layer.conv.weight") != NULL;
}

/* The Llama's settings; the window from the conv weight [L, L, 1]. */
static mmix_result mmix__transfixer_read_config(mmix_ctx *ctx, const mmix_safetensors *st, const mmix_load_options *opt,
                                                mmix_model_config *c) {
    const mmix_st_entry *e = mmix_safetensors_find(st, "model.layers.0.mixer_layer.conv.weight");
    mmix_result r = mmix__llama_read_config(ctx, st, opt, c);
    if (r != MMIX_OK) return r;
    if (!e || e->ndim != 3 || e->shape[0] != e->shape[1] || e->shape[2] != 1)
        return mmix_set_error(ctx, MMIX_ERR_SHAPE, "%s: model.layers.0.mixer_layer.conv.weight is missing or not "
                              "[L, L, 1]", st->path);
    c->n_ctx = e->shape[0];
    return MMIX_OK;
}

static void mmix__transfixer_describe(mmix__arch *d) {
    mmix__llama_describe(d);
    d->info.title = "transfixer, a Llama with masked token mixing";
    d->info.reference = "LlamaForCausalLM with MixerLayer, blbadger/transformers branch transfixer";
    d->info.paper = "not in the paper; reference-notes Sec. 8c";
    d->info.fixed_window = 1;
    d->param_count = mmix__transfixer_param_count;
    d->create = mmix__transfixer_create;
    d->init = mmix__transfixer_init;
    d->apply_masks = mmix__transfixer_apply_masks;
    d->cache_floats = mmix__transfixer_cache_floats;
    d->block = mmix__transfixer_layer_forward;
    d->detect = mmix__transfixer_detect;
    d->read_config = mmix__transfixer_read_config;
}

// ---- The encoder-decoders (paper Secs. 5.2, 5.3): autoencoders, parallel prediction ------
/* Four rows share this section: the embedding, an encoder stack of n blocks, a middle step,
   a decoder stack of n more blocks of the same kind, both stacks causal, and lm_head at every
   position. The kind is the flat mixer block (m->mixer, then m->mixer2) or the Llama layer
   (m->llama, then m->llama2). The middle step is the objective's:
     RECONSTRUCT (mixer-ae, llama-ae; paper Sec. 5.3, Fig. 8): the encoder's last-token hidden
       state e = x[:, L-1, :] repeated over all L positions, so the whole input reaches the
       decoder through one vector, and output t reconstructs token t (reference-notes Sec. 13);
     SECOND_HALF (mixer-parallel, llama-parallel; paper Sec. 5.2, Fig. 7b/c): the hidden states
       of positions >= L/2 zeroed, so outputs there see the first half alone, and output t
       predicts token t (reference-notes Sec. 14).
   None of them is a causal language model: no generation. */

/* One stack on x: the mixer blocks when `mixers` is set, else the Llama layers (positions
   0..L-1, causal attention, no final norm: the reference's AbbreviatedModel). */
static mmix_tensor *mmix__encdec_stack(mmix_ctx *ctx, const mmix_model_config *c, const mmix_mixer_block *mixers,
                                       const mmix_llama_layer *layers, mmix_tensor *x) {
    int64_t i;
    for (i = 0; x && i < c->depth; i++)
        x = mixers ? mmix__mixer_block_run(ctx, &mixers[i], c, x, NULL, 0)
                   : mmix__llama_layer_run(ctx, &layers[i], c, x, NULL, 0);
    return x;
}

/* The step between the stacks, on the encoder's output [B, L, D]. */
static mmix_tensor *mmix__encdec_middle(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *x) {
    int64_t L;
    if (!x) return NULL;
    L = x->shape.d[1];
    if (mmix__arch_of(m).info.objective == MMIX_OBJECTIVE_RECONSTRUCT)
        return mmix_tokens_repeat(ctx, mmix_tokens_select(ctx, x, -1), L);
    return mmix_tokens_zero(ctx, x, L / 2, L);
}

/* The autoencoder's retrieval embedding (paper Sec. 6.4): the encoder's output at the last
   position, the one vector the decoder reads (reference-notes Sec. 20). */
static mmix_tensor *mmix__encoder_embedding(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *ids) {
    mmix_tensor *x = mmix__encdec_stack(ctx, &m->config, m->mixer, m->llama, mmix_embedding(ctx, m->embed, ids));
    return x ? mmix_tokens_select(ctx, x, -1) : NULL;
}

/* The decoder's last hidden layer [B, L, D]. */
static mmix_tensor *mmix__encdec_hidden(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *ids) {
    mmix_tensor *x = mmix__encdec_stack(ctx, &m->config, m->mixer, m->llama, mmix_embedding(ctx, m->embed, ids));
    return mmix__encdec_stack(ctx, &m->config, m->mixer2, m->llama2, mmix__encdec_middle(ctx, m, x));
}

/* Reconstruction: one term, no shift, output t against token t (pads ignored). */
static int mmix__reconstruct_terms(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *ids, int32_t pad_id,
                                   mmix_loss_terms *t, mmix_tensor **logits) {
    *logits = mmix_model_logits(ctx, m, ids);
    return mmix__add_term(ctx, *logits, ids, pad_id, 0, 0, t);
}
static int mmix__reconstruct_targets(const mmix_model_config *c, int64_t *first) {
    (void)c;
    first[0] = 0;
    return 1;
}

/* The second half: one term, no shift, outputs t >= L/2 against tokens t. L is the rows'
   length: n_ctx for the mixers; a transformer's rows may be shorter than its n_ctx, and
   then split at their own half (the count of mmix_model_counted_targets assumes n_ctx). */
static int mmix__second_half_terms(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *ids, int32_t pad_id,
                                   mmix_loss_terms *t, mmix_tensor **logits) {
    *logits = mmix_model_logits(ctx, m, ids);
    return *logits && mmix__add_term(ctx, *logits, ids, pad_id, ids->shape.d[1] / 2, 0, t);
}
static int mmix__second_half_targets(const mmix_model_config *c, int64_t *first) {
    first[0] = c->n_ctx / 2;
    return 1;
}

/* The mixers: wte, encoderblocks.i, decoderblocks.i (each the flat block), lm_head: the
   reference's registration order. */
static int mmix__encdec_mixer_create(mmix_ctx *ctx, mmix_model *m) {
    const mmix_model_config *c = &m->config;
    size_t size = (size_t)c->depth * sizeof(mmix_mixer_block);
    int64_t i;
    m->mixer = (mmix_mixer_block *)mmix__arena_alloc(ctx, &ctx->persist, size);
    m->mixer2 = (mmix_mixer_block *)mmix__arena_alloc(ctx, &ctx->persist, size);
    if (!m->mixer || !m->mixer2) return 0;
    m->embed = mmix_params_add(ctx, &m->params, "wte.weight", mmix_shape2(c->vocab, c->dim));
    for (i = 0; m->embed && i < c->depth; i++)
        if (!mmix__mixer_block_create(ctx, m, &m->mixer[i], "encoderblocks", i, NULL)) return 0;
    for (i = 0; m->embed && i < c->depth; i++)
        if (!mmix__mixer_block_create(ctx, m, &m->mixer2[i], "decoderblocks", i, NULL)) return 0;
    if (m->embed) m->lm_head = mmix_params_add(ctx, &m->params, "lm_head.weight", mmix_shape2(c->vocab, c->dim));
    return m->lm_head != NULL;
}

/* 2VD + 2n (4D + 2DF + F + D + L^2 k + L): the flat mixer's blocks, twice */
static int64_t mmix__encdec_mixer_param_count(const mmix_model_config *c) {
    int64_t D = c->dim, F = c->ffn_dim, L = c->n_ctx;
    return 2 * c->vocab * D + 2 * c->depth * (4 * D + 2 * D * F + F + D + L * L * c->kernel + L);
}

/* Both stacks' masks: the decoder's convs are causal too. */
static void mmix__encdec_mixer_apply_masks(mmix_model *m) {
    int64_t i;
    for (i = 0; i < m->config.depth; i++) {
        mmix__zero_upper(m->mixer[i].conv_w);
        mmix__zero_upper(m->mixer2[i].conv_w);
    }
}
/* PyTorch defaults in registration order (reference-notes Sec. 4), then the masks. */
static void mmix__encdec_mixer_init(mmix_model *m, mmix_rng *rng) {
    int64_t i;
    mmix_init_normal(m->embed, rng, 0.0f, 1.0f);
    for (i = 0; i < m->config.depth; i++) mmix__mixer_block_init(&m->mixer[i], m->config.heads, rng);
    for (i = 0; i < m->config.depth; i++) mmix__mixer_block_init(&m->mixer2[i], m->config.heads, rng);
    mmix_init_pytorch_linear(m->lm_head, NULL, rng);
    mmix__encdec_mixer_apply_masks(m);
}

static int mmix__encdec_mixer_detect(const mmix_safetensors *st) {
    return mmix_safetensors_find(st, "wte.weight") && mmix_safetensors_find(st, "encoderblocks.0.conv.weight");
}

/* The encoder's sizes, L and k from its conv weight [L, L, k]; the decoder's blocks must then
   be there with the same shapes (loading names any that is not). */
static mmix_result mmix__encdec_mixer_read_config(mmix_ctx *ctx, const mmix_safetensors *st,
                                                  const mmix_load_options *opt, mmix_model_config *c) {
    const mmix_st_entry *e;
    mmix_result r = mmix__mixers_read_config(ctx, st, "", "encoderblocks", "conv.weight", c, &e);
    (void)opt;
    if (r != MMIX_OK) return r;
    if (e->ndim != 3 || e->shape[0] != e->shape[1])
        return mmix_set_error(ctx, MMIX_ERR_SHAPE, "%s: encoderblocks.0.conv.weight must be [L, L, k]", st->path);
    c->n_ctx = e->shape[0];
    c->kernel = e->shape[2];
    return MMIX_OK;
}

/* The transformers: wte, encoder.model.model.layers.i, decoder.model.model.layers.i (Llama
   layers), lm_head: the reference's AutoencodingTransformer less its inner models' unused
   embed_tokens, norm and lm_head (reference-notes Sec. 13). */
static int mmix__encdec_llama_create(mmix_ctx *ctx, mmix_model *m) {
    const mmix_model_config *c = &m->config;
    size_t size = (size_t)c->depth * sizeof(mmix_llama_layer);
    int64_t i;
    m->llama = (mmix_llama_layer *)mmix__arena_alloc(ctx, &ctx->persist, size);
    m->llama2 = (mmix_llama_layer *)mmix__arena_alloc(ctx, &ctx->persist, size);
    if (!m->llama || !m->llama2) return 0;
    m->embed = mmix_params_add(ctx, &m->params, "wte.weight", mmix_shape2(c->vocab, c->dim));
    for (i = 0; m->embed && i < c->depth; i++)
        if (!mmix__llama_layer_create(ctx, m, &m->llama[i], "encoder.model.model.layers", i)) return 0;
    for (i = 0; m->embed && i < c->depth; i++)
        if (!mmix__llama_layer_create(ctx, m, &m->llama2[i], "decoder.model.model.layers", i)) return 0;
    if (m->embed) m->lm_head = mmix_params_add(ctx, &m->params, "lm_head.weight", mmix_shape2(c->vocab, c->dim));
    return m->lm_head != NULL;
}

/* 2VD + 2n (4D^2 + 3DF + 2D): two stacks of Llama layers, no final norm */
static int64_t mmix__encdec_llama_param_count(const mmix_model_config *c) {
    int64_t D = c->dim, F = c->ffn_dim;
    return 2 * c->vocab * D + 2 * c->depth * (4 * D * D + 3 * D * F + 2 * D);
}

/* The outer wte and lm_head are plain PyTorch modules (N(0, 1); the default Linear init), the
   layers those of Hugging Face models (N(0, 0.02), norms 1; reference-notes Sec. 4, 13). */
static void mmix__encdec_llama_init(mmix_model *m, mmix_rng *rng) {
    int64_t i;
    mmix_init_normal(m->embed, rng, 0.0f, 1.0f);
    for (i = 0; i < m->config.depth; i++) mmix__llama_layer_init(&m->llama[i], rng);
    for (i = 0; i < m->config.depth; i++) mmix__llama_layer_init(&m->llama2[i], rng);
    mmix_init_pytorch_linear(m->lm_head, NULL, rng);
}

static int mmix__encdec_llama_detect(const mmix_safetensors *st) {
    return mmix_safetensors_find(st, "wte.weight") &&
           mmix_safetensors_find(st, "encoder.model.model.layers.0.self_attn.q_proj.weight");
}

static mmix_result mmix__encdec_llama_read_config(mmix_ctx *ctx, const mmix_safetensors *st,
                                                  const mmix_load_options *opt, mmix_model_config *c) {
    mmix_result r = mmix__read_lm_sizes(ctx, st, "wte.weight", "encoder.model.model.layers.%lld.self_attn.q_proj.weight",
                                        "encoder.model.model.layers.0.mlp.gate_proj.weight", c);
    return r != MMIX_OK ? r : mmix__llama_read_settings(ctx, st, opt, c);
}

/* The inner LlamaForCausalLMs' parts the reference holds but never runs (reference-notes
   Sec. 13): their embed_tokens, final norm and lm_head, whatever their shapes. */
static int mmix__encdec_llama_ignored(const char *name) {
    static const char *const unused[] = {"model.model.embed_tokens.weight", "model.model.norm.weight",
                                         "model.lm_head.weight"};
    size_t k;
    for (k = 0; k < sizeof unused / sizeof unused[0]; k++)
        if ((strncmp(name, "encoder.", 8) == 0 || strncmp(name, "decoder.", 8) == 0) && strcmp(name + 8, unused[k]) == 0)
            return 1;
    return 0;
}

/* The slots all four share. */
static void mmix__encdec_common(mmix__arch *d) {
    d->info.can_generate = 0;
    d->hidden = mmix__encdec_hidden;
    d->logits = mmix__lm_logits;
    d->cache_floats = NULL;
    d->block = NULL;
    d->final = NULL;
}

/* The mixer kind: flat blocks with kernel k (1 in the paper), LayerNorm eps from metadata. */
static void mmix__encdec_mixer_kind(mmix__arch *d) {
    mmix__encdec_common(d);
    d->info.fixed_window = 1;
    d->info.own_settings = "kernel";
    d->defaults = mmix__mixer_defaults;
    d->check = mmix__mixer_check;
    d->param_count = mmix__encdec_mixer_param_count;
    d->create = mmix__encdec_mixer_create;
    d->init = mmix__encdec_mixer_init;
    d->apply_masks = mmix__encdec_mixer_apply_masks;
    d->detect = mmix__encdec_mixer_detect;
    d->read_config = mmix__encdec_mixer_read_config;
    d->write_meta = mmix__mixer_write_meta;
    d->ignored = NULL;
    d->settings = mmix__mixer_settings;
}

/* The transformer kind: HF Llama layers; the window is the rows' length (RoPE has no learned
   positions; the reference's is its inputs' tokenized_length), so rows need not be n_ctx long. */
static void mmix__encdec_llama_kind(mmix__arch *d) {
    mmix__encdec_common(d);
    d->info.fixed_window = 0;
    d->info.own_settings = "heads";
    d->defaults = mmix__llama_defaults;
    d->check = mmix__llama_check;
    d->param_count = mmix__encdec_llama_param_count;
    d->create = mmix__encdec_llama_create;
    d->init = mmix__encdec_llama_init;
    d->apply_masks = NULL; /* the causal mask is on attention scores */
    d->detect = mmix__encdec_llama_detect;
    d->read_config = mmix__encdec_llama_read_config;
    d->write_meta = mmix__llama_write_meta;
    d->ignored = mmix__encdec_llama_ignored;
    d->settings = mmix__llama_settings;
}

/* The autoencoders' objective. */
static void mmix__encdec_reconstruct(mmix__arch *d) {
    d->info.objective = MMIX_OBJECTIVE_RECONSTRUCT;
    d->embedding = mmix__encoder_embedding;
    d->embedding_position = -1;
    d->terms = mmix__reconstruct_terms;
    d->targets = mmix__reconstruct_targets;
}

/* The parallel models' objective. */
static void mmix__encdec_second_half(mmix__arch *d) {
    d->info.objective = MMIX_OBJECTIVE_SECOND_HALF;
    d->terms = mmix__second_half_terms;
    d->targets = mmix__second_half_targets;
}

static void mmix__mixer_ae_describe(mmix__arch *d) {
    mmix__encdec_mixer_kind(d);
    mmix__encdec_reconstruct(d);
    d->info.title = "masked-mixer autoencoder";
    d->info.reference = "AutoencodingMixer of mixer_lm/mixer_autoencoder.py, paper-era flat blocks";
    d->info.paper = "paper Sec. 5.3, Fig. 8";
    d->info.lr = 5e-4;
}

static void mmix__llama_ae_describe(mmix__arch *d) {
    mmix__encdec_llama_kind(d);
    mmix__encdec_reconstruct(d);
    d->info.title = "transformer autoencoder";
    d->info.reference = "AutoencodingTransformer of mixer_lm/transformer_autoencoder_tinystories.py";
    d->info.paper = "paper Sec. 5.3, Fig. 8";
    d->info.lr = 2e-4;
}

static void mmix__mixer_parallel_describe(mmix__arch *d) {
    mmix__encdec_mixer_kind(d);
    mmix__encdec_second_half(d);
    d->info.title = "masked mixer for parallel many-token prediction";
    d->info.reference = "AutoencodingMixer of mixer_lm/mixercompletion_trainer_fineweb.py";
    d->info.paper = "paper Sec. 5.2, Fig. 7b/c";
    d->info.lr = 2e-4;
}

static void mmix__llama_parallel_describe(mmix__arch *d) {
    mmix__encdec_llama_kind(d);
    mmix__encdec_second_half(d);
    d->info.title = "transformer for parallel many-token prediction";
    d->info.reference = "AutoencodingTransformer of mixer_lm/llamacompletion_trainer_fineweb.py";
    d->info.paper = "paper Sec. 5.2, Fig. 7b/c";
    d->info.lr = 1e-4;
}

// ---- The bidirectional masked mixer (paper Sec. 5.1, Fig. 6, Fig. S11): DoubleMixerBlock --
/* Two streams of the same embeddings, x (forward) and y (reverse), that meet only at the head.
   Block i holds, in the reference's registration order (reference-notes Sec. 15):
   patch_layernorm, seq_layernormf, seq_layernormr, patch_ff, convf, convr. The forward
   stream is m->mixer[i] (seq_layernormf, convf); the reverse stream m->mixer2[i]
   (seq_layernormr, convr) points at the same patch_layernorm and patch_ff: both streams' tokens
   go through one feed-forward. */
static int mmix__bidi_block_create(mmix_ctx *ctx, mmix_model *m, int64_t i) {
    const mmix_model_config *c = &m->config;
    mmix_mixer_block *f = &m->mixer[i], *r = &m->mixer2[i];
    int64_t D = c->dim, F = c->ffn_dim, L = c->n_ctx;
    f->patch_norm_w = mmix__block_param(ctx, m, mmix_shape1(D), "mixerblocks", i, "patch_layernorm.weight");
    f->patch_norm_b = mmix__block_param(ctx, m, mmix_shape1(D), "mixerblocks", i, "patch_layernorm.bias");
    f->seq_norm_w = mmix__block_param(ctx, m, mmix_shape1(D), "mixerblocks", i, "seq_layernormf.weight");
    f->seq_norm_b = mmix__block_param(ctx, m, mmix_shape1(D), "mixerblocks", i, "seq_layernormf.bias");
    r->seq_norm_w = mmix__block_param(ctx, m, mmix_shape1(D), "mixerblocks", i, "seq_layernormr.weight");
    r->seq_norm_b = mmix__block_param(ctx, m, mmix_shape1(D), "mixerblocks", i, "seq_layernormr.bias");
    f->ff_in_w = mmix__block_param(ctx, m, mmix_shape2(F, D), "mixerblocks", i, "patch_ff.0.weight");
    f->ff_in_b = mmix__block_param(ctx, m, mmix_shape1(F), "mixerblocks", i, "patch_ff.0.bias");
    f->ff_out_w = mmix__block_param(ctx, m, mmix_shape2(D, F), "mixerblocks", i, "patch_ff.2.weight");
    f->ff_out_b = mmix__block_param(ctx, m, mmix_shape1(D), "mixerblocks", i, "patch_ff.2.bias");
    f->conv_w = mmix__block_param(ctx, m, mmix_shape3(L, L, 1), "mixerblocks", i, "convf.weight");
    f->conv_b = mmix__block_param(ctx, m, mmix_shape1(L), "mixerblocks", i, "convf.bias");
    r->conv_w = mmix__block_param(ctx, m, mmix_shape3(L, L, 1), "mixerblocks", i, "convr.weight");
    r->conv_b = mmix__block_param(ctx, m, mmix_shape1(L), "mixerblocks", i, "convr.bias");
    r->patch_norm_w = f->patch_norm_w; /* shared: one feed-forward for both streams */
    r->patch_norm_b = f->patch_norm_b;
    r->ff_in_w = f->ff_in_w;
    r->ff_in_b = f->ff_in_b;
    r->ff_out_w = f->ff_out_w;
    r->ff_out_b = f->ff_out_b;
    return r->conv_b != NULL;
}

static int mmix__bidi_mixer_create(mmix_ctx *ctx, mmix_model *m) {
    const mmix_model_config *c = &m->config;
    size_t bytes = (size_t)c->depth * sizeof(mmix_mixer_block);
    int64_t i;
    m->mixer = (mmix_mixer_block *)mmix__arena_alloc(ctx, &ctx->persist, bytes);
    m->mixer2 = (mmix_mixer_block *)mmix__arena_alloc(ctx, &ctx->persist, bytes);
    if (!m->mixer || !m->mixer2) return 0;
    memset(m->mixer, 0, bytes);
    memset(m->mixer2, 0, bytes);
    m->embed = mmix_params_add(ctx, &m->params, "wte.weight", mmix_shape2(c->vocab, c->dim));
    for (i = 0; m->embed && i < c->depth; i++)
        if (!mmix__bidi_block_create(ctx, m, i)) return 0;
    if (m->embed) m->lm_head = mmix_params_add(ctx, &m->params, "lm_head.weight", mmix_shape2(c->vocab, c->dim));
    return m->lm_head != NULL;
}

/* The reverse stream's mask, torch.triu(diagonal=2): output o reads inputs i >= o + 2 only
   (paper Sec. 5.1, Fig. S11): its own token comes through the residual, token o + 1 never. */
static mmix_mask mmix__bidi_reverse_mask(void) {
    mmix_mask mask;
    mask.kind = MMIX_MASK_UPPER;
    mask.diagonal = 2;
    mask.keep = NULL;
    return mask;
}

/* Zeroes what mmix__bidi_reverse_mask drops from W [R, C, k]: in row r the entries
   j < r + 2, one contiguous run of min(r + 2, C) k floats at the row's start. */
static void mmix__zero_below_second_diagonal(mmix_tensor *w) {
    int64_t r, R = w->shape.d[0], C = w->shape.d[1], k = w->shape.d[2];
    for (r = 0; r < R; r++)
        w->backend->zero(w->data + r * C * k, (size_t)((r + 2 < C ? r + 2 : C) * k) * sizeof(float));
}

static void mmix__bidi_mixer_apply_masks(mmix_model *m) {
    int64_t i;
    for (i = 0; i < m->config.depth; i++) {
        mmix__zero_upper(m->mixer[i].conv_w);
        mmix__zero_below_second_diagonal(m->mixer2[i].conv_w);
    }
}

/* PyTorch defaults in registration order (reference-notes Sec. 4), then the masks. */
static void mmix__bidi_mixer_init(mmix_model *m, mmix_rng *rng) {
    int64_t i;
    mmix_init_normal(m->embed, rng, 0.0f, 1.0f);
    for (i = 0; i < m->config.depth; i++) {
        mmix_mixer_block *f = &m->mixer[i], *r = &m->mixer2[i];
        mmix_init_constant(f->patch_norm_w, 1.0f);
        mmix_init_constant(f->patch_norm_b, 0.0f);
        mmix_init_constant(f->seq_norm_w, 1.0f);
        mmix_init_constant(f->seq_norm_b, 0.0f);
        mmix_init_constant(r->seq_norm_w, 1.0f);
        mmix_init_constant(r->seq_norm_b, 0.0f);
        mmix_init_pytorch_linear(f->ff_in_w, f->ff_in_b, rng);
        mmix_init_pytorch_linear(f->ff_out_w, f->ff_out_b, rng);
        mmix_init_pytorch_linear(f->conv_w, f->conv_b, rng);
        mmix_init_pytorch_linear(r->conv_w, r->conv_b, rng);
    }
    mmix_init_pytorch_linear(m->lm_head, NULL, rng);
    mmix__bidi_mixer_apply_masks(m);
}

/* One stream of one block: h = s + Conv(LN_seq(s)) under the stream's mask, then the shared
   feed-forward half. */
static mmix_tensor *mmix__bidi_stream_forward(mmix_ctx *ctx, const mmix_mixer_block *b, const mmix_model_config *c,
                                              mmix_tensor *s, mmix_mask mask) {
    mmix_tensor *norm = mmix_layernorm(ctx, s, b->seq_norm_w, b->seq_norm_b, c->norm_eps);
    return mmix__mixer_ff_forward(ctx, b, c, mmix_add(ctx, s, mmix_token_mix(ctx, norm, b->conv_w, b->conv_b, mask)));
}

/* Both streams start as wte[ids] and run apart through every block; the last hidden layer
   is their sum x + y, the only place they meet (paper Fig. S11: a single combination, so
   nothing of token o + 1 reaches output o). */
static mmix_tensor *mmix__bidi_mixer_hidden(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *ids) {
    mmix_tensor *x = mmix_embedding(ctx, m->embed, ids), *y = x;
    int64_t i;
    for (i = 0; x && y && i < m->config.depth; i++) {
        x = mmix__bidi_stream_forward(ctx, &m->mixer[i], &m->config, x, mmix_mask_causal());
        y = mmix__bidi_stream_forward(ctx, &m->mixer2[i], &m->config, y, mmix__bidi_reverse_mask());
    }
    return mmix_add(ctx, x, y);
}

static const char *mmix__bidi_mixer_check(const mmix_model_config *c) {
    return c->kernel != 1 ? "the bidirectional mixer's convolutions have kernel 1" : NULL;
}

/* 2VD + n (6D + 2DF + F + D + 2 (L^2 + L)): one shared feed-forward, two norms and convs */
static int64_t mmix__bidi_mixer_param_count(const mmix_model_config *c) {
    int64_t D = c->dim, F = c->ffn_dim, L = c->n_ctx;
    return 2 * c->vocab * D + c->depth * (6 * D + 2 * D * F + F + D + 2 * (L * L + L));
}

static int mmix__bidi_mixer_detect(const mmix_safetensors *st) {
    return mmix_safetensors_find(st, "wte.weight") && mmix_safetensors_find(st, "mixerblocks.0.convf.weight");
}

/* L from convf's weight [L, L, 1]. */
static mmix_result mmix__bidi_mixer_read_config(mmix_ctx *ctx, const mmix_safetensors *st,
                                                const mmix_load_options *opt, mmix_model_config *c) {
    const mmix_st_entry *e;
    mmix_result r = mmix__mixers_read_config(ctx, st, "", "mixerblocks", "convf.weight", c, &e);
    (void)opt;
    if (r != MMIX_OK) return r;
    if (e->ndim != 3 || e->shape[0] != e->shape[1] || e->shape[2] != 1)
        return mmix_set_error(ctx, MMIX_ERR_SHAPE, "%s: mixerblocks.0.convf.weight must be [L, L, 1]", st->path);
    c->n_ctx = e->shape[0];
    c->kernel = 1;
    return MMIX_OK;
}

static void mmix__bidi_mixer_settings(const mmix_model_config *c, int one_line, char *buf, size_t size) {
    if (!one_line) snprintf(buf, size, "layer_norm_eps: %g\n", (double)c->norm_eps);
}

static void mmix__bidi_mixer_describe(mmix__arch *d) {
    mmix__mixer_describe(d); /* the flat mixer's sizes, head and shifted loss; two streams */
    d->info.title = "bidirectional masked mixer";
    d->info.reference = "LanguageMixer of DoubleMixerBlocks (bidirectional_mixer.py)";
    d->info.paper = "paper Sec. 5.1, Fig. 6, Fig. S11";
    d->info.can_generate = 0; /* output o reads tokens after o + 1: no left-to-right decoding */
    d->info.objective = MMIX_OBJECTIVE_NEXT_BIDI;
    d->embedding = NULL; /* every output sees the whole row: none is a causal summary */
    d->embedding_position = 0;
    d->info.own_settings = ""; /* its sizes are the flat mixer's; the kernel is 1 */
    d->check = mmix__bidi_mixer_check;
    d->param_count = mmix__bidi_mixer_param_count;
    d->create = mmix__bidi_mixer_create;
    d->init = mmix__bidi_mixer_init;
    d->apply_masks = mmix__bidi_mixer_apply_masks;
    d->hidden = mmix__bidi_mixer_hidden;
    d->cache_floats = NULL;
    d->block = NULL;
    d->detect = mmix__bidi_mixer_detect;
    d->read_config = mmix__bidi_mixer_read_config;
    d->settings = mmix__bidi_mixer_settings;
}

// ---- The bidirectional transformer (paper Sec. 5.1, Fig. 6): BidirectionalTransformer ----
/* An outer wte and lm_head around two stacks of causal Llama layers (AbbreviatedModel: the
   layers of a LlamaForCausalLM, without its embedding, final norm or head): the forward stack
   m->llama reads the tokens in order, the reverse stack m->llama2 reads them flipped. Output o
   combines the forward stack's row o - 1 (tokens < o) and the reverse stack's row for o + 1
   (tokens > o), so it predicts its own token o from every other one (reference-notes Sec. 15). */
#define MMIX__BIDI_FORWARD "forward_model.model.model.layers"
#define MMIX__BIDI_REVERSE "reverse_model.model.model.layers"

static int mmix__bidi_llama_create(mmix_ctx *ctx, mmix_model *m) {
    const mmix_model_config *c = &m->config;
    size_t bytes = (size_t)c->depth * sizeof(mmix_llama_layer);
    int64_t i;
    m->llama = (mmix_llama_layer *)mmix__arena_alloc(ctx, &ctx->persist, bytes);
    m->llama2 = (mmix_llama_layer *)mmix__arena_alloc(ctx, &ctx->persist, bytes);
    if (!m->llama || !m->llama2) return 0;
    /* registration order: wte, lm_head, then forward_model and reverse_model */
    m->embed = mmix_params_add(ctx, &m->params, "wte.weight", mmix_shape2(c->vocab, c->dim));
    m->lm_head = mmix_params_add(ctx, &m->params, "lm_head.weight", mmix_shape2(c->vocab, c->dim));
    for (i = 0; m->lm_head && i < c->depth; i++)
        if (!mmix__llama_layer_create(ctx, m, &m->llama[i], MMIX__BIDI_FORWARD, i)) return 0;
    for (i = 0; m->lm_head && i < c->depth; i++)
        if (!mmix__llama_layer_create(ctx, m, &m->llama2[i], MMIX__BIDI_REVERSE, i)) return 0;
    return m->lm_head != NULL;
}

/* The outer wte and lm_head are plain torch modules (N(0, 1) and the PyTorch Linear default);
   the inner layers are HF's: N(0, 0.02), norms 1 (reference-notes Sec. 4). */
static void mmix__bidi_llama_init(mmix_model *m, mmix_rng *rng) {
    int64_t i;
    mmix_init_normal(m->embed, rng, 0.0f, 1.0f);
    mmix_init_pytorch_linear(m->lm_head, NULL, rng);
    for (i = 0; i < m->config.depth; i++) mmix__llama_layer_init(&m->llama[i], rng);
    for (i = 0; i < m->config.depth; i++) mmix__llama_layer_init(&m->llama2[i], rng);
}

/* x moved `shift` positions along the token axis, zeros where nothing arrives: out[o] =
   x[o - shift] (the reference's torch.cat with a zero row, one op on the tape). */
static mmix_tensor *mmix__tokens_shift(mmix_ctx *ctx, mmix_tensor *x, int64_t shift) {
    int64_t L = mmix__token_len(ctx, "tokens_shift", x), r, *map;
    if (!L) return NULL;
    map = mmix__token_map(ctx, L, "tokens_shift");
    if (!map) return NULL;
    for (r = 0; r < L; r++) map[r] = r - shift >= 0 && r - shift < L ? r - shift : -1;
    return mmix__token_gather(ctx, x, NULL, map, L, L, 0, x->shape);
}

/* fwd = F(x) moved one later, rev = flip(R(flip(x))) moved one earlier, both at RoPE
   positions 0..L-1 of what they read; the last hidden layer is fwd + rev. */
static mmix_tensor *mmix__bidi_llama_hidden(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *ids) {
    mmix_tensor *x = mmix_embedding(ctx, m->embed, ids), *f = x, *r = mmix_tokens_flip(ctx, x);
    int64_t i;
    for (i = 0; f && r && i < m->config.depth; i++) {
        f = mmix__llama_layer_run(ctx, &m->llama[i], &m->config, f, NULL, 0);
        r = mmix__llama_layer_run(ctx, &m->llama2[i], &m->config, r, NULL, 0);
    }
    return mmix_add(ctx, mmix__tokens_shift(ctx, f, 1), mmix__tokens_shift(ctx, mmix_tokens_flip(ctx, r), -1));
}

/* No shift: output o predicts token o itself, pads ignored. */
static int mmix__own_token_terms(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *ids, int32_t pad_id,
                                 mmix_loss_terms *t, mmix_tensor **logits) {
    *logits = mmix_model_logits(ctx, m, ids);
    return mmix__add_term(ctx, *logits, ids, pad_id, 0, 0, t);
}
static int mmix__own_token_targets(const mmix_model_config *c, int64_t *first) {
    (void)c;
    first[0] = 0;
    return 1;
}

/* 2VD + 2n (4D^2 + 3DF + 2D) */
static int64_t mmix__bidi_llama_param_count(const mmix_model_config *c) {
    int64_t D = c->dim, F = c->ffn_dim;
    return 2 * c->vocab * D + 2 * c->depth * (4 * D * D + 3 * D * F + 2 * D);
}

static int mmix__bidi_llama_detect(const mmix_safetensors *st) {
    return mmix_safetensors_find(st, "wte.weight") &&
           mmix_safetensors_find(st, MMIX__BIDI_FORWARD ".0.self_attn.q_proj.weight");
}

static mmix_result mmix__bidi_llama_read_config(mmix_ctx *ctx, const mmix_safetensors *st,
                                                const mmix_load_options *opt, mmix_model_config *c) {
    return mmix__llamas_read_config(ctx, st, opt, c, "wte.weight", MMIX__BIDI_FORWARD);
}

/* The inner LlamaForCausalLMs' own embedding, final norm and head: in the reference's
   state_dict (its vocab_size, 4096 in the reference script), never used. */
static int mmix__bidi_llama_ignored(const char *name) {
    static const char *const unused[] = {
        "forward_model.model.model.embed_tokens.weight", "forward_model.model.model.norm.weight",
        "forward_model.model.lm_head.weight", "reverse_model.model.model.embed_tokens.weight",
        "reverse_model.model.model.norm.weight", "reverse_model.model.lm_head.weight"};
    size_t i;
    for (i = 0; i < sizeof unused / sizeof unused[0]; i++)
        if (strcmp(name, unused[i]) == 0) return 1;
    return 0;
}

static void mmix__bidi_llama_describe(mmix__arch *d) {
    mmix__llama_describe(d); /* Llama layers, sizes and settings; two stacks, no final norm */
    d->info.title = "bidirectional transformer";
    d->info.reference = "BidirectionalTransformer (bidirectional_transformer.py)";
    d->info.paper = "paper Sec. 5.1, Fig. 6";
    d->info.can_generate = 0; /* output o reads the tokens after o */
    d->info.objective = MMIX_OBJECTIVE_OWN_BIDI;
    d->embedding = NULL; /* every output sees the whole row: none is a causal summary */
    d->embedding_position = 0;
    d->info.lr = 1e-4; /* the reference script's */
    d->param_count = mmix__bidi_llama_param_count;
    d->create = mmix__bidi_llama_create;
    d->init = mmix__bidi_llama_init;
    d->hidden = mmix__bidi_llama_hidden;
    d->terms = mmix__own_token_terms;
    d->targets = mmix__own_token_targets;
    d->cache_floats = NULL;
    d->block = NULL;
    d->final = NULL;
    d->detect = mmix__bidi_llama_detect;
    d->read_config = mmix__bidi_llama_read_config;
    d->ignored = mmix__bidi_llama_ignored;
}

// ---- Sequential two-token prediction (paper Sec. 5.2, Fig. 7a): MTPMixer, MTPTransformer --
/* One model run twice: pass 1 on the tokens (position o predicts token o + 1), pass 2 on
   pass 1's guesses, the argmax at every position with no gradient through it (position o
   predicts token o + 2). The loss is the plain sum of the two terms' means; the logits are
   pass 2's. The model is the flat mixer or the Llama, wrapped in a module whose attribute
   `model` holds it, so every reference name gains "model." (reference-notes Sec. 16). A
   single pass is the plain causal LM, which is what generation runs. */
static int mmix__two_token_terms(mmix_ctx *ctx, const mmix_model *m, mmix_tensor *ids, int32_t pad_id,
                                 mmix_loss_terms *t, mmix_tensor **logits) {
    mmix_tensor *first = mmix_model_logits(ctx, m, ids);
    if (!mmix__add_term(ctx, first, ids, pad_id, 1, 1, t)) return 0;
    *logits = mmix_model_logits(ctx, m, mmix_argmax(ctx, first)); /* pads only matter as labels */
    return mmix__add_term(ctx, *logits, ids, pad_id, 2, 2, t);
}
static int mmix__two_token_targets(const mmix_model_config *c, int64_t *first) {
    (void)c;
    first[0] = 1;
    first[1] = 2;
    return 2;
}

static int mmix__mtp_mixer_create(mmix_ctx *ctx, mmix_model *m) {
    return mmix__mixers_create(ctx, m, "model.", mmix__flat_block_create);
}

static int mmix__mtp_mixer_detect(const mmix_safetensors *st) {
    return mmix_safetensors_find(st, "model.wte.weight") && mmix_safetensors_find(st, "model.mixerblocks.0.conv.weight");
}

static mmix_result mmix__mtp_mixer_read_config(mmix_ctx *ctx, const mmix_safetensors *st, const mmix_load_options *opt,
                                               mmix_model_config *c) {
    (void)opt;
    return mmix__flat_read_config(ctx, st, "model.", c);
}

/* The flat mixer in every slot but its names and its objective. */
static void mmix__mtp_mixer_describe(mmix__arch *d) {
    mmix__mixer_describe(d);
    d->info.title = "masked mixer, two-token prediction";
    d->info.reference = "MTPMixer (mtp_mixer_fineweb.py)";
    d->info.paper = "paper Sec. 5.2, Fig. 7a";
    d->info.objective = MMIX_OBJECTIVE_TWO_TOKENS;
    d->create = mmix__mtp_mixer_create;
    d->terms = mmix__two_token_terms;
    d->targets = mmix__two_token_targets;
    d->detect = mmix__mtp_mixer_detect;
    d->read_config = mmix__mtp_mixer_read_config;
}

static int mmix__mtp_llama_create(mmix_ctx *ctx, mmix_model *m) { return mmix__llamas_create(ctx, m, "model."); }

static int mmix__mtp_llama_detect(const mmix_safetensors *st) {
    return mmix_safetensors_find(st, "model.model.embed_tokens.weight") != NULL;
}

static mmix_result mmix__mtp_llama_read_config(mmix_ctx *ctx, const mmix_safetensors *st, const mmix_load_options *opt,
                                               mmix_model_config *c) {
    return mmix__llamas_read_config(ctx, st, opt, c, "model.model.embed_tokens.weight", "model.model.layers");
}

/* The Llama in every slot but its names and its objective: its logits are lm_head(model.model(x)),
   after the final norm, with the causal mask alone. */
static void mmix__mtp_llama_describe(mmix__arch *d) {
    mmix__llama_describe(d);
    d->info.title = "Llama-style transformer, two-token prediction";
    d->info.reference = "MTPTransformer (mtp_transformer_fineweb.py)";
    d->info.paper = "paper Sec. 5.2, Fig. 7a";
    d->info.objective = MMIX_OBJECTIVE_TWO_TOKENS;
    d->create = mmix__mtp_llama_create;
    d->terms = mmix__two_token_terms;
    d->targets = mmix__two_token_targets;
    d->detect = mmix__mtp_llama_detect;
    d->read_config = mmix__mtp_llama_read_config;
}

// ---- The public model functions: checks, then one dispatch through the descriptor --------
/* An upper bound, in double, of every architecture's parameter count: each count formula
   is a sum of products of these sizes with coefficients that add up to under 64. Below 2^53
   no formula's int64 arithmetic can overflow (every intermediate is at most the total), so
   the descriptors may count with plain products. */
static double mmix__model_size_bound(const mmix_model_config *c) {
    double D = (double)c->dim, F = (double)c->ffn_dim, L = (double)c->n_ctx, V = (double)c->vocab;
    double k = c->kernel > 1 ? (double)c->kernel : 1.0, h = c->heads > 1 ? (double)c->heads : 1.0;
    double E = (c->expansion > 1 ? (double)c->expansion : 1.0) * L;
    return 64.0 * (V * D + L * D + D + (double)c->depth * (D * D + D * F + D + F + L * L * k * h + E * L + E + L));
}

MMIXDEF mmix_result mmix_model_create(mmix_ctx *ctx, mmix_model *model, mmix_model_config c) {
    mmix__arch d;
    const char *wrong = NULL;
    memset(model, 0, sizeof *model);
    if (!mmix__arch_describe(c.arch, &d)) wrong = "the architecture is not one of mmix_arch";
    else if (c.vocab < 1 || c.dim < 1 || c.depth < 1 || c.n_ctx < 1 || c.ffn_dim < 1 || !(c.norm_eps > 0.0f))
        wrong = "sizes and norm_eps must be positive";
    else if (mmix__model_size_bound(&c) > 9007199254740992.0)   /* 2^53 */
        wrong = "the parameter count would overflow (over 2^53 weights)";
    else wrong = d.check(&c);
    if (wrong)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "model: invalid configuration (vocab %lld, dim %lld, "
                              "depth %lld, n_ctx %lld, kernel %lld, heads %lld, ffn %lld): %s",
                              (long long)c.vocab, (long long)c.dim, (long long)c.depth, (long long)c.n_ctx,
                              (long long)c.kernel, (long long)c.heads, (long long)c.ffn_dim, wrong);
    model->config = c;
    /* one buffer for every value, one for every gradient, sized by the count formula */
    if (mmix_params_create(ctx, &model->params, d.param_count(&c)) != MMIX_OK) return ctx->last_result;
    if (!d.create(ctx, model) || ctx->last_result != MMIX_OK) model->lm_head = NULL;
    if (!model->lm_head)
        return ctx->last_result != MMIX_OK ? ctx->last_result
                                           : mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "model: out of memory");
    if (model->params.used != model->params.numel) /* the formula and the blocks disagree: a bug of ours */
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "model: %lld parameters made, %lld counted",
                              (long long)model->params.used, (long long)model->params.numel);
    return MMIX_OK;
}

MMIXDEF void mmix_model_apply_masks(mmix_model *model) {
    mmix__arch d = mmix__arch_of(model);
    if (d.apply_masks) d.apply_masks(model);
}

MMIXDEF void mmix_model_init(mmix_model *model, mmix_rng *rng) { mmix__arch_of(model).init(model, rng); }

MMIXDEF int64_t mmix_model_param_count(const mmix_model *model) {
    /* From the configuration, by each architecture's formula (tested against the
       element count of the created parameters). */
    return mmix__arch_of(model).param_count(&model->config);
}

MMIXDEF mmix_tensor *mmix_model_hidden(mmix_ctx *ctx, const mmix_model *model, mmix_tensor *ids) {
    const mmix_model_config *c = &model->config;
    mmix__arch d = mmix__arch_of(model);
    char s[64];
    if (!mmix__op_can_run(ctx) || !mmix__check_i32(ctx, "model", "ids", ids)) return NULL;
    if (ids->shape.ndim != 2 || (d.info.fixed_window && ids->shape.d[1] != c->n_ctx)) {
        mmix_set_error(ctx, MMIX_ERR_SHAPE, "model: token ids %s must be [batch, %s%lld]",
                       mmix_shape_str(ids->shape, s, sizeof s),
                       d.info.fixed_window ? "n_ctx = " : "length; n_ctx = ", (long long)c->n_ctx);
        return NULL;
    }
    return d.hidden(ctx, model, ids);
}

MMIXDEF mmix_tensor *mmix_model_logits(mmix_ctx *ctx, const mmix_model *model, mmix_tensor *ids) {
    return mmix__arch_of(model).logits(ctx, model, ids);
}

MMIXDEF mmix_tensor *mmix_model_loss_terms(mmix_ctx *ctx, const mmix_model *model, mmix_tensor *ids, int32_t pad_id,
                                           mmix_loss_terms *terms, mmix_tensor **logits_out) {
    mmix__arch d = mmix__arch_of(model);
    mmix_loss_terms own;
    mmix_tensor *logits = NULL, *loss = NULL;
    int j;
    if (!terms) terms = &own;
    memset(terms, 0, sizeof *terms);
    if (logits_out) *logits_out = NULL;
    if (!mmix__op_can_run(ctx) || !d.terms(ctx, model, ids, pad_id, terms, &logits)) return NULL;
    if (logits_out) *logits_out = logits;
    for (j = 0; j < terms->n; j++) /* the plain sum of the terms' means */
        if (terms->mean[j]) loss = loss ? mmix_add(ctx, loss, terms->mean[j]) : terms->mean[j];
    if (!loss) { /* nothing counted: a zero on the tape */
        loss = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape1(1));
        if (loss) ctx->backend->zero(loss->data, sizeof(float));
    }
    return loss;
}

MMIXDEF mmix_tensor *mmix_model_loss(mmix_ctx *ctx, const mmix_model *model, mmix_tensor *ids, int32_t pad_id,
                                     mmix_tensor **logits_out) {
    mmix_loss_terms t;
    mmix_tensor *loss = mmix_model_loss_terms(ctx, model, ids, pad_id, &t, logits_out);
    int j, counted = 0;
    for (j = 0; loss && j < t.n; j++) counted += t.count[j] > 0;
    if (loss && !counted) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "model loss: every target is the pad id %ld: nothing to "
                       "average over", (long)pad_id);
        return NULL;
    }
    return loss;
}

MMIXDEF int64_t mmix_model_counted_targets(const mmix_model *model, const int32_t *ids, int64_t n, int64_t len,
                                           int32_t pad_id) {
    int64_t first[MMIX_LOSS_TERMS_MAX], b, p, count = 0;
    int j, terms = mmix__arch_of(model).targets(&model->config, first);
    for (j = 0; j < terms; j++)
        for (b = 0; b < n; b++)
            for (p = first[j]; p < len; p++) count += pad_id < 0 || ids[b * len + p] != pad_id;
    return count;
}

// ----------------------------------------------------------------------------------------
// >>checkpoint  Models and optimizer state in safetensors files (reference-notes Sec. 9).
// ----------------------------------------------------------------------------------------
MMIXDEF void mmix_set_log(mmix_ctx *ctx, mmix_log_fn fn, void *user) {
    ctx->log = fn;
    ctx->log_user = user;
}

static void mmix__warn(mmix_ctx *ctx, const char *fmt, ...) {
    char message[512];
    va_list args;
    if (!ctx->log) return;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    ctx->log(ctx->log_user, message);
}

MMIXDEF void mmix_free(void *p) { MMIX_FREE(p); }

MMIXDEF mmix_load_options mmix_load_options_default(void) {
    mmix_load_options o;
    memset(&o, 0, sizeof o);
    return o;
}

/* Whether name ends in suffix. */
static int mmix__ends_with(const char *name, const char *suffix) {
    size_t n = strlen(name), k = strlen(suffix);
    return n >= k && strcmp(name + n - k, suffix) == 0;
}

/* Non-parameter buffers that reference state_dicts may carry: Llama's RoPE frequencies, and
   GPT-1's causal mask (attn.bias, not attn.c_attn.bias) and position ids (reference-notes
   Sec. 8, 8b). */
static int mmix__known_buffer(const char *name) {
    return mmix__ends_with(name, "rotary_emb.inv_freq") || mmix__ends_with(name, ".attn.bias") ||
           strcmp(name, "transformer.position_ids") == 0;
}

/* The architectures a file can load as, the default first (mmix_model_file_archs). */
static mmix_result mmix__file_archs(mmix_ctx *ctx, const mmix_safetensors *st, mmix_arch *archs, int *n,
                                    char *known, size_t known_size) {
    const char *recorded = mmix_safetensors_meta(st, "mmix_arch");
    mmix__arch d;
    int a;
    *n = 0;
    known[0] = '\0';
    for (a = 0; a < MMIX_ARCH_COUNT; a++) /* "mixer, llama, ...", for the messages */
        if (mmix__arch_describe((mmix_arch)a, &d))
            snprintf(known + strlen(known), known_size - strlen(known), "%s%s", a ? ", " : "", d.info.name);
    if (recorded) {
        if (!mmix_arch_find(recorded, &archs[0]))
            return mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: metadata mmix_arch = \"%s\" is no architecture this "
                                  "library knows (%s)", st->path, recorded, known);
        *n = 1;
        return MMIX_OK;
    }
    for (a = 0; a < MMIX_ARCH_COUNT; a++)
        if (mmix__arch_describe((mmix_arch)a, &d) && d.detect(st)) archs[(*n)++] = (mmix_arch)a;
    return MMIX_OK;
}

/* The architecture: options->arch when given (it must be one the file can load as), else
   the first of mmix__file_archs; then its sizes and settings. */
static mmix_result mmix__infer_config(mmix_ctx *ctx, const mmix_safetensors *st, const mmix_load_options *opt,
                                      mmix_model_config *c) {
    mmix_arch archs[MMIX_ARCH_COUNT], arch = MMIX_ARCH_COUNT;
    mmix__arch d;
    mmix_result r;
    int n, a;
    char known[512];
    if ((r = mmix__file_archs(ctx, st, archs, &n, known, sizeof known)) != MMIX_OK) return r;
    if (n == 0)
        return mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: its tensor names are those of no architecture this "
                              "library knows (%s): not a model for this library", st->path, known);
    arch = archs[0];
    if (opt && opt->arch) {
        if (!mmix_arch_find(opt->arch, &arch))
            return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "%s: architecture \"%s\" is not one of %s",
                                  st->path, opt->arch, known);
        for (a = 0; a < n && archs[a] != arch; a++) {}
        if (a == n) {
            mmix__arch_describe(archs[0], &d);
            return mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: the file is a %s (%s), not a %s", st->path,
                                  d.info.name, d.info.title, opt->arch);
        }
    }
    mmix__arch_describe(arch, &d);
    *c = mmix_model_config_default(arch);
    r = d.read_config(ctx, st, opt, c);
    if (r != MMIX_OK) return r;
    if (opt && opt->norm_eps > 0.0f) c->norm_eps = opt->norm_eps;
    if (opt && opt->rope_theta > 0.0f) c->rope_theta = opt->rope_theta;
    if (opt && opt->n_ctx > 0) c->n_ctx = opt->n_ctx;
    if (c->n_ctx <= 0) c->n_ctx = 512; /* a transformer's window is not in its weights; RoPE needs none */
    return MMIX_OK;
}

/* Hugging Face config.json keys that say what weights cannot, as the metadata keys our
   read_config functions ask for (GPT-1's config spells them its own way). */
static const char *mmix__hf_config_key(const char *key) {
    static const char *const map[][2] = {
        {"num_attention_heads", "num_attention_heads"}, {"n_head", "num_attention_heads"},
        {"rms_norm_eps", "rms_norm_eps"}, {"layer_norm_eps", "layer_norm_eps"},
        {"layer_norm_epsilon", "layer_norm_eps"}, {"rope_theta", "rope_theta"},
        {"pad_token_id", "pad_token_id"}, {"n_positions", "n_positions"}};
    size_t i;
    for (i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i][0], key) == 0) return map[i][1];
    return NULL;
}

/* A file's settings, third in line after the options and its own metadata: the numbers of
   a Hugging Face config.json in the weights' folder, added to st's metadata where the file
   has none (reference-notes Sec. 9). No config.json is no error; a malformed one is. */
static mmix_result mmix__add_hf_config(mmix_ctx *ctx, mmix_safetensors *st, const char *path) {
    char dir_config[1100];
    const char *slash = strrchr(path, '/');
    mmix_bpe_bytes text = {NULL, 0, 0}, key = {NULL, 0, 0};
    mmix__json j;
    mmix_result r = MMIX_OK;
    FILE *probe;
    int count = 0, more;
    snprintf(dir_config, sizeof dir_config, "%.*sconfig.json", slash ? (int)(slash - path + 1) : 0, path);
    if (!(probe = fopen(dir_config, "rb"))) return MMIX_OK;
    fclose(probe);
    if ((r = mmix__read_file(ctx, "model load", dir_config, &text)) != MMIX_OK) return r;
    mmix__json_init(&j, text.data, text.size - 1, "the end of the file");
    if (!mmix__json_expect(&j, '{', "at the start of a config.json")) more = -1;
    else while ((more = mmix__json_next(&j, '}', &count, "or '}' in config.json")) > 0) {
        const char *ours;
        size_t start;
        int c;
        if (!mmix__json_string(&j, "a key", &key) || !mmix__json_expect(&j, ':', "after a key")) { more = -1; break; }
        c = mmix__json_peek(&j);
        start = j.i;
        if (!mmix__json_skip(&j)) { more = -1; break; }
        ours = mmix__hf_config_key((const char *)key.data);
        if (ours && (c == '-' || (c >= '0' && c <= '9')) && !mmix_safetensors_meta(st, ours)) {
            char **keys = (char **)MMIX_REALLOC(st->meta_keys, (size_t)(st->n_meta + 1) * sizeof(char *));
            char **values = keys ? (char **)MMIX_REALLOC(st->meta_values, (size_t)(st->n_meta + 1) * sizeof(char *)) : NULL;
            size_t n = j.i - start;
            if (keys) st->meta_keys = keys;
            if (values) st->meta_values = values;
            if (!keys || !values ||
                !(st->meta_keys[st->n_meta] = (char *)MMIX_MALLOC(strlen(ours) + 1)) ||
                !(st->meta_values[st->n_meta] = (char *)MMIX_MALLOC(n + 1))) {
                if (keys && values) MMIX_FREE(st->meta_keys[st->n_meta]);
                r = mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "model load: out of memory reading %s", dir_config);
                break;
            }
            strcpy(st->meta_keys[st->n_meta], ours);
            memcpy(st->meta_values[st->n_meta], j.s + start, n);
            st->meta_values[st->n_meta][n] = '\0';
            st->n_meta++;
        }
    }
    if (r == MMIX_OK && more < 0)
        r = mmix_set_error(ctx, j.code == MMIX_OK ? MMIX_ERR_FORMAT : j.code, "%s: byte %llu: %s", dir_config,
                           (unsigned long long)j.err_at, j.err);
    mmix_bpe_bytes_free(&text);
    mmix_bpe_bytes_free(&key);
    return r;
}

MMIXDEF mmix_result mmix_model_file_archs(mmix_ctx *ctx, const char *path, mmix_arch *archs, int *n) {
    mmix_safetensors st;
    char known[512];
    mmix_result r = mmix_safetensors_open(ctx, path, &st);
    *n = 0;
    if (r != MMIX_OK) return r;
    r = mmix__file_archs(ctx, &st, archs, n, known, sizeof known);
    mmix_safetensors_close(&st);
    return r;
}

/* Every parameter of `set` from the file, by name; then every tensor of the file must have
   been one of them (an unknown name means another model), but for known buffers and those
   `ignored` accepts (may be NULL), skipped with a warning. A missing, unknown or wrongly
   shaped tensor is an error naming it and `title`, the model's kind. */
static mmix_result mmix__read_params(mmix_ctx *ctx, const mmix_safetensors *st, const mmix_params *set,
                                     const char *title, int (*ignored)(const char *name)) {
    mmix_result r = MMIX_OK;
    int64_t i;
    for (i = 0; r == MMIX_OK && i < set->count; i++) {
        mmix_tensor *p = set->tensors[i];
        const mmix_st_entry *e = mmix_safetensors_find(st, p->name);
        if (!e)
            r = mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: tensor '%s' of the %s is missing", st->path, p->name,
                               title);
        else
            r = mmix_safetensors_read_into(ctx, st, e, p);
    }
    for (i = 0; r == MMIX_OK && i < st->n_entries; i++) {
        const char *name = st->entries[i].name;
        if (mmix_params_find(set, name)) continue;
        if (mmix__known_buffer(name))
            mmix__warn(ctx, "%s: skipping the buffer '%s' (recomputed, not a parameter)", st->path, name);
        else if (ignored && ignored(name))
            mmix__warn(ctx, "%s: skipping '%s' (the reference model has it but never uses it)", st->path, name);
        else
            r = mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: unknown tensor '%s' for a %s", st->path, name, title);
    }
    return r;
}

MMIXDEF mmix_result mmix_model_load(mmix_ctx *ctx, mmix_model *model, const char *path,
                                    const mmix_load_options *options, int32_t *pad_id) {
    mmix_safetensors st;
    mmix_model_config c;
    mmix_result r;
    const char *title = "";
    mmix__arch arch;
    double v;
    memset(model, 0, sizeof *model);
    memset(&arch, 0, sizeof arch);
    if (pad_id) *pad_id = -1;
    r = mmix_safetensors_open(ctx, path, &st);
    if (r != MMIX_OK) return r;
    r = mmix__add_hf_config(ctx, &st, path);
    if (r == MMIX_OK) r = mmix__infer_config(ctx, &st, options, &c);
    if (r == MMIX_OK) r = mmix_model_create(ctx, model, c);
    if (r == MMIX_OK) {
        arch = mmix__arch_of(model);
        title = arch.info.title;
    }
    if (r == MMIX_OK) r = mmix__read_params(ctx, &st, &model->params, title, arch.ignored);
    if (r == MMIX_OK && pad_id) {
        if (!mmix__meta_number(ctx, &st, "pad_token_id", -1, &v)) r = ctx->last_result;
        else if (v < -1 || v > INT32_MAX || v != (double)(int64_t)v)
            r = mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: metadata pad_token_id = %g is not a token id", path, v);
        else *pad_id = (int32_t)v;
    }
    mmix_safetensors_close(&st);
    if (r == MMIX_OK) mmix_model_apply_masks(model);
    return r;
}

/* Metadata: the format, the architecture's name, the window, the architecture's own
   settings, the pad id. */
MMIXDEF mmix_result mmix_model_save(mmix_ctx *ctx, const mmix_model *model, const char *path, int32_t pad_id) {
    mmix__arch d = mmix__arch_of(model);
    mmix__meta meta;
    meta.n = 0;
    mmix__meta_add(&meta, "format", "pt");
    mmix__meta_add(&meta, "mmix_arch", "%s", d.info.name);
    mmix__meta_add(&meta, "n_ctx", "%lld", (long long)model->config.n_ctx);
    d.write_meta(&model->config, &meta);
    if (pad_id >= 0) mmix__meta_add(&meta, "pad_token_id", "%ld", (long)pad_id);
    return mmix_safetensors_write(ctx, path, model->params.tensors, NULL, model->params.count, meta.keys,
                                  meta.values, meta.n);
}

MMIXDEF mmix_result mmix_adamw_save(mmix_ctx *ctx, const mmix_adamw *opt, const char *path,
                                    const char *const *meta_keys, const char *const *meta_values, int64_t n_meta) {
    /* moments m and v of each parameter, named after it; then the optimizer's own settings */
    enum { NAME_SIZE = MMIX_NAME_MAX + 16 };
    int64_t n = opt->n_params, i, n_keys = n_meta + 6;
    mmix_tensor **tensors = (mmix_tensor **)MMIX_MALLOC((size_t)(2 * n + 1) * sizeof(mmix_tensor *));
    char **names = (char **)MMIX_MALLOC((size_t)(2 * n + 1) * sizeof(char *));
    char *name_text = (char *)MMIX_MALLOC((size_t)(2 * n + 1) * NAME_SIZE);
    const char **keys = (const char **)MMIX_MALLOC((size_t)n_keys * sizeof(char *));
    const char **vals = (const char **)MMIX_MALLOC((size_t)n_keys * sizeof(char *));
    char numbers[6][40];
    mmix_result r;
    if (!tensors || !names || !name_text || !keys || !vals) {
        r = mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "adamw_save: out of memory");
    } else {
        for (i = 0; i < 2 * n; i++) {
            names[i] = name_text + i * NAME_SIZE;
            snprintf(names[i], NAME_SIZE, "%s.%s", i < n ? "exp_avg" : "exp_avg_sq", opt->params[i % n]->name);
            tensors[i] = i < n ? opt->m[i] : opt->v[i - n];
        }
        for (i = 0; i < n_meta; i++) { keys[i] = meta_keys[i]; vals[i] = meta_values[i]; }
        snprintf(numbers[0], 40, "%lld", (long long)opt->step);
        snprintf(numbers[1], 40, "%.9g", (double)opt->config.lr);
        snprintf(numbers[2], 40, "%.9g", (double)opt->config.beta1);
        snprintf(numbers[3], 40, "%.9g", (double)opt->config.beta2);
        snprintf(numbers[4], 40, "%.9g", (double)opt->config.eps);
        snprintf(numbers[5], 40, "%.9g", (double)opt->config.weight_decay);
        keys[n_meta + 0] = "adamw_step"; vals[n_meta + 0] = numbers[0];
        keys[n_meta + 1] = "adamw_lr"; vals[n_meta + 1] = numbers[1];
        keys[n_meta + 2] = "adamw_beta1"; vals[n_meta + 2] = numbers[2];
        keys[n_meta + 3] = "adamw_beta2"; vals[n_meta + 3] = numbers[3];
        keys[n_meta + 4] = "adamw_eps"; vals[n_meta + 4] = numbers[4];
        keys[n_meta + 5] = "adamw_weight_decay"; vals[n_meta + 5] = numbers[5];
        r = mmix_safetensors_write(ctx, path, tensors, (const char *const *)names, 2 * n, keys, vals, n_keys);
    }
    MMIX_FREE(tensors);
    MMIX_FREE(names);
    MMIX_FREE(name_text);
    MMIX_FREE(keys);
    MMIX_FREE(vals);
    return r;
}

MMIXDEF mmix_result mmix_adamw_load(mmix_ctx *ctx, mmix_adamw *opt, const char *path) {
    mmix_safetensors st;
    mmix_result r = mmix_safetensors_open(ctx, path, &st);
    char name[MMIX_NAME_MAX + 16];
    double v[6] = {-1, -1, -1, -1, -1, -1};
    int64_t i;
    if (r != MMIX_OK) return r;
    if (!mmix__meta_number(ctx, &st, "adamw_step", -1, &v[0]) || !mmix__meta_number(ctx, &st, "adamw_lr", -1, &v[1]) ||
        !mmix__meta_number(ctx, &st, "adamw_beta1", -1, &v[2]) || !mmix__meta_number(ctx, &st, "adamw_beta2", -1, &v[3]) ||
        !mmix__meta_number(ctx, &st, "adamw_eps", -1, &v[4]) ||
        !mmix__meta_number(ctx, &st, "adamw_weight_decay", -1, &v[5]))
        r = ctx->last_result;
    else if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0 || v[4] < 0 || v[5] < 0)
        r = mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: not an optimizer state file (adamw_* metadata missing)", path);
    for (i = 0; r == MMIX_OK && i < 2 * opt->n_params; i++) {
        const mmix_st_entry *e;
        snprintf(name, sizeof name, "%s.%s", i < opt->n_params ? "exp_avg" : "exp_avg_sq",
                 opt->params[i % opt->n_params]->name);
        e = mmix_safetensors_find(&st, name);
        r = e ? mmix_safetensors_read_into(ctx, &st, e, i < opt->n_params ? opt->m[i] : opt->v[i - opt->n_params])
              : mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: optimizer moment '%s' is missing", path, name);
    }
    if (r == MMIX_OK && st.n_entries != 2 * opt->n_params)
        r = mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: %lld tensors, but the model's optimizer has %lld moments", path,
                           (long long)st.n_entries, (long long)(2 * opt->n_params));
    if (r == MMIX_OK) {
        opt->step = (int64_t)v[0];
        opt->config.lr = (float)v[1];
        opt->config.beta1 = (float)v[2];
        opt->config.beta2 = (float)v[3];
        opt->config.eps = (float)v[4];
        opt->config.weight_decay = (float)v[5];
    }
    mmix_safetensors_close(&st);
    return r;
}

MMIXDEF mmix_result mmix_read_token_lines(mmix_ctx *ctx, const char *path, int64_t vocab, int64_t expect_len,
                                          int32_t **ids, int64_t *lines, int64_t *len) {
    FILE *f = fopen(path, "rb");
    int32_t *buf = NULL;
    int64_t count = 0, cap = 0, line = 1, in_line = 0, row_len = expect_len > 0 ? expect_len : -1;
    mmix_result r = MMIX_OK;
    int c;
    *ids = NULL;
    *lines = *len = 0;
    if (!f) return mmix_set_error(ctx, MMIX_ERR_FILE_NOT_FOUND, "%s: cannot open the token file", path);
    while (r == MMIX_OK) {
        c = fgetc(f);
        if (c == ' ' || c == '\t' || c == '\r') continue;
        if (c == '\n' || c == EOF) { /* the end of a line: check its length */
            if (in_line > 0 && row_len < 0) row_len = in_line;
            if (in_line > 0 && in_line != row_len) {
                r = mmix_set_error(ctx, MMIX_ERR_SHAPE, "%s:%lld: %lld tokens, expected %lld%s", path, (long long)line,
                                   (long long)in_line, (long long)row_len,
                                   expect_len > 0 ? " (the model's n_ctx)" : " (as the first line)");
                break;
            }
            in_line = 0;
            if (c == EOF) break;
            line++;
        } else if (c >= '0' && c <= '9') {
            int64_t value = 0;
            for (; c >= '0' && c <= '9'; c = fgetc(f))
                if (value <= INT32_MAX) value = value * 10 + (c - '0');
            if (c != EOF) ungetc(c, f);
            if (value >= vocab) {
                r = mmix_set_error(ctx, MMIX_ERR_RANGE, "%s:%lld: token %lld%s is outside the vocabulary [0, %lld)",
                                   path, (long long)line, (long long)value, value > INT32_MAX ? "..." : "",
                                   (long long)vocab);
            } else {
                int32_t *grown = (int32_t *)mmix__grow(buf, &cap, count + 1, sizeof(int32_t));
                if (!grown) {
                    r = mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
                    break;
                }
                buf = grown;
                buf[count++] = (int32_t)value;
                in_line++;
            }
        } else {
            r = mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s:%lld: byte 0x%02x is not part of a token id (ids are "
                               "non-negative integers)", path, (long long)line, (unsigned)c);
        }
    }
    fclose(f);
    if (r == MMIX_OK && count == 0) r = mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: no token ids in the file", path);
    if (r != MMIX_OK) {
        MMIX_FREE(buf);
        return r;
    }
    *ids = buf;
    *len = row_len;
    *lines = count / row_len;
    return MMIX_OK;
}

// ----------------------------------------------------------------------------------------
// >>generate  Generation (paper Sec. 4.2; reference-notes Sec. 7): the cached and
// index-walking forwards, sampling.
//
// Why the cache is valid. Every per-token piece of either model (embedding, the norms, the
// feed-forward, q/k/v projections, RoPE at a fixed position) reads one position only, and
// the only mixing across positions is causal: the mixer's conv row t reads its input rows
// 0..t (the lower-triangular mask, paper Sec. 3.2; 'same' padding runs along D, within a
// row), attention's query t reads keys and values 0..t. So by induction over the layers,
// everything a layer computes at position t depends on tokens 0..t alone, and what was
// computed when those tokens were fed is what a full forward of any longer sequence would
// compute again (paper Sec. 4.2: the mask keeps "right-positioned tokens" out). The cache
// keeps exactly what later rows read: the mixer's seq_layernorm outputs (the conv's input),
// the transformer's keys after RoPE and its values.
//
// Cost of a new token at position t, per layer: the cached mixer O(t D k) for conv row t
// plus O(D F) feed-forward; index-walking O(L^2 D k + L D F), the whole window (L = n_ctx).
// The transformer: O(t D) attention plus O(D^2 + D F), against O(t^2 D + t D F) recomputed.
// ----------------------------------------------------------------------------------------
typedef struct mmix__scored {
    float value;
    int32_t id;
} mmix__scored;

struct mmix_generator {
    mmix_ctx *ctx;
    const mmix_model *model;
    mmix_generate_method method;
    int64_t pos;                /* tokens fed so far: the next position */
    int32_t *tokens;            /* [n_ctx]; 0 after pos (index-walking's window) */
    float *logits;              /* [vocab]: the prediction at position pos - 1 */
    float *cache;               /* cached method: per layer what the architecture keeps (the
                                   mixer [n_ctx, D], the transformer keys then values [2, n_ctx,
                                   D]), in the backend's memory; NULL otherwise */
    const mmix_backend *backend;/* the cache's owner */
    mmix__scored *scratch;      /* [vocab], for top-k sampling */
};

MMIXDEF mmix_sampler mmix_sampler_default(void) {
    mmix_sampler s;
    memset(&s, 0, sizeof s);
    return s;
}

static size_t mmix__round_up(size_t n) { return (n + MMIX__ALIGN - 1) / MMIX__ALIGN * MMIX__ALIGN; }

MMIXDEF mmix_result mmix_generator_create(mmix_ctx *ctx, const mmix_model *model, mmix_generate_method method,
                                          mmix_generator **out) {
    const mmix_model_config *c;
    mmix__arch arch;
    size_t head, tok, lg, cache, scr;
    void *device_cache;
    double total;
    unsigned char *raw;
    mmix_generator *g;
    if (out) *out = NULL;
    if (!ctx) return MMIX_ERR_INVALID_ARGUMENT;
    if (!model || !out || !model->lm_head ||
        (method != MMIX_GENERATE_CACHED && method != MMIX_GENERATE_INDEX_WALKING))
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "generate: needs a created model, an output "
                              "pointer and a method (cached or index-walking)");
    c = &model->config;
    arch = mmix__arch_of(model);
    if (!arch.info.can_generate)
        return mmix_set_error(ctx, MMIX_ERR_UNSUPPORTED, "generate: a %s cannot generate: it is not a causal "
                              "language model (mm train --list-archs says which are)", arch.info.title);
    head = mmix__round_up(sizeof(mmix_generator));
    tok = mmix__round_up((size_t)c->n_ctx * sizeof(int32_t));
    lg = mmix__round_up((size_t)c->vocab * sizeof(float));
    scr = mmix__round_up((size_t)c->vocab * sizeof(mmix__scored));
    total = (double)c->depth * (double)arch.cache_floats(c);
    if (method != MMIX_GENERATE_CACHED) total = 0.0;
    if (total * sizeof(float) > (double)(SIZE_MAX / 2))
        return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "generate: the cache does not fit in memory");
    cache = (size_t)total * sizeof(float);
    raw = (unsigned char *)mmix__sys_malloc(ctx, head + tok + lg + scr);
    device_cache = cache ? ctx->backend->alloc(cache) : NULL;
    if (!raw || (cache && !device_cache)) {
        MMIX_FREE(raw);
        ctx->backend->release(device_cache);
        return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "generate: could not allocate %.0f bytes for the "
                              "generator", (double)(head + tok + lg + scr + cache));
    }
    g = (mmix_generator *)raw;
    memset(g, 0, sizeof *g);
    g->ctx = ctx;
    g->model = model;
    g->method = method;
    g->tokens = (int32_t *)(raw + head);
    /* cppcheck-suppress invalidPointerCast ; one allocation carved into aligned arrays */
    g->logits = (float *)(raw + head + tok);
    g->scratch = (mmix__scored *)(raw + head + tok + lg);
    g->cache = (float *)device_cache;
    g->backend = ctx->backend;
    mmix_generator_reset(g);
    *out = g;
    return MMIX_OK;
}

MMIXDEF void mmix_generator_destroy(mmix_generator *gen) {
    if (!gen) return;
    gen->backend->release(gen->cache);
    MMIX_FREE(gen);
}

MMIXDEF void mmix_generator_reset(mmix_generator *gen) {
    gen->pos = 0;
    memset(gen->tokens, 0, (size_t)gen->model->config.n_ctx * sizeof(int32_t));
    memset(gen->logits, 0, (size_t)gen->model->config.vocab * sizeof(float));
}

MMIXDEF const float *mmix_generator_logits(const mmix_generator *gen) { return gen->logits; }
MMIXDEF int64_t mmix_generator_position(const mmix_generator *gen) { return gen->pos; }
MMIXDEF const int32_t *mmix_generator_tokens(const mmix_generator *gen) { return gen->tokens; }

/* The last hidden row [1, D] after feeding tokens p..P-1 (already in gen->tokens): the
   index-walking method by a whole forward; the cached one through the architecture's own
   blocks, each given its layer's cache and the position of the first new row. */
static mmix_tensor *mmix__generate_hidden(mmix_generator *g, int64_t p, int64_t P) {
    mmix_ctx *ctx = g->ctx;
    const mmix_model *m = g->model;
    mmix__arch d = mmix__arch_of(m);
    int64_t i, per_layer = d.cache_floats(&m->config);
    mmix_tensor *ids, *x;
    if (g->method == MMIX_GENERATE_INDEX_WALKING) {
        int64_t T = d.info.fixed_window ? m->config.n_ctx : P; /* the mixer's window is fixed (paper Sec. 4.2) */
        ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(1, T));
        if (!ids) return NULL;
        mmix_tensor_upload(ctx, ids, 0, g->tokens, T);
        return mmix_tokens_select(ctx, mmix_model_hidden(ctx, m, ids), P - 1);
    }
    ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(1, P - p));
    if (!ids) return NULL;
    mmix_tensor_upload(ctx, ids, 0, g->tokens + p, P - p);
    x = mmix__embed(ctx, m, &d, ids, p);
    for (i = 0; x && i < m->config.depth; i++) x = d.block(ctx, m, i, x, g->cache + i * per_layer, p);
    x = mmix_tokens_select(ctx, x, -1);
    return d.final ? d.final(ctx, m, x) : x;
}

MMIXDEF mmix_result mmix_generator_feed(mmix_generator *gen, const int32_t *ids, int64_t n) {
    mmix_ctx *ctx;
    const mmix_model_config *c;
    mmix_step_mark mark;
    mmix_tensor *logits;
    int64_t i;
    int was_training, had_grad, fresh;
    if (!gen) return MMIX_ERR_INVALID_ARGUMENT;
    ctx = gen->ctx;
    c = &gen->model->config;
    if (ctx->last_result != MMIX_OK) return ctx->last_result; /* sticky (section 5) */
    if (!ids || n < 1)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "generate: nothing to feed (%lld tokens)", (long long)n);
    if (n > c->n_ctx - gen->pos)
        return mmix_set_error(ctx, MMIX_ERR_RANGE, "generate: %lld more token(s) after %lld do not fit in the "
                              "window of n_ctx = %lld", (long long)n, (long long)gen->pos, (long long)c->n_ctx);
    for (i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab)
            return mmix_set_error(ctx, MMIX_ERR_RANGE, "generate: token id %ld (input %lld) is outside the "
                                  "vocabulary [0, %lld)", (long)ids[i], (long long)i, (long long)c->vocab);
    was_training = ctx->training;
    had_grad = ctx->grad_enabled;
    ctx->training = 0;
    ctx->grad_enabled = 0;
    mark = mmix_step_mark_get(ctx);
    fresh = ctx->step.used_before_head == 0 && ctx->step_data.used_before_head == 0 && mark.used == 0 &&
            mark.data_used == 0 && mark.tape_len == 0;
    memcpy(gen->tokens + gen->pos, ids, (size_t)n * sizeof(int32_t));
    logits = mmix_linear(ctx, mmix__generate_hidden(gen, gen->pos, gen->pos + n), gen->model->lm_head, NULL);
    if (logits) {
        mmix_tensor_download(ctx, logits, 0, gen->logits, c->vocab);
        gen->pos += n;
    } else {
        memset(gen->tokens + gen->pos, 0, (size_t)n * sizeof(int32_t));
    }
    /* From an empty step arena, a reset folds any grown chain into one block, so the next
       token allocates nothing; otherwise rewind to what the caller had. */
    if (fresh) mmix_step_reset(ctx);
    else mmix_step_rewind(ctx, mark);
    ctx->training = was_training;
    ctx->grad_enabled = had_grad;
    return ctx->last_result;
}

static int mmix__scored_desc(const void *pa, const void *pb) {
    const mmix__scored *a = (const mmix__scored *)pa, *b = (const mmix__scored *)pb;
    if (a->value != b->value) return a->value > b->value ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static mmix_result mmix__check_sampler(mmix_ctx *ctx, const mmix_sampler *s) {
    if (s && (!(s->temperature >= 0.0f) || s->temperature > 3.0e38f || s->top_k < 0))
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "generate: the sampler needs a finite temperature "
                              ">= 0 and top_k >= 0 (got %g and %lld)", (double)s->temperature, (long long)s->top_k);
    return MMIX_OK;
}

MMIXDEF mmix_result mmix_generator_sample(mmix_generator *gen, const mmix_sampler *sampler, mmix_rng *rng,
                                          int32_t *token) {
    mmix_ctx *ctx;
    int64_t V, i, kept;
    const float *lg;
    mmix__scored *s;
    double total = 0.0, u, t, max;
    if (!gen || !token) return gen ? mmix_set_error(gen->ctx, MMIX_ERR_INVALID_ARGUMENT, "generate: token is NULL")
                                   : MMIX_ERR_INVALID_ARGUMENT;
    ctx = gen->ctx;
    V = gen->model->config.vocab;
    lg = gen->logits;
    s = gen->scratch;
    if (ctx->last_result != MMIX_OK) return ctx->last_result;
    if (mmix__check_sampler(ctx, sampler) != MMIX_OK) return ctx->last_result;
    if (gen->pos == 0)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "generate: feed at least one token before sampling");
    for (i = 0; i < V; i++)
        if (!isfinite(lg[i]))
            return mmix_set_error(ctx, MMIX_ERR_NUMERIC, "generate: logit %lld is %g", (long long)i, (double)lg[i]);
    if (!sampler || sampler->temperature == 0.0f) { /* greedy: the first largest logit */
        int64_t best = 0;
        for (i = 1; i < V; i++)
            if (lg[i] > lg[best]) best = i;
        *token = (int32_t)best;
        return MMIX_OK;
    }
    if (!rng) return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "generate: sampling needs an rng");
    for (i = 0; i < V; i++) {
        s[i].value = lg[i];
        s[i].id = (int32_t)i;
    }
    kept = V;
    if (sampler->top_k > 0 && sampler->top_k < V) { /* the k largest, first by value then id */
        qsort(s, (size_t)V, sizeof *s, mmix__scored_desc);
        kept = sampler->top_k;
    }
    t = sampler->temperature;
    max = s[0].value;
    for (i = 1; i < kept; i++)
        if (s[i].value > max) max = s[i].value;
    for (i = 0; i < kept; i++) total += exp(((double)s[i].value - max) / t);
    u = (double)mmix_rng_uniform(rng) * total; /* inverse CDF over the kept tokens, in order */
    for (i = 0; i + 1 < kept; i++) {
        u -= exp(((double)s[i].value - max) / t);
        if (u < 0.0) break;
    }
    *token = s[i].id;
    return MMIX_OK;
}

MMIXDEF mmix_result mmix_generate(mmix_ctx *ctx, const mmix_model *model, const int32_t *prompt, int64_t n_prompt,
                                  int64_t max_new, int32_t stop_id, const mmix_sampler *sampler,
                                  mmix_generate_method method, int32_t *out, int64_t *n_out) {
    mmix_generator *g;
    mmix_rng rng;
    int32_t next;
    if (n_out) *n_out = 0;
    if (!ctx) return MMIX_ERR_INVALID_ARGUMENT;
    if (ctx->last_result != MMIX_OK) return ctx->last_result;
    if (!model || !n_out || max_new < 0 || (max_new > 0 && !out))
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "generate: needs a model, max_new >= 0, an output "
                              "array for max_new tokens and n_out");
    if (n_prompt < 1 || !prompt)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "generate: the prompt is empty (give at least one "
                              "token)");
    if (n_prompt >= model->config.n_ctx)
        return mmix_set_error(ctx, MMIX_ERR_RANGE, "generate: a prompt of %lld tokens leaves no room in the window "
                              "of n_ctx = %lld (at most %lld)", (long long)n_prompt, (long long)model->config.n_ctx,
                              (long long)(model->config.n_ctx - 1));
    if (mmix__check_sampler(ctx, sampler) != MMIX_OK) return ctx->last_result;
    if (mmix_generator_create(ctx, model, method, &g) != MMIX_OK) return ctx->last_result;
    mmix_rng_seed(&rng, sampler ? sampler->seed : 0);
    if (mmix_generator_feed(g, prompt, n_prompt) == MMIX_OK && max_new > 0) {
        /* The token picked after position pos - 1 goes to position pos; the last one the
           window holds is n_ctx - 1, and it is not fed (nothing may follow it). */
        while (mmix_generator_sample(g, sampler, &rng, &next) == MMIX_OK && next != stop_id) {
            out[(*n_out)++] = next;
            if (*n_out == max_new || g->pos + 1 >= model->config.n_ctx) break;
            if (mmix_generator_feed(g, &next, 1) != MMIX_OK) break;
        }
    }
    mmix_generator_destroy(g);
    return ctx->last_result;
}

// ----------------------------------------------------------------------------------------
// >>bpe  The byte-level BPE tokenizer (section 6).
//
// Reading order: the pre-splits (ours; GPT-2's and Llama-3's with the Unicode table), two
// hash tables, the tokenizer object and its id map, training (word counts, pair counts with
// occurrence lists, a lazy max-heap, neighbour-only updates), the derived vocabulary,
// encoding (a min-heap of merge ranks per word, plus a word cache), decoding, the file
// format (versions 1 and 2), and the Hugging Face import.
// ----------------------------------------------------------------------------------------

/* ---- Pre-split: an ASCII approximation of GPT-2's pattern ----
     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
   with letters = A-Z a-z and every byte >= 0x80 (so UTF-8 text stays in words), digits =
   0-9, spaces = space \t \n \v \f \r, and "other" = every remaining byte (NUL included). */
enum { MMIX__BPE_LETTER, MMIX__BPE_DIGIT, MMIX__BPE_SPACE, MMIX__BPE_OTHER };

static int mmix__bpe_class(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80) return MMIX__BPE_LETTER;
    if (c >= '0' && c <= '9') return MMIX__BPE_DIGIT;
    if (c == ' ' || (c >= '\t' && c <= '\r')) return MMIX__BPE_SPACE;
    return MMIX__BPE_OTHER;
}

/* The length of the contraction at s[i] ('s 't 're 've 'm 'll 'd), or 0: GPT-2's pattern
   matches them case-sensitively, Llama-3's (fold = 1) in either case (ASCII). */
static size_t mmix__bpe_contraction(const unsigned char *s, size_t size, size_t i, int fold) {
    unsigned char c, d;
    if (s[i] != '\'' || i + 1 >= size) return 0;
    c = fold ? (unsigned char)(s[i + 1] | 0x20) : s[i + 1];
    d = i + 2 < size ? (fold ? (unsigned char)(s[i + 2] | 0x20) : s[i + 2]) : 0;
    if (c == 's' || c == 't' || c == 'm' || c == 'd') return 2;
    if ((c == 'r' && d == 'e') || (c == 'v' && d == 'e') || (c == 'l' && d == 'l')) return 3;
    return 0;
}

MMIXDEF size_t mmix_bpe_next_word(const void *text, size_t size, size_t pos) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = pos, end;
    int k;
    if (pos >= size) return size;
    /* 's 't 're 've 'm 'll 'd (case-sensitive, as in GPT-2) */
    if ((end = mmix__bpe_contraction(s, size, i, 0)) > 0) return i + end;
    /* An optional space, then a run of one class: letters, digits or other. */
    if (s[i] == ' ' && i + 1 < size && mmix__bpe_class(s[i + 1]) != MMIX__BPE_SPACE) i++;
    k = mmix__bpe_class(s[i]);
    if (k != MMIX__BPE_SPACE) {
        while (i < size && mmix__bpe_class(s[i]) == k) i++;
        return i;
    }
    /* Spaces: the whole run, except that the last one is left to lead the next word
       (\s+(?!\S)) when the run has more than one and a non-space follows. */
    end = i;
    while (end < size && mmix__bpe_class(s[end]) == MMIX__BPE_SPACE) end++;
    if (end == size || end - i == 1) return end;
    return end - 1;
}

/* ---- Pre-split with Unicode classes: GPT-2's pattern as Hugging Face's ByteLevel runs it ----
   The same pattern over code points, with \p{L} (Lu Ll Lt Lm Lo), \p{N} (Nd Nl No) and \s
   (the White_Space property) from the table below. Imported tokenizers use it (split
   "gpt2"); trained ones keep the ASCII version above, so their files and caches stay
   valid. A byte that does not start valid UTF-8 counts as one character of class
   "other" (the reference implementations only take valid UTF-8; reference-notes Sec. 10). */
/* generated by tests/reference/gen_unicode_classes.py from Unicode 15.0.0 (Debian unicode-data): */
/* 806 ranges: first code point, last, class (1 letter \p{L}, 2 number \p{N}, 3 white space \s) */
#define MMIX__UNICODE_VERSION "15.0.0"
static const uint32_t mmix__uc_ranges[806][3] = {
    {0x9,0xD,3},{0x20,0x20,3},{0x30,0x39,2},{0x41,0x5A,1},{0x61,0x7A,1},{0x85,0x85,3},
    {0xA0,0xA0,3},{0xAA,0xAA,1},{0xB2,0xB3,2},{0xB5,0xB5,1},{0xB9,0xB9,2},{0xBA,0xBA,1},
    {0xBC,0xBE,2},{0xC0,0xD6,1},{0xD8,0xF6,1},{0xF8,0x2C1,1},{0x2C6,0x2D1,1},{0x2E0,0x2E4,1},
    {0x2EC,0x2EC,1},{0x2EE,0x2EE,1},{0x370,0x374,1},{0x376,0x377,1},{0x37A,0x37D,1},{0x37F,0x37F,1},
    {0x386,0x386,1},{0x388,0x38A,1},{0x38C,0x38C,1},{0x38E,0x3A1,1},{0x3A3,0x3F5,1},{0x3F7,0x481,1},
    {0x48A,0x52F,1},{0x531,0x556,1},{0x559,0x559,1},{0x560,0x588,1},{0x5D0,0x5EA,1},{0x5EF,0x5F2,1},
    {0x620,0x64A,1},{0x660,0x669,2},{0x66E,0x66F,1},{0x671,0x6D3,1},{0x6D5,0x6D5,1},{0x6E5,0x6E6,1},
    {0x6EE,0x6EF,1},{0x6F0,0x6F9,2},{0x6FA,0x6FC,1},{0x6FF,0x6FF,1},{0x710,0x710,1},{0x712,0x72F,1},
    {0x74D,0x7A5,1},{0x7B1,0x7B1,1},{0x7C0,0x7C9,2},{0x7CA,0x7EA,1},{0x7F4,0x7F5,1},{0x7FA,0x7FA,1},
    {0x800,0x815,1},{0x81A,0x81A,1},{0x824,0x824,1},{0x828,0x828,1},{0x840,0x858,1},{0x860,0x86A,1},
    {0x870,0x887,1},{0x889,0x88E,1},{0x8A0,0x8C9,1},{0x904,0x939,1},{0x93D,0x93D,1},{0x950,0x950,1},
    {0x958,0x961,1},{0x966,0x96F,2},{0x971,0x980,1},{0x985,0x98C,1},{0x98F,0x990,1},{0x993,0x9A8,1},
    {0x9AA,0x9B0,1},{0x9B2,0x9B2,1},{0x9B6,0x9B9,1},{0x9BD,0x9BD,1},{0x9CE,0x9CE,1},{0x9DC,0x9DD,1},
    {0x9DF,0x9E1,1},{0x9E6,0x9EF,2},{0x9F0,0x9F1,1},{0x9F4,0x9F9,2},{0x9FC,0x9FC,1},{0xA05,0xA0A,1},
    {0xA0F,0xA10,1},{0xA13,0xA28,1},{0xA2A,0xA30,1},{0xA32,0xA33,1},{0xA35,0xA36,1},{0xA38,0xA39,1},
    {0xA59,0xA5C,1},{0xA5E,0xA5E,1},{0xA66,0xA6F,2},{0xA72,0xA74,1},{0xA85,0xA8D,1},{0xA8F,0xA91,1},
    {0xA93,0xAA8,1},{0xAAA,0xAB0,1},{0xAB2,0xAB3,1},{0xAB5,0xAB9,1},{0xABD,0xABD,1},{0xAD0,0xAD0,1},
    {0xAE0,0xAE1,1},{0xAE6,0xAEF,2},{0xAF9,0xAF9,1},{0xB05,0xB0C,1},{0xB0F,0xB10,1},{0xB13,0xB28,1},
    {0xB2A,0xB30,1},{0xB32,0xB33,1},{0xB35,0xB39,1},{0xB3D,0xB3D,1},{0xB5C,0xB5D,1},{0xB5F,0xB61,1},
    {0xB66,0xB6F,2},{0xB71,0xB71,1},{0xB72,0xB77,2},{0xB83,0xB83,1},{0xB85,0xB8A,1},{0xB8E,0xB90,1},
    {0xB92,0xB95,1},{0xB99,0xB9A,1},{0xB9C,0xB9C,1},{0xB9E,0xB9F,1},{0xBA3,0xBA4,1},{0xBA8,0xBAA,1},
    {0xBAE,0xBB9,1},{0xBD0,0xBD0,1},{0xBE6,0xBF2,2},{0xC05,0xC0C,1},{0xC0E,0xC10,1},{0xC12,0xC28,1},
    {0xC2A,0xC39,1},{0xC3D,0xC3D,1},{0xC58,0xC5A,1},{0xC5D,0xC5D,1},{0xC60,0xC61,1},{0xC66,0xC6F,2},
    {0xC78,0xC7E,2},{0xC80,0xC80,1},{0xC85,0xC8C,1},{0xC8E,0xC90,1},{0xC92,0xCA8,1},{0xCAA,0xCB3,1},
    {0xCB5,0xCB9,1},{0xCBD,0xCBD,1},{0xCDD,0xCDE,1},{0xCE0,0xCE1,1},{0xCE6,0xCEF,2},{0xCF1,0xCF2,1},
    {0xD04,0xD0C,1},{0xD0E,0xD10,1},{0xD12,0xD3A,1},{0xD3D,0xD3D,1},{0xD4E,0xD4E,1},{0xD54,0xD56,1},
    {0xD58,0xD5E,2},{0xD5F,0xD61,1},{0xD66,0xD78,2},{0xD7A,0xD7F,1},{0xD85,0xD96,1},{0xD9A,0xDB1,1},
    {0xDB3,0xDBB,1},{0xDBD,0xDBD,1},{0xDC0,0xDC6,1},{0xDE6,0xDEF,2},{0xE01,0xE30,1},{0xE32,0xE33,1},
    {0xE40,0xE46,1},{0xE50,0xE59,2},{0xE81,0xE82,1},{0xE84,0xE84,1},{0xE86,0xE8A,1},{0xE8C,0xEA3,1},
    {0xEA5,0xEA5,1},{0xEA7,0xEB0,1},{0xEB2,0xEB3,1},{0xEBD,0xEBD,1},{0xEC0,0xEC4,1},{0xEC6,0xEC6,1},
    {0xED0,0xED9,2},{0xEDC,0xEDF,1},{0xF00,0xF00,1},{0xF20,0xF33,2},{0xF40,0xF47,1},{0xF49,0xF6C,1},
    {0xF88,0xF8C,1},{0x1000,0x102A,1},{0x103F,0x103F,1},{0x1040,0x1049,2},{0x1050,0x1055,1},{0x105A,0x105D,1},
    {0x1061,0x1061,1},{0x1065,0x1066,1},{0x106E,0x1070,1},{0x1075,0x1081,1},{0x108E,0x108E,1},{0x1090,0x1099,2},
    {0x10A0,0x10C5,1},{0x10C7,0x10C7,1},{0x10CD,0x10CD,1},{0x10D0,0x10FA,1},{0x10FC,0x1248,1},{0x124A,0x124D,1},
    {0x1250,0x1256,1},{0x1258,0x1258,1},{0x125A,0x125D,1},{0x1260,0x1288,1},{0x128A,0x128D,1},{0x1290,0x12B0,1},
    {0x12B2,0x12B5,1},{0x12B8,0x12BE,1},{0x12C0,0x12C0,1},{0x12C2,0x12C5,1},{0x12C8,0x12D6,1},{0x12D8,0x1310,1},
    {0x1312,0x1315,1},{0x1318,0x135A,1},{0x1369,0x137C,2},{0x1380,0x138F,1},{0x13A0,0x13F5,1},{0x13F8,0x13FD,1},
    {0x1401,0x166C,1},{0x166F,0x167F,1},{0x1680,0x1680,3},{0x1681,0x169A,1},{0x16A0,0x16EA,1},{0x16EE,0x16F0,2},
    {0x16F1,0x16F8,1},{0x1700,0x1711,1},{0x171F,0x1731,1},{0x1740,0x1751,1},{0x1760,0x176C,1},{0x176E,0x1770,1},
    {0x1780,0x17B3,1},{0x17D7,0x17D7,1},{0x17DC,0x17DC,1},{0x17E0,0x17E9,2},{0x17F0,0x17F9,2},{0x1810,0x1819,2},
    {0x1820,0x1878,1},{0x1880,0x1884,1},{0x1887,0x18A8,1},{0x18AA,0x18AA,1},{0x18B0,0x18F5,1},{0x1900,0x191E,1},
    {0x1946,0x194F,2},{0x1950,0x196D,1},{0x1970,0x1974,1},{0x1980,0x19AB,1},{0x19B0,0x19C9,1},{0x19D0,0x19DA,2},
    {0x1A00,0x1A16,1},{0x1A20,0x1A54,1},{0x1A80,0x1A89,2},{0x1A90,0x1A99,2},{0x1AA7,0x1AA7,1},{0x1B05,0x1B33,1},
    {0x1B45,0x1B4C,1},{0x1B50,0x1B59,2},{0x1B83,0x1BA0,1},{0x1BAE,0x1BAF,1},{0x1BB0,0x1BB9,2},{0x1BBA,0x1BE5,1},
    {0x1C00,0x1C23,1},{0x1C40,0x1C49,2},{0x1C4D,0x1C4F,1},{0x1C50,0x1C59,2},{0x1C5A,0x1C7D,1},{0x1C80,0x1C88,1},
    {0x1C90,0x1CBA,1},{0x1CBD,0x1CBF,1},{0x1CE9,0x1CEC,1},{0x1CEE,0x1CF3,1},{0x1CF5,0x1CF6,1},{0x1CFA,0x1CFA,1},
    {0x1D00,0x1DBF,1},{0x1E00,0x1F15,1},{0x1F18,0x1F1D,1},{0x1F20,0x1F45,1},{0x1F48,0x1F4D,1},{0x1F50,0x1F57,1},
    {0x1F59,0x1F59,1},{0x1F5B,0x1F5B,1},{0x1F5D,0x1F5D,1},{0x1F5F,0x1F7D,1},{0x1F80,0x1FB4,1},{0x1FB6,0x1FBC,1},
    {0x1FBE,0x1FBE,1},{0x1FC2,0x1FC4,1},{0x1FC6,0x1FCC,1},{0x1FD0,0x1FD3,1},{0x1FD6,0x1FDB,1},{0x1FE0,0x1FEC,1},
    {0x1FF2,0x1FF4,1},{0x1FF6,0x1FFC,1},{0x2000,0x200A,3},{0x2028,0x2029,3},{0x202F,0x202F,3},{0x205F,0x205F,3},
    {0x2070,0x2070,2},{0x2071,0x2071,1},{0x2074,0x2079,2},{0x207F,0x207F,1},{0x2080,0x2089,2},{0x2090,0x209C,1},
    {0x2102,0x2102,1},{0x2107,0x2107,1},{0x210A,0x2113,1},{0x2115,0x2115,1},{0x2119,0x211D,1},{0x2124,0x2124,1},
    {0x2126,0x2126,1},{0x2128,0x2128,1},{0x212A,0x212D,1},{0x212F,0x2139,1},{0x213C,0x213F,1},{0x2145,0x2149,1},
    {0x214E,0x214E,1},{0x2150,0x2182,2},{0x2183,0x2184,1},{0x2185,0x2189,2},{0x2460,0x249B,2},{0x24EA,0x24FF,2},
    {0x2776,0x2793,2},{0x2C00,0x2CE4,1},{0x2CEB,0x2CEE,1},{0x2CF2,0x2CF3,1},{0x2CFD,0x2CFD,2},{0x2D00,0x2D25,1},
    {0x2D27,0x2D27,1},{0x2D2D,0x2D2D,1},{0x2D30,0x2D67,1},{0x2D6F,0x2D6F,1},{0x2D80,0x2D96,1},{0x2DA0,0x2DA6,1},
    {0x2DA8,0x2DAE,1},{0x2DB0,0x2DB6,1},{0x2DB8,0x2DBE,1},{0x2DC0,0x2DC6,1},{0x2DC8,0x2DCE,1},{0x2DD0,0x2DD6,1},
    {0x2DD8,0x2DDE,1},{0x2E2F,0x2E2F,1},{0x3000,0x3000,3},{0x3005,0x3006,1},{0x3007,0x3007,2},{0x3021,0x3029,2},
    {0x3031,0x3035,1},{0x3038,0x303A,2},{0x303B,0x303C,1},{0x3041,0x3096,1},{0x309D,0x309F,1},{0x30A1,0x30FA,1},
    {0x30FC,0x30FF,1},{0x3105,0x312F,1},{0x3131,0x318E,1},{0x3192,0x3195,2},{0x31A0,0x31BF,1},{0x31F0,0x31FF,1},
    {0x3220,0x3229,2},{0x3248,0x324F,2},{0x3251,0x325F,2},{0x3280,0x3289,2},{0x32B1,0x32BF,2},{0x3400,0x4DBF,1},
    {0x4E00,0xA48C,1},{0xA4D0,0xA4FD,1},{0xA500,0xA60C,1},{0xA610,0xA61F,1},{0xA620,0xA629,2},{0xA62A,0xA62B,1},
    {0xA640,0xA66E,1},{0xA67F,0xA69D,1},{0xA6A0,0xA6E5,1},{0xA6E6,0xA6EF,2},{0xA717,0xA71F,1},{0xA722,0xA788,1},
    {0xA78B,0xA7CA,1},{0xA7D0,0xA7D1,1},{0xA7D3,0xA7D3,1},{0xA7D5,0xA7D9,1},{0xA7F2,0xA801,1},{0xA803,0xA805,1},
    {0xA807,0xA80A,1},{0xA80C,0xA822,1},{0xA830,0xA835,2},{0xA840,0xA873,1},{0xA882,0xA8B3,1},{0xA8D0,0xA8D9,2},
    {0xA8F2,0xA8F7,1},{0xA8FB,0xA8FB,1},{0xA8FD,0xA8FE,1},{0xA900,0xA909,2},{0xA90A,0xA925,1},{0xA930,0xA946,1},
    {0xA960,0xA97C,1},{0xA984,0xA9B2,1},{0xA9CF,0xA9CF,1},{0xA9D0,0xA9D9,2},{0xA9E0,0xA9E4,1},{0xA9E6,0xA9EF,1},
    {0xA9F0,0xA9F9,2},{0xA9FA,0xA9FE,1},{0xAA00,0xAA28,1},{0xAA40,0xAA42,1},{0xAA44,0xAA4B,1},{0xAA50,0xAA59,2},
    {0xAA60,0xAA76,1},{0xAA7A,0xAA7A,1},{0xAA7E,0xAAAF,1},{0xAAB1,0xAAB1,1},{0xAAB5,0xAAB6,1},{0xAAB9,0xAABD,1},
    {0xAAC0,0xAAC0,1},{0xAAC2,0xAAC2,1},{0xAADB,0xAADD,1},{0xAAE0,0xAAEA,1},{0xAAF2,0xAAF4,1},{0xAB01,0xAB06,1},
    {0xAB09,0xAB0E,1},{0xAB11,0xAB16,1},{0xAB20,0xAB26,1},{0xAB28,0xAB2E,1},{0xAB30,0xAB5A,1},{0xAB5C,0xAB69,1},
    {0xAB70,0xABE2,1},{0xABF0,0xABF9,2},{0xAC00,0xD7A3,1},{0xD7B0,0xD7C6,1},{0xD7CB,0xD7FB,1},{0xF900,0xFA6D,1},
    {0xFA70,0xFAD9,1},{0xFB00,0xFB06,1},{0xFB13,0xFB17,1},{0xFB1D,0xFB1D,1},{0xFB1F,0xFB28,1},{0xFB2A,0xFB36,1},
    {0xFB38,0xFB3C,1},{0xFB3E,0xFB3E,1},{0xFB40,0xFB41,1},{0xFB43,0xFB44,1},{0xFB46,0xFBB1,1},{0xFBD3,0xFD3D,1},
    {0xFD50,0xFD8F,1},{0xFD92,0xFDC7,1},{0xFDF0,0xFDFB,1},{0xFE70,0xFE74,1},{0xFE76,0xFEFC,1},{0xFF10,0xFF19,2},
    {0xFF21,0xFF3A,1},{0xFF41,0xFF5A,1},{0xFF66,0xFFBE,1},{0xFFC2,0xFFC7,1},{0xFFCA,0xFFCF,1},{0xFFD2,0xFFD7,1},
    {0xFFDA,0xFFDC,1},{0x10000,0x1000B,1},{0x1000D,0x10026,1},{0x10028,0x1003A,1},{0x1003C,0x1003D,1},{0x1003F,0x1004D,1},
    {0x10050,0x1005D,1},{0x10080,0x100FA,1},{0x10107,0x10133,2},{0x10140,0x10178,2},{0x1018A,0x1018B,2},{0x10280,0x1029C,1},
    {0x102A0,0x102D0,1},{0x102E1,0x102FB,2},{0x10300,0x1031F,1},{0x10320,0x10323,2},{0x1032D,0x10340,1},{0x10341,0x10341,2},
    {0x10342,0x10349,1},{0x1034A,0x1034A,2},{0x10350,0x10375,1},{0x10380,0x1039D,1},{0x103A0,0x103C3,1},{0x103C8,0x103CF,1},
    {0x103D1,0x103D5,2},{0x10400,0x1049D,1},{0x104A0,0x104A9,2},{0x104B0,0x104D3,1},{0x104D8,0x104FB,1},{0x10500,0x10527,1},
    {0x10530,0x10563,1},{0x10570,0x1057A,1},{0x1057C,0x1058A,1},{0x1058C,0x10592,1},{0x10594,0x10595,1},{0x10597,0x105A1,1},
    {0x105A3,0x105B1,1},{0x105B3,0x105B9,1},{0x105BB,0x105BC,1},{0x10600,0x10736,1},{0x10740,0x10755,1},{0x10760,0x10767,1},
    {0x10780,0x10785,1},{0x10787,0x107B0,1},{0x107B2,0x107BA,1},{0x10800,0x10805,1},{0x10808,0x10808,1},{0x1080A,0x10835,1},
    {0x10837,0x10838,1},{0x1083C,0x1083C,1},{0x1083F,0x10855,1},{0x10858,0x1085F,2},{0x10860,0x10876,1},{0x10879,0x1087F,2},
    {0x10880,0x1089E,1},{0x108A7,0x108AF,2},{0x108E0,0x108F2,1},{0x108F4,0x108F5,1},{0x108FB,0x108FF,2},{0x10900,0x10915,1},
    {0x10916,0x1091B,2},{0x10920,0x10939,1},{0x10980,0x109B7,1},{0x109BC,0x109BD,2},{0x109BE,0x109BF,1},{0x109C0,0x109CF,2},
    {0x109D2,0x109FF,2},{0x10A00,0x10A00,1},{0x10A10,0x10A13,1},{0x10A15,0x10A17,1},{0x10A19,0x10A35,1},{0x10A40,0x10A48,2},
    {0x10A60,0x10A7C,1},{0x10A7D,0x10A7E,2},{0x10A80,0x10A9C,1},{0x10A9D,0x10A9F,2},{0x10AC0,0x10AC7,1},{0x10AC9,0x10AE4,1},
    {0x10AEB,0x10AEF,2},{0x10B00,0x10B35,1},{0x10B40,0x10B55,1},{0x10B58,0x10B5F,2},{0x10B60,0x10B72,1},{0x10B78,0x10B7F,2},
    {0x10B80,0x10B91,1},{0x10BA9,0x10BAF,2},{0x10C00,0x10C48,1},{0x10C80,0x10CB2,1},{0x10CC0,0x10CF2,1},{0x10CFA,0x10CFF,2},
    {0x10D00,0x10D23,1},{0x10D30,0x10D39,2},{0x10E60,0x10E7E,2},{0x10E80,0x10EA9,1},{0x10EB0,0x10EB1,1},{0x10F00,0x10F1C,1},
    {0x10F1D,0x10F26,2},{0x10F27,0x10F27,1},{0x10F30,0x10F45,1},{0x10F51,0x10F54,2},{0x10F70,0x10F81,1},{0x10FB0,0x10FC4,1},
    {0x10FC5,0x10FCB,2},{0x10FE0,0x10FF6,1},{0x11003,0x11037,1},{0x11052,0x1106F,2},{0x11071,0x11072,1},{0x11075,0x11075,1},
    {0x11083,0x110AF,1},{0x110D0,0x110E8,1},{0x110F0,0x110F9,2},{0x11103,0x11126,1},{0x11136,0x1113F,2},{0x11144,0x11144,1},
    {0x11147,0x11147,1},{0x11150,0x11172,1},{0x11176,0x11176,1},{0x11183,0x111B2,1},{0x111C1,0x111C4,1},{0x111D0,0x111D9,2},
    {0x111DA,0x111DA,1},{0x111DC,0x111DC,1},{0x111E1,0x111F4,2},{0x11200,0x11211,1},{0x11213,0x1122B,1},{0x1123F,0x11240,1},
    {0x11280,0x11286,1},{0x11288,0x11288,1},{0x1128A,0x1128D,1},{0x1128F,0x1129D,1},{0x1129F,0x112A8,1},{0x112B0,0x112DE,1},
    {0x112F0,0x112F9,2},{0x11305,0x1130C,1},{0x1130F,0x11310,1},{0x11313,0x11328,1},{0x1132A,0x11330,1},{0x11332,0x11333,1},
    {0x11335,0x11339,1},{0x1133D,0x1133D,1},{0x11350,0x11350,1},{0x1135D,0x11361,1},{0x11400,0x11434,1},{0x11447,0x1144A,1},
    {0x11450,0x11459,2},{0x1145F,0x11461,1},{0x11480,0x114AF,1},{0x114C4,0x114C5,1},{0x114C7,0x114C7,1},{0x114D0,0x114D9,2},
    {0x11580,0x115AE,1},{0x115D8,0x115DB,1},{0x11600,0x1162F,1},{0x11644,0x11644,1},{0x11650,0x11659,2},{0x11680,0x116AA,1},
    {0x116B8,0x116B8,1},{0x116C0,0x116C9,2},{0x11700,0x1171A,1},{0x11730,0x1173B,2},{0x11740,0x11746,1},{0x11800,0x1182B,1},
    {0x118A0,0x118DF,1},{0x118E0,0x118F2,2},{0x118FF,0x11906,1},{0x11909,0x11909,1},{0x1190C,0x11913,1},{0x11915,0x11916,1},
    {0x11918,0x1192F,1},{0x1193F,0x1193F,1},{0x11941,0x11941,1},{0x11950,0x11959,2},{0x119A0,0x119A7,1},{0x119AA,0x119D0,1},
    {0x119E1,0x119E1,1},{0x119E3,0x119E3,1},{0x11A00,0x11A00,1},{0x11A0B,0x11A32,1},{0x11A3A,0x11A3A,1},{0x11A50,0x11A50,1},
    {0x11A5C,0x11A89,1},{0x11A9D,0x11A9D,1},{0x11AB0,0x11AF8,1},{0x11C00,0x11C08,1},{0x11C0A,0x11C2E,1},{0x11C40,0x11C40,1},
    {0x11C50,0x11C6C,2},{0x11C72,0x11C8F,1},{0x11D00,0x11D06,1},{0x11D08,0x11D09,1},{0x11D0B,0x11D30,1},{0x11D46,0x11D46,1},
    {0x11D50,0x11D59,2},{0x11D60,0x11D65,1},{0x11D67,0x11D68,1},{0x11D6A,0x11D89,1},{0x11D98,0x11D98,1},{0x11DA0,0x11DA9,2},
    {0x11EE0,0x11EF2,1},{0x11F02,0x11F02,1},{0x11F04,0x11F10,1},{0x11F12,0x11F33,1},{0x11F50,0x11F59,2},{0x11FB0,0x11FB0,1},
    {0x11FC0,0x11FD4,2},{0x12000,0x12399,1},{0x12400,0x1246E,2},{0x12480,0x12543,1},{0x12F90,0x12FF0,1},{0x13000,0x1342F,1},
    {0x13441,0x13446,1},{0x14400,0x14646,1},{0x16800,0x16A38,1},{0x16A40,0x16A5E,1},{0x16A60,0x16A69,2},{0x16A70,0x16ABE,1},
    {0x16AC0,0x16AC9,2},{0x16AD0,0x16AED,1},{0x16B00,0x16B2F,1},{0x16B40,0x16B43,1},{0x16B50,0x16B59,2},{0x16B5B,0x16B61,2},
    {0x16B63,0x16B77,1},{0x16B7D,0x16B8F,1},{0x16E40,0x16E7F,1},{0x16E80,0x16E96,2},{0x16F00,0x16F4A,1},{0x16F50,0x16F50,1},
    {0x16F93,0x16F9F,1},{0x16FE0,0x16FE1,1},{0x16FE3,0x16FE3,1},{0x17000,0x187F7,1},{0x18800,0x18CD5,1},{0x18D00,0x18D08,1},
    {0x1AFF0,0x1AFF3,1},{0x1AFF5,0x1AFFB,1},{0x1AFFD,0x1AFFE,1},{0x1B000,0x1B122,1},{0x1B132,0x1B132,1},{0x1B150,0x1B152,1},
    {0x1B155,0x1B155,1},{0x1B164,0x1B167,1},{0x1B170,0x1B2FB,1},{0x1BC00,0x1BC6A,1},{0x1BC70,0x1BC7C,1},{0x1BC80,0x1BC88,1},
    {0x1BC90,0x1BC99,1},{0x1D2C0,0x1D2D3,2},{0x1D2E0,0x1D2F3,2},{0x1D360,0x1D378,2},{0x1D400,0x1D454,1},{0x1D456,0x1D49C,1},
    {0x1D49E,0x1D49F,1},{0x1D4A2,0x1D4A2,1},{0x1D4A5,0x1D4A6,1},{0x1D4A9,0x1D4AC,1},{0x1D4AE,0x1D4B9,1},{0x1D4BB,0x1D4BB,1},
    {0x1D4BD,0x1D4C3,1},{0x1D4C5,0x1D505,1},{0x1D507,0x1D50A,1},{0x1D50D,0x1D514,1},{0x1D516,0x1D51C,1},{0x1D51E,0x1D539,1},
    {0x1D53B,0x1D53E,1},{0x1D540,0x1D544,1},{0x1D546,0x1D546,1},{0x1D54A,0x1D550,1},{0x1D552,0x1D6A5,1},{0x1D6A8,0x1D6C0,1},
    {0x1D6C2,0x1D6DA,1},{0x1D6DC,0x1D6FA,1},{0x1D6FC,0x1D714,1},{0x1D716,0x1D734,1},{0x1D736,0x1D74E,1},{0x1D750,0x1D76E,1},
    {0x1D770,0x1D788,1},{0x1D78A,0x1D7A8,1},{0x1D7AA,0x1D7C2,1},{0x1D7C4,0x1D7CB,1},{0x1D7CE,0x1D7FF,2},{0x1DF00,0x1DF1E,1},
    {0x1DF25,0x1DF2A,1},{0x1E030,0x1E06D,1},{0x1E100,0x1E12C,1},{0x1E137,0x1E13D,1},{0x1E140,0x1E149,2},{0x1E14E,0x1E14E,1},
    {0x1E290,0x1E2AD,1},{0x1E2C0,0x1E2EB,1},{0x1E2F0,0x1E2F9,2},{0x1E4D0,0x1E4EB,1},{0x1E4F0,0x1E4F9,2},{0x1E7E0,0x1E7E6,1},
    {0x1E7E8,0x1E7EB,1},{0x1E7ED,0x1E7EE,1},{0x1E7F0,0x1E7FE,1},{0x1E800,0x1E8C4,1},{0x1E8C7,0x1E8CF,2},{0x1E900,0x1E943,1},
    {0x1E94B,0x1E94B,1},{0x1E950,0x1E959,2},{0x1EC71,0x1ECAB,2},{0x1ECAD,0x1ECAF,2},{0x1ECB1,0x1ECB4,2},{0x1ED01,0x1ED2D,2},
    {0x1ED2F,0x1ED3D,2},{0x1EE00,0x1EE03,1},{0x1EE05,0x1EE1F,1},{0x1EE21,0x1EE22,1},{0x1EE24,0x1EE24,1},{0x1EE27,0x1EE27,1},
    {0x1EE29,0x1EE32,1},{0x1EE34,0x1EE37,1},{0x1EE39,0x1EE39,1},{0x1EE3B,0x1EE3B,1},{0x1EE42,0x1EE42,1},{0x1EE47,0x1EE47,1},
    {0x1EE49,0x1EE49,1},{0x1EE4B,0x1EE4B,1},{0x1EE4D,0x1EE4F,1},{0x1EE51,0x1EE52,1},{0x1EE54,0x1EE54,1},{0x1EE57,0x1EE57,1},
    {0x1EE59,0x1EE59,1},{0x1EE5B,0x1EE5B,1},{0x1EE5D,0x1EE5D,1},{0x1EE5F,0x1EE5F,1},{0x1EE61,0x1EE62,1},{0x1EE64,0x1EE64,1},
    {0x1EE67,0x1EE6A,1},{0x1EE6C,0x1EE72,1},{0x1EE74,0x1EE77,1},{0x1EE79,0x1EE7C,1},{0x1EE7E,0x1EE7E,1},{0x1EE80,0x1EE89,1},
    {0x1EE8B,0x1EE9B,1},{0x1EEA1,0x1EEA3,1},{0x1EEA5,0x1EEA9,1},{0x1EEAB,0x1EEBB,1},{0x1F100,0x1F10C,2},{0x1FBF0,0x1FBF9,2},
    {0x20000,0x2A6DF,1},{0x2A700,0x2B739,1},{0x2B740,0x2B81D,1},{0x2B820,0x2CEA1,1},{0x2CEB0,0x2EBE0,1},{0x2F800,0x2FA1D,1},
    {0x30000,0x3134A,1},{0x31350,0x323AF,1},
};

/* A code point's class: binary search of the ranges (everything else is "other"). */
static int mmix__uc_class(uint32_t cp) {
    size_t lo = 0, hi = sizeof mmix__uc_ranges / sizeof mmix__uc_ranges[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < mmix__uc_ranges[mid][0]) hi = mid;
        else if (cp > mmix__uc_ranges[mid][1]) lo = mid + 1;
        else return (int)mmix__uc_ranges[mid][2] - 1; /* 1, 2, 3 -> LETTER, DIGIT, SPACE */
    }
    return MMIX__BPE_OTHER;
}

/* The class of the character at s (n >= 1 bytes left), its length in *len. ASCII first:
   most text is ASCII, and the classes agree there. */
static int mmix__bpe_char_class(const unsigned char *s, size_t n, size_t *len) {
    uint32_t cp;
    if (s[0] < 0x80) { *len = 1; return mmix__bpe_class(s[0]); }
    *len = mmix__utf8_len(s, n);
    if (*len == 0) { *len = 1; return MMIX__BPE_OTHER; }
    if (*len == 2) cp = ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    else if (*len == 3) cp = ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    else cp = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) |
              (s[3] & 0x3F);
    return mmix__uc_class(cp);
}

/* GPT-2's pattern, character by character (as mmix_bpe_next_word does it byte by byte):
     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t mmix__bpe_next_word_gpt2(const unsigned char *s, size_t size, size_t pos) {
    size_t i = pos, len, len2, last;
    int k, k2, run;
    if (pos >= size) return size;
    if ((len = mmix__bpe_contraction(s, size, i, 0)) > 0) return i + len;
    k = mmix__bpe_char_class(s + i, size - i, &len);
    if (s[i] == ' ' && i + 1 < size && (k2 = mmix__bpe_char_class(s + i + 1, size - i - 1, &len2)) != MMIX__BPE_SPACE) {
        i++; /* the optional space, then a run of the next character's class */
        k = k2;
        len = len2;
    }
    if (k != MMIX__BPE_SPACE) {
        for (i += len; i < size && mmix__bpe_char_class(s + i, size - i, &len) == k; i += len) {}
        return i;
    }
    /* White space: the whole run, less its last character when more than one and a
       non-space follows (\s+(?!\S)); that character then leads the next word. */
    run = 0;
    last = i;
    while (i < size && mmix__bpe_char_class(s + i, size - i, &len) == MMIX__BPE_SPACE) {
        last = i;
        i += len;
        run++;
    }
    return i == size || run == 1 ? i : last;
}

/* Llama-3's pattern (split "llama3"; Hugging Face: a Split pre-tokenizer with this regex,
   then ByteLevel without its own):
     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
     \s*[\r\n]+|\s+(?!\S)|\s+
   Unlike GPT-2's: contractions in any case, one non-letter may lead a run of letters,
   numbers go three digits at a time, punctuation keeps the newlines after it, and white
   space ending in newlines is a word up to its last newline. */
static int mmix__bpe_is_crlf(unsigned char c) { return c == '\r' || c == '\n'; }
static size_t mmix__bpe_next_word_llama3(const unsigned char *s, size_t size, size_t pos) {
    size_t i = pos, len, len2, last, nl_end;
    int k, k2, run;
    if (pos >= size) return size;
    if ((len = mmix__bpe_contraction(s, size, i, 1)) > 0) return i + len; /* (?i:'s|'t|...) */
    k = mmix__bpe_char_class(s + i, size - i, &len);
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (k == MMIX__BPE_LETTER || ((k == MMIX__BPE_OTHER || (k == MMIX__BPE_SPACE && !mmix__bpe_is_crlf(s[i]))) &&
                                  i + len < size &&
                                  mmix__bpe_char_class(s + i + len, size - i - len, &len2) == MMIX__BPE_LETTER)) {
        for (i += len; i < size && mmix__bpe_char_class(s + i, size - i, &len) == MMIX__BPE_LETTER; i += len) {}
        return i;
    }
    if (k == MMIX__BPE_DIGIT) { /* \p{N}{1,3} */
        for (run = 1, i += len; run < 3 && i < size && mmix__bpe_char_class(s + i, size - i, &len) == MMIX__BPE_DIGIT;
             run++, i += len) {}
        return i;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    if (s[i] == ' ' && i + 1 < size && (k2 = mmix__bpe_char_class(s + i + 1, size - i - 1, &len2)) == MMIX__BPE_OTHER) {
        i++;
        k = k2;
        len = len2;
    }
    if (k == MMIX__BPE_OTHER) {
        for (i += len; i < size && mmix__bpe_char_class(s + i, size - i, &len) == MMIX__BPE_OTHER; i += len) {}
        while (i < size && mmix__bpe_is_crlf(s[i])) i++;
        return i;
    }
    /* white space: \s*[\r\n]+ takes the run up to its last newline; else as GPT-2's */
    run = 0;
    last = i;
    nl_end = 0;
    while (i < size && mmix__bpe_char_class(s + i, size - i, &len) == MMIX__BPE_SPACE) {
        last = i;
        i += len;
        run++;
        if (mmix__bpe_is_crlf(s[last])) nl_end = i;
    }
    if (nl_end) return nl_end;
    return i == size || run == 1 ? i : last;
}

/* ---- Hash tables ---- */
/* 64-bit FNV-1a (see >>api_data); >>data also hashes sources, tokenizers and caches with it. */
MMIXDEF uint64_t mmix_fnv1a64(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}
static uint64_t mmix__hash_bytes(const unsigned char *p, size_t n) { /* FNV-1a, its high bits folded in */
    uint64_t h = mmix_fnv1a64(MMIX_FNV1A64_OFFSET, p, n);
    return h ^ (h >> 29);
}
static uint64_t mmix__hash_u64(uint64_t x) { /* the splitmix64 finalizer */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
static uint64_t mmix__pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

/* Open addressing, linear probing, uint64 key -> int32 value (-1 marks an empty slot).
   The capacity is a power of two kept at least twice the count. */
typedef struct mmix__pairmap {
    uint64_t *keys;
    int32_t *values;
    int64_t capacity, count;
} mmix__pairmap;

static void mmix__pairmap_free(mmix__pairmap *m) {
    MMIX_FREE(m->keys);
    MMIX_FREE(m->values);
    m->keys = NULL; /* (field by field: a second free is then visibly of NULL) */
    m->values = NULL;
    m->capacity = m->count = 0;
}
static int mmix__pairmap_alloc(mmix__pairmap *m, int64_t capacity) {
    int64_t i;
    m->keys = (uint64_t *)MMIX_MALLOC((size_t)capacity * sizeof(uint64_t));
    m->values = (int32_t *)MMIX_MALLOC((size_t)capacity * sizeof(int32_t));
    m->capacity = capacity;
    m->count = 0;
    if (!m->keys || !m->values) { mmix__pairmap_free(m); return 0; }
    for (i = 0; i < capacity; i++) m->values[i] = -1;
    return 1;
}
static int32_t mmix__pairmap_get(const mmix__pairmap *m, uint64_t key) {
    uint64_t mask = (uint64_t)m->capacity - 1, i = mmix__hash_u64(key) & mask;
    while (m->values[i] >= 0) {
        if (m->keys[i] == key) return m->values[i];
        i = (i + 1) & mask;
    }
    return -1;
}
/* Inserts a key known to be absent. Returns 0 when out of memory. */
static int mmix__pairmap_put(mmix__pairmap *m, uint64_t key, int32_t value) {
    uint64_t mask, i;
    if (2 * (m->count + 1) > m->capacity) { /* grow: rehash into double the slots */
        mmix__pairmap old = *m;
        int64_t j;
        if (!mmix__pairmap_alloc(m, old.capacity ? 2 * old.capacity : 1024)) { *m = old; return 0; }
        for (j = 0; j < old.capacity; j++)
            if (old.values[j] >= 0) mmix__pairmap_put(m, old.keys[j], old.values[j]);
        mmix__pairmap_free(&old);
    }
    mask = (uint64_t)m->capacity - 1;
    i = mmix__hash_u64(key) & mask;
    while (m->values[i] >= 0) i = (i + 1) & mask;
    m->keys[i] = key;
    m->values[i] = value;
    m->count++;
    return 1;
}

/* Byte strings -> entry numbers 0, 1, 2, ... with two int64 payloads per entry (training:
   a word's count; the encode cache: where its ids are and how many). Keys are copied
   into one pool: entry e's bytes are pool[start[e] .. start[e + 1]). */
typedef struct mmix__strtab {
    int64_t *slots;             /* entry number, or -1 */
    int64_t capacity;           /* slots, a power of two */
    int64_t count, entries_capacity;
    uint64_t *hash;
    int64_t *start;             /* count + 1 offsets into pool */
    int64_t *value, *extra;
    unsigned char *pool;
    int64_t pool_capacity;
} mmix__strtab;

static void mmix__strtab_free(mmix__strtab *t) {
    MMIX_FREE(t->slots);
    MMIX_FREE(t->hash);
    MMIX_FREE(t->start);
    MMIX_FREE(t->value);
    MMIX_FREE(t->extra);
    MMIX_FREE(t->pool);
    memset(t, 0, sizeof *t);
}
static void mmix__strtab_clear(mmix__strtab *t) {
    int64_t i;
    for (i = 0; i < t->capacity; i++) t->slots[i] = -1;
    t->count = 0;
    if (t->start) t->start[0] = 0;
}
static int64_t mmix__strtab_find(const mmix__strtab *t, const unsigned char *key, size_t len,
                                 uint64_t hash) {
    uint64_t mask, i;
    int64_t e;
    if (!t->capacity) return -1;
    mask = (uint64_t)t->capacity - 1;
    for (i = hash & mask; (e = t->slots[i]) >= 0; i = (i + 1) & mask)
        if (t->hash[e] == hash && (size_t)(t->start[e + 1] - t->start[e]) == len &&
            memcmp(t->pool + t->start[e], key, len) == 0)
            return e;
    return -1;
}
/* Adds a key known to be absent; returns its entry number, or -1 when out of memory. */
static int64_t mmix__strtab_add(mmix__strtab *t, const unsigned char *key, size_t len, uint64_t hash) {
    int64_t e = t->count, used = t->start ? t->start[e] : 0, cap;
    uint64_t mask, i;
    if (2 * (t->count + 1) > t->capacity) { /* grow the slots and re-insert every entry */
        int64_t n = t->capacity ? 2 * t->capacity : 1024, j;
        int64_t *slots = (int64_t *)MMIX_MALLOC((size_t)n * sizeof(int64_t));
        if (!slots) return -1;
        for (j = 0; j < n; j++) slots[j] = -1;
        for (j = 0; j < t->count; j++) {
            uint64_t k = t->hash[j] & (uint64_t)(n - 1);
            while (slots[k] >= 0) k = (k + 1) & (uint64_t)(n - 1);
            slots[k] = j;
        }
        MMIX_FREE(t->slots);
        t->slots = slots;
        t->capacity = n;
    }
    if (e + 2 > t->entries_capacity) { /* the four per-entry arrays share one capacity */
        void *p;
        cap = t->entries_capacity;
        if (!(p = mmix__grow(t->hash, &cap, e + 2, sizeof(uint64_t)))) return -1;
        t->hash = (uint64_t *)p;
        cap = t->entries_capacity;
        if (!(p = mmix__grow(t->start, &cap, e + 2, sizeof(int64_t)))) return -1;
        t->start = (int64_t *)p;
        cap = t->entries_capacity;
        if (!(p = mmix__grow(t->value, &cap, e + 2, sizeof(int64_t)))) return -1;
        t->value = (int64_t *)p;
        cap = t->entries_capacity;
        if (!(p = mmix__grow(t->extra, &cap, e + 2, sizeof(int64_t)))) return -1;
        t->extra = (int64_t *)p;
        if (e == 0) t->start[0] = 0;
        t->entries_capacity = cap;
    }
    {
        void *p = mmix__grow(t->pool, &t->pool_capacity, used + (int64_t)len + 1, 1);
        if (!p) return -1;
        t->pool = (unsigned char *)p;
    }
    if (len) memcpy(t->pool + used, key, len);
    t->hash[e] = hash;
    t->start[e + 1] = used + (int64_t)len;
    t->value[e] = t->extra[e] = 0;
    mask = (uint64_t)t->capacity - 1;
    for (i = hash & mask; t->slots[i] >= 0; i = (i + 1) & mask) {}
    t->slots[i] = e;
    t->count++;
    return e;
}

/* ---- The tokenizer object ---- */
enum { MMIX__BPE_ROLE_OTHER, MMIX__BPE_ROLE_EOT, MMIX__BPE_ROLE_PAD };
static const char *const mmix__bpe_role_names[] = {"other", "eot", "pad"};

typedef struct mmix__bpe_special {
    char name[MMIX_BPE_NAME_MAX + 1];
    int role;
} mmix__bpe_special;

/* The pre-splits (section 6): our ASCII one, and GPT-2's with Unicode classes. */
enum { MMIX__BPE_SPLIT_GPT2_ASCII, MMIX__BPE_SPLIT_GPT2, MMIX__BPE_SPLIT_LLAMA3, MMIX__BPE_SPLITS };
static const char *const mmix__bpe_split_names[] = {"gpt2-ascii", "gpt2", "llama3"};

/* Tokens are numbered 256 bytes, then the merges, then the specials; the encoder works
   in these numbers. A tokenizer of ours uses them as its ids. An imported one keeps the
   ids of its file (a checkpoint's embedding rows follow them): id_of maps a token number
   to its id, token_of back, and tokens that nothing makes (a vocabulary entry that no
   merge produces) live in `extra`, so that every id of the file decodes. */
struct mmix_bpe {
    int64_t n_merges;
    int32_t *merges;             /* merge i joins merges[2i], merges[2i+1] into token 256 + i */
    int64_t n_special;
    mmix__bpe_special *special;  /* special i is token 256 + n_merges + i */
    int32_t eot_id, pad_id;      /* ids */
    int64_t vocab_size;          /* ids are 0 .. vocab_size - 1 */
    int split;                   /* MMIX__BPE_SPLIT_* */
    int prefix_space;            /* ByteLevel's add_prefix_space: a space before each text without one */
    int ignore_merges;           /* BPE's ignore_merges: a word that is a token is that token */
    mmix__strtab whole;          /* with ignore_merges: the bytes of every byte, merge or extra token -> id */
    int32_t *id_of;              /* token number -> id; NULL when they are the same */
    int32_t *token_of;           /* id -> token number; -1: no token; <= -2: extra entry -2 - value */
    mmix__strtab extra;          /* bytes -> id, for ids made by no byte, merge or special */
    int64_t *id_start;           /* with id_of: the bytes of each id, id_bytes[id_start[id] .. [id + 1]) */
    unsigned char *id_bytes;
    /* Derived from the merges (one source of truth, as in minbpe): */
    int64_t *token_start;        /* token t's bytes: token_bytes[token_start[t] .. [t + 1]) */
    unsigned char *token_bytes;
    mmix__pairmap rank;          /* (a, b) -> merge index, the merge's rank */
    unsigned char special_first[256]; /* 1 for bytes that start a special name */
    /* The encode cache: word bytes -> (value: offset in cache_ids, extra: id count). */
    mmix__strtab cache;
    int32_t *cache_ids;
    int64_t cache_ids_used, cache_ids_capacity;
};

MMIXDEF void mmix_bpe_free(mmix_bpe *bpe) {
    if (!bpe) return;
    MMIX_FREE(bpe->merges);
    MMIX_FREE(bpe->special);
    MMIX_FREE(bpe->token_start);
    MMIX_FREE(bpe->token_bytes);
    mmix__pairmap_free(&bpe->rank);
    mmix__strtab_free(&bpe->cache);
    MMIX_FREE(bpe->cache_ids);
    MMIX_FREE(bpe->id_of);
    MMIX_FREE(bpe->token_of);
    mmix__strtab_free(&bpe->extra);
    mmix__strtab_free(&bpe->whole);
    MMIX_FREE(bpe->id_start);
    MMIX_FREE(bpe->id_bytes);
    MMIX_FREE(bpe);
}

static mmix_result mmix__bpe_finish_ids(mmix_ctx *ctx, mmix_bpe *bpe, const char *name);

/* Everything derived from merges and specials: the token bytes, the rank table, and with
   an id map (id_of and vocab_size set) the ids' side. The merges must already be valid
   (each pair of earlier tokens, no pair twice). */
static mmix_result mmix__bpe_finish(mmix_ctx *ctx, mmix_bpe *bpe, const char *name) {
    int64_t t, i, total = 256, n_tokens = 256 + bpe->n_merges + bpe->n_special;
    if (!bpe->id_of) bpe->vocab_size = n_tokens;
    bpe->eot_id = bpe->pad_id = -1;
    for (i = 0; i < bpe->n_special; i++) {
        int32_t id = (int32_t)(256 + bpe->n_merges + i);
        if (bpe->id_of) id = bpe->id_of[id];
        if (bpe->special[i].role == MMIX__BPE_ROLE_EOT) bpe->eot_id = id;
        if (bpe->special[i].role == MMIX__BPE_ROLE_PAD) bpe->pad_id = id;
        bpe->special_first[(unsigned char)bpe->special[i].name[0]] = 1;
    }
    bpe->token_start = (int64_t *)MMIX_MALLOC((size_t)(n_tokens + 1) * sizeof(int64_t));
    if (!bpe->token_start) goto oom;
    /* Sizes first (a merged token is as long as its two parts), then the bytes. */
    for (t = 0; t <= 256; t++) bpe->token_start[t] = t;
    for (i = 0; i < bpe->n_merges; i++) {
        int32_t a = bpe->merges[2 * i], b = bpe->merges[2 * i + 1];
        int64_t len = (bpe->token_start[a + 1] - bpe->token_start[a]) +
                      (bpe->token_start[b + 1] - bpe->token_start[b]);
        total += len;
        bpe->token_start[256 + i + 1] = total;
    }
    for (i = 0; i < bpe->n_special; i++) {
        total += (int64_t)strlen(bpe->special[i].name);
        bpe->token_start[256 + bpe->n_merges + i + 1] = total;
    }
    bpe->token_bytes = (unsigned char *)MMIX_MALLOC((size_t)total + 1);
    if (!bpe->token_bytes) goto oom;
    for (t = 0; t < 256; t++) bpe->token_bytes[t] = (unsigned char)t;
    for (i = 0; i < bpe->n_merges; i++) {
        int32_t a = bpe->merges[2 * i], b = bpe->merges[2 * i + 1];
        int64_t la = bpe->token_start[a + 1] - bpe->token_start[a];
        int64_t lb = bpe->token_start[b + 1] - bpe->token_start[b];
        unsigned char *dst = bpe->token_bytes + bpe->token_start[256 + i];
        memcpy(dst, bpe->token_bytes + bpe->token_start[a], (size_t)la);
        memcpy(dst + la, bpe->token_bytes + bpe->token_start[b], (size_t)lb);
    }
    for (i = 0; i < bpe->n_special; i++)
        memcpy(bpe->token_bytes + bpe->token_start[256 + bpe->n_merges + i], bpe->special[i].name,
               strlen(bpe->special[i].name));
    if (!mmix__pairmap_alloc(&bpe->rank, 1024)) goto oom;
    for (i = 0; i < bpe->n_merges; i++)
        if (!mmix__pairmap_put(&bpe->rank, mmix__pair_key(bpe->merges[2 * i], bpe->merges[2 * i + 1]),
                               (int32_t)i))
            goto oom;
    return bpe->id_of ? mmix__bpe_finish_ids(ctx, bpe, name) : MMIX_OK;
oom:
    return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bpe: out of memory building the vocabulary "
                          "(%lld merges)", (long long)bpe->n_merges);
}

/* The ids' side of a tokenizer with an id map: token_of, and the bytes of every id. Each
   token's id must be below vocab_size; two tokens may share an id only when their bytes
   agree (one token made by two merges, or an added token that is also in the vocabulary);
   an extra token's id must be its own. */
static mmix_result mmix__bpe_finish_ids(mmix_ctx *ctx, mmix_bpe *bpe, const char *name) {
    int64_t t, e, id, total = 0, n_tokens = 256 + bpe->n_merges + bpe->n_special;
    bpe->token_of = (int32_t *)MMIX_MALLOC((size_t)(bpe->vocab_size + 1) * sizeof(int32_t));
    bpe->id_start = (int64_t *)MMIX_MALLOC((size_t)(bpe->vocab_size + 1) * sizeof(int64_t));
    if (!bpe->token_of || !bpe->id_start) goto oom;
    for (id = 0; id < bpe->vocab_size; id++) bpe->token_of[id] = -1;
    for (t = 0; t < n_tokens; t++) {
        int32_t other;
        id = bpe->id_of[t];
        if (id < 0 || id >= bpe->vocab_size)
            return mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe '%s': token %lld has id %lld, outside the vocabulary "
                                  "[0, %lld)", name, (long long)t, (long long)id, (long long)bpe->vocab_size);
        other = bpe->token_of[id];
        if (other < 0) { bpe->token_of[id] = (int32_t)t; continue; }
        if (bpe->token_start[t + 1] - bpe->token_start[t] != bpe->token_start[other + 1] - bpe->token_start[other] ||
            memcmp(bpe->token_bytes + bpe->token_start[t], bpe->token_bytes + bpe->token_start[other],
                   (size_t)(bpe->token_start[t + 1] - bpe->token_start[t])) != 0)
            return mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe '%s': id %lld is given to two different tokens", name,
                                  (long long)id);
    }
    for (e = 0; e < bpe->extra.count; e++) {
        id = bpe->extra.value[e];
        if (id < 0 || id >= bpe->vocab_size || bpe->token_of[id] != -1)
            return mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe '%s': extra token id %lld is %s", name, (long long)id,
                                  id < 0 || id >= bpe->vocab_size ? "outside the vocabulary" : "taken already");
        bpe->token_of[id] = (int32_t)(-2 - e);
    }
    /* the bytes of every id (an id with no token has none) */
    for (id = 0; id < bpe->vocab_size; id++) {
        int32_t k = bpe->token_of[id];
        bpe->id_start[id] = total;
        if (k >= 0) total += bpe->token_start[k + 1] - bpe->token_start[k];
        else if (k <= -2) total += bpe->extra.start[-2 - k + 1] - bpe->extra.start[-2 - k];
    }
    bpe->id_start[bpe->vocab_size] = total;
    bpe->id_bytes = (unsigned char *)MMIX_MALLOC((size_t)total + 1);
    if (!bpe->id_bytes) goto oom;
    for (id = 0; id < bpe->vocab_size; id++) {
        int32_t k = bpe->token_of[id];
        size_t len = (size_t)(bpe->id_start[id + 1] - bpe->id_start[id]);
        if (k >= 0) memcpy(bpe->id_bytes + bpe->id_start[id], bpe->token_bytes + bpe->token_start[k], len);
        else if (k <= -2) memcpy(bpe->id_bytes + bpe->id_start[id], bpe->extra.pool + bpe->extra.start[-2 - k], len);
    }
    /* ignore_merges looks words up among the vocabulary's tokens (not the added ones) */
    for (id = 0; bpe->ignore_merges && id < bpe->vocab_size; id++) {
        int32_t k = bpe->token_of[id];
        const unsigned char *p = bpe->id_bytes + bpe->id_start[id];
        size_t len = (size_t)(bpe->id_start[id + 1] - bpe->id_start[id]);
        if (k == -1 || k >= 256 + bpe->n_merges) continue;
        if (mmix__strtab_find(&bpe->whole, p, len, mmix__hash_bytes(p, len)) >= 0) continue;
        if ((e = mmix__strtab_add(&bpe->whole, p, len, mmix__hash_bytes(p, len))) < 0) goto oom;
        bpe->whole.value[e] = id;
    }
    return MMIX_OK;
oom:
    return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bpe '%s': out of memory for %lld ids", name,
                          (long long)bpe->vocab_size);
}

static mmix_bpe *mmix__bpe_new(void) {
    mmix_bpe *bpe = (mmix_bpe *)MMIX_MALLOC(sizeof(mmix_bpe));
    if (!bpe) return NULL;
    memset(bpe, 0, sizeof *bpe);
    bpe->eot_id = bpe->pad_id = -1;
    return bpe;
}

/* Checks a special token's name: 1..MMIX_BPE_NAME_MAX printable ASCII bytes, no space
   (so it is one field in the file). Returns NULL when fine, else what is wrong. */
static const char *mmix__bpe_bad_name(const char *name, size_t len) {
    size_t i;
    if (len == 0) return "is empty";
    if (len > MMIX_BPE_NAME_MAX) return "is longer than 64 bytes";
    if (name[0] == '#') return "starts with '#' (a comment in the tokenizer file)";
    for (i = 0; i < len; i++)
        if ((unsigned char)name[i] <= ' ' || (unsigned char)name[i] > '~')
            return "has a byte that is not printable ASCII (or is a space)";
    return NULL;
}

static int mmix__bpe_add_special(mmix_bpe *bpe, const char *name, size_t len, int role) {
    mmix__bpe_special *s;
    s = (mmix__bpe_special *)MMIX_REALLOC(bpe->special, (size_t)(bpe->n_special + 1) * sizeof *s);
    if (!s) return 0;
    bpe->special = s;
    s += bpe->n_special++;
    memset(s, 0, sizeof *s);
    memcpy(s->name, name, len);
    s->role = role;
    return 1;
}

/* ---- Training ----
   The corpus becomes unique words with counts. Each word is an array of token ids (bytes
   at first). For every adjacent pair we keep its count (weighted by word counts) and a
   list of the words it occurs in (which may hold stale entries: words that lost the pair
   since). A max-heap orders pairs by (count desc, first id asc, second id asc), the fixed
   tie-break. It is lazy: counts of existing pairs only ever go down (only pairs with the
   new token are born), so an entry is an upper bound; a popped entry whose count is out
   of date is pushed back with the current count. Merging a pair rewrites only the words
   on its list and changes only the counts of the merged pair's neighbours, so the total
   work over all merges is bounded by the corpus's pair occurrences: O(N log N), not
   O(merges x N). */
typedef struct mmix__heap_entry {
    int64_t count;
    int32_t a, b;
} mmix__heap_entry;

/* 1 when x should come out of the heap before y. */
static int mmix__heap_before(const mmix__heap_entry *x, const mmix__heap_entry *y) {
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    return x->b < y->b;
}
static void mmix__heap_sift_down(mmix__heap_entry *h, int64_t n, int64_t i) {
    mmix__heap_entry e = h[i];
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && mmix__heap_before(&h[c + 1], &h[c])) c++;
        if (!mmix__heap_before(&h[c], &e)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = e;
}
static void mmix__heap_sift_up(mmix__heap_entry *h, int64_t i) {
    mmix__heap_entry e = h[i];
    while (i > 0 && mmix__heap_before(&e, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = e;
}

typedef struct mmix__bpe_trainer {
    /* words */
    int64_t n_words;
    int64_t *word_count;         /* occurrences in the corpus */
    int64_t *word_start;         /* into sym */
    int64_t *word_len;           /* current length in tokens (shrinks as merges apply) */
    int32_t *word_stamp;         /* the last merge that rewrote the word (skips duplicates) */
    int32_t *sym;
    /* pairs */
    mmix__pairmap pair_index;    /* (a, b) -> pair number */
    int64_t n_pairs, pairs_capacity;
    int32_t *pair_a, *pair_b;
    int64_t *pair_count;
    int64_t *pair_occ;           /* head of the pair's occurrence list, -1 when empty */
    int32_t *pair_stamp;         /* the last merge whose new pairs included it */
    /* occurrence lists: singly linked nodes in one pool */
    int32_t *occ_word;
    int64_t *occ_next;
    int64_t n_occ, occ_capacity;
    /* the heap, and the pairs a merge made */
    mmix__heap_entry *heap;
    int64_t heap_n, heap_capacity;
    int32_t *touched;
    int64_t n_touched, touched_capacity;
    int oom;
} mmix__bpe_trainer;

static void mmix__trainer_free(mmix__bpe_trainer *t) {
    MMIX_FREE(t->word_count); MMIX_FREE(t->word_start); MMIX_FREE(t->word_len);
    MMIX_FREE(t->word_stamp); MMIX_FREE(t->sym);
    mmix__pairmap_free(&t->pair_index);
    MMIX_FREE(t->pair_a); MMIX_FREE(t->pair_b); MMIX_FREE(t->pair_count);
    MMIX_FREE(t->pair_occ); MMIX_FREE(t->pair_stamp);
    MMIX_FREE(t->occ_word); MMIX_FREE(t->occ_next);
    MMIX_FREE(t->heap); MMIX_FREE(t->touched);
}

static int mmix__heap_push(mmix__bpe_trainer *t, int64_t count, int32_t a, int32_t b) {
    if (t->heap_n == t->heap_capacity) {
        void *p = mmix__grow(t->heap, &t->heap_capacity, t->heap_n + 1, sizeof(mmix__heap_entry));
        if (!p) return t->oom = 1, 0;
        t->heap = (mmix__heap_entry *)p;
    }
    t->heap[t->heap_n].count = count;
    t->heap[t->heap_n].a = a;
    t->heap[t->heap_n].b = b;
    mmix__heap_sift_up(t->heap, t->heap_n++);
    return 1;
}

/* The pair (a, b)'s number, created with count 0 when new; -1 when out of memory. */
static int64_t mmix__trainer_pair(mmix__bpe_trainer *t, int32_t a, int32_t b) {
    uint64_t key = mmix__pair_key(a, b);
    int64_t p = mmix__pairmap_get(&t->pair_index, key);
    if (p >= 0) return p;
    p = t->n_pairs;
    if (p + 1 > t->pairs_capacity) {
        int64_t c0 = t->pairs_capacity, c;
        void *q;
        c = c0; if (!(q = mmix__grow(t->pair_a, &c, p + 1, sizeof(int32_t)))) goto oom; t->pair_a = (int32_t *)q;
        c = c0; if (!(q = mmix__grow(t->pair_b, &c, p + 1, sizeof(int32_t)))) goto oom; t->pair_b = (int32_t *)q;
        c = c0; if (!(q = mmix__grow(t->pair_count, &c, p + 1, sizeof(int64_t)))) goto oom; t->pair_count = (int64_t *)q;
        c = c0; if (!(q = mmix__grow(t->pair_occ, &c, p + 1, sizeof(int64_t)))) goto oom; t->pair_occ = (int64_t *)q;
        c = c0; if (!(q = mmix__grow(t->pair_stamp, &c, p + 1, sizeof(int32_t)))) goto oom; t->pair_stamp = (int32_t *)q;
        t->pairs_capacity = c;
    }
    if (p > INT32_MAX - 1 || !mmix__pairmap_put(&t->pair_index, key, (int32_t)p)) goto oom;
    t->pair_a[p] = a;
    t->pair_b[p] = b;
    t->pair_count[p] = 0;
    t->pair_occ[p] = -1;
    t->pair_stamp[p] = -1;
    t->n_pairs++;
    return p;
oom:
    t->oom = 1;
    return -1;
}

/* Adds delta occurrences of (a, b) in word w. A pair that gains occurrences records w
   on its list (once per run of additions from the same word) and, for the merge with
   stamp `stamp`, on the list of pairs to push to the heap afterwards. */
static void mmix__trainer_add(mmix__bpe_trainer *t, int32_t a, int32_t b, int64_t delta, int32_t w,
                              int32_t stamp) {
    int64_t p = mmix__trainer_pair(t, a, b);
    if (p < 0) return;
    t->pair_count[p] += delta;
    if (delta <= 0) return;
    if (t->pair_occ[p] < 0 || t->occ_word[t->pair_occ[p]] != w) {
        if (t->n_occ == t->occ_capacity) {
            int64_t c0 = t->occ_capacity, c = c0;
            void *q;
            if (!(q = mmix__grow(t->occ_word, &c, t->n_occ + 1, sizeof(int32_t)))) { t->oom = 1; return; }
            t->occ_word = (int32_t *)q;
            c = c0;
            if (!(q = mmix__grow(t->occ_next, &c, t->n_occ + 1, sizeof(int64_t)))) { t->oom = 1; return; }
            t->occ_next = (int64_t *)q;
            t->occ_capacity = c;
        }
        t->occ_word[t->n_occ] = w;
        t->occ_next[t->n_occ] = t->pair_occ[p];
        t->pair_occ[p] = t->n_occ++;
    }
    if (stamp >= 0 && t->pair_stamp[p] != stamp) {
        t->pair_stamp[p] = stamp;
        if (t->n_touched == t->touched_capacity) {
            void *q = mmix__grow(t->touched, &t->touched_capacity, t->n_touched + 1, sizeof(int32_t));
            if (!q) { t->oom = 1; return; }
            t->touched = (int32_t *)q;
        }
        t->touched[t->n_touched++] = (int32_t)p;
    }
}

/* Rewrites word w with every non-overlapping occurrence of (a, b), left to right,
   replaced by new_id, updating the neighbours' pair counts (as HF tokenizers' Word::merge):
     ... x a b y ...  ->  ... x N y ...   (x,a) -= c, (x,N) += c, (b,y) -= c, (N,y) += c
   where c is the word's count; (a, b) itself loses c per occurrence. */
static void mmix__trainer_merge_word(mmix__bpe_trainer *t, int32_t w, int32_t a, int32_t b,
                                     int32_t new_id, int64_t pair) {
    int32_t *s = t->sym + t->word_start[w];
    int64_t n = t->word_len[w], c = t->word_count[w], r = 0, out = 0;
    int32_t stamp = new_id - 256;
    while (r < n) {
        if (r + 1 < n && s[r] == a && s[r + 1] == b) {
            if (out > 0) { /* out-1 may be a new token made a moment ago: still right */
                mmix__trainer_add(t, s[out - 1], a, -c, w, stamp);
                mmix__trainer_add(t, s[out - 1], new_id, c, w, stamp);
            }
            if (r + 2 < n) {
                mmix__trainer_add(t, b, s[r + 2], -c, w, stamp);
                mmix__trainer_add(t, new_id, s[r + 2], c, w, stamp);
            }
            t->pair_count[pair] -= c;
            s[out++] = new_id;
            r += 2;
        } else {
            s[out++] = s[r++];
        }
    }
    t->word_len[w] = out;
}

MMIXDEF mmix_bpe_train_options mmix_bpe_train_options_default(void) {
    mmix_bpe_train_options o;
    o.vocab_size = 4096;
    o.eot_name = "<|endoftext|>";
    o.pad_name = "<|pad|>";
    return o;
}

MMIXDEF mmix_result mmix_bpe_train(mmix_ctx *ctx, const void *text, size_t size,
                                   const mmix_bpe_train_options *options, mmix_bpe **out) {
    mmix_bpe_train_options opt = options ? *options : mmix_bpe_train_options_default();
    const unsigned char *s = (const unsigned char *)text;
    mmix__bpe_trainer t;
    mmix__strtab words;
    mmix_bpe *bpe = NULL;
    int64_t target, w, i, total_len = 0, merge_ids_capacity = 0;
    size_t pos;
    const char *bad;
    mmix_result result = MMIX_OK;

    if (!out) return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "bpe train: out is NULL");
    *out = NULL;
    if (!text && size) return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "bpe train: text is NULL");
    if (!opt.eot_name || !opt.pad_name)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "bpe train: a special token name is NULL");
    if ((bad = mmix__bpe_bad_name(opt.eot_name, strlen(opt.eot_name))) != NULL)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "bpe train: end-of-text name '%s' %s",
                              opt.eot_name, bad);
    if ((bad = mmix__bpe_bad_name(opt.pad_name, strlen(opt.pad_name))) != NULL)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "bpe train: pad name '%s' %s",
                              opt.pad_name, bad);
    if (strcmp(opt.eot_name, opt.pad_name) == 0)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "bpe train: the end-of-text and pad tokens "
                              "must differ (both are '%s')", opt.eot_name);
    if (opt.vocab_size < 258 || opt.vocab_size > ((int64_t)1 << 30))
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "bpe train: vocab size %lld is out of range: "
                              "it counts 256 byte tokens + merges + 2 special tokens, so it must be in "
                              "[258, 2^30]", (long long)opt.vocab_size);
    target = opt.vocab_size - 256 - 2;

    memset(&t, 0, sizeof t);
    memset(&words, 0, sizeof words);
    bpe = mmix__bpe_new();
    if (!bpe) goto oom;

    /* 1. Unique words with counts. */
    for (pos = 0; pos < size;) {
        size_t end = mmix_bpe_next_word(s, size, pos), len = end - pos;
        uint64_t h = mmix__hash_bytes(s + pos, len);
        int64_t e = mmix__strtab_find(&words, s + pos, len, h);
        if (e < 0) {
            e = mmix__strtab_add(&words, s + pos, len, h);
            if (e < 0 || e >= INT32_MAX) goto oom;
        }
        words.value[e]++;
        pos = end;
    }
    /* 2. Each word as an array of byte ids. */
    t.n_words = words.count;
    total_len = words.count ? words.start[words.count] : 0;
    t.word_count = (int64_t *)MMIX_MALLOC((size_t)(t.n_words + 1) * sizeof(int64_t));
    t.word_start = (int64_t *)MMIX_MALLOC((size_t)(t.n_words + 1) * sizeof(int64_t));
    t.word_len = (int64_t *)MMIX_MALLOC((size_t)(t.n_words + 1) * sizeof(int64_t));
    t.word_stamp = (int32_t *)MMIX_MALLOC((size_t)(t.n_words + 1) * sizeof(int32_t));
    t.sym = (int32_t *)MMIX_MALLOC((size_t)(total_len + 1) * sizeof(int32_t));
    if (!t.word_count || !t.word_start || !t.word_len || !t.word_stamp || !t.sym) goto oom;
    for (w = 0; w < t.n_words; w++) {
        t.word_count[w] = words.value[w];
        t.word_start[w] = words.start[w];
        t.word_len[w] = words.start[w + 1] - words.start[w];
        t.word_stamp[w] = -1;
    }
    for (i = 0; i < total_len; i++) t.sym[i] = words.pool[i];
    mmix__strtab_free(&words);

    /* 3. Pair counts and occurrence lists, then every pair into the heap (heapify). */
    if (!mmix__pairmap_alloc(&t.pair_index, 1024)) goto oom;
    for (w = 0; w < t.n_words; w++) {
        const int32_t *ws = t.sym + t.word_start[w];
        for (i = 0; i + 1 < t.word_len[w]; i++)
            mmix__trainer_add(&t, ws[i], ws[i + 1], t.word_count[w], (int32_t)w, -1);
        if (t.oom) goto oom;
    }
    t.heap = (mmix__heap_entry *)MMIX_MALLOC((size_t)(t.n_pairs + 1) * sizeof(mmix__heap_entry));
    if (!t.heap) goto oom;
    t.heap_capacity = t.n_pairs + 1;
    for (i = 0; i < t.n_pairs; i++) {
        t.heap[i].count = t.pair_count[i];
        t.heap[i].a = t.pair_a[i];
        t.heap[i].b = t.pair_b[i];
    }
    t.heap_n = t.n_pairs;
    for (i = t.heap_n / 2 - 1; i >= 0; i--) mmix__heap_sift_down(t.heap, t.heap_n, i);

    /* 4. Merge the best pair until the vocabulary is full or no pair is left. */
    while (bpe->n_merges < target && t.heap_n > 0) {
        mmix__heap_entry top = t.heap[0];
        int64_t p = mmix__pairmap_get(&t.pair_index, mmix__pair_key(top.a, top.b)), occ;
        int32_t new_id = (int32_t)(256 + bpe->n_merges);
        t.heap[0] = t.heap[--t.heap_n];
        if (t.heap_n > 0) mmix__heap_sift_down(t.heap, t.heap_n, 0);
        if (t.pair_count[p] != top.count) { /* stale: back in with the current count */
            if (t.pair_count[p] > 0 && !mmix__heap_push(&t, t.pair_count[p], top.a, top.b)) goto oom;
            continue;
        }
        if (top.count <= 0) break;
        if (2 * (bpe->n_merges + 1) > merge_ids_capacity) {
            void *q = mmix__grow(bpe->merges, &merge_ids_capacity, 2 * (bpe->n_merges + 1), sizeof(int32_t));
            if (!q) goto oom;
            bpe->merges = (int32_t *)q;
        }
        bpe->merges[2 * bpe->n_merges] = top.a;
        bpe->merges[2 * bpe->n_merges + 1] = top.b;
        bpe->n_merges++;
        t.n_touched = 0;
        occ = t.pair_occ[p];
        t.pair_occ[p] = -1;
        for (; occ >= 0; occ = t.occ_next[occ]) {
            int32_t wi = t.occ_word[occ];
            if (t.word_stamp[wi] == new_id) continue; /* listed twice */
            t.word_stamp[wi] = new_id;
            mmix__trainer_merge_word(&t, wi, top.a, top.b, new_id, p);
            if (t.oom) goto oom;
        }
        MMIX_ASSERT(t.pair_count[p] == 0);
        for (i = 0; i < t.n_touched; i++) {
            int32_t q = t.touched[i];
            if (t.pair_count[q] > 0 && !mmix__heap_push(&t, t.pair_count[q], t.pair_a[q], t.pair_b[q]))
                goto oom;
        }
    }
    /* 5. The special tokens, after the merges. */
    if (!mmix__bpe_add_special(bpe, opt.eot_name, strlen(opt.eot_name), MMIX__BPE_ROLE_EOT) ||
        !mmix__bpe_add_special(bpe, opt.pad_name, strlen(opt.pad_name), MMIX__BPE_ROLE_PAD))
        goto oom;
    result = mmix__bpe_finish(ctx, bpe, "train");
    if (result != MMIX_OK) goto fail;
    mmix__trainer_free(&t);
    *out = bpe;
    return MMIX_OK;
oom:
    result = mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bpe train: out of memory (%llu bytes of text, "
                            "%lld unique words, %lld pairs)", (unsigned long long)size,
                            (long long)(t.n_words ? t.n_words : words.count), (long long)t.n_pairs);
fail:
    mmix__strtab_free(&words);
    mmix__trainer_free(&t);
    mmix_bpe_free(bpe);
    return result;
}

/* ---- Encoding ----
   Each word is encoded on its own: a linked list of tokens (bytes at first) and a
   min-heap of the adjacent pairs that have a merge, keyed by (rank, position). Popping
   the lowest rank, leftmost first, and merging it is the same as applying the merges one
   by one in rank order, each left to right without overlaps (tests/test_bpe.c checks this
   against exactly that slow loop): a merge only creates pairs with its new token, whose
   merges all come later. Entries made stale by a merge are skipped when popped. Words of
   up to 64 bytes are cached; the cache is emptied when it grows past a few million ids. */
#define MMIX__BPE_CACHE_WORD_MAX 64
#ifndef MMIX__BPE_CACHE_IDS_MAX /* the tests shrink it to exercise the emptying */
#define MMIX__BPE_CACHE_IDS_MAX ((int64_t)1 << 22)
#endif

typedef struct mmix__rank_entry {
    int32_t rank;
    int64_t pos;
} mmix__rank_entry;

static int mmix__rank_before(const mmix__rank_entry *x, const mmix__rank_entry *y) {
    return x->rank != y->rank ? x->rank < y->rank : x->pos < y->pos;
}

static int mmix__ids_reserve(mmix_bpe_ids *ids, int64_t extra) {
    void *p;
    if (ids->n + extra <= ids->capacity) return 1;
    p = mmix__grow(ids->ids, &ids->capacity, ids->n + extra, sizeof(int32_t));
    if (!p) return 0;
    ids->ids = (int32_t *)p;
    return 1;
}

MMIXDEF void mmix_bpe_ids_free(mmix_bpe_ids *ids) {
    if (!ids) return;
    MMIX_FREE(ids->ids);
    memset(ids, 0, sizeof *ids);
}
MMIXDEF mmix_result mmix_bpe_ids_push(mmix_ctx *ctx, mmix_bpe_ids *ids, int32_t id) {
    if (!mmix__ids_reserve(ids, 1))
        return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bpe: out of memory for %lld ids", (long long)ids->n + 1);
    ids->ids[ids->n++] = id;
    return MMIX_OK;
}

/* Pushes the pair of tokens at positions p and q (q follows p) when it has a merge. */
static void mmix__bpe_push_pair(const mmix_bpe *bpe, mmix__rank_entry *heap, int64_t *heap_n,
                                const int32_t *sym, int64_t p, int64_t q) {
    int32_t rank = mmix__pairmap_get(&bpe->rank, mmix__pair_key(sym[p], sym[q]));
    mmix__rank_entry e;
    int64_t k;
    if (rank < 0) return;
    k = (*heap_n)++;
    e.rank = rank;
    e.pos = p;
    while (k > 0 && mmix__rank_before(&e, &heap[(k - 1) / 2])) { /* sift up */
        heap[k] = heap[(k - 1) / 2];
        k = (k - 1) / 2;
    }
    heap[k] = e;
}

/* Appends the ids of one word (n >= 1 bytes) to out. 0 when out of memory. */
static int mmix__bpe_encode_word(const mmix_bpe *bpe, const unsigned char *w, int64_t n,
                                 mmix_bpe_ids *out) {
    int32_t *sym;
    int64_t *next, *prev, i, heap_n = 0, first = out->n;
    mmix__rank_entry *heap;
    unsigned char *block;
    if (!mmix__ids_reserve(out, n)) return 0;
    /* One block for the heap and the list. The heap holds at most 2n entries: n - 1 at
       the start, and each merge pops one and pushes at most two, with at most n - 1 merges. */
    block = (unsigned char *)MMIX_MALLOC((size_t)n * (2 * sizeof(mmix__rank_entry) + 2 * sizeof(int64_t) +
                                                      sizeof(int32_t)));
    if (!block) return 0;
    heap = (mmix__rank_entry *)block;
    next = (int64_t *)(block + (size_t)(2 * n) * sizeof(mmix__rank_entry));
    prev = next + n;
    sym = (int32_t *)(prev + n);
    for (i = 0; i < n; i++) {
        sym[i] = w[i];
        next[i] = i + 1 < n ? i + 1 : -1;
        prev[i] = i - 1;
    }
    for (i = 0; i + 1 < n; i++) mmix__bpe_push_pair(bpe, heap, &heap_n, sym, i, i + 1);
    while (heap_n > 0) {
        mmix__rank_entry top = heap[0], last = heap[--heap_n];
        int64_t k = 0, p = top.pos, q;
        /* pop: sift the last entry down from the root */
        for (;;) {
            int64_t c = 2 * k + 1;
            if (c >= heap_n) break;
            if (c + 1 < heap_n && mmix__rank_before(&heap[c + 1], &heap[c])) c++;
            if (!mmix__rank_before(&heap[c], &last)) break;
            heap[k] = heap[c];
            k = c;
        }
        if (heap_n > 0) heap[k] = last;
        /* stale when p was merged away or its pair is no longer this merge's pair */
        if (sym[p] < 0 || next[p] < 0) continue;
        q = next[p];
        if (bpe->merges[2 * top.rank] != sym[p] || bpe->merges[2 * top.rank + 1] != sym[q]) continue;
        sym[p] = 256 + top.rank;
        sym[q] = -1;
        next[p] = next[q];
        if (next[q] >= 0) prev[next[q]] = p;
        if (prev[p] >= 0) mmix__bpe_push_pair(bpe, heap, &heap_n, sym, prev[p], p);
        if (next[p] >= 0) mmix__bpe_push_pair(bpe, heap, &heap_n, sym, p, next[p]);
    }
    for (i = 0; i >= 0; i = next[i]) out->ids[out->n++] = bpe->id_of ? bpe->id_of[sym[i]] : sym[i];
    MMIX_FREE(block);
    MMIX_ASSERT(out->n > first);
    (void)first;
    return 1;
}

/* Encodes text with no special tokens in it: word by word, through the cache (which
   holds ids, so a hit needs no mapping). */
static mmix_result mmix__bpe_encode_plain(mmix_ctx *ctx, mmix_bpe *bpe, const unsigned char *s,
                                          size_t size, mmix_bpe_ids *ids) {
    size_t pos = 0;
    while (pos < size) {
        size_t end = mmix_bpe_split_next(bpe, s, size, pos);
        size_t len = end - pos;
        uint64_t h;
        int64_t e, first, n;
        if (len == 1) { /* one byte: its own token */
            if (!mmix__ids_reserve(ids, 1)) goto oom;
            ids->ids[ids->n++] = bpe->id_of ? bpe->id_of[s[pos]] : s[pos];
            pos = end;
            continue;
        }
        if (len > MMIX__BPE_CACHE_WORD_MAX) {
            h = mmix__hash_bytes(s + pos, len);
            if (bpe->ignore_merges && (e = mmix__strtab_find(&bpe->whole, s + pos, len, h)) >= 0) {
                if (!mmix__ids_reserve(ids, 1)) goto oom;
                ids->ids[ids->n++] = (int32_t)bpe->whole.value[e];
            } else if (!mmix__bpe_encode_word(bpe, s + pos, (int64_t)len, ids)) {
                goto oom;
            }
            pos = end;
            continue;
        }
        h = mmix__hash_bytes(s + pos, len);
        e = mmix__strtab_find(&bpe->cache, s + pos, len, h);
        if (e >= 0) {
            n = bpe->cache.extra[e];
            if (!mmix__ids_reserve(ids, n)) goto oom;
            memcpy(ids->ids + ids->n, bpe->cache_ids + bpe->cache.value[e], (size_t)n * sizeof(int32_t));
            ids->n += n;
            pos = end;
            continue;
        }
        first = ids->n;
        if (bpe->ignore_merges && (e = mmix__strtab_find(&bpe->whole, s + pos, len, h)) >= 0) {
            if (!mmix__ids_reserve(ids, 1)) goto oom;
            ids->ids[ids->n++] = (int32_t)bpe->whole.value[e];
        } else if (!mmix__bpe_encode_word(bpe, s + pos, (int64_t)len, ids)) {
            goto oom;
        }
        n = ids->n - first;
        if (bpe->cache_ids_used + n > MMIX__BPE_CACHE_IDS_MAX) { /* full: start afresh */
            mmix__strtab_clear(&bpe->cache);
            bpe->cache_ids_used = 0;
        }
        {
            void *p = mmix__grow(bpe->cache_ids, &bpe->cache_ids_capacity, bpe->cache_ids_used + n,
                                 sizeof(int32_t));
            if (p) {
                bpe->cache_ids = (int32_t *)p;
                e = mmix__strtab_add(&bpe->cache, s + pos, len, h);
            }
            if (p && e >= 0) { /* a failed cache insert only costs speed */
                bpe->cache.value[e] = bpe->cache_ids_used;
                bpe->cache.extra[e] = n;
                memcpy(bpe->cache_ids + bpe->cache_ids_used, ids->ids + first, (size_t)n * sizeof(int32_t));
                bpe->cache_ids_used += n;
            }
        }
        pos = end;
    }
    return MMIX_OK;
oom:
    return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bpe encode: out of memory at byte %llu of %llu",
                          (unsigned long long)pos, (unsigned long long)size);
}

/* One stretch of text between special tokens. ByteLevel's add_prefix_space puts a space
   before a stretch that does not start with one (Hugging Face does it per stretch). */
static mmix_result mmix__bpe_encode_segment(mmix_ctx *ctx, mmix_bpe *bpe, const unsigned char *s,
                                            size_t size, mmix_bpe_ids *ids) {
    unsigned char *spaced;
    mmix_result r;
    if (!bpe->prefix_space || size == 0 || s[0] == ' ') return mmix__bpe_encode_plain(ctx, bpe, s, size, ids);
    spaced = (unsigned char *)MMIX_MALLOC(size + 1);
    if (!spaced) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bpe encode: out of memory for %llu bytes",
                                       (unsigned long long)size + 1);
    spaced[0] = ' ';
    memcpy(spaced + 1, s, size);
    r = mmix__bpe_encode_plain(ctx, bpe, spaced, size + 1, ids);
    MMIX_FREE(spaced);
    return r;
}

MMIXDEF mmix_result mmix_bpe_encode(mmix_ctx *ctx, mmix_bpe *bpe, const void *text, size_t size,
                                    int flags, mmix_bpe_ids *ids) {
    const unsigned char *s = (const unsigned char *)text;
    size_t pos, segment = 0, best_len;
    int64_t k, best;
    mmix_result r;
    if (!bpe || !ids || (!text && size))
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "bpe encode: %s is NULL",
                              !bpe ? "the tokenizer" : !ids ? "ids" : "text");
    if (!(flags & MMIX_BPE_ALLOW_SPECIAL)) return mmix__bpe_encode_segment(ctx, bpe, s, size, ids);
    /* Split at special names: the leftmost, and there the longest (as Hugging Face's
       added-token matcher). */
    for (pos = 0; pos < size; pos++) {
        if (!bpe->special_first[s[pos]]) continue;
        best = -1;
        best_len = 0;
        for (k = 0; k < bpe->n_special; k++) {
            size_t len = strlen(bpe->special[k].name);
            if (len > best_len && len <= size - pos && memcmp(s + pos, bpe->special[k].name, len) == 0) {
                best = k;
                best_len = len;
            }
        }
        if (best < 0) continue;
        r = mmix__bpe_encode_segment(ctx, bpe, s + segment, pos - segment, ids);
        if (r != MMIX_OK) return r;
        k = 256 + bpe->n_merges + best;
        if ((r = mmix_bpe_ids_push(ctx, ids, bpe->id_of ? bpe->id_of[k] : (int32_t)k)) != MMIX_OK) return r;
        pos += best_len - 1;
        segment = pos + 1;
    }
    return mmix__bpe_encode_segment(ctx, bpe, s + segment, size - segment, ids);
}

MMIXDEF mmix_result mmix_bpe_decode(mmix_ctx *ctx, const mmix_bpe *bpe, const int32_t *ids,
                                    int64_t n, mmix_bpe_bytes *out) {
    int64_t i;
    if (!bpe || !out || (!ids && n > 0))
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "bpe decode: %s is NULL",
                              !bpe ? "the tokenizer" : !out ? "out" : "ids");
    for (i = 0; i < n; i++) {
        int32_t id = ids[i];
        const unsigned char *p;
        size_t len;
        if (id < 0 || id >= bpe->vocab_size)
            return mmix_set_error(ctx, MMIX_ERR_RANGE, "bpe decode: id %ld at position %lld is outside "
                                  "the vocabulary [0, %lld)", (long)id, (long long)i,
                                  (long long)bpe->vocab_size);
        if (!(p = mmix_bpe_token_bytes(bpe, id, &len)))
            return mmix_set_error(ctx, MMIX_ERR_RANGE, "bpe decode: id %ld at position %lld is no token of "
                                  "this tokenizer (its file gives the id to nothing)", (long)id, (long long)i);
        if (!mmix__bytes_append(out, p, len))
            return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bpe decode: out of memory at id %lld",
                                  (long long)i);
    }
    return MMIX_OK;
}

MMIXDEF int64_t mmix_bpe_vocab_size(const mmix_bpe *bpe) { return bpe->vocab_size; }
MMIXDEF size_t mmix_bpe_split_next(const mmix_bpe *bpe, const void *text, size_t size, size_t pos) {
    if (bpe->split == MMIX__BPE_SPLIT_GPT2) return mmix__bpe_next_word_gpt2((const unsigned char *)text, size, pos);
    if (bpe->split == MMIX__BPE_SPLIT_LLAMA3) return mmix__bpe_next_word_llama3((const unsigned char *)text, size, pos);
    return mmix_bpe_next_word(text, size, pos);
}
MMIXDEF const char *mmix_bpe_split_name(const mmix_bpe *bpe) { return mmix__bpe_split_names[bpe->split]; }
MMIXDEF int64_t mmix_bpe_merge_count(const mmix_bpe *bpe) { return bpe->n_merges; }
MMIXDEF void mmix_bpe_get_merge(const mmix_bpe *bpe, int64_t i, int32_t pair[2]) {
    pair[0] = pair[1] = -1;
    if (i < 0 || i >= bpe->n_merges) return;
    pair[0] = bpe->merges[2 * i];
    pair[1] = bpe->merges[2 * i + 1];
}
MMIXDEF int32_t mmix_bpe_eot_id(const mmix_bpe *bpe) { return bpe->eot_id; }
MMIXDEF int32_t mmix_bpe_pad_id(const mmix_bpe *bpe) { return bpe->pad_id; }
MMIXDEF int32_t mmix_bpe_special_id(const mmix_bpe *bpe, const char *name) {
    int64_t k;
    for (k = 0; name && k < bpe->n_special; k++)
        if (strcmp(bpe->special[k].name, name) == 0) {
            int64_t t = 256 + bpe->n_merges + k;
            return bpe->id_of ? bpe->id_of[t] : (int32_t)t;
        }
    return -1;
}
MMIXDEF const unsigned char *mmix_bpe_token_bytes(const mmix_bpe *bpe, int32_t id, size_t *len) {
    if (id < 0 || id >= bpe->vocab_size || (bpe->id_of && bpe->token_of[id] == -1)) {
        if (len) *len = 0;
        return NULL;
    }
    if (bpe->id_of) {
        if (len) *len = (size_t)(bpe->id_start[id + 1] - bpe->id_start[id]);
        return bpe->id_bytes + bpe->id_start[id];
    }
    if (len) *len = (size_t)(bpe->token_start[id + 1] - bpe->token_start[id]);
    return bpe->token_bytes + bpe->token_start[id];
}

/* ---- The tokenizer file (section 6) ---- */
#define MMIX__BPE_MAGIC "mmix-bpe"
#define MMIX__BPE_VERSION 2     /* the newest; version 1 (our layout, split gpt2-ascii) is still read and written */

static int mmix__hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}
static int mmix__bytes_hex(mmix_bpe_bytes *out, const unsigned char *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (!mmix__bytes_printf(out, "%02x", p[i])) return 0;
    return 1;
}

/* A token number's id. */
static int32_t mmix__bpe_id(const mmix_bpe *bpe, int64_t t) { return bpe->id_of ? bpe->id_of[t] : (int32_t)t; }

/* Version 2: the file's own ids (section 6). */
static int mmix__bpe_save_v2(const mmix_bpe *bpe, mmix_bpe_bytes *out) {
    int64_t i, e;
    int ok = mmix__bytes_printf(out, "%s 2\n", MMIX__BPE_MAGIC) &&
             mmix__bytes_printf(out, "# maskedmixer byte-level BPE tokenizer (maskedmixer.h, section 6), with the\n"
                                     "# ids of the file it was imported from. 'byte B ID' gives byte B its id;\n"
                                     "# 'merge ID A B' makes token ID from the tokens with ids A and B.\n") &&
             mmix__bytes_printf(out, "split %s%s%s\nvocab %lld\nmerges %lld\n", mmix__bpe_split_names[bpe->split],
                                bpe->prefix_space ? " prefix-space" : "", bpe->ignore_merges ? " ignore-merges" : "",
                                (long long)bpe->vocab_size,
                                (long long)bpe->n_merges);
    for (i = 0; ok && i < 256; i++) ok = mmix__bytes_printf(out, "byte %d %ld\n", (int)i, (long)mmix__bpe_id(bpe, i));
    for (i = 0; ok && i < bpe->n_merges; i++) {
        int64_t t = 256 + i;
        ok = mmix__bytes_printf(out, "merge %ld %ld %ld # ", (long)mmix__bpe_id(bpe, t), (long)mmix__bpe_id(bpe, bpe->merges[2 * i]),
                                (long)mmix__bpe_id(bpe, bpe->merges[2 * i + 1])) &&
             mmix__bytes_append_quoted(out, bpe->token_bytes + bpe->token_start[t],
                                       (size_t)(bpe->token_start[t + 1] - bpe->token_start[t]), 0) &&
             mmix__bytes_append(out, "\n", 1);
    }
    for (i = 0; ok && i < bpe->n_special; i++) {
        const char *nm = bpe->special[i].name;
        long id = (long)mmix__bpe_id(bpe, 256 + bpe->n_merges + i);
        if (mmix__bpe_bad_name(nm, strlen(nm)) == NULL) /* a plain name, else its bytes in hex */
            ok = mmix__bytes_printf(out, "special %ld %s %s\n", id, mmix__bpe_role_names[bpe->special[i].role], nm);
        else
            ok = mmix__bytes_printf(out, "special-hex %ld %s ", id, mmix__bpe_role_names[bpe->special[i].role]) &&
                 mmix__bytes_hex(out, (const unsigned char *)nm, strlen(nm)) && mmix__bytes_append(out, "\n", 1);
    }
    for (e = 0; ok && e < bpe->extra.count; e++) {
        const unsigned char *p = bpe->extra.pool + bpe->extra.start[e];
        size_t n = (size_t)(bpe->extra.start[e + 1] - bpe->extra.start[e]);
        ok = mmix__bytes_printf(out, "token %ld ", (long)bpe->extra.value[e]) && mmix__bytes_hex(out, p, n) &&
             mmix__bytes_append(out, " # ", 3) && mmix__bytes_append_quoted(out, p, n, 0) &&
             mmix__bytes_append(out, "\n", 1);
    }
    return ok && mmix__bytes_printf(out, "end\n");
}

MMIXDEF mmix_result mmix_bpe_save_memory(mmix_ctx *ctx, const mmix_bpe *bpe, mmix_bpe_bytes *out) {
    int64_t i;
    int ok;
    if (!bpe || !out) return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "bpe save: NULL argument");
    /* Our own layout is written as version 1, as before, so its files (and the caches
       that hash them) do not change; an id map or another pre-split needs version 2. */
    if (bpe->id_of || bpe->split != MMIX__BPE_SPLIT_GPT2_ASCII || bpe->prefix_space || bpe->ignore_merges)
        return mmix__bpe_save_v2(bpe, out) ? MMIX_OK : mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bpe save: out of memory");
    ok = mmix__bytes_printf(out, "%s 1\n", MMIX__BPE_MAGIC) &&
         mmix__bytes_printf(out, "# maskedmixer byte-level BPE tokenizer (maskedmixer.h, section 6).\n"
                                 "# Ids 0-255 are the bytes. 'merge ID A B' makes token ID from tokens A\n"
                                 "# and B (the quoted bytes after '#' are for people); specials come last.\n") &&
         mmix__bytes_printf(out, "split gpt2-ascii\nvocab %lld\nmerges %lld\n", (long long)bpe->vocab_size,
                            (long long)bpe->n_merges);
    for (i = 0; ok && i < bpe->n_merges; i++) {
        int32_t id = (int32_t)(256 + i);
        ok = mmix__bytes_printf(out, "merge %ld %ld %ld # ", (long)id, (long)bpe->merges[2 * i],
                                (long)bpe->merges[2 * i + 1]) &&
             mmix__bytes_append_quoted(out, bpe->token_bytes + bpe->token_start[id],
                                       (size_t)(bpe->token_start[id + 1] - bpe->token_start[id]), 0) &&
             mmix__bytes_append(out, "\n", 1);
    }
    for (i = 0; ok && i < bpe->n_special; i++)
        ok = mmix__bytes_printf(out, "special %lld %s %s\n", (long long)(256 + bpe->n_merges + i),
                                mmix__bpe_role_names[bpe->special[i].role], bpe->special[i].name);
    ok = ok && mmix__bytes_printf(out, "end\n");
    return ok ? MMIX_OK : mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bpe save: out of memory");
}

MMIXDEF mmix_result mmix_bpe_save(mmix_ctx *ctx, const mmix_bpe *bpe, const char *path) {
    mmix_bpe_bytes text;
    mmix_result r;
    memset(&text, 0, sizeof text);
    if (!path) return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "bpe save: path is NULL");
    r = mmix_bpe_save_memory(ctx, bpe, &text);
    if (r == MMIX_OK) r = mmix_write_file_atomic(ctx, path, text.data, text.size);
    mmix_bpe_bytes_free(&text);
    return r;
}

/* The fields of one line: split at spaces and tabs, up to a field starting with '#'. */
#define MMIX__BPE_MAX_FIELDS 6
typedef struct mmix__bpe_line {
    const char *field[MMIX__BPE_MAX_FIELDS];
    size_t len[MMIX__BPE_MAX_FIELDS];
    int n;                       /* fields found; MMIX__BPE_MAX_FIELDS + 1 = too many */
} mmix__bpe_line;

static void mmix__bpe_split_line(const char *s, size_t n, mmix__bpe_line *line) {
    size_t i = 0;
    line->n = 0;
    for (;;) {
        size_t start;
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
        if (i == n || s[i] == '#') return;
        if (line->n == MMIX__BPE_MAX_FIELDS) { line->n++; return; }
        start = i;
        while (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != '\r') i++;
        line->field[line->n] = s + start;
        line->len[line->n++] = i - start;
    }
}
static int mmix__bpe_field_is(const mmix__bpe_line *line, int k, const char *word) {
    return k < line->n && line->len[k] == strlen(word) && memcmp(line->field[k], word, line->len[k]) == 0;
}
/* A decimal number in [0, INT32_MAX]: digits only. */
static int mmix__bpe_field_int(const mmix__bpe_line *line, int k, int64_t *value) {
    size_t i;
    int64_t v = 0;
    if (k >= line->n || line->len[k] == 0 || line->len[k] > 10) return 0;
    for (i = 0; i < line->len[k]; i++) {
        char c = line->field[k][i];
        if (c < '0' || c > '9') return 0;
        v = 10 * v + (c - '0');
    }
    if (v > INT32_MAX) return 0;
    *value = v;
    return 1;
}

/* The largest vocabulary a file of this version may declare: MMIX_BPE_MAX_VOCAB, and for
   version 2, which keeps a table per id, at most 2^24. */
static int64_t mmix__bpe_max_vocab(int64_t version) {
    int64_t most = (int64_t)MMIX_BPE_MAX_VOCAB;
    if (version != 1 && most > ((int64_t)1 << 24)) most = (int64_t)1 << 24;
    return most;
}

MMIXDEF mmix_result mmix_bpe_load_memory(mmix_ctx *ctx, const void *data, size_t size,
                                         const char *name, mmix_bpe **out) {
    const char *s = (const char *)data;
    mmix_bpe *bpe = NULL;
    mmix__bpe_line line;
    mmix__pairmap first_token;   /* version 2: id -> the first token with that id */
    size_t pos = 0;
    int64_t line_no = 0, vocab = -1, n_merges = -1, v[3], i, version = 1, id_capacity = 0;
    /* what the next meaningful line must be */
    enum { WANT_SPLIT, WANT_VOCAB, WANT_MERGES, WANT_BYTES, WANT_BODY, WANT_NOTHING } want = WANT_SPLIT;
    const char *bad;
    char shown[48];

    if (!name) name = "(memory)";
    if (!out) return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "bpe load '%s': out is NULL", name);
    *out = NULL;
    if (!data && size) return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "bpe load '%s': data is NULL", name);
    if (memchr(s, '\0', size))
        return mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s': a NUL byte at offset %llu: not a "
                              "tokenizer file", name, (unsigned long long)((const char *)memchr(s, '\0', size) - s));
    memset(&first_token, 0, sizeof first_token);
    bpe = mmix__bpe_new();
    if (!bpe) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bpe load '%s': out of memory", name);
    if (!mmix__pairmap_alloc(&bpe->rank, 1024)) goto oom; /* also catches duplicate merges */
    if (!mmix__pairmap_alloc(&first_token, 1024)) goto oom;

    while (pos < size) {
        const char *ls = s + pos, *nl = (const char *)memchr(ls, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - ls) : size - pos;
        pos += len + (nl ? 1 : 0);
        line_no++;
        mmix__bpe_split_line(ls, len, &line);
        /* the offending line, shortened, for messages */
        {
            size_t k = len < sizeof shown - 4 ? len : sizeof shown - 4;
            memcpy(shown, ls, k);
            if (k < len) memcpy(shown + k, "...", 4); else shown[k] = '\0';
            for (k = 0; shown[k]; k++) if ((unsigned char)shown[k] < ' ') shown[k] = '?';
        }
        if (line_no == 1) {
            if (!mmix__bpe_field_is(&line, 0, MMIX__BPE_MAGIC) || line.n != 2 ||
                !mmix__bpe_field_int(&line, 1, &version)) {
                mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s' line 1: '%s': not a maskedmixer "
                               "tokenizer file (the first line must be '%s 1' or '%s 2')", name, shown,
                               MMIX__BPE_MAGIC, MMIX__BPE_MAGIC);
                goto fail;
            }
            if (version < 1 || version > MMIX__BPE_VERSION) {
                mmix_set_error(ctx, MMIX_ERR_UNSUPPORTED, "bpe load '%s' line 1: format version %lld; this "
                               "build reads versions 1 and %d", name, (long long)version, MMIX__BPE_VERSION);
                goto fail;
            }
            continue;
        }
        if (line.n == 0) continue; /* blank or comment */
        if (line.n > MMIX__BPE_MAX_FIELDS) goto syntax;
        switch (want) {
        case WANT_SPLIT:
            if (!mmix__bpe_field_is(&line, 0, "split") || line.n < 2 || line.n > (version == 1 ? 2 : 4)) goto syntax;
            for (bpe->split = 0; bpe->split < MMIX__BPE_SPLITS; bpe->split++)
                if (mmix__bpe_field_is(&line, 1, mmix__bpe_split_names[bpe->split])) break;
            if (bpe->split == MMIX__BPE_SPLITS || (version == 1 && bpe->split != MMIX__BPE_SPLIT_GPT2_ASCII)) {
                mmix_set_error(ctx, MMIX_ERR_UNSUPPORTED, "bpe load '%s' line %lld: unknown pre-split '%s' "
                               "(this build knows 'gpt2-ascii'%s)", name, (long long)line_no, shown,
                               version == 1 ? "" : ", 'gpt2' and 'llama3'");
                goto fail;
            }
            for (i = 2; i < line.n; i++) { /* options, in this order */
                if (mmix__bpe_field_is(&line, (int)i, "prefix-space") && i == 2) bpe->prefix_space = 1;
                else if (mmix__bpe_field_is(&line, (int)i, "ignore-merges") && !bpe->ignore_merges) bpe->ignore_merges = 1;
                else goto syntax;
            }
            want = WANT_VOCAB;
            break;
        case WANT_VOCAB:
            if (!mmix__bpe_field_is(&line, 0, "vocab") || line.n != 2 || !mmix__bpe_field_int(&line, 1, &vocab))
                goto syntax;
            if (vocab < 256 || vocab > mmix__bpe_max_vocab(version)) {
                mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s' line %lld: vocab %lld is outside [256, "
                               "%lld] (MMIX_BPE_MAX_VOCAB)%s", name, (long long)line_no, (long long)vocab,
                               (long long)mmix__bpe_max_vocab(version), version == 1 ? "" : ", 2^24 in version 2");
                goto fail;
            }
            want = WANT_MERGES;
            break;
        case WANT_MERGES:
            if (!mmix__bpe_field_is(&line, 0, "merges") || line.n != 2 ||
                !mmix__bpe_field_int(&line, 1, &n_merges))
                goto syntax;
            if (256 + n_merges > vocab) {
                mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s' line %lld: %lld merges do not fit in "
                               "vocab %lld", name, (long long)line_no, (long long)n_merges, (long long)vocab);
                goto fail;
            }
            /* The count is the file's word: before allocating for it, check that the rest of
               the file could hold that many lines ("merge 256 0 0" is 13 bytes), so that a
               short file cannot make us allocate gigabytes. */
            if ((uint64_t)n_merges > (uint64_t)(size - pos) / 13 + 1) {
                mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s' line %lld: %lld merges declared, but the "
                               "%llu bytes left hold at most %llu merge lines: truncated or corrupt", name,
                               (long long)line_no, (long long)n_merges, (unsigned long long)(size - pos),
                               (unsigned long long)((size - pos) / 13 + 1));
                goto fail;
            }
            bpe->merges = (int32_t *)MMIX_MALLOC((size_t)(2 * n_merges + 2) * sizeof(int32_t));
            if (!bpe->merges) goto oom;
            if (version == 2) {
                void *q = mmix__grow(NULL, &id_capacity, 256 + n_merges + 1, sizeof(int32_t));
                if (!q) goto oom;
                bpe->id_of = (int32_t *)q;
            }
            want = version == 2 ? WANT_BYTES : WANT_BODY;
            break;
        case WANT_BYTES: /* version 2: "byte B ID" for B = 0 .. 255 in order */
            if (!mmix__bpe_field_is(&line, 0, "byte") || line.n != 3 || !mmix__bpe_field_int(&line, 1, &v[0]) ||
                !mmix__bpe_field_int(&line, 2, &v[1]))
                goto syntax;
            if (v[0] != bpe->n_special || v[1] >= vocab) { /* n_special counts the bytes here, reset below */
                mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s' line %lld: '%s': expected byte %lld with an "
                               "id below vocab %lld", name, (long long)line_no, shown, (long long)bpe->n_special,
                               (long long)vocab);
                goto fail;
            }
            bpe->id_of[v[0]] = (int32_t)v[1];
            if (mmix__pairmap_get(&first_token, (uint64_t)v[1]) < 0 &&
                !mmix__pairmap_put(&first_token, (uint64_t)v[1], (int32_t)v[0]))
                goto oom;
            if (++bpe->n_special == 256) {
                bpe->n_special = 0;
                want = WANT_BODY;
            }
            break;
        case WANT_BODY:
            if (mmix__bpe_field_is(&line, 0, "merge")) {
                int64_t expected = 256 + bpe->n_merges;
                if (line.n != 4 || !mmix__bpe_field_int(&line, 1, &v[0]) || !mmix__bpe_field_int(&line, 2, &v[1]) ||
                    !mmix__bpe_field_int(&line, 3, &v[2]))
                    goto syntax;
                if (version == 2) { /* ids: the result's below vocab, the parts' those of earlier tokens */
                    int32_t ta = mmix__pairmap_get(&first_token, (uint64_t)v[1]);
                    int32_t tb = mmix__pairmap_get(&first_token, (uint64_t)v[2]);
                    if (v[0] >= vocab || ta < 0 || tb < 0 || bpe->n_special > 0 || bpe->n_merges == n_merges) {
                        mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s' line %lld: '%s': %s", name,
                                       (long long)line_no, shown,
                                       v[0] >= vocab ? "the id is not below vocab"
                                       : ta < 0 || tb < 0 ? "unknown token (a merge joins tokens made before it)"
                                                          : "more merges than declared, or a merge after the special tokens");
                        goto fail;
                    }
                    bpe->id_of[expected] = (int32_t)v[0];
                    if (mmix__pairmap_get(&first_token, (uint64_t)v[0]) < 0 &&
                        !mmix__pairmap_put(&first_token, (uint64_t)v[0], (int32_t)expected))
                        goto oom;
                    v[0] = expected;
                    v[1] = ta;
                    v[2] = tb;
                }
                if (bpe->n_special > 0 || bpe->n_merges == n_merges) {
                    mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s' line %lld: '%s': more merges than the "
                                   "%lld declared, or a merge after the special tokens", name, (long long)line_no,
                                   shown, (long long)n_merges);
                    goto fail;
                }
                if (v[0] != expected) {
                    mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s' line %lld: '%s': merge id %lld, "
                                   "expected %lld (merges are numbered in order from 256)", name,
                                   (long long)line_no, shown, (long long)v[0], (long long)expected);
                    goto fail;
                }
                if (v[1] >= expected || v[2] >= expected) {
                    mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s' line %lld: '%s': unknown token %lld "
                                   "(a merge joins tokens made before it, ids < %lld)", name, (long long)line_no,
                                   shown, (long long)(v[1] >= expected ? v[1] : v[2]), (long long)expected);
                    goto fail;
                }
                if (mmix__pairmap_get(&bpe->rank, mmix__pair_key((int32_t)v[1], (int32_t)v[2])) >= 0) {
                    mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s' line %lld: '%s': duplicate merge of "
                                   "%lld and %lld (first as merge %ld)", name, (long long)line_no, shown,
                                   (long long)v[1], (long long)v[2],
                                   (long)(256 + mmix__pairmap_get(&bpe->rank, mmix__pair_key((int32_t)v[1], (int32_t)v[2]))));
                    goto fail;
                }
                if (!mmix__pairmap_put(&bpe->rank, mmix__pair_key((int32_t)v[1], (int32_t)v[2]),
                                       (int32_t)bpe->n_merges))
                    goto oom;
                bpe->merges[2 * bpe->n_merges] = (int32_t)v[1];
                bpe->merges[2 * bpe->n_merges + 1] = (int32_t)v[2];
                bpe->n_merges++;
            } else if (mmix__bpe_field_is(&line, 0, "special") ||
                       (version == 2 && mmix__bpe_field_is(&line, 0, "special-hex"))) {
                int64_t expected = 256 + n_merges + bpe->n_special;
                int role, hex = line.len[0] == 11;
                char hex_name[MMIX_BPE_NAME_MAX + 1];
                if (line.n != 4 || !mmix__bpe_field_int(&line, 1, &v[0])) goto syntax;
                if (hex) { /* the name's bytes in hex: 1 .. 64 of them, none NUL */
                    size_t k;
                    if (line.len[3] % 2 || line.len[3] == 0 || line.len[3] > 2 * MMIX_BPE_NAME_MAX) goto syntax;
                    for (k = 0; k < line.len[3] / 2; k++) {
                        int hi = mmix__hex_digit(line.field[3][2 * k]), lo = mmix__hex_digit(line.field[3][2 * k + 1]);
                        if (hi < 0 || lo < 0 || (hi | lo) == 0) goto syntax;
                        hex_name[k] = (char)(16 * hi + lo);
                    }
                    line.field[3] = hex_name;
                    line.len[3] /= 2;
                }
                if (version == 2) { /* its own id, any below vocab */
                    if (v[0] >= vocab) {
                        mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s' line %lld: '%s': special id %lld is "
                                       "not below vocab %lld", name, (long long)line_no, shown, (long long)v[0],
                                       (long long)vocab);
                        goto fail;
                    }
                    if (expected + 1 > id_capacity) {
                        void *q = mmix__grow(bpe->id_of, &id_capacity, expected + 1, sizeof(int32_t));
                        if (!q) goto oom;
                        bpe->id_of = (int32_t *)q;
                    }
                    bpe->id_of[expected] = (int32_t)v[0];
                    v[0] = expected;
                }
                if (bpe->n_merges != n_merges) {
                    mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s' line %lld: a special token after %lld "
                                   "of the %lld declared merges", name, (long long)line_no,
                                   (long long)bpe->n_merges, (long long)n_merges);
                    goto fail;
                }
                if (v[0] != expected || (version == 1 && expected >= vocab)) {
                    mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s' line %lld: '%s': special id %lld, "
                                   "expected %lld below vocab %lld", name, (long long)line_no, shown,
                                   (long long)v[0], (long long)expected, (long long)vocab);
                    goto fail;
                }
                for (role = 0; role < 3; role++)
                    if (mmix__bpe_field_is(&line, 2, mmix__bpe_role_names[role])) break;
                if (role == 3) {
                    mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s' line %lld: '%s': unknown role (eot, "
                                   "pad or other)", name, (long long)line_no, shown);
                    goto fail;
                }
                if (!hex && (bad = mmix__bpe_bad_name(line.field[3], line.len[3])) != NULL) {
                    mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s' line %lld: '%s': the name %s", name,
                                   (long long)line_no, shown, bad);
                    goto fail;
                }
                for (i = 0; i < bpe->n_special; i++) {
                    int same_name = strlen(bpe->special[i].name) == line.len[3] &&
                                    memcmp(bpe->special[i].name, line.field[3], line.len[3]) == 0;
                    if (same_name || (role != MMIX__BPE_ROLE_OTHER && bpe->special[i].role == role)) {
                        mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s' line %lld: '%s': a second special "
                                       "token with this %s", name, (long long)line_no, shown,
                                       same_name ? "name" : "role");
                        goto fail;
                    }
                }
                if (!mmix__bpe_add_special(bpe, line.field[3], line.len[3], role)) goto oom;
            } else if (version == 2 && mmix__bpe_field_is(&line, 0, "token")) {
                /* "token ID HEX": an id that no byte, merge or special makes, and its bytes */
                unsigned char *tb = NULL;
                size_t k, n = line.n == 3 ? line.len[2] / 2 : 0;
                int64_t e;
                if (line.n != 3 || !mmix__bpe_field_int(&line, 1, &v[0]) || v[0] >= vocab || line.len[2] % 2 || n == 0)
                    goto syntax;
                if (!(tb = (unsigned char *)MMIX_MALLOC(n))) goto oom;
                for (k = 0; k < n; k++) {
                    int hi = mmix__hex_digit(line.field[2][2 * k]), lo = mmix__hex_digit(line.field[2][2 * k + 1]);
                    if (hi < 0 || lo < 0) break;
                    tb[k] = (unsigned char)(16 * hi + lo);
                }
                e = k == n ? mmix__strtab_add(&bpe->extra, tb, n, mmix__hash_bytes(tb, n)) : -2;
                MMIX_FREE(tb);
                if (e == -2) goto syntax;
                if (e < 0) goto oom;
                bpe->extra.value[e] = v[0];
            } else if (mmix__bpe_field_is(&line, 0, "end") && line.n == 1) {
                if ((version == 1 && 256 + bpe->n_merges + bpe->n_special != vocab) || bpe->n_merges != n_merges) {
                    mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s' line %lld: 'end' after %lld merges and "
                                   "%lld special tokens, but the header says vocab %lld with %lld merges", name,
                                   (long long)line_no, (long long)bpe->n_merges, (long long)bpe->n_special,
                                   (long long)vocab, (long long)n_merges);
                    goto fail;
                }
                want = WANT_NOTHING;
            } else {
                goto syntax;
            }
            break;
        case WANT_NOTHING:
            mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s' line %lld: '%s' after 'end'", name,
                           (long long)line_no, shown);
            goto fail;
        }
    }
    if (line_no == 0 || want != WANT_NOTHING) {
        mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s': truncated after line %lld (no 'end' line%s)", name,
                       (long long)line_no, line_no == 0 ? "; the file is empty" : "");
        goto fail;
    }
    mmix__pairmap_free(&bpe->rank); /* rebuilt by finish */
    mmix__pairmap_free(&first_token);
    if (version == 2) bpe->vocab_size = vocab;
    if (mmix__bpe_finish(ctx, bpe, name) != MMIX_OK) goto fail;
    *out = bpe;
    return MMIX_OK;
syntax:
    {
        static const char *const expected[] = {"split gpt2-ascii", "vocab N", "merges N", "byte B ID",
                                               "merge ID A B, special ID ROLE NAME or end", "nothing"};
        mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe load '%s' line %lld: '%s': expected '%s'", name,
                       (long long)line_no, shown, expected[want]);
    }
    goto fail;
oom:
    mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bpe load '%s': out of memory", name);
fail:
    mmix__pairmap_free(&first_token);
    mmix_bpe_free(bpe);
    return mmix_last_result(ctx);
}

MMIXDEF mmix_result mmix_bpe_load(mmix_ctx *ctx, const char *path, mmix_bpe **out) {
    mmix_bpe_bytes text;
    mmix_result r;
    if (out) *out = NULL;
    memset(&text, 0, sizeof text);
    r = mmix__read_file(ctx, "bpe load", path, &text);
    if (r == MMIX_OK) r = mmix_bpe_load_memory(ctx, text.data, text.size, path, out);
    mmix_bpe_bytes_free(&text);
    return r;
}

/* ---- Import from a Hugging Face tokenizer.json (byte-level BPE) ----
   Byte-level BPE files spell each byte as one printable Unicode character (GPT-2's
   bytes_to_unicode: bytes 33-126, 161-172 and 174-255 stand for themselves, the other 68
   bytes for U+0100 onward, in byte order). We read model.type, model.vocab (token -> id),
   model.merges (as "A B" strings or ["A", "B"] pairs, in rank order), added_tokens, the
   normalizer and the pre_tokenizer (ByteLevel, or a Sequence of a Split with GPT-2's or
   Llama-3's regex and ByteLevel); decoder, post_processor, truncation and padding are
   skipped (the paper tokenizes with add_special_tokens=False, so no template applies).
   The file's ids are kept (id_of, section 6). Whatever the file asks for that we do not
   implement is MMIX_ERR_UNSUPPORTED naming it: a normalizer, another pre-tokenizer or
   model type, dropout, subword prefixes, byte fallback, added tokens with
   lstrip/rstrip/single_word. */
/* GPT-2's byte <-> character table: the code point that stands for each byte. */
static uint32_t mmix__bytelevel_char(int byte) {
    int k, extra = 0;
    if ((byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || (byte >= 174 && byte <= 255))
        return (uint32_t)byte;
    for (k = 0; k < byte; k++)
        if (!((k >= 33 && k <= 126) || (k >= 161 && k <= 172) || (k >= 174 && k <= 255))) extra++;
    return (uint32_t)(256 + extra);
}

#define MMIX__HF_MAX_ID (((int64_t)1 << 24) - 1) /* the largest id we take (Llama-3 has 128,256) */

typedef struct mmix__hf_import {
    mmix_bpe *bpe;
    mmix__strtab tokens;         /* token bytes -> token number, for the merges */
    mmix__strtab vocab;          /* model.vocab, decoded to bytes -> id */
    mmix__strtab raw_vocab;      /* model.vocab entries outside the byte alphabet -> id */
    int64_t *merge_entry;        /* merge i's result: its entry in tokens */
    int64_t merge_entry_capacity;
    int32_t *added_id;           /* special k's id */
    int64_t added_capacity;
    int32_t byte_of_char[512];   /* code point (< 512) -> byte, -1 if none */
    int64_t merge_capacity;
    mmix_bpe_bytes a, b, scratch, bytes, key;
    int have_bpe_type, have_pre_tokenizer, split, prefix_space;
    int error_set;               /* a result with its own message (not a JSON syntax error) */
} mmix__hf_import;

/* An error of the file's meaning (not its JSON): the message names the file. */
static mmix_result mmix__hf_error(mmix_ctx *ctx, mmix__hf_import *h, mmix_result code, const char *fmt, ...) {
    va_list args;
    char msg[400];
    va_start(args, fmt);
    vsnprintf(msg, sizeof msg, fmt, args);
    va_end(args);
    h->error_set = 1;
    return mmix_set_error(ctx, code, "%s", msg);
}

/* A byte-level token string (UTF-8) -> its bytes in h->bytes: 1, or 0 when a character
   is outside the byte alphabet, -1 when out of memory. */
static int mmix__hf_decode_bytelevel(mmix__hf_import *h, const mmix_bpe_bytes *tok) {
    size_t i = 0;
    h->bytes.size = 0;
    while (i < tok->size) {
        uint32_t cp;
        unsigned char c = tok->data[i], byte;
        if (c < 0x80) { cp = c; i++; }
        else if ((c & 0xE0) == 0xC0 && i + 1 < tok->size) { cp = ((uint32_t)(c & 31) << 6) | (tok->data[i + 1] & 63); i += 2; }
        else return 0;
        if (cp >= 512 || h->byte_of_char[cp] < 0) return 0;
        byte = (unsigned char)h->byte_of_char[cp];
        if (!mmix__bytes_append(&h->bytes, &byte, 1)) return -1;
    }
    return h->bytes.size > 0;
}

/* A byte-level token string -> its token number; -1 unknown, -2 not byte-level, -3 out of memory. */
static int64_t mmix__hf_token_id(mmix__hf_import *h, const mmix_bpe_bytes *tok) {
    int d = mmix__hf_decode_bytelevel(h, tok);
    int64_t e;
    if (d <= 0) return d < 0 ? -3 : -2;
    e = mmix__strtab_find(&h->tokens, h->bytes.data, h->bytes.size, mmix__hash_bytes(h->bytes.data, h->bytes.size));
    return e >= 0 ? h->tokens.value[e] : -1;
}

/* One merge "A B": both tokens must exist; the result is the next token number. */
static mmix_result mmix__hf_add_merge(mmix_ctx *ctx, mmix__hf_import *h, const char *name) {
    mmix_bpe *bpe = h->bpe;
    int64_t ida, idb, e;
    int32_t new_id;
    if (256 + bpe->n_merges + 1 > (int64_t)MMIX_BPE_MAX_VOCAB)
        return mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe import '%s': more than %lld merges (MMIX_BPE_MAX_VOCAB)",
                              name, (long long)MMIX_BPE_MAX_VOCAB - 256);
    new_id = (int32_t)(256 + bpe->n_merges);
    ida = mmix__hf_token_id(h, &h->a);
    idb = ida >= 0 ? mmix__hf_token_id(h, &h->b) : ida;
    if (ida == -3 || idb == -3) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bpe import '%s': out of memory", name);
    if (ida < 0 || idb < 0) {
        const mmix_bpe_bytes *bad = ida < 0 ? &h->a : &h->b;
        return mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe import '%s': merge %lld: token '%.40s' is %s", name,
                              (long long)bpe->n_merges, (const char *)bad->data,
                              (ida < 0 ? ida : idb) == -2 ? "not byte-level (not GPT-2's byte alphabet): only "
                                                            "byte-level BPE files can be imported"
                                                          : "neither a byte nor made by an earlier merge");
    }
    if (mmix__pairmap_get(&bpe->rank, mmix__pair_key((int32_t)ida, (int32_t)idb)) >= 0)
        return mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe import '%s': merge %lld: duplicate merge '%s %s'", name,
                              (long long)bpe->n_merges, (const char *)h->a.data, (const char *)h->b.data);
    if (2 * (bpe->n_merges + 1) > h->merge_capacity) {
        void *p = mmix__grow(bpe->merges, &h->merge_capacity, 2 * (bpe->n_merges + 1), sizeof(int32_t));
        if (!p) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bpe import '%s': out of memory", name);
        bpe->merges = (int32_t *)p;
    }
    if (bpe->n_merges + 1 > h->merge_entry_capacity) {
        void *p = mmix__grow(h->merge_entry, &h->merge_entry_capacity, bpe->n_merges + 1, sizeof(int64_t));
        if (!p) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bpe import '%s': out of memory", name);
        h->merge_entry = (int64_t *)p;
    }
    if (!mmix__pairmap_put(&bpe->rank, mmix__pair_key((int32_t)ida, (int32_t)idb), (int32_t)bpe->n_merges))
        return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bpe import '%s': out of memory", name);
    bpe->merges[2 * bpe->n_merges] = (int32_t)ida;
    bpe->merges[2 * bpe->n_merges + 1] = (int32_t)idb;
    /* The new token's bytes: a's then b's. */
    {
        size_t la = (size_t)(h->tokens.start[ida + 1] - h->tokens.start[ida]);
        size_t lb = (size_t)(h->tokens.start[idb + 1] - h->tokens.start[idb]);
        h->scratch.size = 0;
        if (!mmix__bytes_append(&h->scratch, h->tokens.pool + h->tokens.start[ida], la) ||
            !mmix__bytes_append(&h->scratch, h->tokens.pool + h->tokens.start[idb], lb))
            return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bpe import '%s': out of memory", name);
    }
    e = mmix__strtab_find(&h->tokens, h->scratch.data, h->scratch.size, mmix__hash_bytes(h->scratch.data, h->scratch.size));
    if (e < 0) { /* the same bytes made twice keep their first token number */
        e = mmix__strtab_add(&h->tokens, h->scratch.data, h->scratch.size,
                             mmix__hash_bytes(h->scratch.data, h->scratch.size));
        if (e < 0) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bpe import '%s': out of memory", name);
        h->tokens.value[e] = new_id;
    }
    h->merge_entry[bpe->n_merges++] = e;
    return MMIX_OK;
}

/* true, false or null (null reads as false): 1, 0, or -1 after a JSON error. */
static int mmix__hf_bool(mmix__json *j, const char *what) {
    static const char *const words[] = {"true", "false", "null"};
    int k;
    char found[32];
    mmix__json_peek(j);
    for (k = 0; k < 3; k++) {
        size_t len = strlen(words[k]);
        if (j->n - j->i >= len && memcmp(j->s + j->i, words[k], len) == 0) {
            j->i += len;
            return k == 0;
        }
    }
    mmix__json_fail(j, MMIX_ERR_FORMAT, j->i, "expected %s (true or false), found %s", what,
                    mmix__json_found(j, found, sizeof found));
    return -1;
}
/* null: 1 (read), else 0 (nothing read). */
static int mmix__hf_null(mmix__json *j) {
    if (mmix__json_peek(j) == 'n' && j->n - j->i >= 4 && memcmp(j->s + j->i, "null", 4) == 0) {
        j->i += 4;
        return 1;
    }
    return 0;
}

/* "vocab": {"token": id, ...}: byte-level entries into h->vocab, others into h->raw_vocab. */
static mmix_result mmix__hf_read_vocab(mmix_ctx *ctx, mmix__hf_import *h, mmix__json *j, const char *name) {
    int members = 0, more, d;
    uint64_t id;
    if (!mmix__json_expect(j, '{', "(model.vocab is an object)")) return MMIX_ERR_FORMAT;
    while ((more = mmix__json_next(j, '}', &members, "or '}' in model.vocab")) > 0) {
        mmix__strtab *t;
        int64_t e;
        if (!mmix__json_string(j, "a token of model.vocab", &h->a) || !mmix__json_expect(j, ':', "after a token") ||
            !mmix__json_uint(j, (uint64_t)MMIX__HF_MAX_ID, &id, "a token's id in model.vocab"))
            return MMIX_ERR_FORMAT;
        if (h->a.size == 0) return mmix__hf_error(ctx, h, MMIX_ERR_FORMAT, "bpe import '%s': model.vocab has an empty token", name);
        if ((d = mmix__hf_decode_bytelevel(h, &h->a)) < 0) goto oom;
        t = d ? &h->vocab : &h->raw_vocab;
        {
            const unsigned char *p = d ? h->bytes.data : h->a.data;
            size_t n = d ? h->bytes.size : h->a.size;
            if (mmix__strtab_find(t, p, n, mmix__hash_bytes(p, n)) >= 0)
                return mmix__hf_error(ctx, h, MMIX_ERR_FORMAT, "bpe import '%s': model.vocab lists '%.40s' twice", name,
                                      (const char *)h->a.data);
            if ((e = mmix__strtab_add(t, p, n, mmix__hash_bytes(p, n))) < 0) goto oom;
            t->value[e] = (int64_t)id;
        }
    }
    return more < 0 ? MMIX_ERR_FORMAT : MMIX_OK;
oom:
    return mmix__hf_error(ctx, h, MMIX_ERR_OUT_OF_MEMORY, "bpe import '%s': out of memory", name);
}

/* "model": {"type": "BPE", "vocab": {...}, "merges": [...], ...}. MMIX_ERR_FORMAT
   without h->error_set is a JSON error, described in *j and reported by the caller. */
static mmix_result mmix__hf_read_model(mmix_ctx *ctx, mmix__hf_import *h, mmix__json *j, const char *name) {
    int members = 0, merges, more, more_merges, v;
    mmix_result r;
    if (!mmix__json_expect(j, '{', "(model is an object)")) return MMIX_ERR_FORMAT;
    while ((more = mmix__json_next(j, '}', &members, "or '}' in model")) > 0) {
        const char *k;
        if (!mmix__json_string(j, "a key of model", &h->key) || !mmix__json_expect(j, ':', "after a key"))
            return MMIX_ERR_FORMAT;
        k = (const char *)h->key.data;
        if (strcmp(k, "type") == 0) {
            if (!mmix__json_string(j, "model.type", &h->key)) return MMIX_ERR_FORMAT;
            if (strcmp((const char *)h->key.data, "BPE") != 0)
                return mmix__hf_error(ctx, h, MMIX_ERR_UNSUPPORTED, "bpe import '%s': model type '%.40s' is not "
                                      "supported: only 'BPE' can be imported", name, (const char *)h->key.data);
            h->have_bpe_type = 1;
        } else if (strcmp(k, "vocab") == 0) {
            if ((r = mmix__hf_read_vocab(ctx, h, j, name)) != MMIX_OK) return r;
        } else if (strcmp(k, "dropout") == 0 || strcmp(k, "continuing_subword_prefix") == 0 ||
                   strcmp(k, "end_of_word_suffix") == 0) {
            /* null (or an empty prefix) is the plain BPE we implement */
            char what[40];
            snprintf(what, sizeof what, "model.%s", k);
            if (mmix__hf_null(j)) continue;
            if (k[0] != 'd' && mmix__json_peek(j) == '"') {
                if (!mmix__json_string(j, what, &h->scratch)) return MMIX_ERR_FORMAT;
                if (h->scratch.size == 0) continue;
            }
            return mmix__hf_error(ctx, h, MMIX_ERR_UNSUPPORTED, "bpe import '%s': %s is set: not supported "
                                  "(only null%s)", name, what, k[0] == 'd' ? "" : " or \"\"");
        } else if (strcmp(k, "ignore_merges") == 0) { /* Llama-3: a word that is a token stays whole */
            if ((v = mmix__hf_bool(j, "model.ignore_merges")) < 0) return MMIX_ERR_FORMAT;
            h->bpe->ignore_merges = v;
        } else if (strcmp(k, "byte_fallback") == 0) {
            if ((v = mmix__hf_bool(j, "model.byte_fallback")) < 0) return MMIX_ERR_FORMAT;
            if (v) return mmix__hf_error(ctx, h, MMIX_ERR_UNSUPPORTED, "bpe import '%s': model.byte_fallback is "
                                         "true: not supported", name);
        } else if (strcmp(k, "merges") == 0) {
            if (!mmix__json_expect(j, '[', "(merges is an array)")) return MMIX_ERR_FORMAT;
            merges = 0;
            while ((more_merges = mmix__json_next(j, ']', &merges, "or ']' in merges")) > 0) {
                if (mmix__json_eat(j, '[')) { /* ["A", "B"] */
                    if (!mmix__json_string(j, "a merge's first token", &h->a) ||
                        !mmix__json_expect(j, ',', "(a merge is a pair of tokens)") ||
                        !mmix__json_string(j, "a merge's second token", &h->b) ||
                        !mmix__json_expect(j, ']', "(a merge is a pair of tokens)"))
                        return MMIX_ERR_FORMAT;
                } else { /* "A B" */
                    const unsigned char *sp;
                    if (!mmix__json_string(j, "a merge", &h->scratch)) return MMIX_ERR_FORMAT;
                    sp = (const unsigned char *)memchr(h->scratch.data, ' ', h->scratch.size);
                    if (!sp || memchr(sp + 1, ' ', h->scratch.size - (size_t)(sp + 1 - h->scratch.data)))
                        return mmix__hf_error(ctx, h, MMIX_ERR_FORMAT, "bpe import '%s': merge %lld: '%.40s' is not "
                                              "two tokens split by one space", name, (long long)h->bpe->n_merges,
                                              (const char *)h->scratch.data);
                    h->a.size = h->b.size = 0;
                    if (!mmix__bytes_append(&h->a, h->scratch.data, (size_t)(sp - h->scratch.data)) ||
                        !mmix__bytes_append(&h->a, "", 0) ||
                        !mmix__bytes_append(&h->b, sp + 1, h->scratch.size - (size_t)(sp + 1 - h->scratch.data)) ||
                        !mmix__bytes_append(&h->b, "", 0))
                        return mmix__hf_error(ctx, h, MMIX_ERR_OUT_OF_MEMORY, "bpe import '%s': out of memory", name);
                }
                if ((r = mmix__hf_add_merge(ctx, h, name)) != MMIX_OK) {
                    h->error_set = 1;
                    return r;
                }
            }
            if (more_merges < 0) return MMIX_ERR_FORMAT;
        } else if (!mmix__json_skip(j)) { /* unk_token, fuse_unk: no unknown byte in byte-level BPE */
            return MMIX_ERR_FORMAT;
        }
    }
    return more < 0 ? MMIX_ERR_FORMAT : MMIX_OK;
}

/* "added_tokens": [{"id": 0, "content": "<|endoftext|>", "special": true, ...}, ...]: our
   special tokens, in the same order, with their ids and contents. */
static mmix_result mmix__hf_read_added(mmix_ctx *ctx, mmix__hf_import *h, mmix__json *j, const char *name) {
    int tokens = 0, more, k, v;
    if (!mmix__json_expect(j, '[', "(added_tokens is an array)")) return MMIX_ERR_FORMAT;
    while ((more = mmix__json_next(j, ']', &tokens, "or ']' in added_tokens")) > 0) {
        int members = 0, more_members, role = MMIX__BPE_ROLE_OTHER;
        int64_t id = -1;
        const char *nm;
        if (!mmix__json_expect(j, '{', "(an added token is an object)")) return MMIX_ERR_FORMAT;
        h->b.size = 0;
        if (!mmix__bytes_append(&h->b, "", 0))
            return mmix__hf_error(ctx, h, MMIX_ERR_OUT_OF_MEMORY, "bpe import '%s': out of memory", name);
        while ((more_members = mmix__json_next(j, '}', &members, "or '}' in an added token")) > 0) {
            const char *key;
            if (!mmix__json_string(j, "a key of an added token", &h->key) || !mmix__json_expect(j, ':', "after a key"))
                return MMIX_ERR_FORMAT;
            key = (const char *)h->key.data;
            if (strcmp(key, "content") == 0) {
                if (!mmix__json_string(j, "an added token's content", &h->b)) return MMIX_ERR_FORMAT;
            } else if (strcmp(key, "id") == 0) {
                uint64_t u;
                if (!mmix__json_uint(j, (uint64_t)MMIX__HF_MAX_ID, &u, "an added token's id")) return MMIX_ERR_FORMAT;
                id = (int64_t)u;
            } else if (strcmp(key, "lstrip") == 0 || strcmp(key, "rstrip") == 0 || strcmp(key, "single_word") == 0) {
                char what[40];
                snprintf(what, sizeof what, "an added token's %s", key);
                if ((v = mmix__hf_bool(j, what)) < 0) return MMIX_ERR_FORMAT;
                if (v) return mmix__hf_error(ctx, h, MMIX_ERR_UNSUPPORTED, "bpe import '%s': added token %lld: %s "
                                             "is true: not supported", name, (long long)tokens - 1, key);
            } else if (!mmix__json_skip(j)) { /* special, normalized: no normalizer here */
                return MMIX_ERR_FORMAT;
            }
        }
        if (more_members < 0) return MMIX_ERR_FORMAT;
        nm = (const char *)h->b.data;
        if (id < 0 || h->b.size == 0 || h->b.size > MMIX_BPE_NAME_MAX || memchr(nm, '\0', h->b.size))
            return mmix__hf_error(ctx, h, MMIX_ERR_UNSUPPORTED, "bpe import '%s': added token %d ('%.40s'): %s", name,
                                  tokens - 1, nm, id < 0 ? "no \"id\"" : h->b.size == 0 ? "empty content"
                                  : h->b.size > MMIX_BPE_NAME_MAX ? "content longer than 64 bytes" : "a NUL byte");
        for (k = 0; k < h->bpe->n_special; k++)
            if (strcmp(h->bpe->special[k].name, nm) == 0) break;
        if (k < h->bpe->n_special) continue; /* listed twice */
        if (strcmp(nm, "<|endoftext|>") == 0 || strcmp(nm, "<|end_of_text|>") == 0 || strcmp(nm, "</s>") == 0)
            role = MMIX__BPE_ROLE_EOT;
        if (strcmp(nm, "<|pad|>") == 0 || strcmp(nm, "<pad>") == 0) role = MMIX__BPE_ROLE_PAD;
        for (k = 0; k < h->bpe->n_special; k++) /* the first of a role keeps it */
            if (role != MMIX__BPE_ROLE_OTHER && h->bpe->special[k].role == role) role = MMIX__BPE_ROLE_OTHER;
        if (h->bpe->n_special + 1 > h->added_capacity) {
            void *p = mmix__grow(h->added_id, &h->added_capacity, h->bpe->n_special + 1, sizeof(int32_t));
            if (!p) return mmix__hf_error(ctx, h, MMIX_ERR_OUT_OF_MEMORY, "bpe import '%s': out of memory", name);
            h->added_id = (int32_t *)p;
        }
        h->added_id[h->bpe->n_special] = (int32_t)id;
        if (!mmix__bpe_add_special(h->bpe, nm, h->b.size, role))
            return mmix__hf_error(ctx, h, MMIX_ERR_OUT_OF_MEMORY, "bpe import '%s': out of memory", name);
    }
    return more < 0 ? MMIX_ERR_FORMAT : MMIX_OK;
}

/* The "type" of an object (the rest skipped), into h->scratch; for the messages about a
   normalizer or pre-tokenizer we do not implement. */
static int mmix__hf_object_type(mmix__hf_import *h, mmix__json *j) {
    int members = 0, more;
    h->scratch.size = 0;
    if (!mmix__bytes_append(&h->scratch, "?", 2)) return mmix__json_oom(j);
    if (!mmix__json_expect(j, '{', "(an object)")) return 0;
    while ((more = mmix__json_next(j, '}', &members, "or '}' in an object")) > 0) {
        if (!mmix__json_string(j, "a key", &h->key) || !mmix__json_expect(j, ':', "after a key")) return 0;
        if (strcmp((const char *)h->key.data, "type") == 0) {
            if (!mmix__json_string(j, "a type", &h->scratch)) return 0;
        } else if (!mmix__json_skip(j)) {
            return 0;
        }
    }
    return more == 0;
}

/* The regexes of the Split pre-tokenizers we implement, as tokenizer.json spells them. */
static const char mmix__hf_regex_gpt2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char mmix__hf_regex_llama3[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                                            "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* One pre-tokenizer object, as far as we read it. */
typedef struct mmix__hf_pretok {
    char type[32], behavior[32], regex[256];
    int add_prefix_space, use_regex, invert;
} mmix__hf_pretok;

#define MMIX__HF_MAX_SEQUENCE 4
/* Reads {"type": ..., ...}; a Sequence's "pretokenizers" go to seq[0..*n_seq) (one level). */
static mmix_result mmix__hf_read_pretok(mmix_ctx *ctx, mmix__hf_import *h, mmix__json *j, const char *name,
                                        mmix__hf_pretok *p, mmix__hf_pretok *seq, int *n_seq) {
    int members = 0, more, v;
    memset(p, 0, sizeof *p);
    p->use_regex = 1;
    if (!mmix__json_expect(j, '{', "(a pre-tokenizer is an object)")) return MMIX_ERR_FORMAT;
    while ((more = mmix__json_next(j, '}', &members, "or '}' in a pre-tokenizer")) > 0) {
        const char *k;
        if (!mmix__json_string(j, "a key of a pre-tokenizer", &h->key) || !mmix__json_expect(j, ':', "after a key"))
            return MMIX_ERR_FORMAT;
        k = (const char *)h->key.data;
        if (strcmp(k, "type") == 0 || strcmp(k, "behavior") == 0) {
            char *dst = k[0] == 't' ? p->type : p->behavior;
            if (!mmix__json_string(j, "a pre-tokenizer's type or behavior", &h->scratch)) return MMIX_ERR_FORMAT;
            snprintf(dst, sizeof p->type, "%s", (const char *)h->scratch.data);
        } else if (strcmp(k, "add_prefix_space") == 0 || strcmp(k, "use_regex") == 0 || strcmp(k, "invert") == 0) {
            if ((v = mmix__hf_bool(j, "a pre-tokenizer flag")) < 0) return MMIX_ERR_FORMAT;
            if (k[0] == 'a') p->add_prefix_space = v; else if (k[0] == 'u') p->use_regex = v; else p->invert = v;
        } else if (strcmp(k, "pattern") == 0) { /* {"Regex": "..."} or {"String": "..."} */
            int pm = 0, pmore;
            if (!mmix__json_expect(j, '{', "(a Split's pattern is an object)")) return MMIX_ERR_FORMAT;
            while ((pmore = mmix__json_next(j, '}', &pm, "or '}' in a pattern")) > 0) {
                int is_regex;
                if (!mmix__json_string(j, "a key of a pattern", &h->key) || !mmix__json_expect(j, ':', "after a key"))
                    return MMIX_ERR_FORMAT;
                is_regex = strcmp((const char *)h->key.data, "Regex") == 0;
                if (!mmix__json_string(j, "a pattern", &h->scratch)) return MMIX_ERR_FORMAT;
                snprintf(p->regex, sizeof p->regex, "%s%s", is_regex ? "" : "string:", (const char *)h->scratch.data);
            }
            if (pmore < 0) return MMIX_ERR_FORMAT;
        } else if (strcmp(k, "pretokenizers") == 0 && seq) {
            int sm = 0, smore;
            mmix_result r;
            if (!mmix__json_expect(j, '[', "(pretokenizers is an array)")) return MMIX_ERR_FORMAT;
            while ((smore = mmix__json_next(j, ']', &sm, "or ']' in pretokenizers")) > 0) {
                if (*n_seq == MMIX__HF_MAX_SEQUENCE)
                    return mmix__hf_error(ctx, h, MMIX_ERR_UNSUPPORTED, "bpe import '%s': a pre-tokenizer Sequence of "
                                          "more than %d is not supported", name, MMIX__HF_MAX_SEQUENCE);
                if ((r = mmix__hf_read_pretok(ctx, h, j, name, &seq[*n_seq], NULL, NULL)) != MMIX_OK) return r;
                (*n_seq)++;
            }
            if (smore < 0) return MMIX_ERR_FORMAT;
        } else if (!mmix__json_skip(j)) { /* trim_offsets: offsets only */
            return MMIX_ERR_FORMAT;
        }
    }
    return more < 0 ? MMIX_ERR_FORMAT : MMIX_OK;
}

/* "pre_tokenizer": ByteLevel with its regex (GPT-2's pattern), or a Sequence of a Split
   with GPT-2's or Llama-3's regex (behavior Isolated) and ByteLevel without one. */
static mmix_result mmix__hf_read_pre_tokenizer(mmix_ctx *ctx, mmix__hf_import *h, mmix__json *j, const char *name) {
    mmix__hf_pretok top, seq[MMIX__HF_MAX_SEQUENCE];
    int n_seq = 0;
    mmix_result r;
    if (mmix__hf_null(j))
        return mmix__hf_error(ctx, h, MMIX_ERR_UNSUPPORTED, "bpe import '%s': pre_tokenizer is null: only ByteLevel "
                              "is supported", name);
    if ((r = mmix__hf_read_pretok(ctx, h, j, name, &top, seq, &n_seq)) != MMIX_OK) return r;
    if (strcmp(top.type, "ByteLevel") == 0) {
        if (!top.use_regex)
            return mmix__hf_error(ctx, h, MMIX_ERR_UNSUPPORTED, "bpe import '%s': pre-tokenizer ByteLevel without its "
                                  "regex (use_regex false) is not supported", name);
        h->split = MMIX__BPE_SPLIT_GPT2;
        h->prefix_space = top.add_prefix_space;
    } else if (strcmp(top.type, "Sequence") == 0 && n_seq == 2 && strcmp(seq[0].type, "Split") == 0 &&
               strcmp(seq[1].type, "ByteLevel") == 0 && !seq[1].use_regex) {
        if (strcmp(seq[0].behavior, "Isolated") != 0 || seq[0].invert ||
            (strcmp(seq[0].regex, mmix__hf_regex_llama3) != 0 && strcmp(seq[0].regex, mmix__hf_regex_gpt2) != 0))
            return mmix__hf_error(ctx, h, MMIX_ERR_UNSUPPORTED, "bpe import '%s': pre-tokenizer Split with pattern "
                                  "'%.60s', behavior '%s'%s is not supported (only GPT-2's and Llama-3's regex, "
                                  "Isolated)", name, seq[0].regex, seq[0].behavior, seq[0].invert ? ", inverted" : "");
        h->split = strcmp(seq[0].regex, mmix__hf_regex_llama3) == 0 ? MMIX__BPE_SPLIT_LLAMA3 : MMIX__BPE_SPLIT_GPT2;
        h->prefix_space = seq[1].add_prefix_space;
    } else {
        char types[160];
        int k;
        snprintf(types, sizeof types, "%.31s", top.type[0] ? top.type : "(no type)");
        for (k = 0; k < n_seq; k++) /* at most 4 of at most 33 bytes each: it fits */
            snprintf(types + strlen(types), sizeof types - strlen(types), "%s%.31s", k ? ", " : " of ", seq[k].type);
        return mmix__hf_error(ctx, h, MMIX_ERR_UNSUPPORTED, "bpe import '%s': pre-tokenizer '%s' is not supported "
                              "(only ByteLevel, or a Sequence of Split and ByteLevel)", name, types);
    }
    h->have_pre_tokenizer = 1;
    return MMIX_OK;
}

/* After the whole file: every token's id from model.vocab, the vocabulary's other entries
   as extra tokens, the id map. */
static mmix_result mmix__hf_resolve_ids(mmix_ctx *ctx, mmix__hf_import *h, const char *name) {
    mmix_bpe *bpe = h->bpe;
    int64_t n_tokens = 256 + bpe->n_merges + bpe->n_special, t, e, k, max_id = -1;
    unsigned char *taken = NULL;
    mmix_result r = MMIX_OK;
    bpe->id_of = (int32_t *)MMIX_MALLOC((size_t)n_tokens * sizeof(int32_t));
    if (!bpe->id_of) goto oom;
    for (t = 0; t < n_tokens; t++) {
        const unsigned char *p;
        size_t n;
        unsigned char byte = (unsigned char)t;
        if (t >= 256 + bpe->n_merges) { bpe->id_of[t] = h->added_id[t - 256 - bpe->n_merges]; continue; }
        if (t < 256) { p = &byte; n = 1; }
        else { e = h->merge_entry[t - 256]; p = h->tokens.pool + h->tokens.start[e]; n = (size_t)(h->tokens.start[e + 1] - h->tokens.start[e]); }
        e = mmix__strtab_find(&h->vocab, p, n, mmix__hash_bytes(p, n));
        if (e < 0) {
            if (t < 256)
                r = mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe import '%s': byte 0x%02x (the character U+%04X) is not "
                                   "in model.vocab: a byte-level vocabulary has all 256", name, (unsigned)t,
                                   (unsigned)mmix__bytelevel_char((int)t));
            else
                r = mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe import '%s': merge %lld makes a token that is not in "
                                   "model.vocab", name, (long long)(t - 256));
            goto fail;
        }
        bpe->id_of[t] = (int32_t)h->vocab.value[e];
    }
    for (t = 0; t < n_tokens; t++) if (bpe->id_of[t] > max_id) max_id = bpe->id_of[t];
    for (e = 0; e < h->vocab.count; e++) if (h->vocab.value[e] > max_id) max_id = h->vocab.value[e];
    for (e = 0; e < h->raw_vocab.count; e++) if (h->raw_vocab.value[e] > max_id) max_id = h->raw_vocab.value[e];
    bpe->vocab_size = max_id + 1;
    taken = (unsigned char *)MMIX_MALLOC((size_t)bpe->vocab_size);
    if (!taken) goto oom;
    memset(taken, 0, (size_t)bpe->vocab_size);
    for (t = 0; t < n_tokens; t++) taken[bpe->id_of[t]] = 1;
    /* vocabulary entries no byte, merge or added token makes: kept so their ids decode */
    for (e = 0; e < h->vocab.count; e++) {
        int64_t id = h->vocab.value[e], x;
        const unsigned char *p = h->vocab.pool + h->vocab.start[e];
        size_t n = (size_t)(h->vocab.start[e + 1] - h->vocab.start[e]);
        if (taken[id]) continue;
        taken[id] = 1;
        if ((x = mmix__strtab_add(&bpe->extra, p, n, mmix__hash_bytes(p, n))) < 0) goto oom;
        bpe->extra.value[x] = id;
    }
    /* an entry outside the byte alphabet must be an added token's (GPT-2's <|endoftext|>
       is in both lists in some files) */
    for (e = 0; e < h->raw_vocab.count; e++) {
        int64_t id = h->raw_vocab.value[e];
        const char *p = (const char *)h->raw_vocab.pool + h->raw_vocab.start[e];
        size_t n = (size_t)(h->raw_vocab.start[e + 1] - h->raw_vocab.start[e]);
        for (k = 0; k < bpe->n_special; k++)
            if (h->added_id[k] == id && strlen(bpe->special[k].name) == n && memcmp(bpe->special[k].name, p, n) == 0)
                break;
        if (k == bpe->n_special) {
            r = mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe import '%s': model.vocab token '%.*s' (id %lld) is not "
                               "byte-level (not GPT-2's byte alphabet) and not an added token", name,
                               (int)(n < 40 ? n : 40), p, (long long)id);
            goto fail;
        }
    }
    bpe->split = h->split;
    bpe->prefix_space = h->prefix_space;
    MMIX_FREE(taken);
    return MMIX_OK;
oom:
    r = mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bpe import '%s': out of memory", name);
fail:
    MMIX_FREE(taken);
    return r;
}

MMIXDEF mmix_result mmix_bpe_import_hf_memory(mmix_ctx *ctx, const void *json, size_t size,
                                              const char *name, mmix_bpe **out) {
    mmix__hf_import h;
    mmix__json j;
    mmix_bpe_bytes key;
    mmix_result r = MMIX_OK;
    int64_t i;
    int b, members = 0, more;
    if (!name) name = "(memory)";
    if (!out) return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "bpe import '%s': out is NULL", name);
    *out = NULL;
    memset(&h, 0, sizeof h);
    memset(&key, 0, sizeof key);
    mmix__json_init(&j, json, size, "the end of the file");
    j.raw_bytes = 1; /* as this import always was: a string's bytes are not checked as UTF-8 */
    h.bpe = mmix__bpe_new();
    if (!h.bpe || !mmix__pairmap_alloc(&h.bpe->rank, 1024)) goto oom;
    for (i = 0; i < 512; i++) h.byte_of_char[i] = -1;
    for (b = 0; b < 256; b++) {
        unsigned char byte = (unsigned char)b;
        int64_t e = mmix__strtab_add(&h.tokens, &byte, 1, mmix__hash_bytes(&byte, 1));
        if (e < 0) goto oom;
        h.tokens.value[e] = b;
        h.byte_of_char[mmix__bytelevel_char(b)] = b;
    }
    /* { "model": {...}, "added_tokens": [...], "normalizer": null, "pre_tokenizer": {...}, ... } */
    if (!mmix__json_expect(&j, '{', "(tokenizer.json is an object)")) goto syntax;
    while ((more = mmix__json_next(&j, '}', &members, "or '}' in the top-level object")) > 0) {
        const char *k;
        if (!mmix__json_string(&j, "a top-level key", &key) || !mmix__json_expect(&j, ':', "after a key")) goto syntax;
        k = (const char *)key.data;
        if (strcmp(k, "model") == 0) r = mmix__hf_read_model(ctx, &h, &j, name);
        else if (strcmp(k, "added_tokens") == 0) r = mmix__hf_read_added(ctx, &h, &j, name);
        else if (strcmp(k, "pre_tokenizer") == 0) r = mmix__hf_read_pre_tokenizer(ctx, &h, &j, name);
        else if (strcmp(k, "normalizer") == 0) {
            if (!mmix__hf_null(&j)) {
                if (!mmix__hf_object_type(&h, &j)) goto syntax;
                r = mmix__hf_error(ctx, &h, MMIX_ERR_UNSUPPORTED, "bpe import '%s': normalizer '%.40s' is not "
                                   "supported (only null)", name, (const char *)h.scratch.data);
            }
        } else if (!mmix__json_skip(&j)) goto syntax;
        if (r == MMIX_ERR_FORMAT && !h.error_set) goto syntax;
        if (r != MMIX_OK) goto fail;
    }
    if (more < 0) goto syntax;
    if (mmix__json_peek(&j) >= 0) {
        char found[32];
        mmix__json_fail(&j, MMIX_ERR_FORMAT, j.i, "%s after the top-level object", mmix__json_found(&j, found, sizeof found));
        goto syntax;
    }
    if (!h.have_bpe_type) {
        r = mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe import '%s': no \"model\": {\"type\": \"BPE\"} found", name);
        goto fail;
    }
    if (!h.have_pre_tokenizer) {
        r = mmix_set_error(ctx, MMIX_ERR_UNSUPPORTED, "bpe import '%s': no pre_tokenizer: only ByteLevel is supported",
                           name);
        goto fail;
    }
    if ((r = mmix__hf_resolve_ids(ctx, &h, name)) != MMIX_OK) goto fail;
    mmix__pairmap_free(&h.bpe->rank);
    if ((r = mmix__bpe_finish(ctx, h.bpe, name)) != MMIX_OK) goto fail;
    *out = h.bpe;
    h.bpe = NULL;
    goto done;
syntax:
    if (j.code == MMIX_ERR_OUT_OF_MEMORY) goto oom;
    r = mmix_set_error(ctx, MMIX_ERR_FORMAT, "bpe import '%s': not valid JSON (or not a tokenizer.json) near byte "
                       "%llu: %s", name, (unsigned long long)j.err_at, j.err);
    goto fail;
oom:
    r = mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bpe import '%s': out of memory", name);
fail:
done:
    mmix_bpe_free(h.bpe);
    mmix__strtab_free(&h.tokens);
    mmix__strtab_free(&h.vocab);
    mmix__strtab_free(&h.raw_vocab);
    MMIX_FREE(h.merge_entry);
    MMIX_FREE(h.added_id);
    mmix_bpe_bytes_free(&h.a);
    mmix_bpe_bytes_free(&h.b);
    mmix_bpe_bytes_free(&h.scratch);
    mmix_bpe_bytes_free(&h.bytes);
    mmix_bpe_bytes_free(&h.key);
    mmix_bpe_bytes_free(&key);
    return r;
}

MMIXDEF mmix_result mmix_bpe_import_hf(mmix_ctx *ctx, const char *path, mmix_bpe **out) {
    mmix_bpe_bytes text;
    mmix_result r;
    if (out) *out = NULL;
    memset(&text, 0, sizeof text);
    r = mmix__read_file(ctx, "bpe import", path, &text);
    if (r == MMIX_OK) r = mmix_bpe_import_hf_memory(ctx, text.data, text.size, path, out);
    mmix_bpe_bytes_free(&text);
    return r;
}

// ----------------------------------------------------------------------------------------
// >>data  Text datasets (reference-notes Sec. 11): documents, tokenized rows, the split, the cache.
// The text is read whole into memory and validated as UTF-8 first, so the splitters below
// work on checked bytes and only report structure errors.
// ----------------------------------------------------------------------------------------
#define MMIX__DATA_MAX_CTX ((int64_t)1 << 30)
#define MMIX__DATA_HEADER 168
static const char mmix__data_eot_text[] = "<|endoftext|>";
static const char mmix__data_oom[] = "out of memory";    /* told apart from format errors by address */

MMIXDEF mmix_data_options mmix_data_options_default(void) {
    mmix_data_options o;
    o.format = MMIX_TEXT_BLANK_LINES;
    o.jsonl_field = "text";
    o.rows = MMIX_ROWS_PACKED;
    o.pad_left = 0;
    o.n_ctx = 512;
    o.val_fraction = 0.01;
    o.split_seed = 0;
    return o;
}

static mmix_result mmix__data_check_options(mmix_ctx *ctx, const mmix_data_options *o) {
    if (!o) return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "data: options are NULL");
    if ((int)o->format < 0 || o->format > MMIX_TEXT_JSONL || (int)o->rows < 0 || o->rows > MMIX_ROWS_PADDED)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "data: unknown text format or row mode");
    if (o->format == MMIX_TEXT_JSONL && (!o->jsonl_field || !o->jsonl_field[0]))
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "data: JSONL needs a field name");
    if (o->n_ctx < 1 || o->n_ctx > MMIX__DATA_MAX_CTX)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "data: n_ctx %lld is outside [1, 2^30]",
                              (long long)o->n_ctx);
    if (!(o->val_fraction >= 0.0 && o->val_fraction <= 1.0))
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "data: val_fraction %g is outside [0, 1]",
                              o->val_fraction);
    return MMIX_OK;
}

static int64_t mmix__line_of(const unsigned char *s, size_t pos) {
    int64_t line = 1;
    size_t i;
    for (i = 0; i < pos; i++) line += s[i] == '\n';
    return line;
}

static int mmix__data_blank(const unsigned char *s, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

/* Ends the document that began at the last offset: its bytes are text's since then (none:
   the empty document is dropped). */
static int mmix__docs_close(mmix_data_docs *d, mmix_bpe_bytes *text, int64_t *cap) {
    int64_t end = (int64_t)text->size;
    if (end == d->offsets[d->n]) return 1;
    if (d->n + 2 > *cap) {
        void *p = mmix__grow(d->offsets, cap, d->n + 2, sizeof(int64_t));
        if (!p) return 0;
        d->offsets = (int64_t *)p;
    }
    d->offsets[++d->n] = end;
    return 1;
}

/* One JSONL line [s, s + n): appends the field's string to text. 0 = ok, else the column of
   the error (1-based) with *why set; a JSON error is *why = NULL, described in *j. */
static size_t mmix__data_jsonl_line(mmix__json *j, const unsigned char *s, size_t n, const char *field,
                                    mmix_bpe_bytes *text, mmix_bpe_bytes *key, mmix_bpe_bytes *value,
                                    const char **why) {
    int found = 0, members = 0, more;
    size_t field_len = strlen(field);
    mmix__json_init(j, s, n, "the end of the line");
    *why = NULL;
    if (!mmix__json_expect(j, '{', "(a JSONL line is an object)")) return j->err_at + 1;
    while ((more = mmix__json_next(j, '}', &members, "or '}' in an object")) > 0) {
        if (!mmix__json_string(j, "a key", key) || !mmix__json_expect(j, ':', "after a key")) return j->err_at + 1;
        if (key->size == field_len && memcmp(key->data, field, field_len) == 0) {
            if (found) { *why = "the text field appears twice"; return j->i + 1; }
            if (mmix__json_peek(j) != '"') { *why = "the text field is not a string"; return j->i + 1; }
            if (!mmix__json_string(j, "the text field", value)) return j->err_at + 1;
            found = 1;
        } else if (!mmix__json_skip(j)) {
            return j->err_at + 1;
        }
    }
    if (more < 0) return j->err_at + 1;
    mmix__json_ws(j);
    if (j->i != j->n) { *why = "text after the JSON object"; return j->i + 1; }
    if (!found) { *why = "no text field"; return 1; }
    if (!mmix__bytes_append(text, value->data, value->size)) { *why = mmix__data_oom; return 1; }
    return 0;
}

MMIXDEF void mmix_data_docs_free(mmix_data_docs *docs) {
    if (!docs) return;
    MMIX_FREE(docs->text);
    MMIX_FREE(docs->offsets);
    docs->text = NULL;
    docs->offsets = NULL;
    docs->n = 0;
}

MMIXDEF mmix_result mmix_data_split_docs(mmix_ctx *ctx, const void *data, size_t size, const char *name,
                                         const mmix_data_options *opt, mmix_data_docs *out) {
    const unsigned char *s = (const unsigned char *)data;
    mmix_bpe_bytes text = {NULL, 0, 0}, key = {NULL, 0, 0}, value = {NULL, 0, 0};
    mmix__json j;
    int64_t cap = 64;
    size_t bad, pos = 0;
    mmix_result r = mmix__data_check_options(ctx, opt);
    out->text = NULL;
    out->n = 0;
    out->offsets = NULL;
    if (r != MMIX_OK) return r;
    if (!name) name = "(text)";
    if (size >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) pos = 3; /* a byte-order mark */
    bad = mmix__utf8_invalid_at(s, size);
    if (bad < size)
        return mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s:%lld: invalid UTF-8 (byte 0x%02x); the text must be UTF-8",
                              name, (long long)mmix__line_of(s, bad), (unsigned)s[bad]);
    out->offsets = (int64_t *)MMIX_MALLOC((size_t)cap * sizeof(int64_t));
    if (!out->offsets || !mmix__bytes_append(&text, "", 0)) goto oom;
    out->offsets[0] = 0;

    if (opt->format == MMIX_TEXT_EOT_SEPARATED) {
        const size_t sep = sizeof mmix__data_eot_text - 1;
        while (pos <= size) {
            size_t end = pos, a, b;
            while (end < size && !(s[end] == '<' && size - end >= sep && memcmp(s + end, mmix__data_eot_text, sep) == 0))
                end++;
            for (a = pos; a < end && mmix__data_blank(s + a, 1); a++) {}
            for (b = end; b > a && mmix__data_blank(s + b - 1, 1); b--) {}
            if (!mmix__bytes_append(&text, s + a, b - a) || !mmix__docs_close(out, &text, &cap)) goto oom;
            pos = end + sep;
        }
    } else {
        int64_t line = 0;
        int open = 0;
        while (pos < size) { /* line by line */
            size_t end = pos, n;
            while (end < size && s[end] != '\n') end++;
            n = end - pos;
            if (n > 0 && s[end - 1] == '\r') n--;
            line++;
            if (opt->format == MMIX_TEXT_BLANK_LINES) {
                if (mmix__data_blank(s + pos, n)) {
                    if (!mmix__docs_close(out, &text, &cap)) goto oom;
                    open = 0;
                } else {
                    if ((open && !mmix__bytes_append(&text, "\n", 1)) || !mmix__bytes_append(&text, s + pos, n)) goto oom;
                    open = 1;
                }
            } else if (!mmix__data_blank(s + pos, n)) { /* JSONL */
                const char *why;
                size_t col = mmix__data_jsonl_line(&j, s + pos, n, opt->jsonl_field, &text, &key, &value, &why);
                if (col && !why && j.code == MMIX_ERR_OUT_OF_MEMORY) why = mmix__data_oom;
                if (col) {
                    r = mmix_set_error(ctx, why == mmix__data_oom ? MMIX_ERR_OUT_OF_MEMORY : MMIX_ERR_FORMAT,
                                       "%s:%lld: %s%s (JSONL text field \"%s\", column %lld)", name, (long long)line,
                                       why ? why : "malformed JSON: ", why ? "" : j.err, opt->jsonl_field,
                                       (long long)col);
                    goto fail;
                }
                if (!mmix__docs_close(out, &text, &cap)) goto oom;
            }
            pos = end + 1;
        }
        if (!mmix__docs_close(out, &text, &cap)) goto oom;
    }
    mmix_bpe_bytes_free(&key);
    mmix_bpe_bytes_free(&value);
    out->text = text.data;
    return MMIX_OK;
oom:
    r = mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: out of memory splitting documents", name);
fail:
    mmix_bpe_bytes_free(&text);
    mmix_bpe_bytes_free(&key);
    mmix_bpe_bytes_free(&value);
    mmix_data_docs_free(out);
    return r;
}

MMIXDEF mmix_result mmix_data_read_docs(mmix_ctx *ctx, const char *path, const mmix_data_options *opt,
                                        mmix_data_docs *out) {
    mmix_bpe_bytes src = {NULL, 0, 0};
    mmix_result r = mmix__read_file(ctx, "data", path, &src);
    out->text = NULL;
    out->offsets = NULL;
    out->n = 0;
    if (r == MMIX_OK) r = mmix_data_split_docs(ctx, src.data, src.size, path, opt, out);
    mmix_bpe_bytes_free(&src);
    return r;
}

static mmix_result mmix__data_identity(mmix_ctx *ctx, const unsigned char *src, size_t size, const mmix_bpe *bpe,
                                       const mmix_data_options *opt, mmix_data_identity *id) {
    mmix_bpe_bytes saved = {NULL, 0, 0};
    mmix_result r = mmix__data_check_options(ctx, opt);
    memset(id, 0, sizeof *id);
    if (r != MMIX_OK) return r;
    if ((r = mmix_bpe_save_memory(ctx, bpe, &saved)) != MMIX_OK) {
        mmix_bpe_bytes_free(&saved);
        return r;
    }
    id->source_size = (uint64_t)size;
    id->source_hash = mmix_fnv1a64(MMIX_FNV1A64_OFFSET, src, size);
    id->tokenizer_hash = mmix_fnv1a64(MMIX_FNV1A64_OFFSET, saved.data, saved.size);
    id->vocab_size = mmix_bpe_vocab_size(bpe);
    id->n_ctx = opt->n_ctx;
    id->format = (int32_t)opt->format;
    id->rows = (int32_t)opt->rows;
    id->pad_left = opt->rows == MMIX_ROWS_PADDED && opt->pad_left ? 1 : 0;
    id->jsonl_field_hash = opt->format == MMIX_TEXT_JSONL
        ? mmix_fnv1a64(MMIX_FNV1A64_OFFSET, opt->jsonl_field, strlen(opt->jsonl_field)) : 0;
    id->val_fraction = opt->val_fraction;
    id->split_seed = opt->split_seed;
    mmix_bpe_bytes_free(&saved);
    return MMIX_OK;
}

MMIXDEF mmix_result mmix_data_identity_of(mmix_ctx *ctx, const char *path, const mmix_bpe *bpe,
                                          const mmix_data_options *opt, mmix_data_identity *out) {
    mmix_bpe_bytes src = {NULL, 0, 0};
    mmix_result r = mmix__read_file(ctx, "data", path, &src);
    memset(out, 0, sizeof *out);
    if (r == MMIX_OK) r = mmix__data_identity(ctx, src.data, src.size, bpe, opt, out);
    mmix_bpe_bytes_free(&src);
    return r;
}

MMIXDEF void mmix_data_free(mmix_dataset *d) {
    if (!d) return;
    MMIX_FREE(d->train);
    MMIX_FREE(d->val);
    memset(d, 0, sizeof *d);
}

/* The split rule of mmix_data_options: u(i) in [0, 1) from 53 bits of a mixed hash. */
static double mmix__data_split_u(int64_t i, uint64_t seed) {
    return (double)(mmix__hash_u64(mmix__hash_u64((uint64_t)i) ^ seed) >> 11) * (1.0 / 9007199254740992.0);
}

/* A padded row of n_ctx ids from a document's ids (end-of-text included): its first n_ctx,
   and pad ids on the right, or on the left. */
static void mmix__data_padded_row(int32_t *row, const int32_t *ids, int64_t n, int64_t n_ctx, int32_t pad, int left) {
    int64_t len = n < n_ctx ? n : n_ctx, lead = left ? n_ctx - len : 0, k;
    for (k = 0; k < n_ctx; k++) row[k] = pad;
    memcpy(row + lead, ids, (size_t)len * sizeof(int32_t));
}

MMIXDEF mmix_result mmix_data_text_row(mmix_ctx *ctx, mmix_bpe *bpe, const void *text, size_t size,
                                       int64_t n_ctx, int pad_left, int32_t *row, int64_t *n_ids) {
    mmix_bpe_ids doc = {NULL, 0, 0};
    int32_t eot = mmix_bpe_eot_id(bpe), pad = mmix_bpe_pad_id(bpe);
    mmix_result r;
    if (eot < 0 || pad < 0)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "text row: the tokenizer has no %s token",
                              eot < 0 ? "end-of-text" : "pad");
    if (n_ctx < 1) return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "text row: n_ctx %lld", (long long)n_ctx);
    r = mmix_bpe_encode(ctx, bpe, text, size, 0, &doc);
    if (r == MMIX_OK) r = mmix_bpe_ids_push(ctx, &doc, eot);
    if (r == MMIX_OK) {
        mmix__data_padded_row(row, doc.ids, doc.n, n_ctx, pad, pad_left);
        if (n_ids) *n_ids = doc.n;
    }
    mmix_bpe_ids_free(&doc);
    return r;
}

/* Tokenizes documents into the two splits' rows (the identity is the caller's). */
static mmix_result mmix__data_build_docs(mmix_ctx *ctx, const char *name, const mmix_data_docs *docs, mmix_bpe *bpe,
                                         const mmix_data_options *opt, mmix_dataset *out) {
    mmix_bpe_ids doc = {NULL, 0, 0}, split[2] = {{NULL, 0, 0}, {NULL, 0, 0}};
    int32_t eot = mmix_bpe_eot_id(bpe), pad = mmix_bpe_pad_id(bpe);
    int64_t i, n_ctx = opt->n_ctx, first_val = -1;
    double u_min = 2.0;
    unsigned char *is_val = NULL;
    mmix_result r = MMIX_OK;
    memset(out, 0, sizeof *out);
    if (eot < 0) return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "%s: the tokenizer has no end-of-text token", name);
    if (opt->rows == MMIX_ROWS_PADDED && pad < 0)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "%s: padded rows need a tokenizer with a pad token", name);
    is_val = (unsigned char *)MMIX_MALLOC((size_t)docs->n + 1);
    if (!is_val) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    for (i = 0; i < docs->n; i++) {
        double u = mmix__data_split_u(i, opt->split_seed);
        is_val[i] = u < opt->val_fraction;
        out->val_documents += is_val[i];
        if (u < u_min) { u_min = u; first_val = i; }
    }
    if (opt->val_fraction > 0 && out->val_documents == 0 && first_val >= 0) { /* a tiny corpus */
        is_val[first_val] = 1;
        out->val_documents = 1;
    }
    for (i = 0; r == MMIX_OK && i < docs->n; i++) {
        mmix_bpe_ids *dst = &split[is_val[i]];
        doc.n = 0;
        r = mmix_bpe_encode(ctx, bpe, docs->text + docs->offsets[i], (size_t)(docs->offsets[i + 1] - docs->offsets[i]),
                            0, &doc);
        if (r == MMIX_OK) r = mmix_bpe_ids_push(ctx, &doc, eot);
        if (r != MMIX_OK) break;
        out->tokens += doc.n;
        if (opt->rows == MMIX_ROWS_PACKED) {
            if (!mmix__ids_reserve(dst, doc.n)) { r = MMIX_ERR_OUT_OF_MEMORY; break; }
            memcpy(dst->ids + dst->n, doc.ids, (size_t)doc.n * sizeof(int32_t));
            dst->n += doc.n;
        } else {
            if (!mmix__ids_reserve(dst, n_ctx)) { r = MMIX_ERR_OUT_OF_MEMORY; break; }
            mmix__data_padded_row(dst->ids + dst->n, doc.ids, doc.n, n_ctx, pad, opt->pad_left);
            dst->n += n_ctx;
        }
    }
    MMIX_FREE(is_val);
    mmix_bpe_ids_free(&doc);
    if (r == MMIX_ERR_OUT_OF_MEMORY) mmix_set_error(ctx, r, "%s: out of memory tokenizing", name);
    if (r != MMIX_OK) {
        mmix_bpe_ids_free(&split[0]);
        mmix_bpe_ids_free(&split[1]);
        memset(out, 0, sizeof *out);
        return r;
    }
    out->n_ctx = n_ctx;
    out->documents = docs->n;
    out->train_documents = docs->n - out->val_documents;
    out->train_rows = split[0].n / n_ctx; /* packed: the tail is dropped here */
    out->val_rows = split[1].n / n_ctx;
    out->train = out->train_rows ? split[0].ids : NULL;
    out->val = out->val_rows ? split[1].ids : NULL;
    if (!out->train) mmix_bpe_ids_free(&split[0]);
    if (!out->val) mmix_bpe_ids_free(&split[1]);
    return MMIX_OK;
}

/* Splits, tokenizes and stamps the identity, from the file's bytes in memory. */
static mmix_result mmix__data_build_source(mmix_ctx *ctx, const char *name, const mmix_bpe_bytes *src, mmix_bpe *bpe,
                                           const mmix_data_options *opt, mmix_dataset *out) {
    mmix_data_docs docs;
    mmix_data_identity id;
    mmix_result r = mmix__data_identity(ctx, src->data, src->size, bpe, opt, &id);
    memset(out, 0, sizeof *out);
    if (r != MMIX_OK) return r;
    if ((r = mmix_data_split_docs(ctx, src->data, src->size, name, opt, &docs)) != MMIX_OK) return r;
    r = mmix__data_build_docs(ctx, name, &docs, bpe, opt, out);
    mmix_data_docs_free(&docs);
    if (r == MMIX_OK) out->identity = id;
    return r;
}

MMIXDEF mmix_result mmix_data_build(mmix_ctx *ctx, const char *path, mmix_bpe *bpe,
                                    const mmix_data_options *opt, mmix_dataset *out) {
    mmix_bpe_bytes src = {NULL, 0, 0};
    mmix_result r = mmix__read_file(ctx, "data", path, &src);
    memset(out, 0, sizeof *out);
    if (r == MMIX_OK) r = mmix__data_build_source(ctx, path, &src, bpe, opt, out);
    mmix_bpe_bytes_free(&src);
    return r;
}

/* ---- The cache file (layout in the declaration) ---- */
/* (u64 fields are read with mmix__load_le64 of >>safetensors) */
static void mmix__store_le64(unsigned char *p, uint64_t v) {
    int k;
    for (k = 0; k < 8; k++) p[k] = (unsigned char)(v >> (8 * k));
}
static uint64_t mmix__double_bits(double x) {
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

MMIXDEF mmix_result mmix_data_save_cache(mmix_ctx *ctx, const char *cache_path, const mmix_dataset *d) {
    const mmix_data_identity *id = &d->identity;
    uint64_t field[19];
    int64_t ids = 0, i;
    size_t size;
    unsigned char *buf, *p;
    mmix_result r;
    if (d->n_ctx < 1 || d->train_rows < 0 || d->val_rows < 0 || d->n_ctx != id->n_ctx ||
        d->train_rows > (INT64_MAX / 8) / d->n_ctx - d->val_rows)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "%s: the dataset's sizes are inconsistent", cache_path);
    ids = (d->train_rows + d->val_rows) * d->n_ctx;
    if ((uint64_t)ids > (SIZE_MAX - MMIX__DATA_HEADER - 8) / 4)
        return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: the dataset is too large for memory", cache_path);
    size = MMIX__DATA_HEADER + (size_t)ids * 4 + 8;
    buf = (unsigned char *)MMIX_MALLOC(size);
    if (!buf) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: out of memory", cache_path);
    field[0] = id->source_size; field[1] = id->source_hash; field[2] = id->tokenizer_hash;
    field[3] = (uint64_t)id->vocab_size; field[4] = (uint64_t)id->n_ctx; field[5] = (uint64_t)id->format;
    field[6] = (uint64_t)id->rows; field[7] = (uint64_t)id->pad_left; field[8] = id->jsonl_field_hash;
    field[9] = mmix__double_bits(id->val_fraction); field[10] = id->split_seed;
    field[11] = (uint64_t)d->documents; field[12] = (uint64_t)d->train_documents;
    field[13] = (uint64_t)d->val_documents; field[14] = (uint64_t)d->tokens;
    field[15] = (uint64_t)d->train_rows; field[16] = (uint64_t)d->val_rows; field[17] = 0; field[18] = 0;
    memcpy(buf, "MMIXDATA", 8);
    mmix__store_le64(buf + 8, (uint64_t)1 | ((uint64_t)MMIX__DATA_HEADER << 32)); /* u32 version, u32 header size */
    for (i = 0; i < 19; i++) mmix__store_le64(buf + 16 + 8 * i, field[i]);
    p = buf + MMIX__DATA_HEADER;
    for (i = 0; i < ids; i++, p += 4) {
        uint32_t v = (uint32_t)(i < d->train_rows * d->n_ctx ? d->train[i] : d->val[i - d->train_rows * d->n_ctx]);
        p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
    }
    mmix__store_le64(p, mmix_fnv1a64(MMIX_FNV1A64_OFFSET, buf, size - 8));
    r = mmix_write_file_atomic(ctx, cache_path, buf, size);
    MMIX_FREE(buf);
    return r;
}

/* The first identity field that differs, as a message; MMIX_OK when all match. */
static mmix_result mmix__data_compare(mmix_ctx *ctx, const char *path, const mmix_data_identity *c,
                                      const mmix_data_identity *e) {
    static const char *const rows[] = {"packed", "padded"}, *const sides[] = {"right", "left"};
    const char *why = "stale cache (rebuild it)";
    if (c->source_size != e->source_size)
        return mmix_set_error(ctx, MMIX_ERR_STALE, "%s: %s: the source file's size is %llu bytes in the cache, %llu now",
                              path, why, (unsigned long long)c->source_size, (unsigned long long)e->source_size);
    if (c->source_hash != e->source_hash)
        return mmix_set_error(ctx, MMIX_ERR_STALE, "%s: %s: the source file's content hash differs", path, why);
    if (c->tokenizer_hash != e->tokenizer_hash || c->vocab_size != e->vocab_size)
        return mmix_set_error(ctx, MMIX_ERR_STALE, "%s: %s: the tokenizer differs (vocab %lld in the cache, %lld now)",
                              path, why, (long long)c->vocab_size, (long long)e->vocab_size);
    if (c->n_ctx != e->n_ctx)
        return mmix_set_error(ctx, MMIX_ERR_STALE, "%s: %s: n_ctx is %lld in the cache, %lld requested", path, why,
                              (long long)c->n_ctx, (long long)e->n_ctx);
    if (c->format != e->format || c->jsonl_field_hash != e->jsonl_field_hash)
        return mmix_set_error(ctx, MMIX_ERR_STALE, "%s: %s: the text format or JSONL field differs", path, why);
    if (c->rows != e->rows)
        return mmix_set_error(ctx, MMIX_ERR_STALE, "%s: %s: the row mode is %s in the cache, %s requested", path, why,
                              rows[c->rows != 0], rows[e->rows != 0]);
    if (c->pad_left != e->pad_left)
        return mmix_set_error(ctx, MMIX_ERR_STALE, "%s: %s: the padding side is %s in the cache, %s requested", path,
                              why, sides[c->pad_left != 0], sides[e->pad_left != 0]);
    if (mmix__double_bits(c->val_fraction) != mmix__double_bits(e->val_fraction))
        return mmix_set_error(ctx, MMIX_ERR_STALE, "%s: %s: the split's val_fraction is %g in the cache, %g requested",
                              path, why, c->val_fraction, e->val_fraction);
    if (c->split_seed != e->split_seed)
        return mmix_set_error(ctx, MMIX_ERR_STALE, "%s: %s: the split_seed is %llu in the cache, %llu requested", path,
                              why, (unsigned long long)c->split_seed, (unsigned long long)e->split_seed);
    return MMIX_OK;
}

MMIXDEF mmix_result mmix_data_load_cache(mmix_ctx *ctx, const char *cache_path, const mmix_data_identity *expected,
                                         mmix_dataset *out) {
    mmix_bpe_bytes file = {NULL, 0, 0};
    mmix_data_identity c;
    uint64_t f[19];
    const unsigned char *b;
    int64_t i, ids, n_train;
    mmix_result r;
    memset(out, 0, sizeof *out);
    if ((r = mmix__read_file(ctx, "data cache", cache_path, &file)) != MMIX_OK) return r;
    b = file.data;
#define MMIX__CACHE_BAD(...) do { r = mmix_set_error(ctx, MMIX_ERR_FORMAT, __VA_ARGS__); goto done; } while (0)
    if (file.size < MMIX__DATA_HEADER + 8 || memcmp(b, "MMIXDATA", 8) != 0)
        MMIX__CACHE_BAD("%s: not a dataset cache (too short or no MMIXDATA magic)", cache_path);
    if (mmix__load_le64(b + 8) != ((uint64_t)1 | ((uint64_t)MMIX__DATA_HEADER << 32)))
        MMIX__CACHE_BAD("%s: dataset cache version or header size is not the one this build writes (1, %d)",
                        cache_path, MMIX__DATA_HEADER);
    if (mmix__load_le64(b + file.size - 8) != mmix_fnv1a64(MMIX_FNV1A64_OFFSET, b, file.size - 8))
        MMIX__CACHE_BAD("%s: checksum mismatch: the cache is truncated or corrupt", cache_path);
    for (i = 0; i < 19; i++) f[i] = mmix__load_le64(b + 16 + 8 * i);
    c.source_size = f[0]; c.source_hash = f[1]; c.tokenizer_hash = f[2];
    c.vocab_size = (int64_t)f[3]; c.n_ctx = (int64_t)f[4]; c.format = (int32_t)f[5];
    c.rows = (int32_t)f[6]; c.pad_left = (int32_t)f[7]; c.jsonl_field_hash = f[8];
    memcpy(&c.val_fraction, &f[9], sizeof c.val_fraction);
    c.split_seed = f[10];
    /* A checksum that matches can still guard a file another program wrote: check every
       count, then the sizes, before reading any id. */
    if (f[3] < 1 || f[3] > INT32_MAX || f[4] < 1 || f[4] > (uint64_t)MMIX__DATA_MAX_CTX || f[5] > 2 || f[6] > 1 ||
        f[7] > 1 || f[15] > file.size || f[16] > file.size || f[11] != f[12] + f[13] || f[12] > f[11] ||
        f[17] != 0 || f[18] != 0)
        MMIX__CACHE_BAD("%s: the cache header holds impossible values", cache_path);
    ids = (int64_t)(f[15] + f[16]);
    if ((uint64_t)ids > (file.size - MMIX__DATA_HEADER - 8) / 4 / f[4] ||
        (uint64_t)ids * f[4] * 4 != file.size - MMIX__DATA_HEADER - 8)
        MMIX__CACHE_BAD("%s: the cache's size does not match its row counts", cache_path);
    if ((r = mmix__data_compare(ctx, cache_path, &c, expected)) != MMIX_OK) goto done;
    ids *= c.n_ctx;
    n_train = (int64_t)f[15] * c.n_ctx;
    for (i = 0; i < ids; i++) {
        const unsigned char *p = b + MMIX__DATA_HEADER + 4 * i;
        uint32_t v = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
        if (v >= (uint64_t)c.vocab_size) MMIX__CACHE_BAD("%s: token id %lu outside the vocabulary", cache_path, (unsigned long)v);
    }
    out->train = n_train ? (int32_t *)MMIX_MALLOC((size_t)n_train * 4) : NULL;
    out->val = ids > n_train ? (int32_t *)MMIX_MALLOC((size_t)(ids - n_train) * 4) : NULL;
    if ((n_train && !out->train) || (ids > n_train && !out->val)) {
        r = mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: out of memory", cache_path);
        goto done;
    }
    for (i = 0; i < ids; i++) {
        const unsigned char *p = b + MMIX__DATA_HEADER + 4 * i;
        int32_t v = (int32_t)((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24));
        if (i < n_train) out->train[i] = v;
        else out->val[i - n_train] = v;
    }
#undef MMIX__CACHE_BAD
    out->n_ctx = c.n_ctx;
    out->documents = (int64_t)f[11];
    out->train_documents = (int64_t)f[12];
    out->val_documents = (int64_t)f[13];
    out->tokens = (int64_t)f[14];
    out->train_rows = (int64_t)f[15];
    out->val_rows = (int64_t)f[16];
    out->identity = c;
done:
    if (r != MMIX_OK) mmix_data_free(out);
    mmix_bpe_bytes_free(&file);
    return r;
}

/* Whether a file we cannot load may be replaced: only when it is a (truncated or corrupt)
   cache of ours, so a wrong path never destroys someone's data. */
static int mmix__data_replaceable(const char *path) {
    unsigned char head[8];
    size_t n;
    FILE *f = fopen(path, "rb");
    if (!f) return 1;
    n = fread(head, 1, sizeof head, f);
    fclose(f);
    return memcmp(head, "MMIXDATA", n) == 0; /* the magic, or a prefix of it */
}

MMIXDEF mmix_result mmix_data_load_or_build(mmix_ctx *ctx, const char *path, mmix_bpe *bpe,
                                            const mmix_data_options *opt, const char *cache_path,
                                            mmix_dataset *out, int *reused) {
    mmix_bpe_bytes src = {NULL, 0, 0};
    mmix_data_identity id;
    mmix_result r = mmix__read_file(ctx, "data", path, &src);
    memset(out, 0, sizeof *out);
    *reused = 0;
    if (r == MMIX_OK) r = mmix__data_identity(ctx, src.data, src.size, bpe, opt, &id);
    if (r == MMIX_OK) {
        r = mmix_data_load_cache(ctx, cache_path, &id, out);
        if (r == MMIX_OK) {
            *reused = 1;
        } else if (r == MMIX_ERR_FORMAT && !mmix__data_replaceable(cache_path)) {
            r = mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: not a dataset cache (no MMIXDATA magic); not replacing it",
                               cache_path);
        } else if (r == MMIX_ERR_FILE_NOT_FOUND || r == MMIX_ERR_STALE || r == MMIX_ERR_FORMAT) {
            mmix_clear_error(ctx); /* a cache we cannot use is rebuilt, not an error */
            r = mmix__data_build_source(ctx, path, &src, bpe, opt, out);
            if (r == MMIX_OK) r = mmix_data_save_cache(ctx, cache_path, out);
            if (r != MMIX_OK) mmix_data_free(out);
        }
    }
    mmix_bpe_bytes_free(&src);
    return r;
}

// ========================================================================================
// >>retrieval  Retrieval (paper Sec. 6, Algorithm 1, Table 1; reference-notes Sec. 20).
// ========================================================================================
/* Both the architecture's slot and the shape check of mmix_model_hidden. */
MMIXDEF mmix_tensor *mmix_model_embedding(mmix_ctx *ctx, const mmix_model *model, mmix_tensor *ids) {
    mmix__arch d = mmix__arch_of(model);
    if (!mmix__op_can_run(ctx)) return NULL;
    if (!d.embedding) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT,
                       "embedding: the %s has no retrieval embedding (its outputs see the whole row)", d.info.title);
        return NULL;
    }
    if (ids && ids->shape.ndim == 2 && ids->shape.d[1] < 2) {
        mmix_set_error(ctx, MMIX_ERR_SHAPE, "embedding: rows of %lld token(s); position L-2 needs two",
                       (long long)ids->shape.d[1]);
        return NULL;
    }
    if (!mmix__check_i32(ctx, "embedding", "ids", ids)) return NULL;
    return d.embedding(ctx, model, ids);
}

MMIXDEF int mmix_arch_embedding_position(mmix_arch arch) {
    mmix__arch d;
    return mmix__arch_describe(arch, &d) ? d.embedding_position : 0;
}

MMIXDEF mmix_result mmix_model_embed_rows(mmix_ctx *ctx, const mmix_model *model, const int32_t *ids, int64_t n,
                                          int64_t len, int64_t batch, float *out, mmix_progress_fn progress,
                                          void *user) {
    int was_training = mmix_is_training(ctx), had_grad = mmix_grad_enabled(ctx);
    int64_t D = model->config.dim, r0, i, j;
    mmix_result r = MMIX_OK;
    if (n < 0 || len < 1 || batch < 1 || (n > 0 && (!ids || !out)))
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "embed rows: %lld rows of %lld, batch %lld", (long long)n,
                              (long long)len, (long long)batch);
    mmix_set_training(ctx, 0); /* no dropout: an embedding is a function of its row */
    mmix_set_grad_enabled(ctx, 0);
    for (r0 = 0; r == MMIX_OK && r0 < n; r0 += batch) {
        int64_t nb = n - r0 < batch ? n - r0 : batch;
        mmix_tensor *t = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(nb, len)), *e = NULL;
        if (t) r = mmix_tensor_upload(ctx, t, 0, ids + r0 * len, nb * len);
        if (t && r == MMIX_OK) e = mmix_l2_normalize(ctx, mmix_model_embedding(ctx, model, t), 1e-12f);
        if (e) r = mmix_tensor_download(ctx, e, 0, out + r0 * D, nb * D);
        else r = mmix_last_result(ctx) != MMIX_OK ? mmix_last_result(ctx) : MMIX_ERR_OUT_OF_MEMORY;
        /* a row is a unit vector, or all zeros when its embedding was (F.normalize's eps) */
        for (i = 0; r == MMIX_OK && i < nb * D; i += D)
            for (j = 0; j < D; j++)
                if (out[r0 * D + i + j] != out[r0 * D + i + j]) {
                    r = mmix_set_error(ctx, MMIX_ERR_NUMERIC, "embed rows: row %lld's embedding is not finite",
                                       (long long)(r0 + i / D));
                    break;
                }
        mmix_step_reset(ctx);
        if (r == MMIX_OK && progress) progress(user, r0 + nb, n);
    }
    mmix_set_training(ctx, was_training);
    mmix_set_grad_enabled(ctx, had_grad);
    return r;
}

/* ---- The candidate draw of Algorithm 1 ---- */
MMIXDEF mmix_result mmix_retrieval_sampler_init(mmix_ctx *ctx, mmix_retrieval_sampler *s, int64_t n) {
    int64_t i;
    memset(s, 0, sizeof *s);
    if (n < 1 || n > (int64_t)UINT32_MAX)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "retrieval sampler: a pool of %lld", (long long)n);
    s->perm = (int64_t *)MMIX_MALLOC((size_t)n * sizeof(int64_t));
    s->swaps = (int64_t *)MMIX_MALLOC((size_t)n * sizeof(int64_t));
    if (!s->perm || !s->swaps) {
        mmix_retrieval_sampler_free(s);
        return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "retrieval sampler: out of memory for a pool of %lld",
                              (long long)n);
    }
    for (i = 0; i < n; i++) s->perm[i] = i;
    s->n = n;
    return MMIX_OK;
}

MMIXDEF void mmix_retrieval_sampler_free(mmix_retrieval_sampler *s) {
    MMIX_FREE(s->perm);
    MMIX_FREE(s->swaps);
    memset(s, 0, sizeof *s);
}

/* A partial Fisher-Yates shuffle of the pool without idx (moved to the end, out of reach):
   its first c-1 entries are c-1 distinct others, each subset equally likely, as
   torch.multinomial of equal weights without replacement draws them. Then every swap is
   undone, so perm is the identity again for the next draw. */
MMIXDEF int64_t mmix_retrieval_draw(mmix_retrieval_sampler *s, mmix_rng *rng, int64_t idx, int64_t c,
                                    int64_t *slots) {
    int64_t n = s->n, j, m, t;
    if (c < 2 || c > n || idx < 0 || idx >= n) return 0;
    s->perm[idx] = n - 1; /* the last position holds idx, position idx what was last */
    s->perm[n - 1] = idx;
    for (j = 0; j < c - 1; j++) {
        int64_t r = j + (int64_t)mmix_rng_below(rng, (uint32_t)(n - 1 - j));
        t = s->perm[j], s->perm[j] = s->perm[r], s->perm[r] = t;
        s->swaps[j] = r;
        slots[1 + j] = s->perm[j];
    }
    for (j = c - 2; j >= 0; j--) {
        int64_t r = s->swaps[j];
        t = s->perm[j], s->perm[j] = s->perm[r], s->perm[r] = t;
    }
    s->perm[idx] = idx;
    s->perm[n - 1] = n - 1;
    slots[0] = idx;
    m = 1 + (int64_t)mmix_rng_below(rng, (uint32_t)(c - 1)); /* randint(1, c-1), both ends */
    slots[m] = idx;
    return m;
}

/* ---- InfoNCE (paper Sec. 6.3, Eqs. 7-8) ---- */
/* With the candidates' similarities over tau as logits, the loss is the cross-entropy of
   class m-1: -s_m + logsumexp_j s_j, the paper's ratio in a form that cannot overflow. */
MMIXDEF mmix_tensor *mmix_infonce_loss(mmix_ctx *ctx, mmix_tensor *emb, mmix_tensor *match, float tau) {
    mmix_tensor *q, *cands, *cos, *labels;
    int32_t chunk[256];
    int64_t B, c, D, b, k, n;
    char s[64];
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "infonce", "emb", emb) ||
        !mmix__check_i32(ctx, "infonce", "match", match))
        return NULL;
    if (emb->shape.ndim != 3 || emb->shape.d[1] < 2 || match->shape.ndim != 1 || match->shape.d[0] != emb->shape.d[0]) {
        mmix_set_error(ctx, MMIX_ERR_SHAPE, "infonce: embeddings %s must be [items, c >= 2, D] and match [items]",
                       mmix_shape_str(emb->shape, s, sizeof s));
        return NULL;
    }
    if (!(tau > 0.0f)) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "infonce: temperature %g must be positive", (double)tau);
        return NULL;
    }
    B = emb->shape.d[0], c = emb->shape.d[1], D = emb->shape.d[2];
    (void)D;
    labels = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape1(B));
    if (!labels) return NULL;
    for (b = 0; b < B; b += n) { /* the match's row m is class m-1 among the candidates */
        n = B - b < 256 ? B - b : 256;
        mmix_tensor_download(ctx, match, b, chunk, n);
        for (k = 0; k < n; k++) {
            if (chunk[k] < 1 || chunk[k] >= c) {
                mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "infonce: item %lld's match is row %d, not in 1..%lld",
                               (long long)(b + k), chunk[k], (long long)(c - 1));
                return NULL;
            }
            chunk[k] -= 1;
        }
        mmix_tensor_upload(ctx, labels, b, chunk, n);
    }
    q = mmix_tokens_repeat(ctx, mmix_tokens_select(ctx, emb, 0), c - 1);  /* [B, c-1, D] */
    cands = mmix_tokens_slice(ctx, emb, 1, c - 1);                         /* [B, c-1, D] */
    cos = mmix_cosine_similarity(ctx, q, cands, 1e-8f);                    /* [B, c-1] */
    return mmix_cross_entropy(ctx, mmix_scale(ctx, cos, 1.0f / tau), labels, -100);
}

/* ---- Top-1 evaluation (paper Table 1) ---- */
/* The seed of query i's draw for n candidates: one stream per (seed, n, i), so that no draw
   depends on the order in which queries are evaluated, or on the other n. */
static uint64_t mmix__retrieval_draw_seed(uint64_t seed, int64_t n, int64_t i) {
    return mmix__hash_u64(mmix__hash_u64(mmix__hash_u64(seed) ^ (uint64_t)n) ^ (uint64_t)i);
}

/* The match's rank among the candidate list slots[1..n-1] (slot m the match): 1 plus every
   other candidate that scores at least as high, so a tie counts against the match. */
static int64_t mmix__retrieval_rank(const float *row, const int64_t *slots, int64_t n, int64_t m) {
    float own = row[slots[m]];
    int64_t j, rank = 1;
    for (j = 1; j < n; j++)
        if (j != m && !(row[slots[j]] < own)) rank++; /* a NaN score ranks above the match too */
    return rank;
}

MMIXDEF mmix_result mmix_retrieval_evaluate(mmix_ctx *ctx, int64_t pool, const int64_t *ns, int n_count, uint64_t seed,
                                            mmix_retrieval_scores_fn scores, void *user, mmix_retrieval_result *out,
                                            mmix_progress_fn progress, void *progress_user) {
    const int64_t block = 64; /* queries scored per call: a [64 x pool] slab */
    mmix_retrieval_sampler sampler;
    int64_t *slots = NULL, n_max = 0, q0, i;
    float *rows = NULL;
    mmix_result r;
    int k;
    if (pool < 2 || n_count < 1 || !ns || !scores || !out)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "retrieval evaluate: a pool of %lld, %d sizes",
                              (long long)pool, n_count);
    for (k = 0; k < n_count; k++) {
        if (ns[k] < 2) return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "retrieval evaluate: n = %lld", (long long)ns[k]);
        memset(&out[k], 0, sizeof out[k]);
        out[k].n = ns[k];
        if (ns[k] <= pool && ns[k] > n_max) n_max = ns[k];
    }
    if ((r = mmix_retrieval_sampler_init(ctx, &sampler, pool)) != MMIX_OK) return r;
    slots = (int64_t *)MMIX_MALLOC((size_t)(n_max > 0 ? n_max : 1) * sizeof(int64_t));
    rows = (float *)MMIX_MALLOC((size_t)block * (size_t)pool * sizeof(float));
    if (!slots || !rows) r = mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "retrieval evaluate: out of memory");
    for (q0 = 0; r == MMIX_OK && n_max > 0 && q0 < pool; q0 += block) {
        int64_t nq = pool - q0 < block ? pool - q0 : block;
        r = scores(ctx, user, q0, nq, rows);
        for (i = 0; r == MMIX_OK && i < nq; i++)
            for (k = 0; k < n_count; k++) {
                int64_t n = ns[k], m, rank;
                mmix_rng rng;
                if (n > pool) continue;
                mmix_rng_seed(&rng, mmix__retrieval_draw_seed(seed, n, q0 + i));
                m = mmix_retrieval_draw(&sampler, &rng, q0 + i, n, slots);
                rank = mmix__retrieval_rank(rows + i * pool, slots, n, m);
                out[k].queries++;
                out[k].top1 += rank == 1;
                out[k].recall10 += rank <= 10;
                out[k].mrr10 += rank <= 10 ? 1.0 / (double)rank : 0.0;
            }
        if (r == MMIX_OK && progress) progress(progress_user, q0 + nq, pool);
    }
    for (k = 0; r == MMIX_OK && k < n_count; k++)
        if (out[k].queries > 0) {
            out[k].top1 /= (double)out[k].queries;
            out[k].recall10 /= (double)out[k].queries;
            out[k].mrr10 /= (double)out[k].queries;
        }
    mmix_retrieval_sampler_free(&sampler);
    MMIX_FREE(slots);
    MMIX_FREE(rows);
    return r;
}

MMIXDEF mmix_result mmix_embedding_scores(mmix_ctx *ctx, void *scorer, int64_t q0, int64_t nq, float *scores) {
    const mmix_embedding_scorer *e = (const mmix_embedding_scorer *)scorer;
    if (q0 < 0 || nq < 0 || q0 + nq > e->n_queries)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "embedding scores: queries %lld..%lld of %lld",
                              (long long)q0, (long long)(q0 + nq), (long long)e->n_queries);
    /* scores = Q[q0 : q0 + nq] T^T: cosine similarities of unit rows */
    mmix__cpu_sgemm(0, 1, nq, e->pool, e->dim, 1.0f, e->queries + q0 * e->dim, e->dim, e->targets, e->dim, 0.0f,
                    scores, e->pool);
    return MMIX_OK;
}

// ----------------------------------------------------------------------------------------
// >>bm25  BM25 (reference-notes Sec. 18): Lucene's English analyzer with our own Porter
// stemmer, an index of per-document term counts, and scoring of candidate subsets.
// Reading order: the stemmer, the analyzer, the term dictionary, building, scoring.
// ----------------------------------------------------------------------------------------

/* ---- The Porter stemmer (Porter 1980, "An algorithm for suffix stripping", Program 14(3)) ----
   The word is w[0..k). A consonant is a letter other than a e i o u, and other than y
   preceded by a consonant; any word is [C](VC)^m[V], and m is its measure. */
static int mmix__porter_cons(const char *w, size_t i) {
    switch (w[i]) {
    case 'a': case 'e': case 'i': case 'o': case 'u': return 0;
    case 'y': return i == 0 ? 1 : !mmix__porter_cons(w, i - 1);
    default: return 1;
    }
}
/* m of the stem w[0..n): the number of vowel-run/consonant-run pairs after the leading consonants. */
static int mmix__porter_m(const char *w, size_t n) {
    size_t i = 0;
    int m = 0;
    while (i < n && mmix__porter_cons(w, i)) i++;
    while (i < n) {
        while (i < n && !mmix__porter_cons(w, i)) i++;
        if (i == n) break;
        while (i < n && mmix__porter_cons(w, i)) i++;
        m++;
    }
    return m;
}
/* *v*: the stem w[0..n) holds a vowel. */
static int mmix__porter_has_vowel(const char *w, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (!mmix__porter_cons(w, i)) return 1;
    return 0;
}
/* *d: the stem ends in a double consonant. Only ASCII bytes count, so a repeated UTF-8
   continuation byte is never taken for one (and never removed). */
static int mmix__porter_double(const char *w, size_t n) {
    return n >= 2 && w[n - 1] == w[n - 2] && (unsigned char)w[n - 1] < 0x80 && mmix__porter_cons(w, n - 1);
}
/* *o: the stem ends consonant-vowel-consonant, the last consonant not w, x or y. */
static int mmix__porter_cvc(const char *w, size_t n) {
    char c;
    if (n < 3 || !mmix__porter_cons(w, n - 3) || mmix__porter_cons(w, n - 2) || !mmix__porter_cons(w, n - 1))
        return 0;
    c = w[n - 1];
    return c != 'w' && c != 'x' && c != 'y';
}
static int mmix__porter_ends(const char *w, size_t k, const char *suffix) {
    size_t n = strlen(suffix);
    return k >= n && memcmp(w + k - n, suffix, n) == 0;
}

/* One rule of steps 2-4: suffix S1 -> S2. */
typedef struct mmix__porter_rule {
    const char *from, *to;
} mmix__porter_rule;

/* Steps 2 and 3 replace S1 by S2 when the stem has m > 0; step 4 removes S1 when m > 1 (and,
   for -ion, the stem ends in s or t). In every list only the rule with the longest matching
   S1 is considered (Porter: "only one is obeyed"); when its condition fails, nothing
   happens. Returns the new length. */
static size_t mmix__porter_apply(char *w, size_t k, const mmix__porter_rule *rules, size_t n_rules, int min_m,
                                 int ion_rule) {
    const mmix__porter_rule *best = NULL;
    size_t i, best_len = 0, stem;
    for (i = 0; i < n_rules; i++) {
        size_t len = strlen(rules[i].from);
        if (len > best_len && mmix__porter_ends(w, k, rules[i].from)) {
            best = &rules[i];
            best_len = len;
        }
    }
    if (!best) return k;
    stem = k - best_len;
    if (mmix__porter_m(w, stem) <= min_m) return k;
    if (ion_rule && strcmp(best->from, "ion") == 0 && !(stem > 0 && (w[stem - 1] == 's' || w[stem - 1] == 't')))
        return k;
    memcpy(w + stem, best->to, strlen(best->to));
    return stem + strlen(best->to);
}

static const mmix__porter_rule mmix__porter_step2[] = {
    {"ational", "ate"}, {"tional", "tion"}, {"enci", "ence"}, {"anci", "ance"}, {"izer", "ize"},
    {"bli", "ble"},     /* Lucene and Porter's reference code; the paper has ABLI -> ABLE */
    {"alli", "al"},     {"entli", "ent"},   {"eli", "e"},      {"ousli", "ous"}, {"ization", "ize"},
    {"ation", "ate"},   {"ator", "ate"},    {"alism", "al"},   {"iveness", "ive"}, {"fulness", "ful"},
    {"ousness", "ous"}, {"aliti", "al"},    {"iviti", "ive"},  {"biliti", "ble"},
    {"logi", "log"},    /* Lucene and Porter's reference code; not in the paper */
};
static const mmix__porter_rule mmix__porter_step3[] = {
    {"icate", "ic"}, {"ative", ""}, {"alize", "al"}, {"iciti", "ic"}, {"ical", "ic"}, {"ful", ""}, {"ness", ""},
};
static const mmix__porter_rule mmix__porter_step4[] = {
    {"al", ""},   {"ance", ""}, {"ence", ""}, {"er", ""},  {"ic", ""},  {"able", ""}, {"ible", ""},
    {"ant", ""},  {"ement", ""}, {"ment", ""}, {"ent", ""}, {"ion", ""}, {"ou", ""},  {"ism", ""},
    {"ate", ""},  {"iti", ""},  {"ous", ""},  {"ive", ""}, {"ize", ""},
};
#define MMIX__BM25_COUNT(a) (sizeof(a) / sizeof((a)[0]))

MMIXDEF size_t mmix_porter_stem(char *w, size_t k) {
    if (!w || k <= 2) return k; /* Lucene leaves words of one or two letters alone */
    /* Step 1a: plurals. SSES -> SS, IES -> I, SS -> SS, S -> "". */
    if (mmix__porter_ends(w, k, "sses")) k -= 2;
    else if (mmix__porter_ends(w, k, "ies")) k -= 2;
    else if (mmix__porter_ends(w, k, "ss")) {}
    else if (mmix__porter_ends(w, k, "s")) k -= 1;
    /* Step 1b: (m > 0) EED -> EE; (*v*) ED -> ""; (*v*) ING -> "", then tidying up. A word
       ending in eed never falls through to the ED rule (the longest suffix decides). */
    if (mmix__porter_ends(w, k, "eed")) {
        if (mmix__porter_m(w, k - 3) > 0) k -= 1;
    } else {
        int removed = 0;
        if (mmix__porter_ends(w, k, "ed") && mmix__porter_has_vowel(w, k - 2)) { k -= 2; removed = 1; }
        else if (mmix__porter_ends(w, k, "ing") && mmix__porter_has_vowel(w, k - 3)) { k -= 3; removed = 1; }
        if (removed) {
            /* Room for the e: at least two bytes were just removed. */
            if (mmix__porter_ends(w, k, "at") || mmix__porter_ends(w, k, "bl") || mmix__porter_ends(w, k, "iz")) {
                w[k++] = 'e';
            } else if (mmix__porter_double(w, k)) {
                if (w[k - 1] != 'l' && w[k - 1] != 's' && w[k - 1] != 'z') k -= 1;
            } else if (mmix__porter_m(w, k) == 1 && mmix__porter_cvc(w, k)) {
                w[k++] = 'e';
            }
        }
    }
    /* Step 1c: (*v*) Y -> I. */
    if (mmix__porter_ends(w, k, "y") && mmix__porter_has_vowel(w, k - 1)) w[k - 1] = 'i';
    /* Steps 2-4: double suffixes to single ones, then -ful, -ness ..., then the rest. */
    k = mmix__porter_apply(w, k, mmix__porter_step2, MMIX__BM25_COUNT(mmix__porter_step2), 0, 0);
    k = mmix__porter_apply(w, k, mmix__porter_step3, MMIX__BM25_COUNT(mmix__porter_step3), 0, 0);
    k = mmix__porter_apply(w, k, mmix__porter_step4, MMIX__BM25_COUNT(mmix__porter_step4), 1, 1);
    /* Step 5a: (m > 1) E -> ""; (m = 1 and not *o) E -> "". */
    if (mmix__porter_ends(w, k, "e")) {
        int m = mmix__porter_m(w, k - 1);
        if (m > 1 || (m == 1 && !mmix__porter_cvc(w, k - 1))) k -= 1;
    }
    /* Step 5b: (m > 1 and *d and *L) -> single letter. */
    if (mmix__porter_m(w, k) > 1 && mmix__porter_double(w, k) && w[k - 1] == 'l') k -= 1;
    return k;
}

/* ---- The analyzer ---- */
static const char *const mmix__bm25_stopwords[] = {
    /* Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET, the default of Pyserini's analyzer */
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not",
    "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was",
    "will", "with",
};
MMIX__STATIC_CHECK(MMIX__BM25_COUNT(mmix__bm25_stopwords) == 33, bm25_stopwords);

static int mmix__bm25_is_stopword(const char *t, size_t len) {
    size_t i;
    if (len > 5) return 0;
    for (i = 0; i < MMIX__BM25_COUNT(mmix__bm25_stopwords); i++)
        if (strlen(mmix__bm25_stopwords[i]) == len && memcmp(mmix__bm25_stopwords[i], t, len) == 0) return 1;
    return 0;
}

/* The code point at s[i] (at most n - i bytes): its length 1-4 and *cp, or 0 for a byte that
   starts no well-formed UTF-8 sequence (overlong forms and surrogates included). */
static size_t mmix__bm25_utf8(const unsigned char *s, size_t n, size_t i, uint32_t *cp) {
    unsigned char c = s[i];
    size_t len, j;
    uint32_t v, min;
    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xC2 && c <= 0xDF) { len = 2; v = c & 0x1Fu; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; v = c & 0x0Fu; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; v = c & 0x07u; min = 0x10000; }
    else return 0;
    if (n - i < len) return 0;
    for (j = 1; j < len; j++) {
        if ((s[i + j] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i + j] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

/* Non-ASCII code points that separate tokens, as Unicode's punctuation and symbol blocks:
   Latin-1's (U+0080-U+00BF but the letters U+00AA, U+00B5, U+00BA; and U+00D7, U+00F7),
   General Punctuation through Miscellaneous Symbols and Arrows (U+2000-U+2BFF: spaces,
   dashes, quotes, bullets, arrows, maths, box drawing, dingbats), CJK punctuation, private
   use, variation selectors, the fullwidth punctuation (U+FF00-U+FF65 but digits and
   letters), the byte order mark, Specials (U+FFF0-U+FFFF) and the emoji and symbol planes
   from U+1F000. Every other code point (letters and digits of every script, mostly) is part
   of a token. */
static int mmix__bm25_separator_cp(uint32_t cp) {
    if (cp < 0xC0) return cp != 0xAA && cp != 0xB5 && cp != 0xBA;
    if (cp == 0xD7 || cp == 0xF7) return 1;
    if (cp >= 0x2000 && cp <= 0x2BFF) return 1;
    if (cp >= 0x3000 && cp <= 0x303F) return 1;
    if (cp >= 0xE000 && cp <= 0xF8FF) return 1;
    if (cp >= 0xFE00 && cp <= 0xFE0F) return 1;
    if (cp >= 0xFF00 && cp <= 0xFF65) /* fullwidth forms: all but the digits and letters */
        return !((cp >= 0xFF10 && cp <= 0xFF19) || (cp >= 0xFF21 && cp <= 0xFF3A) || (cp >= 0xFF41 && cp <= 0xFF5A));
    if (cp == 0xFEFF || (cp >= 0xFFF0 && cp <= 0xFFFF)) return 1;
    return cp >= 0x1F000;
}
static int mmix__bm25_ascii_alnum(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
/* The length of the token character at s[i] (0: a separator). */
static size_t mmix__bm25_token_char(const unsigned char *s, size_t n, size_t i) {
    uint32_t cp;
    size_t len;
    if (s[i] < 0x80) return mmix__bm25_ascii_alnum(s[i]) ? 1 : 0;
    len = mmix__bm25_utf8(s, n, i, &cp);
    return len && !mmix__bm25_separator_cp(cp) ? len : 0;
}
/* The length of an apostrophe at s[i] that can start a possessive: ' U+2019 U+FF07 (0: none). */
static size_t mmix__bm25_apostrophe(const unsigned char *s, size_t n, size_t i) {
    if (s[i] == '\'') return 1;
    if (n - i >= 3 && s[i] == 0xE2 && s[i + 1] == 0x80 && s[i + 2] == 0x99) return 3;
    if (n - i >= 3 && s[i] == 0xEF && s[i + 1] == 0xBC && s[i + 2] == 0x87) return 3;
    return 0;
}

/* Drops stopwords, stems, and hands the term on. Returns fn's answer (0: go on). */
static int mmix__bm25_emit(char *term, size_t len, mmix_bm25_term_fn fn, void *user, int64_t *count) {
    if (mmix__bm25_is_stopword(term, len)) return 0;
    len = mmix_porter_stem(term, len);
    (*count)++;
    return fn ? fn(term, len, user) : 0;
}

MMIXDEF int64_t mmix_bm25_analyze(const char *text, size_t n, mmix_bm25_term_fn fn, void *user) {
    const unsigned char *s = (const unsigned char *)text;
    char term[MMIX_BM25_MAX_TERM + 1];
    size_t i = 0, len = 0;
    int64_t count = 0;
    int last_is_letter = 0;
    if (!text) return 0;
    while (i < n) {
        size_t c = mmix__bm25_token_char(s, n, i);
        if (c) {
            if (len + c > MMIX_BM25_MAX_TERM) { /* a very long run: cut it, as Lucene does */
                if (mmix__bm25_emit(term, len, fn, user, &count)) return count;
                len = 0;
            }
            if (c == 1) {
                unsigned char b = s[i];
                term[len++] = (char)(b >= 'A' && b <= 'Z' ? b + ('a' - 'A') : b);
                last_is_letter = !(b >= '0' && b <= '9');
            } else {
                memcpy(term + len, s + i, c);
                /* Latin-1 capitals U+00C0-U+00DE (not U+00D7) have their small letter 0x20 above */
                if (c == 2 && s[i] == 0xC3 && s[i + 1] <= 0x9E && s[i + 1] != 0x97)
                    term[len + 1] = (char)(s[i + 1] + 0x20);
                len += c;
                last_is_letter = 1;
            }
            i += c;
            continue;
        }
        if (len > 0) {
            /* The possessive: 's after a letter, the s ending the run (EnglishPossessiveFilter). */
            size_t a = mmix__bm25_apostrophe(s, n, i);
            if (a && last_is_letter && i + a < n && (s[i + a] == 's' || s[i + a] == 'S') &&
                (i + a + 1 == n || !mmix__bm25_token_char(s, n, i + a + 1)))
                i += a + 1;
            if (mmix__bm25_emit(term, len, fn, user, &count)) return count;
            len = 0;
            continue; /* s[i] is looked at again as the start of what follows */
        }
        {
            uint32_t cp;
            size_t skip = s[i] < 0x80 ? 1 : mmix__bm25_utf8(s, n, i, &cp);
            i += skip ? skip : 1;
        }
    }
    if (len > 0) mmix__bm25_emit(term, len, fn, user, &count);
    return count;
}

MMIXDEF const char *mmix_bm25_analyzer_name(void) {
    return "lowercase alphanumeric tokens (UTF-8 letters kept), possessive 's removed, "
           "Lucene's 33 English stopwords, Porter stemmer (Lucene's)";
}

/* ---- The term dictionary: the strings table of >>bpe (term -> id) ---- */
MMIXDEF mmix_bm25_config mmix_bm25_config_default(void) {
    mmix_bm25_config c;
    c.k1 = 0.9f; /* Pyserini's defaults (Lin et al. 2021), tuned on MS MARCO */
    c.b = 0.4f;
    return c;
}

MMIXDEF int64_t mmix_bm25_term_id(const mmix_bm25 *bm, const char *term, size_t len) {
    if (!bm || !bm->dict || (!term && len)) return -1;
    return mmix__strtab_find((const mmix__strtab *)bm->dict, (const unsigned char *)term, len,
                             mmix__hash_bytes((const unsigned char *)term, len));
}

MMIXDEF void mmix_bm25_free(mmix_bm25 *bm) {
    if (!bm) return;
    if (bm->dict) {
        mmix__strtab_free((mmix__strtab *)bm->dict);
        MMIX_FREE(bm->dict);
    }
    MMIX_FREE(bm->doc_len);
    MMIX_FREE(bm->doc_start);
    MMIX_FREE(bm->doc_term);
    MMIX_FREE(bm->doc_tf);
    MMIX_FREE(bm->post_start);
    MMIX_FREE(bm->post_doc);
    MMIX_FREE(bm->post_tf);
    MMIX_FREE(bm->df);
    MMIX_FREE(bm->idf);
    MMIX_FREE(bm->norm);
    memset(bm, 0, sizeof *bm);
}

/* ---- Building ---- */
/* The state of one document's analysis: every term's id goes into ids (grown as needed). */
typedef struct mmix__bm25_builder {
    mmix__strtab *dict;
    int32_t *ids;
    int64_t n_ids, cap_ids;
    int failed;                  /* out of memory, or more than INT32_MAX terms */
} mmix__bm25_builder;

static int mmix__bm25_collect(const char *term, size_t len, void *user) {
    mmix__bm25_builder *b = (mmix__bm25_builder *)user;
    uint64_t h = mmix__hash_bytes((const unsigned char *)term, len);
    int64_t id = mmix__strtab_find(b->dict, (const unsigned char *)term, len, h);
    void *p;
    if (id < 0) {
        if (b->dict->count >= INT32_MAX) { b->failed = 1; return 1; }
        id = mmix__strtab_add(b->dict, (const unsigned char *)term, len, h);
        if (id < 0) { b->failed = 1; return 1; }
    }
    p = mmix__grow(b->ids, &b->cap_ids, b->n_ids + 1, sizeof(int32_t));
    if (!p) { b->failed = 1; return 1; }
    b->ids = (int32_t *)p;
    b->ids[b->n_ids++] = (int32_t)id;
    return 0;
}

static int mmix__bm25_cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

MMIXDEF mmix_result mmix_bm25_build(mmix_ctx *ctx, mmix_bm25 *bm, const char *const *docs, const size_t *lens,
                                    int64_t n_docs, mmix_bm25_config cfg) {
    mmix__bm25_builder b;
    int64_t d, t, total_len = 0, cap_term = 0, cap_tf = 0, *next = NULL;
    double N;
    if (!bm) return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "bm25_build: NULL index");
    memset(bm, 0, sizeof *bm);
    if (n_docs < 0 || (n_docs > 0 && !docs))
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "bm25_build: %lld documents at %p", (long long)n_docs,
                              (const void *)docs);
    if (!(cfg.k1 >= 0.0f && cfg.k1 <= 1e30f) || !(cfg.b >= 0.0f && cfg.b <= 1.0f))
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT,
                              "bm25_build: k1 = %g must be finite and >= 0, b = %g must be in [0, 1]", (double)cfg.k1,
                              (double)cfg.b);
    for (d = 0; d < n_docs; d++)
        if (!docs[d] && (!lens || lens[d]))
            return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "bm25_build: document %lld is NULL", (long long)d);
    bm->config = cfg;
    bm->n_docs = n_docs;
    memset(&b, 0, sizeof b);
    b.dict = (mmix__strtab *)MMIX_MALLOC(sizeof(mmix__strtab));
    if (b.dict) memset(b.dict, 0, sizeof *b.dict);
    bm->dict = b.dict;
    bm->doc_len = (int64_t *)MMIX_MALLOC((size_t)(n_docs ? n_docs : 1) * sizeof(int64_t));
    bm->doc_start = (int64_t *)MMIX_MALLOC((size_t)(n_docs + 1) * sizeof(int64_t));
    bm->norm = (double *)MMIX_MALLOC((size_t)(n_docs ? n_docs : 1) * sizeof(double));
    if (!b.dict || !bm->doc_len || !bm->doc_start || !bm->norm) goto oom;
    bm->doc_start[0] = 0;
    /* Each document: its term ids, sorted, run-length coded into (term, tf) pairs. */
    for (d = 0; d < n_docs; d++) {
        int64_t i, n_pairs = bm->doc_start[d];
        size_t len = lens ? lens[d] : (docs[d] ? strlen(docs[d]) : 0);
        b.n_ids = 0;
        mmix_bm25_analyze(docs[d], len, mmix__bm25_collect, &b);
        if (b.failed) goto oom;
        if (b.n_ids > 1) qsort(b.ids, (size_t)b.n_ids, sizeof(int32_t), mmix__bm25_cmp_i32);
        bm->doc_len[d] = b.n_ids;
        total_len += b.n_ids;
        if (b.n_ids > 0) bm->n_counted++;
        for (i = 0; i < b.n_ids; i++) {
            if (i == 0 || b.ids[i] != b.ids[i - 1]) {
                void *p = mmix__grow(bm->doc_term, &cap_term, n_pairs + 1, sizeof(int32_t));
                if (!p) goto oom;
                bm->doc_term = (int32_t *)p;
                p = mmix__grow(bm->doc_tf, &cap_tf, n_pairs + 1, sizeof(int32_t));
                if (!p) goto oom;
                bm->doc_tf = (int32_t *)p;
                bm->doc_term[n_pairs] = b.ids[i];
                bm->doc_tf[n_pairs] = 0;
                n_pairs++;
            }
            bm->doc_tf[n_pairs - 1]++;
        }
        bm->doc_start[d + 1] = n_pairs;
    }
    MMIX_FREE(b.ids);
    b.ids = NULL;
    bm->n_terms = b.dict->count;
    /* df, then Lucene's idf (BM25Similarity: log(1 + (docCount - df + 0.5) / (df + 0.5))),
       which, unlike Robertson's ln((N - df + 0.5) / (df + 0.5)), is never negative. */
    bm->df = (int64_t *)MMIX_MALLOC((size_t)(bm->n_terms ? bm->n_terms : 1) * sizeof(int64_t));
    bm->idf = (double *)MMIX_MALLOC((size_t)(bm->n_terms ? bm->n_terms : 1) * sizeof(double));
    if (!bm->df || !bm->idf) goto oom;
    for (t = 0; t < bm->n_terms; t++) bm->df[t] = 0;
    for (d = 0; d < bm->doc_start[n_docs]; d++) bm->df[bm->doc_term[d]]++;
    /* The postings: the same (doc, term, tf) triples by term, filled in document order. */
    bm->post_start = (int64_t *)MMIX_MALLOC((size_t)(bm->n_terms + 1) * sizeof(int64_t));
    bm->post_doc = (int64_t *)MMIX_MALLOC((size_t)(bm->doc_start[n_docs] ? bm->doc_start[n_docs] : 1) * sizeof(int64_t));
    bm->post_tf = (int32_t *)MMIX_MALLOC((size_t)(bm->doc_start[n_docs] ? bm->doc_start[n_docs] : 1) * sizeof(int32_t));
    if (!bm->post_start || !bm->post_doc || !bm->post_tf) goto oom;
    bm->post_start[0] = 0;
    for (t = 0; t < bm->n_terms; t++) bm->post_start[t + 1] = bm->post_start[t] + bm->df[t];
    next = (int64_t *)MMIX_MALLOC((size_t)(bm->n_terms ? bm->n_terms : 1) * sizeof(int64_t));
    if (!next) goto oom;
    for (t = 0; t < bm->n_terms; t++) next[t] = bm->post_start[t];
    for (d = 0; d < n_docs; d++) {
        int64_t p;
        for (p = bm->doc_start[d]; p < bm->doc_start[d + 1]; p++) {
            int64_t slot = next[bm->doc_term[p]]++;
            bm->post_doc[slot] = d;
            bm->post_tf[slot] = bm->doc_tf[p];
        }
    }
    MMIX_FREE(next);
    next = NULL;
    N = (double)bm->n_counted;
    for (t = 0; t < bm->n_terms; t++) {
        double df = (double)bm->df[t];
        bm->idf[t] = log(1.0 + (N - df + 0.5) / (df + 0.5));
    }
    /* Exact lengths: Lucene keeps each length as a one-byte code (SmallFloat) and divides by
       the decoded value; we divide by the length itself. */
    bm->avgdl = bm->n_counted ? (double)total_len / N : 0.0;
    for (d = 0; d < n_docs; d++) {
        double rel = bm->avgdl > 0.0 ? (double)bm->doc_len[d] / bm->avgdl : 0.0;
        bm->norm[d] = (double)cfg.k1 * (1.0 - (double)cfg.b + (double)cfg.b * rel);
    }
    return MMIX_OK;
oom:
    MMIX_FREE(b.ids);
    MMIX_FREE(next);
    mmix_bm25_free(bm);
    return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bm25_build: out of memory (or more than 2^31 terms)");
}

/* ---- Scoring ---- */
/* One occurrence of a query term the pool has; after merging, one distinct term with the
   position of its first occurrence and its count. */
typedef struct mmix__bm25_qterm {
    int64_t pos;
    int32_t id, count;
} mmix__bm25_qterm;

/* The query's terms, collected in order (the first 64 on the stack, more on the heap). */
typedef struct mmix__bm25_query {
    const mmix_bm25 *bm;
    mmix__bm25_qterm *terms;
    int64_t n, cap, seen;
    mmix__bm25_qterm local[64];
    int failed;
} mmix__bm25_query;

static int mmix__bm25_query_term(const char *term, size_t len, void *user) {
    mmix__bm25_query *q = (mmix__bm25_query *)user;
    int64_t id = mmix_bm25_term_id(q->bm, term, len);
    q->seen++;
    if (id < 0) return 0; /* absent from the pool: adds 0 to every score */
    if (q->n == q->cap) {
        int64_t cap = 2 * q->cap;
        mmix__bm25_qterm *t = (mmix__bm25_qterm *)MMIX_MALLOC((size_t)cap * sizeof *t);
        if (!t) { q->failed = 1; return 1; }
        memcpy(t, q->terms, (size_t)q->n * sizeof *t);
        if (q->terms != q->local) MMIX_FREE(q->terms);
        q->terms = t;
        q->cap = cap;
    }
    q->terms[q->n].pos = q->seen;
    q->terms[q->n].id = (int32_t)id;
    q->terms[q->n].count = 1;
    q->n++;
    return 0;
}
static int mmix__bm25_cmp_id_pos(const void *a, const void *b) {
    const mmix__bm25_qterm *x = (const mmix__bm25_qterm *)a, *y = (const mmix__bm25_qterm *)b;
    if (x->id != y->id) return (x->id > y->id) - (x->id < y->id);
    return (x->pos > y->pos) - (x->pos < y->pos);
}
static int mmix__bm25_cmp_pos(const void *a, const void *b) {
    const mmix__bm25_qterm *x = (const mmix__bm25_qterm *)a, *y = (const mmix__bm25_qterm *)b;
    return (x->pos > y->pos) - (x->pos < y->pos);
}
/* Merges repeated terms (sorted by id, then position: every key is distinct, so the order
   is fixed) and puts the distinct ones back in the order of first occurrence:
   O(q log q), however long the query. */
static void mmix__bm25_query_merge(mmix__bm25_query *q) {
    int64_t i, n = 0;
    if (q->n < 2) return;
    qsort(q->terms, (size_t)q->n, sizeof *q->terms, mmix__bm25_cmp_id_pos);
    for (i = 0; i < q->n; i++) {
        if (n > 0 && q->terms[n - 1].id == q->terms[i].id) q->terms[n - 1].count++;
        else q->terms[n++] = q->terms[i];
    }
    q->n = n;
    qsort(q->terms, (size_t)q->n, sizeof *q->terms, mmix__bm25_cmp_pos);
}

/* tf of term in document d: binary search of its sorted distinct terms. */
static int32_t mmix__bm25_tf(const mmix_bm25 *bm, int64_t d, int32_t term) {
    int64_t lo = bm->doc_start[d], hi = bm->doc_start[d + 1];
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (bm->doc_term[mid] < term) lo = mid + 1;
        else hi = mid;
    }
    return lo < bm->doc_start[d + 1] && bm->doc_term[lo] == term ? bm->doc_tf[lo] : 0;
}

MMIXDEF mmix_result mmix_bm25_score(mmix_ctx *ctx, const mmix_bm25 *bm, const char *query, size_t len,
                                    const int64_t *doc_ids, int64_t n, double *scores) {
    mmix__bm25_query q;
    double k1p1;
    int64_t i, u;
    if (!bm || n < 0 || (n > 0 && !scores) || (!query && len))
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "bm25_score: NULL index, query or scores, or n = %lld",
                              (long long)n);
    for (i = 0; i < n; i++) {
        int64_t d = doc_ids ? doc_ids[i] : i;
        if (d < 0 || d >= bm->n_docs)
            return mmix_set_error(ctx, MMIX_ERR_RANGE, "bm25_score: candidate %lld is document %lld of %lld",
                                  (long long)i, (long long)d, (long long)bm->n_docs);
    }
    memset(&q, 0, sizeof q);
    q.bm = bm;
    q.terms = q.local;
    q.cap = 64;
    mmix_bm25_analyze(query, len, mmix__bm25_query_term, &q);
    if (q.failed) {
        if (q.terms != q.local) MMIX_FREE(q.terms);
        return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bm25_score: out of memory");
    }
    mmix__bm25_query_merge(&q);
    k1p1 = (double)bm->config.k1 + 1.0;
    /* Robertson & Zaragoza (2009), "The Probabilistic Relevance Framework: BM25 and Beyond",
       Eq. 3.15: sum_t idf(t) tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl)). Lucene >= 8
       drops the constant (k1 + 1), which changes no ranking. Both loops below add, for
       each document, the same products to 0.0 in the same term order. */
    if (!doc_ids) { /* documents 0..n-1: the query terms' postings */
        for (i = 0; i < n; i++) scores[i] = 0.0;
        for (u = 0; u < q.n; u++) {
            const mmix__bm25_qterm *t = &q.terms[u];
            double w = (double)t->count * bm->idf[t->id];
            int64_t p;
            for (p = bm->post_start[t->id]; p < bm->post_start[t->id + 1]; p++) {
                int64_t d = bm->post_doc[p];
                double tf = (double)bm->post_tf[p];
                if (d >= n) break; /* postings are in document order */
                scores[d] += w * (tf * k1p1 / (tf + bm->norm[d]));
            }
        }
        if (q.terms != q.local) MMIX_FREE(q.terms);
        return MMIX_OK;
    }
    for (i = 0; i < n; i++) {
        int64_t d = doc_ids ? doc_ids[i] : i;
        double s = 0.0;
        for (u = 0; u < q.n; u++) {
            const mmix__bm25_qterm *t = &q.terms[u];
            int32_t tf = mmix__bm25_tf(bm, d, t->id);
            if (tf > 0) {
                double w = (double)t->count * bm->idf[t->id];
                s += w * ((double)tf * k1p1 / ((double)tf + bm->norm[d]));
            }
        }
        scores[i] = s;
    }
    if (q.terms != q.local) MMIX_FREE(q.terms);
    return MMIX_OK;
}

MMIXDEF mmix_result mmix_bm25_scores(mmix_ctx *ctx, void *scorer, int64_t q0, int64_t nq, float *scores) {
    const mmix_bm25_scorer *s = (const mmix_bm25_scorer *)scorer;
    int64_t pool, i, failed = -1;
    mmix_result code = MMIX_OK;
    double *rows;
    if (!s || !s->bm || (nq > 0 && (!scores || !s->queries)) || q0 < 0 || nq < 0 || q0 + nq > s->n_queries)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "bm25 scores: queries %lld..%lld of %lld",
                              (long long)q0, (long long)(q0 + nq), (long long)(s ? s->n_queries : 0));
    pool = s->bm->n_docs;
    rows = (double *)MMIX_MALLOC((size_t)(nq * pool > 0 ? nq * pool : 1) * sizeof(double));
    if (!rows) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "bm25 scores: out of memory");
    /* Each query its own row and no shared state (errors are looked at after the loop). */
    MMIX__OMP(parallel for schedule(dynamic, 1))
    for (i = 0; i < nq; i++) {
        const char *text = s->queries[q0 + i];
        size_t len = s->query_lens ? s->query_lens[q0 + i] : (text ? strlen(text) : 0);
        mmix_result r = mmix_bm25_score(NULL, s->bm, text, len, NULL, pool, rows + i * pool);
        if (r != MMIX_OK) {
            MMIX__OMP(critical)
            if (failed < 0 || i < failed) {
                failed = i;
                code = r;
            }
        }
    }
    if (failed >= 0) {
        MMIX_FREE(rows);
        return mmix_set_error(ctx, code, "bm25 scores: query %lld: %s", (long long)(q0 + failed), mmix_result_str(code));
    }
    for (i = 0; i < nq * pool; i++) scores[i] = (float)rows[i];
    MMIX_FREE(rows);
    return MMIX_OK;
}

// ----------------------------------------------------------------------------------------
// >>retrieval_model  The indirect retrieval model (paper Sec. 6.2, Fig. 9; reference-notes
// Sec. 19): RetrievalMixer, the flat mixer block with no mask over c embeddings, a D -> 1 head.
// ----------------------------------------------------------------------------------------
/* The settings the flat block code of >>models reads: the mixer with L = c, k = 1 and no
   vocabulary (so mmix__mixer_param_count counts the blocks alone). */
static mmix_model_config mmix__retrieval_block_config(const mmix_retrieval_model *rm) {
    mmix_model_config c;
    memset(&c, 0, sizeof c);
    c.arch = MMIX_ARCH_MIXER;
    c.dim = rm->dim;
    c.depth = rm->depth;
    c.n_ctx = rm->n_samples;
    c.kernel = 1;
    c.ffn_dim = rm->ffn_dim;
    c.norm_eps = rm->norm_eps;
    return c;
}

MMIXDEF int64_t mmix_retrieval_model_param_count(const mmix_retrieval_model *rm) {
    mmix_model_config c = mmix__retrieval_block_config(rm);
    return mmix__mixer_param_count(&c) + rm->dim + 1; /* the blocks, retrieval_head */
}

MMIXDEF mmix_result mmix_retrieval_model_create(mmix_ctx *ctx, mmix_retrieval_model *rm, int64_t dim, int64_t depth,
                                                int64_t n_samples) {
    mmix_model shell; /* what mmix__mixer_block_create reads and fills: a config and a set */
    size_t bytes = (size_t)(depth > 0 ? depth : 0) * sizeof(mmix_mixer_block);
    int64_t i;
    memset(rm, 0, sizeof *rm);
    if (dim < 1 || depth < 1 || n_samples < 2)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "retrieval model: invalid configuration (dim %lld, "
                              "depth %lld, n_samples %lld): dim and depth must be positive, n_samples at least 2 "
                              "(the query and one candidate)", (long long)dim, (long long)depth, (long long)n_samples);
    rm->dim = dim;
    rm->depth = depth;
    rm->n_samples = n_samples;
    rm->ffn_dim = 4 * dim;  /* the reference's FeedForward(dim), expansion 4 */
    rm->norm_eps = 1e-5f;   /* nn.LayerNorm's default */
    memset(&shell, 0, sizeof shell);
    shell.config = mmix__retrieval_block_config(rm);
    if (mmix_params_create(ctx, &shell.params, mmix_retrieval_model_param_count(rm)) != MMIX_OK) return ctx->last_result;
    rm->blocks = (mmix_mixer_block *)mmix__arena_alloc(ctx, &ctx->persist, bytes);
    for (i = 0; rm->blocks && i < depth; i++)
        if (!mmix__mixer_block_create(ctx, &shell, &rm->blocks[i], "mixerblocks", i, NULL)) break;
    if (rm->blocks && i == depth) rm->head_w = mmix_params_add(ctx, &shell.params, "retrieval_head.weight", mmix_shape2(1, dim));
    if (rm->head_w) rm->head_b = mmix_params_add(ctx, &shell.params, "retrieval_head.bias", mmix_shape1(1));
    rm->params = shell.params;
    if (!rm->head_b)
        return ctx->last_result != MMIX_OK ? ctx->last_result
                                           : mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "retrieval model: out of memory");
    return MMIX_OK;
}

/* PyTorch's defaults in registration order: the blocks, then retrieval_head (reference-notes
   Sec. 4). No mask, so nothing is zeroed. */
MMIXDEF void mmix_retrieval_model_init(mmix_retrieval_model *rm, mmix_rng *rng) {
    int64_t i;
    for (i = 0; i < rm->depth; i++) mmix__mixer_block_init(&rm->blocks[i], 0, rng);
    mmix_init_pytorch_linear(rm->head_w, rm->head_b, rng);
}

/* The blocks on x [B, c, D]: h = x + Conv(LN_seq(x)), y = h + FF(LN_patch(h)), the flat block
   with every (output, input) pair of the c x c conv kept, so each candidate's output reads the
   query and every other candidate (paper Fig. 9). */
static mmix_tensor *mmix__retrieval_hidden(mmix_ctx *ctx, const mmix_retrieval_model *rm, mmix_tensor *x) {
    mmix_model_config c = mmix__retrieval_block_config(rm);
    mmix_mask all;
    int64_t i;
    all.kind = MMIX_MASK_NONE;
    all.diagonal = 0;
    all.keep = NULL;
    for (i = 0; x && i < rm->depth; i++) x = mmix__bidi_stream_forward(ctx, &rm->blocks[i], &c, x, all);
    return x;
}

MMIXDEF mmix_tensor *mmix_retrieval_model_scores(mmix_ctx *ctx, const mmix_retrieval_model *rm, mmix_tensor *x) {
    int64_t c = rm->n_samples;
    mmix_tensor *h;
    char s[64];
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "retrieval model", "x", x)) return NULL;
    if (x->shape.ndim != 3 || x->shape.d[1] != c || x->shape.d[2] != rm->dim) {
        mmix_set_error(ctx, MMIX_ERR_SHAPE, "retrieval model: embeddings %s must be [batch, n_samples = %lld, dim = "
                       "%lld]", mmix_shape_str(x->shape, s, sizeof s), (long long)c, (long long)rm->dim);
        return NULL;
    }
    /* the head on positions 1..c-1 alone: the query's own score is never used */
    h = mmix_tokens_slice(ctx, mmix__retrieval_hidden(ctx, rm, x), 1, c - 1);
    return mmix_reshape(ctx, mmix_linear(ctx, h, rm->head_w, rm->head_b), mmix_shape2(x->shape.d[0], c - 1));
}

MMIXDEF mmix_tensor *mmix_retrieval_model_loss(mmix_ctx *ctx, const mmix_retrieval_model *rm, mmix_tensor *x,
                                               mmix_tensor *labels, mmix_tensor **scores_out) {
    mmix_tensor *scores;
    char s[64];
    if (scores_out) *scores_out = NULL;
    if (!mmix__op_can_run(ctx) || !mmix__check_i32(ctx, "retrieval loss", "labels", labels)) return NULL;
    scores = mmix_retrieval_model_scores(ctx, rm, x);
    if (!scores) return NULL;
    if (labels->shape.ndim != 1 || labels->shape.d[0] != scores->shape.d[0]) {
        mmix_set_error(ctx, MMIX_ERR_SHAPE, "retrieval loss: labels %s must be [batch = %lld]",
                       mmix_shape_str(labels->shape, s, sizeof s), (long long)scores->shape.d[0]);
        return NULL;
    }
    if (scores_out) *scores_out = scores;
    /* torch's CrossEntropyLoss of [B, c-1, 1] against [B, 1]: softmax over the candidates */
    return mmix_cross_entropy(ctx, scores, labels, -100);
}

MMIXDEF mmix_result mmix_retrieval_model_save_meta(mmix_ctx *ctx, const mmix_retrieval_model *rm, const char *path,
                                                   const char *const *extra_keys, const char *const *extra_values,
                                                   int64_t n_extra) {
    mmix__meta meta;
    const char **keys = (const char **)MMIX_MALLOC((size_t)(16 + (n_extra > 0 ? n_extra : 0)) * 2 * sizeof(char *));
    const char **values = keys ? keys + 16 + (n_extra > 0 ? n_extra : 0) : NULL;
    int64_t i, n;
    mmix_result r;
    if (!keys) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: out of memory for the metadata", path);
    meta.n = 0;
    mmix__meta_add(&meta, "format", "pt");
    mmix__meta_add(&meta, "mmix_model", "retrieval-mixer");
    mmix__meta_add(&meta, "dim", "%lld", (long long)rm->dim);
    mmix__meta_add(&meta, "depth", "%lld", (long long)rm->depth);
    mmix__meta_add(&meta, "n_samples", "%lld", (long long)rm->n_samples);
    mmix__meta_add(&meta, "layer_norm_eps", "%.9g", (double)rm->norm_eps);
    for (n = 0; n < meta.n; n++) keys[n] = meta.keys[n], values[n] = meta.values[n];
    for (i = 0; i < n_extra; i++, n++) keys[n] = extra_keys[i], values[n] = extra_values[i];
    r = mmix_safetensors_write(ctx, path, rm->params.tensors, NULL, rm->params.count, keys, values, n);
    MMIX_FREE(keys);
    return r;
}
MMIXDEF mmix_result mmix_retrieval_model_save(mmix_ctx *ctx, const mmix_retrieval_model *rm, const char *path) {
    return mmix_retrieval_model_save_meta(ctx, rm, path, NULL, NULL, 0);
}

/* The sizes from the tensors: D from retrieval_head.weight [1, D] (read in the embedding's
   place by mmix__read_lm_sizes), the depth from the blocks present, c from block 0's conv
   [c, c, 1]; our metadata, where there is some, must say the same. */
static mmix_result mmix__retrieval_read_sizes(mmix_ctx *ctx, const mmix_safetensors *st, int64_t *sizes,
                                              double *eps) {
    static const char *const keys[3] = {"dim", "depth", "n_samples"};
    const char *arch = mmix_safetensors_meta(st, "mmix_arch");
    const mmix_st_entry *conv;
    mmix_model_config c;
    double v;
    mmix_result r;
    int k;
    if (arch)
        return mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: a language model's file (mmix_arch %s), not a retrieval "
                              "model's", st->path, arch);
    memset(&c, 0, sizeof c);
    r = mmix__read_lm_sizes(ctx, st, "retrieval_head.weight", "mixerblocks.%lld.conv.weight",
                            "mixerblocks.0.patch_ff.0.weight", &c);
    if (r != MMIX_OK) return r;
    conv = mmix_safetensors_find(st, "mixerblocks.0.conv.weight");
    if (c.vocab != 1)
        return mmix_set_error(ctx, MMIX_ERR_SHAPE, "%s: tensor 'retrieval_head.weight' must be [1, D], it has %lld rows",
                              st->path, (long long)c.vocab);
    if (conv->ndim != 3 || conv->shape[0] != conv->shape[1] || conv->shape[2] != 1)
        return mmix_set_error(ctx, MMIX_ERR_SHAPE, "%s: tensor 'mixerblocks.0.conv.weight' must be [c, c, 1]",
                              st->path);
    sizes[0] = c.dim;
    sizes[1] = c.depth;
    sizes[2] = conv->shape[0];
    for (k = 0; k < 3; k++) {
        if (!mmix__meta_number(ctx, st, keys[k], -1.0, &v)) return ctx->last_result;
        if (v != -1.0 && v != (double)sizes[k])
            return mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: metadata %s = %g, but the tensors say %lld", st->path,
                                  keys[k], v, (long long)sizes[k]);
    }
    return mmix__meta_number(ctx, st, "layer_norm_eps", 1e-5, eps) ? MMIX_OK : ctx->last_result;
}

MMIXDEF mmix_result mmix_retrieval_model_load(mmix_ctx *ctx, mmix_retrieval_model *rm, const char *path) {
    mmix_safetensors st;
    int64_t sizes[3];
    double eps = 1e-5;
    mmix_result r;
    memset(rm, 0, sizeof *rm);
    r = mmix_safetensors_open(ctx, path, &st);
    if (r != MMIX_OK) return r;
    r = mmix__retrieval_read_sizes(ctx, &st, sizes, &eps);
    if (r == MMIX_OK) r = mmix_retrieval_model_create(ctx, rm, sizes[0], sizes[1], sizes[2]);
    if (r == MMIX_OK) {
        rm->norm_eps = (float)eps;
        r = mmix__read_params(ctx, &st, &rm->params, "retrieval mixer", NULL);
    }
    mmix_safetensors_close(&st);
    return r;
}

/* Item b of x [B, c, D]: [Q[idx], T[slot 1], ..., T[slot c-1]] for the draw of rng (paper
   Algorithm 1). Rows move through mmix_tensor_upload, so x may live on a device. Returns m,
   or 0 on failure (with the context's error). */
static int64_t mmix__retrieval_item(mmix_ctx *ctx, mmix_retrieval_sampler *sampler, mmix_rng *rng, const float *Q,
                                    const float *T, int64_t D, int64_t idx, int64_t c, int64_t *slots, mmix_tensor *x,
                                    int64_t b) {
    int64_t j, m = mmix_retrieval_draw(sampler, rng, idx, c, slots);
    mmix_result r = mmix_tensor_upload(ctx, x, b * c * D, Q + idx * D, D); /* slot 0: the query */
    for (j = 1; r == MMIX_OK && j < c; j++) r = mmix_tensor_upload(ctx, x, (b * c + j) * D, T + slots[j] * D, D);
    return r == MMIX_OK ? m : 0;
}

MMIXDEF mmix_result mmix_retrieval_batch(mmix_ctx *ctx, mmix_retrieval_sampler *sampler, mmix_rng *rng,
                                         const float *Q, const float *T, int64_t D, const int64_t *items,
                                         int64_t B, int64_t c, mmix_tensor **x, mmix_tensor **labels) {
    int64_t N = sampler->n, b, *slots;
    int32_t *label;
    mmix_result r = MMIX_OK;
    *x = *labels = NULL;
    if (B < 1 || D < 1 || c < 2 || c > N)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "retrieval batch: %lld items of %lld candidates of "
                              "width %lld from a pool of %lld: sizes must be positive, 2 <= c <= pool",
                              (long long)B, (long long)c, (long long)D, (long long)N);
    for (b = 0; b < B; b++)
        if (items[b] < 0 || items[b] >= N)
            return mmix_set_error(ctx, MMIX_ERR_RANGE, "retrieval batch: item %lld is %lld, outside the pool [0, %lld)",
                                  (long long)b, (long long)items[b], (long long)N);
    slots = (int64_t *)MMIX_MALLOC((size_t)c * sizeof(int64_t));
    label = (int32_t *)MMIX_MALLOC((size_t)B * sizeof(int32_t));
    *x = slots && label ? mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape3(B, c, D)) : NULL;
    *labels = *x ? mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape1(B)) : NULL;
    if (!*labels) r = ctx->last_result != MMIX_OK ? ctx->last_result
                                                 : mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "retrieval batch: out of memory");
    for (b = 0; r == MMIX_OK && b < B; b++) {
        label[b] = (int32_t)(mmix__retrieval_item(ctx, sampler, rng, Q, T, D, items[b], c, slots, *x, b) - 1);
        if (label[b] < 0) r = ctx->last_result;
    }
    if (r == MMIX_OK) r = mmix_tensor_upload(ctx, *labels, 0, label, B);
    MMIX_FREE(slots);
    MMIX_FREE(label);
    if (r != MMIX_OK) *x = *labels = NULL;
    return r;
}

MMIXDEF mmix_result mmix_retrieval_model_evaluate(mmix_ctx *ctx, const mmix_retrieval_model *rm, const float *Q,
                                                  const float *T, int64_t pool, uint64_t seed, int64_t batch,
                                                  mmix_retrieval_result *out, double *loss,
                                                  mmix_progress_fn progress, void *user) {
    int64_t c = rm->n_samples, D = rm->dim, q0, i, j, *slots, *order, *match;
    mmix_retrieval_sampler sampler;
    int grad = mmix_grad_enabled(ctx);
    double total = 0.0;
    int32_t *label;
    float *row;
    mmix_result r;
    memset(out, 0, sizeof *out);
    out->n = c;
    if (loss) *loss = 0.0;
    if (pool < 2 || batch < 1)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "retrieval model evaluate: a pool of %lld in batches of "
                              "%lld", (long long)pool, (long long)batch);
    if (c > pool) return MMIX_OK; /* skipped, as mmix_retrieval_evaluate skips an n larger than the pool */
    if ((r = mmix_retrieval_sampler_init(ctx, &sampler, pool)) != MMIX_OK) return r;
    slots = (int64_t *)MMIX_MALLOC((size_t)(2 * c + batch) * sizeof(int64_t));
    label = (int32_t *)MMIX_MALLOC((size_t)batch * sizeof(int32_t));
    row = (float *)MMIX_MALLOC((size_t)c * sizeof(float));
    if (!slots || !label || !row) r = mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "retrieval model evaluate: out of memory");
    order = slots ? slots + c : NULL; /* 0..c-1: the rank reads row[j] for slot j */
    match = slots ? slots + 2 * c : NULL;
    for (j = 0; order && j < c; j++) order[j] = j;
    mmix_set_grad_enabled(ctx, 0);
    for (q0 = 0; r == MMIX_OK && q0 < pool; q0 += batch) {
        int64_t nq = pool - q0 < batch ? pool - q0 : batch;
        mmix_tensor *x = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape3(nq, c, D));
        mmix_tensor *labels = x ? mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape1(nq)) : NULL, *l, *scores;
        for (i = 0; labels && i < nq; i++) {
            mmix_rng rng; /* query q0 + i's own draw, as mmix_retrieval_evaluate makes it */
            mmix_rng_seed(&rng, mmix__retrieval_draw_seed(seed, c, q0 + i));
            match[i] = mmix__retrieval_item(ctx, &sampler, &rng, Q, T, D, q0 + i, c, slots, x, i);
            if (!match[i]) break;
            label[i] = (int32_t)(match[i] - 1);
        }
        if (!labels || i < nq || mmix_tensor_upload(ctx, labels, 0, label, nq) != MMIX_OK ||
            !(l = mmix_retrieval_model_loss(ctx, rm, x, labels, &scores))) {
            r = ctx->last_result;
            break;
        }
        total += (double)mmix_tensor_item(l, 0) * (double)nq;
        for (i = 0; r == MMIX_OK && i < nq; i++) {
            int64_t rank;
            r = mmix_tensor_download(ctx, scores, i * (c - 1), row + 1, c - 1); /* row[j]: slot j's score */
            rank = mmix__retrieval_rank(row, order, c, match[i]);
            out->queries++;
            out->top1 += rank == 1;
            out->recall10 += rank <= 10;
            out->mrr10 += rank <= 10 ? 1.0 / (double)rank : 0.0;
        }
        mmix_step_reset(ctx);
        if (r == MMIX_OK && progress) progress(user, q0 + nq, pool);
    }
    mmix_set_grad_enabled(ctx, grad);
    if (r == MMIX_OK && out->queries > 0) {
        out->top1 /= (double)out->queries;
        out->recall10 /= (double)out->queries;
        out->mrr10 /= (double)out->queries;
        if (loss) *loss = total / (double)out->queries;
    }
    mmix_retrieval_sampler_free(&sampler);
    MMIX_FREE(slots);
    MMIX_FREE(label);
    MMIX_FREE(row);
    return r;
}

// ----------------------------------------------------------------------------------------
// >>invert  Input representation (paper Sec. 3, Eqs. 1-6, Fig. 3; reference-notes Sec. 17).
// Everything the inversion keeps between iterations (the embeddings being optimized, the
// target, the gradient) lives in host buffers; each iteration builds its tensors in the step
// arena, runs forward and backward, and rewinds. The model's weights are frozen meanwhile
// (requires_grad off), so backward computes no weight gradient: only d/de.
// ----------------------------------------------------------------------------------------
#ifdef MMIX_USE_LAPACKE
#include <lapacke.h>
#endif
#include <float.h>

/* pcg32_srandom_r(seed, stream): a generator of its own per purpose, so the random start,
   the reference tokens' noise and epsilon's noise never depend on each other (nor on the
   model's initialization, which mmix_rng_seed's stream 54 draws). */
static void mmix__invert_rng(mmix_rng *rng, uint64_t seed, uint64_t stream) {
    rng->state = 0;
    rng->inc = (stream << 1) | 1ULL;
    mmix_rng_u32(rng);
    rng->state += seed;
    mmix_rng_u32(rng);
}

MMIXDEF mmix_tensor *mmix_model_blocks(mmix_ctx *ctx, const mmix_model *model, mmix_tensor *e) {
    const mmix_model_config *c = &model->config;
    mmix__arch d = mmix__arch_of(model);
    mmix_tensor *x = e;
    char s[64];
    int64_t i;
    if (!mmix__op_can_run(ctx) || !mmix__check_f32(ctx, "model blocks", "e", e)) return NULL;
    if (!d.block || d.embed) { /* two stacks, or positions added to the embedding (GPT-1) */
        mmix_set_error(ctx, MMIX_ERR_UNSUPPORTED,
                       "model blocks: the %s is not one stack of blocks on the token embedding, so it has no "
                       "abbreviated model to invert (mixer, llama and their one-stack variants have)",
                       d.info.name);
        return NULL;
    }
    if (e->shape.ndim != 3 || e->shape.d[2] != c->dim || e->shape.d[1] > c->n_ctx ||
        (d.info.fixed_window && e->shape.d[1] != c->n_ctx)) {
        mmix_set_error(ctx, MMIX_ERR_SHAPE, "model blocks: embeddings %s must be [batch, %s%lld, %lld]",
                       mmix_shape_str(e->shape, s, sizeof s), d.info.fixed_window ? "" : "length <= ",
                       (long long)c->n_ctx, (long long)c->dim);
        return NULL;
    }
    /* the blocks alone: no head, and no final norm (the transformer's d.final), reference-notes Sec. 17 */
    for (i = 0; x && i < c->depth; i++) x = d.block(ctx, model, i, x, NULL, 0);
    return x;
}

MMIXDEF mmix_invert_options mmix_invert_options_default(void) {
    mmix_invert_options o;
    memset(&o, 0, sizeof o);
    o.iters = 500;
    o.lr = 0.02f;
    o.start = MMIX_INVERT_START_CODE;
    return o;
}

MMIXDEF float mmix_invert_lr(float lr, int64_t i, int64_t n) {
    /* the reference loop: eta_0 (N - i) / N + (eta_0 / 10) i / N, from eta_0 to about eta_0 / 10 */
    return (float)((double)lr * (double)(n - i) / (double)n + ((double)lr / 10.0) * (double)i / (double)n);
}

MMIXDEF mmix_tensor *mmix_invert_objective(mmix_ctx *ctx, const mmix_model *model, mmix_tensor *e,
                                           mmix_tensor *target, int last_token) {
    mmix_tensor *h = mmix_model_blocks(ctx, model, e);
    char a[64], b[64];
    if (!h || !mmix__check_f32(ctx, "invert objective", "target", target)) return NULL;
    if (!mmix_shape_equal(h->shape, target->shape)) {
        mmix_set_error(ctx, MMIX_ERR_SHAPE, "invert objective: target %s must have the hidden layer's shape %s",
                       mmix_shape_str(target->shape, a, sizeof a), mmix_shape_str(h->shape, b, sizeof b));
        return NULL;
    }
    if (last_token) { /* paper Fig. 3b: only the last token's last hidden layer */
        h = mmix_tokens_select(ctx, h, -1);
        target = mmix_tokens_select(ctx, target, -1);
    }
    return mmix_l1_distance(ctx, h, target); /* paper Eq. 2: L1, summed over tokens and features */
}

/* What the inversion changes in the context and the model, kept to be put back. */
typedef struct mmix__invert_state {
    int grad_enabled, training;
    unsigned char *requires;    /* each parameter's requires_grad */
} mmix__invert_state;

static mmix_result mmix__invert_enter(mmix_ctx *ctx, const mmix_model *model, mmix__invert_state *st) {
    int64_t i;
    st->grad_enabled = mmix_grad_enabled(ctx);
    st->training = mmix_is_training(ctx);
    st->requires = (unsigned char *)mmix__sys_malloc(ctx, (size_t)model->params.count + 1);
    if (!st->requires) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "invert: out of memory");
    for (i = 0; i < model->params.count; i++) { /* frozen: the gradient is the input's alone */
        st->requires[i] = (unsigned char)model->params.tensors[i]->requires_grad;
        model->params.tensors[i]->requires_grad = 0;
    }
    mmix_set_training(ctx, 0); /* the reference's model.eval() */
    return MMIX_OK;
}

static void mmix__invert_leave(mmix_ctx *ctx, const mmix_model *model, mmix__invert_state *st) {
    int64_t i;
    for (i = 0; st->requires && i < model->params.count; i++)
        model->params.tensors[i]->requires_grad = st->requires[i];
    MMIX_FREE(st->requires);
    st->requires = NULL;
    mmix_set_grad_enabled(ctx, st->grad_enabled);
    mmix_set_training(ctx, st->training);
}

/* Where an iteration's tensors start, and how to drop them: a rewind, or, when the step
   arena was empty, a reset, which folds its blocks into one so that the next iterations
   allocate nothing. */
typedef struct mmix__invert_mark {
    mmix_step_mark mark;
    int was_empty;
} mmix__invert_mark;
static mmix__invert_mark mmix__invert_mark_get(mmix_ctx *ctx) {
    mmix__invert_mark m;
    m.mark = mmix_step_mark_get(ctx);
    m.was_empty = mmix_memory_usage(ctx).step_used == 0;
    return m;
}
static void mmix__invert_release(mmix_ctx *ctx, mmix__invert_mark m) {
    if (m.was_empty) mmix_step_reset(ctx);
    else mmix_step_rewind(ctx, m.mark);
}

/* A float tensor [B, L, D] in the step arena holding host values. */
static mmix_tensor *mmix__invert_tensor(mmix_ctx *ctx, const float *host, int64_t B, int64_t L, int64_t D) {
    mmix_tensor *t = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape3(B, L, D));
    if (t && mmix_tensor_upload(ctx, t, 0, host, t->n) != MMIX_OK) return NULL;
    return t;
}

/* O(x) of host embeddings x [B, L, D] into out, without a tape. */
static mmix_result mmix__invert_forward(mmix_ctx *ctx, const mmix_model *model, const float *x, int64_t B, int64_t L,
                                        float *out) {
    mmix__invert_mark mark = mmix__invert_mark_get(ctx);
    int enabled = mmix_grad_enabled(ctx);
    mmix_tensor *h;
    mmix_result r;
    mmix_set_grad_enabled(ctx, 0);
    h = mmix_model_blocks(ctx, model, mmix__invert_tensor(ctx, x, B, L, model->config.dim));
    r = h ? mmix_tensor_download(ctx, h, 0, out, h->n) : mmix_last_result(ctx);
    mmix_set_grad_enabled(ctx, enabled);
    mmix__invert_release(ctx, mark);
    return r;
}

/* d(objective)/de of host e into grad (overwritten), the objective in *loss. The weights must
   be frozen (mmix__invert_enter), or backward would also fill their gradients. */
static mmix_result mmix__invert_grad(mmix_ctx *ctx, const mmix_model *model, const float *e, const float *target,
                                     int64_t B, int64_t L, int last_token, float *grad, double *loss) {
    mmix__invert_mark mark = mmix__invert_mark_get(ctx);
    int64_t D = model->config.dim;
    mmix_tensor *et, *obj = NULL;
    mmix_result r;
    mmix_set_grad_enabled(ctx, 1);
    et = mmix__invert_tensor(ctx, e, B, L, D);
    if (et && mmix_set_requires_grad(ctx, et, 1) == MMIX_OK)
        obj = mmix_invert_objective(ctx, model, et, mmix__invert_tensor(ctx, target, B, L, D), last_token);
    r = obj ? mmix_backward(ctx, obj) : mmix_last_result(ctx);
    if (r == MMIX_OK && !et->grad) memset(grad, 0, (size_t)(B * L * D) * sizeof(float)); /* no path to e */
    else if (r == MMIX_OK) et->backend->download(grad, et->grad, (size_t)et->n * sizeof(float));
    if (r == MMIX_OK && loss) *loss = (double)mmix_tensor_item(obj, 0);
    mmix__invert_release(ctx, mark);
    return r;
}

static mmix_result mmix__invert_check(mmix_ctx *ctx, const mmix_model *model, int64_t B, int64_t L) {
    if (B < 1 || L < 1 || L > model->config.n_ctx)
        return mmix_set_error(ctx, MMIX_ERR_SHAPE, "invert: %lld row(s) of %lld token(s); want at least one row of "
                              "1..n_ctx = %lld", (long long)B, (long long)L, (long long)model->config.n_ctx);
    return MMIX_OK;
}

MMIXDEF mmix_result mmix_invert_step(mmix_ctx *ctx, const mmix_model *model, float *e, const float *target,
                                     int64_t B, int64_t L, float lr, int last_token, double *loss) {
    mmix__invert_state st;
    int64_t i, n = B * L * model->config.dim;
    float *grad;
    mmix_result r;
    if (ctx->last_result != MMIX_OK) return ctx->last_result;
    if ((r = mmix__invert_check(ctx, model, B, L)) != MMIX_OK) return r;
    grad = (float *)mmix__sys_malloc(ctx, (size_t)n * sizeof(float));
    if (!grad) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "invert: out of memory");
    r = mmix__invert_enter(ctx, model, &st);
    if (r == MMIX_OK) r = mmix__invert_grad(ctx, model, e, target, B, L, last_token, grad, loss);
    mmix__invert_leave(ctx, model, &st);
    for (i = 0; r == MMIX_OK && i < n; i++) e[i] -= lr * grad[i]; /* plain gradient descent (Eq. 2) */
    MMIX_FREE(grad);
    return r;
}

/* ---- the pseudo-inverse (paper Eqs. 3-4) ---- */

MMIXDEF int mmix_has_lapacke(void) {
#ifdef MMIX_USE_LAPACKE
    return 1;
#else
    return 0;
#endif
}

#ifndef MMIX_USE_LAPACKE
/* pinv of A [m, n], m >= n, into out [n, m] by a one-sided Jacobi SVD (Hestenes 1958) in
   double: plane rotations of A's columns until every pair is orthogonal; then A V = U S with
   the columns of U S orthogonal, and A+ = V S^-2 (U S)^T. For builds without LAPACK. */
static mmix_result mmix__pinv_jacobi(mmix_ctx *ctx, const float *A, int64_t m, int64_t n, float *out) {
    double *U = (double *)mmix__sys_malloc(ctx, (size_t)(m * n + n * n + n) * sizeof(double));
    double *Vm, *s2, smax = 0.0, cutoff;
    int64_t i, j, p, q, l;
    int sweep, rotated = 1;
    if (!U) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "pinv: out of memory for %lld x %lld", (long long)m,
                                  (long long)n);
    Vm = U + m * n;                 /* column j of U at U + j m, of V at Vm + j n */
    s2 = Vm + n * n;
    for (j = 0; j < n; j++)
        for (i = 0; i < m; i++) U[j * m + i] = (double)A[i * n + j];
    for (j = 0; j < n * n; j++) Vm[j] = (j % (n + 1)) == 0 ? 1.0 : 0.0;
    for (sweep = 0; sweep < 60 && rotated; sweep++) {
        rotated = 0;
        for (p = 0; p < n; p++)
            for (q = p + 1; q < n; q++) {
                double *up = U + p * m, *uq = U + q * m, *vp = Vm + p * n, *vq = Vm + q * n;
                double alpha = 0.0, beta = 0.0, gamma = 0.0, zeta, t, c, sn;
                for (i = 0; i < m; i++) alpha += up[i] * up[i], beta += uq[i] * uq[i], gamma += up[i] * uq[i];
                if (alpha == 0.0 || beta == 0.0 || fabs(gamma) <= 1e-15 * sqrt(alpha * beta)) continue;
                rotated = 1;
                zeta = (beta - alpha) / (2.0 * gamma);
                t = (zeta >= 0.0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1.0 + zeta * zeta));
                c = 1.0 / sqrt(1.0 + t * t);
                sn = c * t;
                for (i = 0; i < m; i++) {
                    double a = up[i], b = uq[i];
                    up[i] = c * a - sn * b;
                    uq[i] = sn * a + c * b;
                }
                for (i = 0; i < n; i++) {
                    double a = vp[i], b = vq[i];
                    vp[i] = c * a - sn * b;
                    vq[i] = sn * a + c * b;
                }
            }
    }
    for (j = 0; j < n; j++) {
        s2[j] = 0.0;
        for (i = 0; i < m; i++) s2[j] += U[j * m + i] * U[j * m + i];
        if (s2[j] > smax) smax = s2[j];
    }
    cutoff = (double)(m > n ? m : n) * (double)FLT_EPSILON * sqrt(smax); /* torch.linalg.pinv's rtol */
    for (j = 0; j < n; j++)
        for (i = 0; i < m; i++) {
            double acc = 0.0;
            for (l = 0; l < n; l++)
                if (sqrt(s2[l]) > cutoff) acc += Vm[l * n + j] * U[l * m + i] / s2[l];
            out[j * m + i] = (float)acc;
        }
    MMIX_FREE(U);
    return MMIX_OK;
}
#endif

MMIXDEF mmix_result mmix_pinv(mmix_ctx *ctx, const float *A, int64_t m, int64_t n, float *out) {
    if (m < 1 || n < 1 || !A || !out)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "pinv: a %lld x %lld matrix (want both sizes >= 1)",
                              (long long)m, (long long)n);
#ifdef MMIX_USE_LAPACKE
    {
        /* A = U S V^T (economy size, k = min(m, n)); A+ = V S^-1 U^T, small singular values cut */
        int64_t k = m < n ? m : n, i, l;
        float *a = (float *)mmix__sys_malloc(ctx, (size_t)(m * n + k + m * k + k * n) * sizeof(float));
        float *s, *u, *vt, cutoff;
        lapack_int info;
        if (!a) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "pinv: out of memory for %lld x %lld",
                                      (long long)m, (long long)n);
        s = a + m * n;
        u = s + k;
        vt = u + m * k;
        memcpy(a, A, (size_t)(m * n) * sizeof(float));
        info = LAPACKE_sgesdd(LAPACK_ROW_MAJOR, 'S', (lapack_int)m, (lapack_int)n, a, (lapack_int)n, s, u,
                              (lapack_int)k, vt, (lapack_int)n);
        if (info != 0) {
            MMIX_FREE(a);
            return mmix_set_error(ctx, MMIX_ERR_NUMERIC, "pinv: LAPACKE_sgesdd failed (info %d)", (int)info);
        }
        cutoff = (float)(m > n ? m : n) * FLT_EPSILON * s[0]; /* torch.linalg.pinv's rtol */
        for (l = 0; l < k; l++) /* row l of V^T scaled by 1 / s_l, or zeroed */
            for (i = 0; i < n; i++) vt[l * n + i] = s[l] > cutoff ? vt[l * n + i] / s[l] : 0.0f;
        mmix_sgemm_builtin(1, 1, n, m, k, 1.0f, vt, n, u, k, 0.0f, out, m); /* (S^-1 V^T)^T U^T */
        MMIX_FREE(a);
        return MMIX_OK;
    }
#else
    if (m >= n) return mmix__pinv_jacobi(ctx, A, m, n, out);
    {
        /* a wide A: pinv(A) = pinv(A^T)^T */
        float *t = (float *)mmix__sys_malloc(ctx, (size_t)(2 * m * n) * sizeof(float));
        int64_t i, j;
        mmix_result r;
        if (!t) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "pinv: out of memory");
        for (i = 0; i < m; i++)
            for (j = 0; j < n; j++) t[j * m + i] = A[i * n + j];
        r = mmix__pinv_jacobi(ctx, t, n, m, t + m * n); /* [m, n] */
        for (i = 0; r == MMIX_OK && i < m; i++)
            for (j = 0; j < n; j++) out[j * m + i] = t[m * n + i * n + j];
        MMIX_FREE(t);
        return r;
    }
#endif
}

MMIXDEF mmix_result mmix_model_embedding_pinv(mmix_ctx *ctx, const mmix_model *model, float *out) {
    int64_t V = model->config.vocab, D = model->config.dim;
    float *W = (float *)mmix__sys_malloc(ctx, (size_t)(V * D) * sizeof(float));
    mmix_result r;
    if (!W) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "pinv: out of memory for the embedding matrix");
    r = mmix_tensor_download(ctx, model->embed, 0, W, V * D);
    if (r == MMIX_OK) r = mmix_pinv(ctx, W, V, D, out);
    MMIX_FREE(W);
    return r;
}

MMIXDEF mmix_result mmix_pinv_tokens(mmix_ctx *ctx, const float *pinv, int64_t V, int64_t D, const float *e,
                                     int64_t n, int k, int32_t *out) {
    int64_t r, v, first, rows, chunk = 64;
    float *logits;
    if (k < 1 || k > 16 || k > V)
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "pinv tokens: k = %d, want 1..min(16, V = %lld)", k,
                              (long long)V);
    logits = (float *)mmix__sys_malloc(ctx, (size_t)(chunk * V) * sizeof(float));
    if (!logits) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "pinv tokens: out of memory");
    for (first = 0; first < n; first += rows) {
        rows = n - first < chunk ? n - first : chunk;
        mmix_sgemm_builtin(0, 0, rows, V, D, 1.0f, e + first * D, D, pinv, V, 0.0f, logits, V); /* e W+ */
        for (r = 0; r < rows; r++) {
            const float *x = logits + r * V;
            int32_t *best = out + (first + r) * k;
            int have = 0, j;
            for (v = 0; v < V; v++) { /* insertion into the k best so far; strictly greater wins */
                if (have == k && !(x[v] > x[best[k - 1]])) continue;
                j = have < k ? have++ : k - 1;
                while (j > 0 && x[v] > x[best[j - 1]]) best[j] = best[j - 1], j--;
                best[j] = (int32_t)v;
            }
        }
    }
    MMIX_FREE(logits);
    return MMIX_OK;
}

MMIXDEF double mmix_hamming(const int32_t *ref, const int32_t *recovered, int64_t n, int k, int32_t pad) {
    int64_t i, card = 0, miss = 0;
    int j, found;
    for (i = 0; i < n; i++) {
        if (pad >= 0 && ref[i] == pad) continue; /* pad positions are not counted (Eq. 6) */
        card++;
        for (found = 0, j = 0; j < k && !found; j++) found = recovered[i * k + j] == ref[i];
        miss += !found;
    }
    return card ? (double)miss / (double)card : NAN;
}

/* ---- the whole procedure ---- */

/* sum |a - b| of each row b of [B, L, D] into out[b] (the last position only, with last). */
static void mmix__invert_row_l1(const float *a, const float *b, int64_t B, int64_t L, int64_t D, int last,
                                double *out) {
    int64_t r, i;
    for (r = 0; r < B; r++) {
        int64_t from = r * L * D + (last ? (L - 1) * D : 0), to = (r + 1) * L * D;
        out[r] = 0.0;
        for (i = from; i < to; i++) out[r] += fabs((double)a[i] - (double)b[i]);
    }
}

MMIXDEF mmix_result mmix_invert(mmix_ctx *ctx, const mmix_model *model, const float *pinv, const int32_t *ids,
                                int64_t B, int64_t L, int32_t pad, const mmix_invert_options *opt,
                                int32_t *recovered, mmix_invert_result *results) {
    const int64_t V = model->config.vocab, D = model->config.dim, n = B * L * D;
    mmix_invert_options o = opt ? *opt : mmix_invert_options_default();
    mmix__invert_state st = {0, 0, NULL};
    mmix_rng rng;
    float *buf = NULL, *emb, *target, *e, *grad, *tmp, *own_pinv = NULL;
    int32_t *top5, *ref, *top1;
    double *row;
    int64_t i, b;
    const int k = V < 5 ? (int)V : 5;             /* the reference code's top-5 */
    mmix_result r;
    if (ctx->last_result != MMIX_OK) return ctx->last_result;
    if ((r = mmix__invert_check(ctx, model, B, L)) != MMIX_OK) return r;
    if (o.iters < 0 || !(o.lr >= 0.0f))
        return mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "invert: %lld iterations at lr %g (want >= 0 each)",
                              (long long)o.iters, (double)o.lr);
    for (i = 0; i < B * L; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return mmix_set_error(ctx, MMIX_ERR_RANGE, "invert: token %lld of row %lld is %ld, outside the vocabulary "
                                  "[0, %lld)", (long long)(i % L), (long long)(i / L), (long)ids[i], (long long)V);
    buf = (float *)mmix__sys_malloc(ctx, (size_t)(5 * n) * sizeof(float));
    row = (double *)mmix__sys_malloc(ctx, (size_t)B * sizeof(double));
    top5 = (int32_t *)mmix__sys_malloc(ctx, (size_t)(7 * B * L) * sizeof(int32_t));
    if (!buf || !row || !top5) {
        MMIX_FREE(buf);
        MMIX_FREE(row);
        MMIX_FREE(top5);
        return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "invert: out of memory");
    }
    emb = buf, target = emb + n, e = target + n, grad = e + n, tmp = grad + n;
    ref = top5 + 5 * B * L;                       /* [B L]: the reference code's tokens */
    top1 = ref + B * L;                           /* [B L]: the recovered tokens */
    r = mmix__invert_enter(ctx, model, &st);
    /* e = wte(ids) and the target t = O(e) (paper Sec. 3.1, Eq. 1) */
    for (i = 0; r == MMIX_OK && i < B * L; i++) r = mmix_tensor_download(ctx, model->embed, ids[i] * D, emb + i * D, D);
    if (r == MMIX_OK) r = mmix__invert_forward(ctx, model, emb, B, L, target);
    /* epsilon (paper Sec. 3.1): the objective's value for the true embedding plus N(0, 1/20^2) */
    mmix__invert_rng(&rng, o.seed, 3);
    for (i = 0; i < n; i++) tmp[i] = emb[i] + 0.05f * mmix_rng_normal(&rng);
    if (r == MMIX_OK) r = mmix__invert_forward(ctx, model, tmp, B, L, grad);
    if (r == MMIX_OK) {
        mmix__invert_row_l1(grad, target, B, L, D, o.last_token, row);
        for (b = 0; results && b < B; b++) results[b].epsilon = row[b];
    }
    /* e_0: the reference code's N(0, 1), or the paper's N(1/2, 1/20^2), from stream (seed, 1) */
    mmix__invert_rng(&rng, o.seed, 1);
    for (i = 0; i < n; i++)
        e[i] = o.start == MMIX_INVERT_START_PAPER ? 0.5f + 0.05f * mmix_rng_normal(&rng) : mmix_rng_normal(&rng);
    if (r == MMIX_OK) r = mmix__invert_forward(ctx, model, e, B, L, tmp);
    if (r == MMIX_OK) {
        mmix__invert_row_l1(tmp, target, B, L, D, o.last_token, row);
        for (b = 0; results && b < B; b++) results[b].l1_start = row[b];
    }
    /* paper Eq. 2: N steps of plain gradient descent, the step falling from eta_0 to eta_0 / 10 */
    for (i = 0; r == MMIX_OK && i < o.iters; i++) {
        float lr = mmix_invert_lr(o.lr, i, o.iters);
        int64_t j;
        r = mmix__invert_grad(ctx, model, e, target, B, L, o.last_token, grad, NULL);
        for (j = 0; r == MMIX_OK && j < n; j++) e[j] -= lr * grad[j];
    }
    if (r == MMIX_OK) r = mmix__invert_forward(ctx, model, e, B, L, tmp);
    if (r == MMIX_OK) {
        mmix__invert_row_l1(tmp, target, B, L, D, o.last_token, row);
        for (b = 0; results && b < B; b++) results[b].l1 = row[b];
    }
    mmix__invert_leave(ctx, model, &st);
    /* paper Eq. 3: tokens from e_N W+; the code's reference tokens from (e + N(0, 1/20^2)) W+ */
    if (r == MMIX_OK && !pinv) {
        own_pinv = (float *)mmix__sys_malloc(ctx, (size_t)(V * D) * sizeof(float));
        r = own_pinv ? mmix_model_embedding_pinv(ctx, model, own_pinv)
                     : mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "invert: out of memory for the pseudo-inverse");
        pinv = own_pinv;
    }
    if (r == MMIX_OK) r = mmix_pinv_tokens(ctx, pinv, V, D, e, B * L, k, top5);
    mmix__invert_rng(&rng, o.seed, 2);
    for (i = 0; i < n; i++) tmp[i] = emb[i] + 0.05f * mmix_rng_normal(&rng);
    if (r == MMIX_OK) r = mmix_pinv_tokens(ctx, pinv, V, D, tmp, B * L, 1, ref);
    for (i = 0; r == MMIX_OK && i < B * L; i++) top1[i] = top5[i * k];
    if (r == MMIX_OK && recovered) memcpy(recovered, top1, (size_t)(B * L) * sizeof(int32_t));
    for (b = 0; r == MMIX_OK && results && b < B; b++) {
        results[b].hamming = mmix_hamming(ids + b * L, top1 + b * L, L, 1, pad);   /* paper Eq. 6 */
        results[b].hamming_code = mmix_hamming(ref + b * L, top5 + b * L * k, L, k, pad);
    }
    MMIX_FREE(own_pinv);
    MMIX_FREE(buf);
    MMIX_FREE(row);
    MMIX_FREE(top5);
    return r;
}

#endif /* MASKEDMIXER_IMPLEMENTATION */

/*
------------------------------------------------------------------------------------------
LICENSE (MIT)

Copyright (c) 2026 the maskedmixer authors

Permission is hereby granted, free of charge, to any person obtaining a copy of this
software and associated documentation files (the "Software"), to deal in the Software
without restriction, including without limitation the rights to use, copy, modify, merge,
publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons
to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE
FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------------------
*/
