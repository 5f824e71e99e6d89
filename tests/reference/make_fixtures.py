#!/usr/bin/python3
"""PyTorch reference fixtures for maskedmixer's ops and optimizer.

Run with Debian's interpreter after `apt-get install python3-torch` (torch 1.13):

    /usr/bin/python3 tests/reference/make_fixtures.py tests/reference/fixtures

Everything here is written from the PyTorch side, independently of the C code: each op is
built from torch functions (or, where Debian has no transformers package, from the
Hugging Face formulas written out by hand), run forward, and differentiated with autograd
against a random upstream gradient R. The optimizer files replay recorded gradients
through torch.optim.AdamW, clip_grad_norm_ and the Hugging Face learning-rate lambdas.

File format (little-endian), read by tests/fixture.h:
    8 bytes  magic "MMIXFIX\\0"
    u32      version (1)
    u32 n, n bytes   settings: UTF-8 text, one "key: value" per line
    u32      tensor count, then per tensor:
             u32 n, n bytes name; u32 dtype (0 = float32, 1 = int32); u32 ndim;
             ndim x i64 dims; the values, row-major
Deterministic: fixed seeds, one thread, no timestamps - a rerun on the same machine
reproduces each file byte for byte. Another CPU can change torch's last float bits, so
`make check-fixtures` compares a regeneration within the tests' tolerances
(compare_fixtures.py).
"""
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

VERSION = 1
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


class Fixture:
    def __init__(self, settings):
        self.settings = settings
        self.tensors = []

    def add(self, name, t):
        t = t.detach().clone().contiguous()  # a copy: later in-place updates must not reach it
        if t.dtype in (torch.int64, torch.int32):
            t = t.to(torch.int32)
        else:
            t = t.to(torch.float32)
        self.tensors.append((name, t))

    def write(self, path):
        out = bytearray(b"MMIXFIX\0")
        out += struct.pack("<I", VERSION)
        text = self.settings.encode("utf-8")
        out += struct.pack("<I", len(text)) + text
        out += struct.pack("<I", len(self.tensors))
        for name, t in self.tensors:
            raw = name.encode("utf-8")
            out += struct.pack("<I", len(raw)) + raw
            out += struct.pack("<II", 1 if t.dtype == torch.int32 else 0, t.dim())
            out += struct.pack("<%dq" % t.dim(), *t.shape)
            out += t.numpy().astype("<i4" if t.dtype == torch.int32 else "<f4").tobytes()
        with open(path, "wb") as f:
            f.write(bytes(out))


def op_case(fx, name, fn, inputs, seed):
    """inputs: list of (input name, tensor, differentiable). Records inputs, the output,
    a random upstream gradient R and d(sum(out * R))/d(input) for differentiable inputs."""
    leaves = []
    for in_name, t, diff in inputs:
        leaf = t.clone().requires_grad_(diff)
        leaves.append(leaf)
        fx.add("%s/in/%s" % (name, in_name), t)
    out = fn(*leaves)
    gen = torch.Generator().manual_seed(seed + 1)
    R = torch.randn(out.shape, generator=gen)
    (out * R).sum().backward()
    fx.add("%s/out" % name, out)
    fx.add("%s/R" % name, R)
    for (in_name, _, diff), leaf in zip(inputs, leaves):
        if diff:
            fx.add("%s/grad/%s" % (name, in_name), leaf.grad)


def randn(gen, *shape):
    return torch.randn(*shape, generator=gen)


# ---------------------------------------------------------------------------------------
# Core engine I ops
# ---------------------------------------------------------------------------------------
def core1(path):
    fx = Fixture("file: ops_core1\ntorch: %s\nseed: 1\n"
                 "cases: embedding, linear, matmul (4 transpose cases), add, mul, scale(-1.75), "
                 "sum, mean, reshape, layernorm (eps 1e-5), gelu (exact), softmax, "
                 "cross_entropy (ignore_index -100)\n" % torch.__version__)
    g = torch.Generator().manual_seed(1)
    ids = torch.tensor([[3, 0, 3], [6, 1, 3]])
    op_case(fx, "embedding", lambda w, i: F.embedding(i, w),
            [("table", randn(g, 7, 5), True), ("ids", ids, False)], 10)
    op_case(fx, "linear", lambda x, w, b: F.linear(x, w, b),
            [("x", randn(g, 2, 3, 5), True), ("W", randn(g, 4, 5), True), ("b", randn(g, 4), True)], 11)
    for ta in (0, 1):
        for tb in (0, 1):
            a = randn(g, 2, 4, 3) if ta else randn(g, 2, 3, 4)
            b = randn(g, 2, 5, 4) if tb else randn(g, 2, 4, 5)
            op_case(fx, "matmul_t%d%d" % (ta, tb),
                    lambda a, b, ta=ta, tb=tb: torch.matmul(a.transpose(-1, -2) if ta else a,
                                                            b.transpose(-1, -2) if tb else b),
                    [("A", a, True), ("B", b, True)], 12 + 2 * ta + tb)
    op_case(fx, "matmul_sharedA", torch.matmul, [("A", randn(g, 3, 3), True), ("B", randn(g, 2, 3, 4), True)], 16)
    op_case(fx, "add", torch.add, [("a", randn(g, 3, 4), True), ("b", randn(g, 3, 4), True)], 17)
    op_case(fx, "mul", torch.mul, [("a", randn(g, 3, 4), True), ("b", randn(g, 3, 4), True)], 18)
    op_case(fx, "scale", lambda x: x * -1.75, [("x", randn(g, 2, 2, 3), True)], 19)
    op_case(fx, "sum", torch.sum, [("x", randn(g, 3, 5), True)], 20)
    op_case(fx, "mean", torch.mean, [("x", randn(g, 3, 5), True)], 21)
    op_case(fx, "reshape", lambda x: x.reshape(4, 6), [("x", randn(g, 2, 3, 4), True)], 22)
    op_case(fx, "layernorm", lambda x, w, b: F.layer_norm(x, (8,), w, b, 1e-5),
            [("x", randn(g, 2, 3, 8) * 3 + 1, True), ("w", randn(g, 8), True), ("b", randn(g, 8), True)], 23)
    op_case(fx, "gelu", F.gelu, [("x", randn(g, 5, 9) * 3, True)], 24)
    op_case(fx, "softmax", lambda x: torch.softmax(x, -1), [("x", randn(g, 4, 7) * 2, True)], 25)
    targets = torch.tensor([[2, -100, 0], [5, 1, -100]])
    op_case(fx, "cross_entropy", lambda x, t: F.cross_entropy(x.reshape(-1, 6), t.reshape(-1), ignore_index=-100),
            [("logits", randn(g, 2, 3, 6) * 2, True), ("targets", targets, False)], 26)
    fx.write(path)


# ---------------------------------------------------------------------------------------
# Core engine II ops
# ---------------------------------------------------------------------------------------
def mask_matrix(kind, diagonal, L_out, L_in):
    o = torch.arange(L_out)[:, None]
    i = torch.arange(L_in)[None, :]
    if kind == "lower":
        return (i <= o + diagonal).float()
    if kind == "upper":
        return (i >= o + diagonal).float()
    return torch.ones(L_out, L_in)


def token_mix_cases(fx, g):
    """The masked Conv1d with tokens as channels, padding='same' (paper Sec. 3.2, Fig. S5). The
    default gradient is that of conv1d(x, W * mask): masked entries get zero. The
    reference mode's gradient is the paper code's: W.data = tril(W) in place, then
    conv1d(x, W), so masked entries get the unmasked ("phantom") gradient."""
    cases = [("token_mix_k1", 1, "lower", 0, 6, 6), ("token_mix_k2", 2, "lower", 0, 5, 5),
             ("token_mix_k3", 3, "lower", 0, 6, 6), ("token_mix_k4", 4, "lower", 0, 6, 6),
             ("token_mix_rect", 1, "lower", 0, 8, 4), ("token_mix_upper2", 1, "upper", 2, 6, 6)]
    for n, (name, k, kind, diag, L_out, L_in) in enumerate(cases):
        x = randn(g, 2, L_in, 7)
        W = randn(g, L_out, L_in, k)
        b = randn(g, L_out)
        mask = mask_matrix(kind, diag, L_out, L_in)[:, :, None]
        op_case(fx, name, lambda x, W, b, mask=mask: F.conv1d(x, W * mask, b, padding="same"),
                [("x", x, True), ("W", W, True), ("bias", b, True)], 100 + n)
        # reference mode: the phantom gradient of the in-place-masked weight
        Wr = (W * mask).clone().requires_grad_(True)
        xr = x.clone()
        out = F.conv1d(xr, Wr, b, padding="same")
        R = torch.randn(out.shape, generator=torch.Generator().manual_seed(100 + n + 1))
        (out * R).sum().backward()
        fx.add("%s/grad/W_reference" % name, Wr.grad)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def hf_rope_cos_sin(L, hd, theta, pos0):
    # transformers 4.42 LlamaRotaryEmbedding, in float32 step by step
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    pos = torch.arange(pos0, pos0 + L).float()
    freqs = pos[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rope_ref(x, H, theta, pos0):
    B, L, D = x.shape
    hd = D // H
    cos, sin = hf_rope_cos_sin(L, hd, theta, pos0)
    xh = x.view(B, L, H, hd).transpose(1, 2)          # [B, H, L, hd] as HF
    y = xh * cos + rotate_half(xh) * sin
    return y.transpose(1, 2).reshape(B, L, D)


def attention_ref(q, k, v, H, causal):
    B, Lq, D = q.shape
    Lk = k.shape[1]
    hd = D // H
    qh = q.view(B, Lq, H, hd).transpose(1, 2)
    kh = k.view(B, Lk, H, hd).transpose(1, 2)
    vh = v.view(B, Lk, H, hd).transpose(1, 2)
    scores = qh @ kh.transpose(-1, -2) / math.sqrt(hd)
    if causal:
        allowed = torch.arange(Lk)[None, :] <= (torch.arange(Lq)[:, None] + Lk - Lq)
        scores = scores.masked_fill(~allowed, float("-inf"))
    return (torch.softmax(scores, -1) @ vh).transpose(1, 2).reshape(B, Lq, D)


def core2(path):
    fx = Fixture("file: ops_core2\ntorch: %s\nseed: 2\n"
                 "token_mix: conv1d(x, W*mask, bias, padding='same'); cases k1 k2 k3 k4 (causal, L 5-6), "
                 "rect (causal 8x4), upper2 (triu diagonal 2); grad/W_reference = reference-mode gradient\n"
                 "rmsnorm: HF LlamaRMSNorm, eps 1e-6\nrope: HF rotate-half, theta 10000, H 2, pos0 0 and 5\n"
                 "attention: H 2, scale 1/sqrt(hd), causal and non-causal, Lq 2 after Lk 5\n"
                 "l2_normalize: eps 1e-12; cosine_similarity: eps 1e-8; logsumexp; l1_distance (sum)\n"
                 "tokens: slice(-3, 2), select(-2), concat, repeat(4), flip, zero[2, 4)\n"
                 "linear_in_out: HF Conv1D, addmm(b, x, W) with W [in, out]\n"
                 "argmax: torch.argmax over the last dim, int32 out; ties, an all-equal row, NaNs\n" % torch.__version__)
    g = torch.Generator().manual_seed(2)
    token_mix_cases(fx, g)
    op_case(fx, "rmsnorm", lambda x, w: w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)),
            [("x", randn(g, 2, 3, 8), True), ("w", randn(g, 8), True)], 200)
    op_case(fx, "silu", F.silu, [("x", randn(g, 4, 9) * 3, True)], 201)
    op_case(fx, "rope_pos0", lambda x: rope_ref(x, 2, 10000.0, 0), [("x", randn(g, 2, 6, 16), True)], 202)
    op_case(fx, "rope_pos5", lambda x: rope_ref(x, 2, 10000.0, 5), [("x", randn(g, 1, 4, 16), True)], 203)
    op_case(fx, "attention_causal", lambda q, k, v: attention_ref(q, k, v, 2, True),
            [("q", randn(g, 2, 5, 8), True), ("k", randn(g, 2, 5, 8), True), ("v", randn(g, 2, 5, 8), True)], 204)
    op_case(fx, "attention_full", lambda q, k, v: attention_ref(q, k, v, 2, False),
            [("q", randn(g, 2, 4, 8), True), ("k", randn(g, 2, 4, 8), True), ("v", randn(g, 2, 4, 8), True)], 205)
    op_case(fx, "attention_cached", lambda q, k, v: attention_ref(q, k, v, 2, True),
            [("q", randn(g, 1, 2, 8), True), ("k", randn(g, 1, 5, 8), True), ("v", randn(g, 1, 5, 8), True)], 206)
    op_case(fx, "l2_normalize", lambda x: F.normalize(x, p=2.0, dim=-1, eps=1e-12), [("x", randn(g, 3, 6), True)], 207)
    op_case(fx, "cosine_similarity", lambda a, b: F.cosine_similarity(a, b, dim=-1, eps=1e-8),
            [("a", randn(g, 3, 6), True), ("b", randn(g, 3, 6), True)], 208)
    op_case(fx, "logsumexp", lambda x: torch.logsumexp(x, -1), [("x", randn(g, 2, 3, 5) * 3, True)], 209)
    a = randn(g, 3, 4)
    b = a + torch.where(torch.arange(12).reshape(3, 4) % 2 == 1, 0.5, -0.5) + 0.1 * randn(g, 3, 4)
    op_case(fx, "l1_distance", lambda a, b: (a - b).abs().sum(), [("a", a, True), ("b", b, True)], 210)
    op_case(fx, "tokens_slice", lambda x: x[:, -3:-1, :], [("x", randn(g, 2, 5, 3), True)], 211)
    op_case(fx, "tokens_select", lambda x: x[:, -2, :], [("x", randn(g, 2, 5, 3), True)], 212)
    op_case(fx, "tokens_concat", lambda a, b: torch.cat((a, b), dim=-2),
            [("a", randn(g, 2, 2, 3), True), ("b", randn(g, 2, 3, 3), True)], 213)
    op_case(fx, "tokens_repeat", lambda x: x.unsqueeze(-2).repeat(1, 4, 1), [("x", randn(g, 2, 3), True)], 214)
    op_case(fx, "tokens_flip", lambda x: torch.flip(x, [-2]), [("x", randn(g, 2, 5, 3), True)], 215)
    keep = torch.ones(1, 5, 1)
    keep[:, 2:4] = 0
    op_case(fx, "tokens_zero", lambda x: x * keep, [("x", randn(g, 2, 5, 3), True)], 216)
    op_case(fx, "linear_in_out", lambda x, W, b: torch.addmm(b, x.reshape(-1, 5), W).view(2, 3, 7),  # HF Conv1D
            [("x", randn(g, 2, 3, 5), True), ("W", randn(g, 5, 7), True), ("b", randn(g, 7), True)], 217)
    x = torch.round(randn(g, 3, 4, 6) * 1.5)                      # small whole numbers: many ties
    x[0, 0] = 1.0                                                 # a row of equal values
    x[1, 2, 1] = x[1, 2, 4] = float("nan")                        # NaN wins, the first one
    fx.add("argmax/in/x", x)
    fx.add("argmax/out", torch.argmax(x, dim=-1))                 # no gradient: no R
    fx.write(path)


# ---------------------------------------------------------------------------------------
# AdamW, schedules, clipping
# ---------------------------------------------------------------------------------------
def hf_lambda(schedule, warmup, total):
    # transformers.get_linear_schedule_with_warmup / get_constant_schedule_with_warmup
    def lr_lambda(step):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        if schedule == "constant":
            return 1.0
        return max(0.0, float(total - step) / float(max(1, total - warmup)))
    return lr_lambda


def adamw_case(fx, name, g, schedule, lr, warmup, total, wd, betas, eps, max_norm):
    params = [randn(g, 4, 3).requires_grad_(True), randn(g, 3).requires_grad_(True)]
    for i, p in enumerate(params):
        fx.add("%s/init/%d" % (name, i), p)
    opt = torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=wd)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, hf_lambda(schedule, warmup, total))
    for s in range(total):
        scale = 1.5 if s % 2 == 0 else 0.2     # alternate: clipped, then not
        for i, p in enumerate(params):
            p.grad = randn(g, *p.shape) * scale
            fx.add("%s/step%d/grad/%d" % (name, s, i), p.grad)
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm) if max_norm > 0 else \
            torch.norm(torch.stack([torch.norm(p.grad) for p in params]))
        fx.add("%s/step%d/norm" % (name, s), norm.reshape(1))
        fx.add("%s/step%d/lr" % (name, s), torch.tensor([opt.param_groups[0]["lr"]]))
        opt.step()
        sched.step()
        for i, p in enumerate(params):
            fx.add("%s/step%d/param/%d" % (name, s, i), p)


def masked_training_case(fx, name, g, reference):
    """Three AdamW steps (lr 1e-2, weight decay 0.01, clip 1.0) of a causal token-mixing
    layer. reference=True is the paper code: W.data = tril(W) in place at each forward,
    so masked entries get phantom gradients that count in the clip norm; reference=False
    masks by multiplication, so they get none."""
    L, D = 4, 3
    W = randn(g, L, L, 1).requires_grad_(True)
    bias = randn(g, L).requires_grad_(True)
    x = randn(g, 2, L, D)
    target = randn(g, 2, L, D)
    fx.add("%s/init/W" % name, W)
    fx.add("%s/init/bias" % name, bias)
    fx.add("%s/x" % name, x)
    fx.add("%s/target" % name, target)
    mask = torch.tril(torch.ones(L, L))[:, :, None]
    opt = torch.optim.AdamW([W, bias], lr=1e-2, weight_decay=0.01)
    for s in range(3):
        opt.zero_grad()
        if reference:
            W.data = W.data * mask                      # the reference's in-place projection
            y = F.conv1d(x, W, bias)
        else:
            y = F.conv1d(x, W * mask, bias)
        loss = ((y - target) ** 2).sum()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_([W, bias], 1.0)
        opt.step()
        fx.add("%s/step%d/loss" % (name, s), loss.reshape(1))
        fx.add("%s/step%d/norm" % (name, s), norm.reshape(1))
        fx.add("%s/step%d/W" % (name, s), W)
        fx.add("%s/step%d/bias" % (name, s), bias)


def optim(path):
    fx = Fixture("file: adamw\ntorch: %s\nseed: 3\n"
                 "linear_wd_clip: linear schedule lr 1e-2 warmup 2 total 6, weight decay 0.01, betas 0.9 0.999, "
                 "eps 1e-8, clip 1.0\n"
                 "constant_noclip: constant schedule lr 1e-2 warmup 2 total 5, weight decay 0, no clipping\n"
                 "linear_betas: linear schedule lr 1e-2 warmup 0 total 4, weight decay 0.1, betas 0.8 0.99, "
                 "eps 1e-6, clip 0.5\n"
                 "masked_reference / masked_default: causal token mix L 4 D 3, sum of squares loss, AdamW lr 1e-2 "
                 "weight decay 0.01, clip 1.0, 3 steps\n" % torch.__version__)
    g = torch.Generator().manual_seed(3)
    adamw_case(fx, "linear_wd_clip", g, "linear", 1e-2, 2, 6, 0.01, (0.9, 0.999), 1e-8, 1.0)
    adamw_case(fx, "constant_noclip", g, "constant", 1e-2, 2, 5, 0.0, (0.9, 0.999), 1e-8, 0.0)
    adamw_case(fx, "linear_betas", g, "linear", 1e-2, 0, 4, 0.1, (0.8, 0.99), 1e-6, 0.5)
    masked_training_case(fx, "masked_reference", g, True)
    masked_training_case(fx, "masked_default", g, False)
    fx.write(path)


# ---------------------------------------------------------------------------------------
# The two models, written by hand with the reference state_dict names (docs/reference-notes.md Sec. 3, 8)
# ---------------------------------------------------------------------------------------
class RefMixerBlock(torch.nn.Module):
    """mixer_lm's MixerBlock(expand_conv=False): registration order patch_layernorm,
    seq_layernorm, patch_ff, conv (reference-notes Sec. 3); the conv weight is re-masked in place at
    every forward, per kernel tap (paper Sec. 3.2; reference-notes Sec. 1)."""

    def __init__(self, D, L, k):
        super().__init__()
        self.patch_layernorm = torch.nn.LayerNorm(D)
        self.seq_layernorm = torch.nn.LayerNorm(D)
        self.patch_ff = torch.nn.Sequential(torch.nn.Linear(D, 4 * D), torch.nn.GELU(), torch.nn.Linear(4 * D, D))
        self.conv = torch.nn.Conv1d(L, L, k, padding="same")

    def forward(self, x):
        w = self.conv.weight.data                                # [f, d, p] -> [p, f, d], tril, back
        self.conv.weight.data = torch.tril(w.permute(2, 0, 1)).permute(1, 2, 0).contiguous()
        x = x + self.conv(self.seq_layernorm(x))
        return x + self.patch_ff(self.patch_layernorm(x))


class RefMixer(torch.nn.Module):
    def __init__(self, V, D, depth, L, k):
        super().__init__()
        self.wte = torch.nn.Embedding(V, D)
        self.mixerblocks = torch.nn.ModuleList([RefMixerBlock(D, L, k) for _ in range(depth)])
        self.lm_head = torch.nn.Linear(D, V, bias=False)

    def forward(self, ids):
        x = self.wte(ids)
        for block in self.mixerblocks:
            x = block(x)
        return self.lm_head(x)                                   # [B, L, V]


class RefExpandedMixerBlock(torch.nn.Module):
    """mixer_lm's MixerBlock(expand_conv=True), the expanded mixer (paper Sec. 9.1, Table S2,
    Fig. S2): the token mixer is ConvForward(L, e) = Conv1d(L, eL, 1), GELU, Conv1d(eL, L, 1),
    both with biases, each weight's 2-D [out, in] matrix re-masked by tril in place at every
    forward (reference-notes Sec. 1). Registration order as the flat block's."""

    def __init__(self, D, L, e):
        super().__init__()
        self.patch_layernorm = torch.nn.LayerNorm(D)
        self.seq_layernorm = torch.nn.LayerNorm(D)
        self.patch_ff = torch.nn.Sequential(torch.nn.Linear(D, 4 * D), torch.nn.GELU(), torch.nn.Linear(4 * D, D))
        self.conv = torch.nn.Sequential(torch.nn.Conv1d(L, e * L, 1), torch.nn.GELU(), torch.nn.Conv1d(e * L, L, 1))

    def forward(self, x):
        for i in (0, 2):
            w = self.conv[i].weight.data
            self.conv[i].weight.data = torch.tril(w[:, :, 0]).unsqueeze(-1).contiguous()
        x = x + self.conv(self.seq_layernorm(x))
        return x + self.patch_ff(self.patch_layernorm(x))


class RefExpandedMixer(RefMixer):
    def __init__(self, V, D, depth, L, e):
        super().__init__(V, D, depth, L, 1)
        self.mixerblocks = torch.nn.ModuleList([RefExpandedMixerBlock(D, L, e) for _ in range(depth)])


class RefDoubleMixerBlock(torch.nn.Module):
    """bidirectional_mixer.py's DoubleMixerBlock (paper Sec. 5.1, Fig. 6, Fig. S11;
    reference-notes Sec. 15): a forward stream x and a reverse stream y. Registration order
    patch_layernorm, seq_layernormf, seq_layernormr, patch_ff, convf, convr; both convs
    re-masked in place at every forward, convf by tril, convr by triu(diagonal=2); the two
    streams share patch_layernorm and patch_ff."""

    def __init__(self, D, L):
        super().__init__()
        self.patch_layernorm = torch.nn.LayerNorm(D)
        self.seq_layernormf = torch.nn.LayerNorm(D)
        self.seq_layernormr = torch.nn.LayerNorm(D)
        self.patch_ff = torch.nn.Sequential(torch.nn.Linear(D, 4 * D), torch.nn.GELU(), torch.nn.Linear(4 * D, D))
        self.convf = torch.nn.Conv1d(L, L, 1)
        self.convr = torch.nn.Conv1d(L, L, 1)

    def forward(self, x, y):
        self.convf.weight.data = torch.tril(self.convf.weight.data[:, :, 0]).unsqueeze(-1).contiguous()
        self.convr.weight.data = torch.triu(self.convr.weight.data[:, :, 0], diagonal=2).unsqueeze(-1).contiguous()
        x = x + self.convf(self.seq_layernormf(x))
        y = y + self.convr(self.seq_layernormr(y))
        return x + self.patch_ff(self.patch_layernorm(x)), y + self.patch_ff(self.patch_layernorm(y))


class RefBidiMixer(torch.nn.Module):
    """bidirectional_mixer.py's LanguageMixer: both streams start as wte[ids] and meet once,
    at lm_head(x + y); the loss is the shifted causal-LM one."""

    def __init__(self, V, D, depth, L):
        super().__init__()
        self.wte = torch.nn.Embedding(V, D)
        self.mixerblocks = torch.nn.ModuleList([RefDoubleMixerBlock(D, L) for _ in range(depth)])
        self.lm_head = torch.nn.Linear(D, V, bias=False)

    def forward(self, ids):
        x = self.wte(ids)
        y = torch.clone(x)
        for block in self.mixerblocks:
            x, y = block(x, y)
        return self.lm_head(x + y)


class RefMixerHead(torch.nn.Module):
    """HEAD mixer_lm/mixer_autoencoder.py's MixerHead(D, L, D // H, H), the multi-headed mixer's
    token mixing (paper Sec. 9.2, Fig. S6; reference-notes Sec. 2c): per head a Linear(D, D/H)
    projection and a Conv1d(L, L, 1) re-masked by tril in place at every forward; the heads'
    outputs concatenated along the features, then Linear(D, D). Registration order proj_head,
    convs, out_proj."""

    def __init__(self, D, L, H):
        super().__init__()
        self.proj_head = torch.nn.ModuleList([torch.nn.Linear(D, D // H) for _ in range(H)])
        self.convs = torch.nn.ModuleList([torch.nn.Conv1d(L, L, 1) for _ in range(H)])
        self.out_proj = torch.nn.Linear(D, D)

    def forward(self, x):
        for conv in self.convs:
            conv.weight.data = torch.tril(conv.weight.data[:, :, 0]).unsqueeze(-1).contiguous()
        heads = [conv(proj(x)) for proj, conv in zip(self.proj_head, self.convs)]
        return self.out_proj(torch.cat(heads, dim=2))


class RefHeadsMixerBlock(torch.nn.Module):
    """mixer_autoencoder.py's MixerBlock(dim, length, n_heads=H): the flat block's norms and
    feed-forward (registered first), `conv` a MixerHead."""

    def __init__(self, D, L, H):
        super().__init__()
        self.patch_layernorm = torch.nn.LayerNorm(D)
        self.seq_layernorm = torch.nn.LayerNorm(D)
        self.patch_ff = torch.nn.Sequential(torch.nn.Linear(D, 4 * D), torch.nn.GELU(), torch.nn.Linear(4 * D, D))
        self.conv = RefMixerHead(D, L, H)

    def forward(self, x):
        x = x + self.conv(self.seq_layernorm(x))
        return x + self.patch_ff(self.patch_layernorm(x))


class RefHeadsMixer(RefMixer):
    def __init__(self, V, D, depth, L, H):
        super().__init__(V, D, depth, L, 1)
        self.mixerblocks = torch.nn.ModuleList([RefHeadsMixerBlock(D, L, H) for _ in range(depth)])


def softmax_project(w):
    """The softmax mixer's weight transform of multiheaded_mixer_tinystories.py (paper Sec. 9.2;
    reference-notes Sec. 2d): w [f, d, p] -> [p, f, d], tril, softmax over f (the output tokens;
    masked zeros count as exp(0)), tril again, back to [f, d, p]."""
    t = torch.tril(w.permute(2, 0, 1))
    return torch.tril(torch.softmax(t, dim=-2)).permute(1, 2, 0).contiguous()


class RefSoftmaxMixerBlock(RefMixerBlock):
    """The flat block whose conv weight is replaced in place by softmax_project of itself at
    every forward, outside autograd: not idempotent, so each forward projects the projected
    (and optimizer-moved) values again."""

    def forward(self, x):
        self.conv.weight.data = softmax_project(self.conv.weight.data)
        x = x + self.conv(self.seq_layernorm(x))
        return x + self.patch_ff(self.patch_layernorm(x))


class RefSoftmaxMixer(RefMixer):
    def __init__(self, V, D, depth, L, k=1):
        super().__init__(V, D, depth, L, k)
        self.mixerblocks = torch.nn.ModuleList([RefSoftmaxMixerBlock(D, L, k) for _ in range(depth)])


class RefRMSNorm(torch.nn.Module):
    def __init__(self, D, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(D))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class RefAttention(torch.nn.Module):
    def __init__(self, D, H):
        super().__init__()
        self.H = H
        self.q_proj = torch.nn.Linear(D, D, bias=False)
        self.k_proj = torch.nn.Linear(D, D, bias=False)
        self.v_proj = torch.nn.Linear(D, D, bias=False)
        self.o_proj = torch.nn.Linear(D, D, bias=False)

    def forward(self, x):
        q = rope_ref(self.q_proj(x), self.H, 10000.0, 0)
        k = rope_ref(self.k_proj(x), self.H, 10000.0, 0)
        return self.o_proj(attention_ref(q, k, self.v_proj(x), self.H, True))


class RefMLP(torch.nn.Module):
    def __init__(self, D, F_):
        super().__init__()
        self.gate_proj = torch.nn.Linear(D, F_, bias=False)
        self.up_proj = torch.nn.Linear(D, F_, bias=False)
        self.down_proj = torch.nn.Linear(F_, D, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class RefDecoderLayer(torch.nn.Module):
    def __init__(self, D, H):
        super().__init__()
        self.self_attn = RefAttention(D, H)
        self.mlp = RefMLP(D, 4 * D)
        self.input_layernorm = RefRMSNorm(D, 1e-6)
        self.post_attention_layernorm = RefRMSNorm(D, 1e-6)

    def forward(self, x):
        x = x + self.self_attn(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class RefLlamaModel(torch.nn.Module):
    def __init__(self, V, D, depth, H):
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(V, D)
        self.layers = torch.nn.ModuleList([RefDecoderLayer(D, H) for _ in range(depth)])
        self.norm = RefRMSNorm(D, 1e-6)


class RefLlama(torch.nn.Module):
    """LlamaForCausalLM as reference-notes Sec. 8 describes it (transformers 4.42 defaults, untied head)."""

    def __init__(self, V, D, depth, H):
        super().__init__()
        self.model = RefLlamaModel(V, D, depth, H)
        self.lm_head = torch.nn.Linear(D, V, bias=False)
        for m in self.modules():                                 # HF _init_weights
            if isinstance(m, (torch.nn.Linear, torch.nn.Embedding)):
                torch.nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, ids):
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x)
        return self.lm_head(self.model.norm(x))


class RefConv1D(torch.nn.Module):
    """Hugging Face's Conv1D (GPT-1's layers): the weight is stored [in, out] and
    y = addmm(bias, x, weight). HF _init_weights: weight N(0, 0.02), bias 0."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(n_in, n_out).normal_(0.0, 0.02))
        self.bias = torch.nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        out = torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight)
        return out.view(x.shape[:-1] + (self.weight.shape[1],))


class RefGPTAttention(torch.nn.Module):
    """OpenAIGPT's Attention (transformers 4.42, scale=True): q, k, v from one c_attn split
    along the features, scores / sqrt(hd), the causal buffer applied as w * b - 1e4 (1 - b),
    softmax, attention dropout, c_proj, residual dropout. The buffer is non-persistent."""

    def __init__(self, D, H, L, pdrop):
        super().__init__()
        self.H = H
        self.register_buffer("bias", torch.tril(torch.ones(L, L)).view(1, 1, L, L), persistent=False)
        self.c_attn = RefConv1D(D, 3 * D)
        self.c_proj = RefConv1D(D, D)
        self.attn_dropout = torch.nn.Dropout(pdrop)
        self.resid_dropout = torch.nn.Dropout(pdrop)

    def forward(self, x):
        B, n, D = x.shape
        hd = D // self.H
        q, k, v = self.c_attn(x).split(D, dim=2)
        q = q.view(B, n, self.H, hd).permute(0, 2, 1, 3)
        k = k.view(B, n, self.H, hd).permute(0, 2, 3, 1)          # transposed for q @ k
        v = v.view(B, n, self.H, hd).permute(0, 2, 1, 3)
        w = torch.matmul(q, k) / math.sqrt(hd)
        b = self.bias[:, :, :n, :n]
        w = w * b + -1e4 * (1 - b)
        w = self.attn_dropout(torch.softmax(w, dim=-1))
        a = torch.matmul(w, v).permute(0, 2, 1, 3).reshape(B, n, D)
        return self.resid_dropout(self.c_proj(a))


class RefGPTMLP(torch.nn.Module):
    def __init__(self, D, F_, pdrop):
        super().__init__()
        self.c_fc = RefConv1D(D, F_)
        self.c_proj = RefConv1D(F_, D)
        self.dropout = torch.nn.Dropout(pdrop)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))   # afn 'gelu': the exact erf GELU


class RefGPTBlock(torch.nn.Module):
    """Post-LN (reference-notes Sec. 8b): n = ln_1(x + attn(x)); out = ln_2(n + mlp(n))."""

    def __init__(self, D, H, L, pdrop):
        super().__init__()
        self.attn = RefGPTAttention(D, H, L, pdrop)
        self.ln_1 = torch.nn.LayerNorm(D, eps=1e-5)
        self.mlp = RefGPTMLP(D, 4 * D, pdrop)
        self.ln_2 = torch.nn.LayerNorm(D, eps=1e-5)

    def forward(self, x):
        n = self.ln_1(x + self.attn(x))
        return self.ln_2(n + self.mlp(n))


class RefGPTModel(torch.nn.Module):
    def __init__(self, V, D, depth, H, L, pdrop):
        super().__init__()
        self.tokens_embed = torch.nn.Embedding(V, D)
        self.positions_embed = torch.nn.Embedding(L, D)
        self.drop = torch.nn.Dropout(pdrop)
        self.h = torch.nn.ModuleList([RefGPTBlock(D, H, L, pdrop) for _ in range(depth)])


class RefGPT1(torch.nn.Module):
    """OpenAIGPTLMHeadModel (paper Sec. 4.4), OpenAIGPTConfig defaults but the sizes: learned
    positions (n_positions = L), dropout 0.1 everywhere, LayerNorm eps 1e-5, no final norm,
    lm_head tied to tokens_embed (so its state_dict holds lm_head.weight, the same tensor)."""

    def __init__(self, V, D, depth, H, L, pdrop=0.1):
        super().__init__()
        self.transformer = RefGPTModel(V, D, depth, H, L, pdrop)
        self.lm_head = torch.nn.Linear(D, V, bias=False)
        for m in self.modules():                                  # HF _init_weights
            if isinstance(m, torch.nn.Embedding):
                torch.nn.init.normal_(m.weight, 0.0, 0.02)
        self.lm_head.weight = self.transformer.tokens_embed.weight  # tie_weights

    def forward(self, ids):
        t = self.transformer
        pos = torch.arange(ids.shape[1])[None, :]
        x = t.drop(t.tokens_embed(ids) + t.positions_embed(pos))
        for block in t.h:
            x = block(x)
        return self.lm_head(x)


class RefMixerLayer(torch.nn.Module):
    """The transfixer's MixerLayer, generalized from L = 512 to L: Conv1d(L, L, 1) with bias,
    its weight tril-masked in place at every forward (reference-notes Sec. 1, 8c)."""

    def __init__(self, L):
        super().__init__()
        self.conv = torch.nn.Conv1d(L, L, 1, padding="same")

    def forward(self, x):
        self.conv.weight.data = torch.tril(self.conv.weight.data[:, :, 0]).unsqueeze(-1).contiguous()
        return self.conv(x)


class RefTransfixerLayer(RefDecoderLayer):
    """LlamaDecoderLayer of the transfixer branch: a = attn(norm(x)); x = a + mixer(a) + x;
    x = x + mlp(norm(x)). mixer_layer registers after the Llama modules."""

    def __init__(self, D, H, L):
        super().__init__(D, H)
        self.mixer_layer = RefMixerLayer(L)

    def forward(self, x):
        a = self.self_attn(self.input_layernorm(x))
        x = a + self.mixer_layer(a) + x
        return x + self.mlp(self.post_attention_layernorm(x))


class RefTransfixer(RefLlama):
    """The transfixer (reference-notes Sec. 8c): RefLlama with RefTransfixerLayer layers; HF
    _init_weights for Linear and Embedding, PyTorch's default for the convs."""

    def __init__(self, V, D, depth, H, L):
        super().__init__(V, D, depth, H)
        self.model.layers = torch.nn.ModuleList([RefTransfixerLayer(D, H, L) for _ in range(depth)])
        for m in self.model.layers.modules():
            if isinstance(m, torch.nn.Linear):
                torch.nn.init.normal_(m.weight, 0.0, 0.02)


class RefMixerEncoderDecoder(torch.nn.Module):
    """The mixer encoder-decoders, registered as the reference's AutoencodingMixer (its
    paper-era flat blocks, mixer_lm/mixer_autoencoder.py at 2270414; the parallel model of
    mixercompletion_trainer_fineweb.py has the same class and names): wte, encoderblocks,
    decoderblocks (both causally masked, RefMixerBlock each), lm_head. `middle` is what
    happens between the stacks: the autoencoder's repeat of the last token, or the parallel
    model's zeroed second half (reference-notes Sec. 13, 14)."""

    def __init__(self, V, D, depth, L, middle, k=1):
        super().__init__()
        self.wte = torch.nn.Embedding(V, D)
        self.encoderblocks = torch.nn.ModuleList([RefMixerBlock(D, L, k) for _ in range(depth)])
        self.decoderblocks = torch.nn.ModuleList([RefMixerBlock(D, L, k) for _ in range(depth)])
        self.lm_head = torch.nn.Linear(D, V, bias=False)
        self.middle = middle

    def forward(self, ids):
        x = self.wte(ids)
        for block in self.encoderblocks:
            x = block(x)
        x = self.middle(x)
        for block in self.decoderblocks:
            x = block(x)
        return self.lm_head(x)                                   # [B, L, V]


class RefAbbreviatedModel(torch.nn.Module):
    """bidirectional_transformer.py's AbbreviatedModel: the decoder layers of a
    LlamaForCausalLM (attribute `model`) applied in order, at positions 0..L-1, without its
    embedding, final norm or head, which stay in the state_dict unused. The layers are called
    without an attention mask: causal (transformers 4.42's SDPA path; reference-notes Sec. 15)."""

    def __init__(self, llama):
        super().__init__()
        self.model = llama

    def forward(self, x):
        for layer in self.model.model.layers:
            x = layer(x)
        return x


class RefAbbreviatedLlama(RefAbbreviatedModel):
    """The reference's AbbreviatedModel(LlamaForCausalLM(config), depth): a whole causal LM of
    which only model.model.layers run, on hidden states, at positions 0..L-1 with no attention
    mask (causal under HF's default SDPA attention, reference-notes Sec. 13). Its own
    embed_tokens, norm and lm_head stay in the state_dict, unused (and without gradients)."""

    def __init__(self, V_inner, D, depth, H):
        super().__init__(RefLlama(V_inner, D, depth, H))         # HF init N(0, 0.02) inside


class RefLlamaEncoderDecoder(torch.nn.Module):
    """The transformer encoder-decoders, registered as the reference's AutoencodingTransformer
    (transformer_autoencoder_tinystories.py; llamacompletion_trainer_fineweb.py has the same
    names): an outer wte (PyTorch default N(0, 1)), encoder and decoder AbbreviatedModels, an
    outer lm_head (PyTorch default Linear init). The inner models' vocabulary is their own
    config's (4096 in the reference, not the tokenizer's), here V_inner."""

    def __init__(self, V, D, depth, H, middle, V_inner):
        super().__init__()
        self.wte = torch.nn.Embedding(V, D)
        self.encoder = RefAbbreviatedLlama(V_inner, D, depth, H)
        self.decoder = RefAbbreviatedLlama(V_inner, D, depth, H)
        self.lm_head = torch.nn.Linear(D, V, bias=False)
        self.middle = middle

    def forward(self, ids):
        return self.lm_head(self.decoder(self.middle(self.encoder(self.wte(ids)))))


def repeat_last(x):
    """The autoencoder's middle (paper Sec. 5.3, Fig. 8): the encoder's last-token hidden state,
    repeated over every position."""
    return x[:, -1, :].unsqueeze(1).repeat(1, x.shape[1], 1)


def zero_second_half(x):
    """The parallel model's middle (paper Sec. 5.2, Fig. 7b): positions >= L/2 zeroed, in place
    as the reference does."""
    x[:, x.shape[1] // 2:, :] = 0
    return x


def reconstruct_objective(model, tokens, pad_id):
    """The autoencoders' loss: no shift, position t reconstructs token t; pad targets ignored."""
    logits = model(tokens)
    labels = tokens.clone()
    labels[labels == pad_id] = -100
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), labels.reshape(-1), ignore_index=-100), logits


def second_half_objective(model, tokens, pad_id):
    """The parallel models' loss: positions t >= L/2 against tokens t, no shift; pads ignored.
    The logits returned are those of every position."""
    logits = model(tokens)
    labels = tokens.clone()
    labels[labels == pad_id] = -100
    h, V = tokens.shape[1] // 2, logits.shape[-1]
    return F.cross_entropy(logits[:, h:].reshape(-1, V), labels[:, h:].reshape(-1), ignore_index=-100), logits


class RefBidiTransformer(torch.nn.Module):
    """bidirectional_transformer.py's BidirectionalTransformer (paper Sec. 5.1, Fig. 6): wte and
    lm_head are plain torch modules (default init), registered before forward_model and
    reverse_model. Output o = lm_head(F(x)[o - 1] + flip(R(flip(x)))[o + 1]), zero rows at the
    ends; it predicts token o (no shift)."""

    def __init__(self, V, D, forward_model, reverse_model):
        super().__init__()
        self.wte = torch.nn.Embedding(V, D)
        self.lm_head = torch.nn.Linear(D, V, bias=False)
        self.forward_model = forward_model
        self.reverse_model = reverse_model

    def forward(self, ids):
        x = self.wte(ids)
        fwd = self.forward_model(x)
        rev = self.reverse_model(torch.flip(x.clone(), dims=[1]))
        pad = torch.zeros(x.shape[0], 1, x.shape[2])
        rev = torch.cat([torch.flip(rev, dims=[1])[:, 1:, :], pad], dim=1)
        fwd = torch.cat([pad, fwd[:, :-1, :]], dim=1)
        return self.lm_head(fwd + rev)


def own_token_objective(model, tokens, pad_id):
    """The bidirectional transformer's loss: logits at o against token o, pads ignored."""
    logits = model(tokens)
    labels = tokens.clone()
    labels[labels == pad_id] = -100
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100), logits


class RefMTP(torch.nn.Module):
    """mtp_mixer_fineweb.py's MTPMixer and mtp_transformer_fineweb.py's MTPTransformer (paper
    Sec. 5.2, Fig. 7a; reference-notes Sec. 16): the wrapped model (attribute `model`, so every
    name gains "model.") runs twice, the second time on torch.argmax of the first pass's logits;
    pass i's logits at o are scored against token o + 1 + i and the two means are summed.
    `margins` collects the smallest gap between the two largest logits of each first pass:
    a tie there could make torch and another implementation feed different ids to pass 2."""

    margins = []

    def __init__(self, model):
        super().__init__()
        self.model = model

    def objective(self, tokens, pad_id):
        labels = tokens.clone()
        labels[labels == pad_id] = -100
        x, loss = tokens, 0.0
        for i in range(2):
            out = self.model(x)                                   # [B, L, V]; pads are ordinary inputs
            V = out.shape[-1]
            loss = loss + F.cross_entropy(out[:, :-(1 + i)].reshape(-1, V), labels[:, 1 + i:].reshape(-1),
                                          ignore_index=-100)
            if i == 0:
                top2 = torch.topk(out.detach(), 2, dim=-1).values
                RefMTP.margins.append((top2[..., 0] - top2[..., 1]).min().item())
            x = torch.argmax(out.detach(), dim=-1)
        return loss, out


def two_token_objective(model, tokens, pad_id):
    return model.objective(tokens, pad_id)


def clm_loss(logits, ids, pad_id):
    """Paper Sec. 3.2, reference-notes Sec. 5: position t predicts token t + 1; pad targets ignored; mean over counted."""
    labels = ids.clone()
    labels[labels == pad_id] = -100
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100)


def write_safetensors(path, tensors, metadata=None, dtype="F32"):
    """A minimal safetensors writer (Debian has no safetensors package)."""
    import json
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors:
        t = t.detach().contiguous().float()
        if dtype == "F32":
            raw = t.numpy().astype("<f4").tobytes()
        elif dtype == "BF16":
            raw = t.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            raw = t.to(torch.float16).numpy().astype("<f2").tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def causal_objective(model, tokens, pad_id):
    """A causal LM's objective: (the loss, the logits [B, L, V] of every position)."""
    logits = model(tokens)
    return clm_loss(logits, tokens, pad_id), logits


def model_case(fx, name, model, tokens, pad_id, out_dir, objective=causal_objective, eps=1e-8):
    """Forward, backward and 3 AdamW steps (lr 1e-2, warmup 1 then linear decay over 3 steps,
    weight decay 0.01, clip 1.0, epsilon eps) of one model, as the HF Trainer would run them.
    objective(model, tokens, pad_id) gives the training loss and the logits of the final pass at
    every position."""
    fx.add("%s/tokens" % name, tokens)
    for pname, p in model.state_dict().items():
        fx.add("%s/param/%s" % (name, pname), p)
    loss, logits = objective(model, tokens, pad_id)
    loss.backward()
    fx.add("%s/logits" % name, logits)
    fx.add("%s/loss" % name, loss.reshape(1))
    for pname, p in model.named_parameters():
        if p.grad is not None:                                   # unused inner tensors have none
            fx.add("%s/grad/%s" % (name, pname), p.grad)
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.01, eps=eps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, hf_lambda("linear", 1, 3))
    for s in range(3):
        if s > 0:
            opt.zero_grad()
            loss = objective(model, tokens, pad_id)[0]
            loss.backward()
        fx.add("%s/step%d/loss" % (name, s), loss.reshape(1))
        norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        fx.add("%s/step%d/norm" % (name, s), norm.reshape(1))
        opt.step()
        sched.step()
    for pname, p in model.state_dict().items():
        fx.add("%s/after/%s" % (name, pname), p)


def generation(out_dir, states, tokens, V, D, depth, L):
    """Greedy continuations of a few prompts by the fixture files' initial weights (paper Sec. 4.2):
    the mixer by index-walking over its whole window, later positions 0 (reference-notes Sec. 7); the
    transformer by the manual loop that appends the argmax at the last position (HF-style greedy decoding).
    torch.argmax takes the first of equal maxima. One line per case: name, prompt length,
    prompt ids, count of new tokens, new ids."""
    mixer = RefMixer(V, D, depth, L, 1)
    mixer.load_state_dict(states["mixer_k1"])
    llama = RefLlama(V, D, depth, 4)
    llama.load_state_dict(states["llama_h4"])
    prompts = [tokens[1, :1], tokens[1, :3], tokens[0, :5], tokens[2, :L - 1]]
    lines = ["# greedy generation by make_fixtures.py (torch %s), the initial weights of mixer_k1.safetensors "
             "and llama_h4.safetensors (heads 4, window %d)\n" % (torch.__version__, L),
             "# name, prompt length, prompt ids, new token count, new ids\n"]
    with torch.no_grad():
        for prompt in prompts:
            p = len(prompt)
            window = torch.zeros(1, L, dtype=torch.long)
            window[0, :p] = prompt
            for j in range(p, L):
                window[0, j] = torch.argmax(mixer(window)[0, j - 1])
            seq = prompt.reshape(1, -1).clone()
            while seq.shape[1] < L:
                seq = torch.cat([seq, torch.argmax(llama(seq)[0, -1]).reshape(1, 1)], dim=1)
            for name, new in (("mixer_k1", window[0, p:]), ("llama_h4", seq[0, p:])):
                lines.append("%s %d %s %d %s\n" % (name, p, " ".join(str(t) for t in prompt.tolist()), len(new),
                                                     " ".join(str(t) for t in new.tolist())))
    with open(os.path.join(out_dir, "generate_tokens.txt"), "w") as f:
        f.writelines(lines)


MODEL_SIZES = (37, 16, 2, 8, 3, 1)                                # V, D, depth, L, batch, pad id
# AdamW's epsilon in the encoder-decoder cases: some of their gradients are zero in exact arithmetic
# (reference-notes Sec. 13, 14), and with the default 1e-8 AdamW's normalization would turn their
# rounding noise, different on either side, into steps of the learning rate's size
ENCODER_DECODER_EPS = 1e-3
V_INNER = 23                                                      # the transformer encoder-decoders' inner vocabulary


def model_tokens(V, L, B, pad):
    """The token rows every model case runs on: right padding in row 0, left padding in row 2."""
    g = torch.Generator().manual_seed(4)
    tokens = torch.randint(2, V, (B, L), generator=g)
    tokens[0, 6:] = pad                                           # right padding
    tokens[2, :2] = pad                                           # left padding: still attended to
    return tokens


def models(path, out_dir):
    V, D, depth, L, B, pad = MODEL_SIZES
    fx = Fixture("file: models\ntorch: %s\nseed: 4\n"
                 "sizes: V %d, D %d, depth %d, L %d, batch %d, pad id %d\n"
                 "mixer_k1, mixer_k4: RefMixer (the paper code's in-place masking: phantom gradients in the "
                 "clip norm)\nllama_h4: RefLlama with 4 heads, RMSNorm eps 1e-6, RoPE theta 10000\n"
                 "training: AdamW lr 1e-2, weight decay 0.01, clip 1.0, HF linear schedule warmup 1 over 3 steps\n"
                 "files: mixer_k1.safetensors (initial weights, unmasked upper triangles as the reference "
                 "saves them), mixer_k1_bf16.safetensors, llama_h4.safetensors (no metadata: heads must be given), "
                 "model_tokens.txt\n" % (torch.__version__, V, D, depth, L, B, pad))
    tokens = model_tokens(V, L, B, pad)
    torch.manual_seed(4)
    for k in (1, 4):
        model = RefMixer(V, D, depth, L, k)
        if k == 1:
            write_safetensors(os.path.join(out_dir, "mixer_k1.safetensors"), list(model.state_dict().items()))
            write_safetensors(os.path.join(out_dir, "mixer_k1_bf16.safetensors"), list(model.state_dict().items()),
                              metadata={"pad_token_id": str(pad)}, dtype="BF16")
            bf16 = RefMixer(V, D, depth, L, k)
            bf16.load_state_dict({n: t.to(torch.bfloat16).float() for n, t in model.state_dict().items()})
            fx.add("mixer_k1/loss_bf16", clm_loss(bf16(tokens), tokens, pad).detach().reshape(1))
            initial = {"mixer_k1": {n: t.clone() for n, t in model.state_dict().items()}}
        model_case(fx, "mixer_k%d" % k, model, tokens, pad, out_dir)
    llama = RefLlama(V, D, depth, 4)
    write_safetensors(os.path.join(out_dir, "llama_h4.safetensors"), list(llama.state_dict().items()))
    initial["llama_h4"] = {n: t.clone() for n, t in llama.state_dict().items()}
    model_case(fx, "llama_h4", llama, tokens, pad, out_dir)
    with open(os.path.join(out_dir, "model_losses.txt"), "w") as f:   # for the command-line test
        for key in ("mixer_k1/loss", "mixer_k1/loss_bf16", "llama_h4/loss"):
            value = [t for n, t in fx.tensors if n == key][0].item()
            f.write("%s %.9g\n" % (key.replace("/loss", ""), value))
    with open(os.path.join(out_dir, "model_tokens.txt"), "w") as f:
        for row in tokens.tolist():
            f.write(" ".join(str(t) for t in row) + "\n")
    fx.write(path)
    generation(out_dir, initial, tokens, V, D, depth, L)  # last: its models draw random numbers nothing else sees


def zoo(path, out_dir):
    """The other models of the paper, one case each, on models()'s sizes and tokens."""
    V, D, depth, L, B, pad = MODEL_SIZES
    fx = Fixture("file: zoo\ntorch: %s\nseed: 5\n"
                 "sizes: V %d, D %d, depth %d, L %d, batch %d, pad id %d (the tokens of models.bin)\n"
                 "mixer_e2: RefExpandedMixer, expansion 2 (in-place masking of both convs: phantom gradients)\n"
                 "gpt1_h4: RefGPT1, 4 heads, n_positions L, run in eval mode (dropout off), tied head\n"
                 "transfixer_h4: RefTransfixer, 4 heads, L x L mixer_layer convs (in-place masking)\n"
                 "mixer_ae, mixer_par: RefMixerEncoderDecoder (depth encoder + depth decoder blocks), the "
                 "autoencoder (repeat the last token, unshifted loss) and the parallel model (second half zeroed, "
                 "loss on positions >= L/2); seeds 13, 15\n"
                 "llama_ae_h4, llama_par_h4: RefLlamaEncoderDecoder, 4 heads, inner vocab %d (unused inner "
                 "embed_tokens, norm, lm_head in the files); seeds 14, 16\n"
                 "mixer_bidi: RefBidiMixer (DoubleMixerBlock, convf tril, convr triu(2), seed 151)\n"
                 "llama_bidi_h4: RefBidiTransformer, 4 heads, inner vocab 41 (unused), no shift (seed 152)\n"
                 "mixer_mtp, llama_mtp_h4: RefMTP around RefMixer / RefLlama (4 heads), two passes, "
                 "argmax fed back (seeds 153, 155)\n"
                 "mixer_h2: RefHeadsMixer, 2 heads of D/H = 8 (seed 6)\n"
                 "mixer_soft: RefSoftmaxMixer, the conv weights softmax-projected in place at every forward "
                 "(seed 7); mixer_soft/projected/NAME: softmax_project of the initial conv weights\n"
                 "training: as models.bin; the encoder-decoders with AdamW eps %g\n"
                 "files: mixer_e2.safetensors, mixer_h2.safetensors, mixer_soft.safetensors, gpt1_h4.safetensors (no lm_head.weight and no metadata, as HF saves a "
                 "tied model), transfixer_h4.safetensors (num_attention_heads metadata), mixer_ae.safetensors, "
                 "llama_ae_h4.safetensors, mixer_par.safetensors, llama_par_h4.safetensors, mixer_bidi, "
                 "llama_bidi_h4, mixer_mtp, llama_mtp_h4 .safetensors (initial weights; no metadata but "
                 "transfixer_h4's: the other transformers need --heads 4), zoo_losses.txt\n"
                 % (torch.__version__, V, D, depth, L, B, pad, V_INNER, ENCODER_DECODER_EPS))
    tokens = model_tokens(V, L, B, pad)
    torch.manual_seed(5)
    model = RefExpandedMixer(V, D, depth, L, 2)
    write_safetensors(os.path.join(out_dir, "mixer_e2.safetensors"), list(model.state_dict().items()))
    model_case(fx, "mixer_e2", model, tokens, pad, out_dir)
    gpt = RefGPT1(V, D, depth, 4, L).eval()                        # eval: dropout off for parity
    write_safetensors(os.path.join(out_dir, "gpt1_h4.safetensors"),
                      [(n, t) for n, t in gpt.state_dict().items() if n != "lm_head.weight"])
    model_case(fx, "gpt1_h4", gpt, tokens, pad, out_dir)
    transfixer = RefTransfixer(V, D, depth, 4, L)
    write_safetensors(os.path.join(out_dir, "transfixer_h4.safetensors"), list(transfixer.state_dict().items()),
                      metadata={"num_attention_heads": "4"})
    model_case(fx, "transfixer_h4", transfixer, tokens, pad, out_dir)
    # the encoder-decoders, each from its own seed (independent of the cases before them)
    encoder_decoders = (
        ("mixer_ae", 13, lambda: RefMixerEncoderDecoder(V, D, depth, L, repeat_last), reconstruct_objective),
        ("llama_ae_h4", 14, lambda: RefLlamaEncoderDecoder(V, D, depth, 4, repeat_last, V_INNER), reconstruct_objective),
        ("mixer_par", 15, lambda: RefMixerEncoderDecoder(V, D, depth, L, zero_second_half), second_half_objective),
        ("llama_par_h4", 16, lambda: RefLlamaEncoderDecoder(V, D, depth, 4, zero_second_half, V_INNER),
         second_half_objective),
    )
    for name, seed, make, objective in encoder_decoders:
        torch.manual_seed(seed)
        model = make()
        write_safetensors(os.path.join(out_dir, name + ".safetensors"), list(model.state_dict().items()))
        model_case(fx, name, model, tokens, pad, out_dir, objective=objective, eps=ENCODER_DECODER_EPS)
    names = ["mixer_e2", "gpt1_h4", "transfixer_h4", "mixer_ae", "llama_ae_h4", "mixer_par", "llama_par_h4"]
    torch.manual_seed(151)                                        # each case its own seed from here
    model = RefBidiMixer(V, D, depth, L)
    write_safetensors(os.path.join(out_dir, "mixer_bidi.safetensors"), list(model.state_dict().items()))
    model_case(fx, "mixer_bidi", model, tokens, pad, out_dir)
    names.append("mixer_bidi")
    torch.manual_seed(152)
    inner_vocab = 41                                              # the script's LlamaConfig says 4096: unused
    model = RefBidiTransformer(V, D, RefAbbreviatedModel(RefLlama(inner_vocab, D, depth, 4)),
                               RefAbbreviatedModel(RefLlama(inner_vocab, D, depth, 4)))
    write_safetensors(os.path.join(out_dir, "llama_bidi_h4.safetensors"), list(model.state_dict().items()))
    model_case(fx, "llama_bidi_h4", model, tokens, pad, out_dir, objective=own_token_objective)
    names.append("llama_bidi_h4")
    # seeds with a clear pass-1 argmax in all 3 passes (llama_mtp_h4: 155, smallest margin 3.8e-3
    # beside logits of at most 0.25; the seeds 154 and 159 came within 5e-4 of a tie)
    for name, seed, make in (("mixer_mtp", 153, lambda: RefMixer(V, D, depth, L, 1)),
                             ("llama_mtp_h4", 155, lambda: RefLlama(V, D, depth, 4))):
        torch.manual_seed(seed)
        model = RefMTP(make())
        write_safetensors(os.path.join(out_dir, name + ".safetensors"), list(model.state_dict().items()))
        RefMTP.margins = []
        model_case(fx, name, model, tokens, pad, out_dir, objective=two_token_objective)
        # every first pass of the case (the gradient pass and the 3 steps): its argmax must be clear
        print("%s: smallest top-2 logit margin of pass 1 over %d passes: %.3g" % (name, len(RefMTP.margins),
                                                                                min(RefMTP.margins)))
        assert min(RefMTP.margins) > 1e-3, "%s: an argmax near a tie makes the fixture fragile" % name
        names.append(name)
    torch.manual_seed(6)
    model = RefHeadsMixer(V, D, depth, L, 2)
    write_safetensors(os.path.join(out_dir, "mixer_h2.safetensors"), list(model.state_dict().items()))
    model_case(fx, "mixer_h2", model, tokens, pad, out_dir)
    torch.manual_seed(7)
    model = RefSoftmaxMixer(V, D, depth, L)
    write_safetensors(os.path.join(out_dir, "mixer_soft.safetensors"), list(model.state_dict().items()))
    for i, block in enumerate(model.mixerblocks):
        fx.add("mixer_soft/projected/mixerblocks.%d.conv.weight" % i, softmax_project(block.conv.weight.data))
    model_case(fx, "mixer_soft", model, tokens, pad, out_dir)
    names += ["mixer_h2", "mixer_soft"]
    with open(os.path.join(out_dir, "zoo_losses.txt"), "w") as f:   # for the command-line test
        for name in names:
            f.write("%s %.9g\n" % (name, [t for n, t in fx.tensors if n == name + "/loss"][0].item()))
    fx.write(path)


def infonce_reference(q, cands, match, tau):
    """infonce_retrieval.py's loss, literally (SPEC 7.6): exp of cosine over tau for the match and
    the negatives, -log of the ratio; fp32, as the script runs it. One item: q [D], cands [c-1, D],
    match the row (1..c-1) of the match among the item's c rows."""
    cos = torch.nn.CosineSimilarity(dim=-1, eps=1e-8)
    sims = cos(q.unsqueeze(0).expand_as(cands), cands)          # [c-1]
    positive = torch.exp(sims[match - 1] / tau)
    negatives = torch.exp(torch.cat([sims[:match - 1], sims[match:]]) / tau).sum()
    return -torch.log(positive / (positive + negatives))


def retrieval(path):
    """Retrieval embeddings and the InfoNCE loss (paper Sec. 6.1, 6.3; SPEC 7.3, 7.6) of a tiny
    mixer (last block output at position -2), Llama (after the final norm at -2) and mixer
    autoencoder (encoder output at -1): items of c rows, row 0 the query, match[b] its match;
    the loss is the mean over the items (the script's per-device loss, averaged as DDP does)."""
    V, D, depth, L, _, pad = MODEL_SIZES
    B, c, tau = 2, 5, 0.02
    fx = Fixture("file: retrieval\ntorch: %s\nsizes: V %d, D %d, depth %d, L %d, items %d, c %d, tau %g, pad %d\n"
                 "embedding: mixer_ret hidden[:, -2] (no lm_head), llama_ret model.norm(layers)[:, -2], "
                 "mixer_ae_ret encoder blocks[:, -1]\nloss: literal exp/log InfoNCE in fp32\n"
                 % (torch.__version__, V, D, depth, L, B, c, tau, pad))
    g = torch.Generator().manual_seed(21)
    tokens = torch.randint(2, V, (B * c, L), generator=g)
    for r in range(0, B * c, 3):                                  # left padding in some rows
        tokens[r, :1 + r % 4] = pad
    match = torch.tensor([3, 1])

    def mixer_embed(model, ids):
        x = model.wte(ids)
        for block in model.mixerblocks:
            x = block(x)
        return x[:, -2]

    def llama_embed(model, ids):
        x = model.model.embed_tokens(ids)
        for layer in model.model.layers:
            x = layer(x)
        return model.model.norm(x)[:, -2]

    def ae_embed(model, ids):
        x = model.wte(ids)
        for block in model.encoderblocks:
            x = block(x)
        return x[:, -1]

    torch.manual_seed(22)
    cases = (("mixer_ret", RefMixer(V, D, depth, L, 1), mixer_embed),
             ("llama_ret", RefLlama(V, D, depth, 4), llama_embed),
             ("mixer_ae_ret", RefMixerEncoderDecoder(V, D, depth, L, repeat_last), ae_embed))
    for name, model, embed in cases:
        fx.add("%s/tokens" % name, tokens)
        fx.add("%s/match" % name, match)
        for pname, p in model.state_dict().items():
            fx.add("%s/param/%s" % (name, pname), p)
        emb = embed(model, tokens)                                 # [B c, D]
        fx.add("%s/embedding" % name, emb)
        items = emb.reshape(B, c, D)
        loss = torch.stack([infonce_reference(items[b, 0], items[b, 1:], int(match[b]), tau) for b in range(B)]).mean()
        loss.backward()
        fx.add("%s/loss" % name, loss.reshape(1))
        for pname, p in model.named_parameters():
            fx.add("%s/grad/%s" % (name, pname), p.grad if p.grad is not None else torch.zeros_like(p))
    fx.write(path)


# ---------------------------------------------------------------------------------------
# The indirect retrieval model (paper Sec. 6.2, Fig. 9; SPEC 7.4; reference-notes Sec. 19)
# ---------------------------------------------------------------------------------------
class RefBidirectionalMixerBlock(RefMixerBlock):
    """The retrieval scripts' BidirectionalMixerBlock(dim, length): RefMixerBlock's parameters
    (k = 1, so padding 'same' changes nothing) with NO mask on its Conv1d(c, c, 1) over the
    samples."""

    def __init__(self, D, c):
        super().__init__(D, c, 1)

    def forward(self, x):
        x = self.conv(self.seq_layernorm(x)) + x
        return self.patch_ff(self.patch_layernorm(x)) + x


class RefRetrievalMixer(torch.nn.Module):
    """RetrievalMixer(dim, depth, n_samples): x [B, c, D] (position 0 the query's embedding), the
    blocks, retrieval_head = Linear(D, 1) at every position, the scores of positions 1..c-1
    [B, c-1, 1] against labels [B] unsqueezed to [B, 1] by CrossEntropyLoss (class axis 1)."""

    def __init__(self, D, depth, c):
        super().__init__()
        self.mixerblocks = torch.nn.ModuleList([RefBidirectionalMixerBlock(D, c) for _ in range(depth)])
        self.retrieval_head = torch.nn.Linear(D, 1, bias=True)
        self.cel = torch.nn.CrossEntropyLoss()

    def forward(self, x, labels):
        for block in self.mixerblocks:
            x = block(x)
        target_output = self.retrieval_head(x)[..., 1:, :].contiguous()
        return self.cel(target_output, torch.unsqueeze(labels, 1)), target_output


RETRIEVAL_SIZES = (16, 2, 6, 4)                                   # D, depth, c, batch
# AdamW's epsilon in the retrieval case: the head's bias and the last block's patch_ff.2.bias shift
# every score alike, which the softmax ignores, and each block's conv bias at the query's position
# shifts a row that only LayerNorms read: zero gradients in exact arithmetic, rounding noise in
# floats (reference-notes Sec. 19), which the default 1e-8 would turn into steps of the lr's size
RETRIEVAL_EPS = 1e-3


def retrieval_model(path, out_dir):
    """One RetrievalMixer case as model_case runs the language models (forward, every gradient,
    3 AdamW steps), on random embeddings; and its initial weights as retrieval_model.safetensors."""
    D, depth, c, B = RETRIEVAL_SIZES
    fx = Fixture("file: retrieval_model\ntorch: %s\nseed: 19\n"
                 "sizes: D %d, depth %d, n_samples %d, batch %d\n"
                 "retrieval: RefRetrievalMixer (no mask), tokens = the embeddings [B, c, D], labels = m - 1, "
                 "logits = the scores [B, c-1, 1]\n"
                 "training: AdamW lr 1e-2, weight decay 0.01, eps 1e-3, clip 1.0, HF linear schedule warmup 1 "
                 "over 3 steps\n"
                 "files: retrieval_model.safetensors (initial weights, no metadata)\n"
                 % (torch.__version__, D, depth, c, B))
    torch.manual_seed(19)
    model = RefRetrievalMixer(D, depth, c)
    g = torch.Generator().manual_seed(19)
    x = torch.randn(B, c, D, generator=g)
    labels = torch.randint(0, c - 1, (B,), generator=g)
    write_safetensors(os.path.join(out_dir, "retrieval_model.safetensors"), list(model.state_dict().items()))
    fx.add("retrieval/labels", labels)
    model_case(fx, "retrieval", model, x, None, out_dir, objective=lambda m, t, pad: m(t, labels),
               eps=RETRIEVAL_EPS)
    fx.write(path)


# ---------------------------------------------------------------------------------------
# Input representation (paper Sec. 3, Eqs. 1-6; SPEC Sec. 8; reference-notes Sec. 17)
# ---------------------------------------------------------------------------------------
INVERT_SIZES = (37, 16, 2, 8, 1)                                  # V, D, depth, L, pad id


def abbreviated(model):
    """The representation scripts' abbreviated model O: the embedding's output through every
    block, without lm_head and, for Llama, without the final RMSNorm (SPEC Sec. 8.1)."""
    if isinstance(model, RefLlama):
        layers = model.model.layers
    else:
        layers = model.mixerblocks

    def O(e):
        for layer in layers:
            e = layer(e)
        return e
    return O


def invert_case(fx, name, model, tokens, lr0, iters, seed):
    """The reference loop of SPEC Sec. 8.2 (language_mlp_mixer_representation.py,
    transformer_representation.py): t = O(wte(ids)) without a gradient; e0 = randn (the code's
    start); `iters` steps of e <- e - eta_i grad |O(e) - t|_1 with eta_i = lr0 (N - i) / N +
    (lr0 / 10) i / N, e detached in between. Also the last-token objective's value and gradient
    at e0 (paper Fig. 3b, not in the reference code). Records the inputs, each step's loss and
    embeddings, and the smallest |O(e) - t| met (a sign flip of L1's gradient near 0 would make
    the case fragile)."""
    model.eval()
    O = abbreviated(model)
    embed = model.model.embed_tokens if isinstance(model, RefLlama) else model.wte
    fx.add("%s/tokens" % name, tokens)
    for pname, p in model.state_dict().items():
        fx.add("%s/param/%s" % (name, pname), p)
    with torch.no_grad():
        target = O(embed(tokens))
    g = torch.Generator().manual_seed(seed)
    e = torch.randn(target.shape, generator=g)
    fx.add("%s/target" % name, target)
    fx.add("%s/e0" % name, e)
    margin = float("inf")
    for i in range(iters):
        e = e.detach().requires_grad_(True)
        out = O(e)
        margin = min(margin, (out - target).abs().min().item())
        loss = (out - target).abs().sum()
        loss.backward()
        if i == 0:
            fx.add("%s/grad0" % name, e.grad)
        fx.add("%s/step%d/loss" % (name, i), loss.detach().reshape(1))
        eta = lr0 * (iters - i) / iters + (lr0 / 10) * i / iters
        e = e.detach() - eta * e.grad
        fx.add("%s/step%d/e" % (name, i), e)
    e0 = fx.tensors[[n for n, _ in fx.tensors].index("%s/e0" % name)][1].clone().requires_grad_(True)
    out = O(e0)
    last = (out[:, -1, :] - target[:, -1, :]).abs().sum()
    last.backward()
    fx.add("%s/last/loss" % name, last.detach().reshape(1))
    fx.add("%s/last/grad0" % name, e0.grad)
    print("%s: smallest |O(e) - t| over %d steps: %.3g" % (name, iters, margin))
    assert margin > 1e-4, "%s: an element of O(e) - t near 0 makes the L1 gradient fragile" % name


def invert(path):
    V, D, depth, L, pad = INVERT_SIZES
    lr0, iters = 0.02, 3
    fx = Fixture("file: invert\ntorch: %s\n"
                 "sizes: V %d, D %d, depth %d, L %d, pad id %d\n"
                 "mixer: RefMixer (k 1, seed 21), llama_h4: RefLlama with 4 heads (seed 22)\n"
                 "inversion: O = the blocks without head (and without Llama's final norm), model.eval(); "
                 "target O(wte(tokens)); e0 = randn (generator seeds 33, 32); %d steps of plain gradient "
                 "descent on sum |O(e) - target|, eta_i = %g (N - i) / N + (%g / 10) i / N, N = %d\n"
                 "last: the last position's objective and its gradient at e0\n"
                 "pinv: torch.linalg.pinv of the mixer's wte.weight (default rtol)\n"
                 % (torch.__version__, V, D, depth, L, pad, iters, lr0, lr0, iters))
    g = torch.Generator().manual_seed(20)
    tokens = torch.randint(2, V, (1, L), generator=g)
    tokens[0, L - 2:] = pad                                       # right padding, as the scripts' tokenizer
    torch.manual_seed(21)
    mixer = RefMixer(V, D, depth, L, 1)
    with torch.no_grad():                                         # masked once, as every forward would
        for block in mixer.mixerblocks:
            block.conv.weight.data = torch.tril(block.conv.weight.data[:, :, 0]).unsqueeze(-1).contiguous()
    invert_case(fx, "mixer", mixer, tokens, lr0, iters, 33)
    fx.add("mixer/pinv", torch.linalg.pinv(mixer.wte.weight.detach()))
    torch.manual_seed(22)
    llama = RefLlama(V, D, depth, 4)
    invert_case(fx, "llama_h4", llama, tokens, lr0, iters, 32)
    fx.write(path)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "fixtures")
    os.makedirs(out, exist_ok=True)
    core1(os.path.join(out, "ops_core1.bin"))
    core2(os.path.join(out, "ops_core2.bin"))
    optim(os.path.join(out, "adamw.bin"))
    models(os.path.join(out, "models.bin"), out)
    zoo(os.path.join(out, "zoo.bin"), out)
    retrieval(os.path.join(out, "retrieval.bin"))
    retrieval_model(os.path.join(out, "retrieval_model.bin"), out)
    invert(os.path.join(out, "invert.bin"))
