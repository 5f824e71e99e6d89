#!/usr/bin/python3
"""PyTorch's side of `make bench-train`: the same models, shapes, thread count and optimizer.

Run with Debian's interpreter (python3-torch, torch 1.13):

    /usr/bin/python3 bench/torch_peer.py --one mixer-256        one configuration, KEY=value lines
    /usr/bin/python3 bench/torch_peer.py --ours ./build/bench_train [--coretype SkylakeX]
        every configuration, ours and PyTorch's interleaved (ours, then PyTorch, per
        configuration, each in its own process), a table and KEY=value lines with the ratio
        ours / PyTorch's tokens/s and the load average before each run.

The models are the reference modules of tests/reference/make_fixtures.py (RefMixer: the
reference MixerBlock with its in-place tril re-masking at every forward; RefLlama: the Hugging
Face Llama layers written out), V 4096, 8 blocks, F = 4 D, k 1, 4 heads. A step: random token
rows [B, L], next-token cross-entropy on positions 0..L-2, backward, torch.optim.AdamW(lr 1e-3,
betas (0.9, 0.999), eps 1e-8, weight decay 0.01) as mm's defaults. Same steps as
bench_train.c: QUICK=1 1 warm-up + 3 timed (small shape only), otherwise 2 + 5; STEPS=n; the
median step time. Threads: OMP_NUM_THREADS, else every core (as bench_train).
"""
import os
import resource
import statistics
import subprocess
import sys
import time

CONFIGS = [("mixer-256", "mixer", 256, 128, 16), ("llama-256", "llama", 256, 128, 16),
           ("mixer-512", "mixer", 512, 512, 8), ("llama-512", "llama", 512, 512, 8)]
VOCAB, DEPTH, HEADS = 4096, 8, 4


def quick():
    return os.environ.get("QUICK", "0") not in ("", "0")


def threads():
    n = os.environ.get("OMP_NUM_THREADS")
    return int(n) if n and n.isdigit() and int(n) > 0 else os.cpu_count()


def one(name):
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
    from make_fixtures import RefLlama, RefMixer
    cfg = [c for c in CONFIGS if c[0] == name]
    if not cfg:
        sys.exit("torch_peer: no configuration %s" % name)
    _, arch, D, L, B = cfg[0]
    torch.set_num_threads(threads())
    torch.manual_seed(1)
    model = RefMixer(VOCAB, D, DEPTH, L, 1) if arch == "mixer" else RefLlama(VOCAB, D, DEPTH, HEADS)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    warm, timed = (1, 3) if quick() else (2, 5)
    if os.environ.get("STEPS", "").isdigit() and int(os.environ["STEPS"]) > 0:
        timed = int(os.environ["STEPS"])
    times = []
    for s in range(warm + timed):
        ids = torch.randint(0, VOCAB, (B, L))
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        logits = model(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times[warm:])
    print("CONFIG=%s\nTHREADS=%d\nTORCH=%s\nSTEP_MEDIAN_S=%.4f\nTOKENS_PER_S=%.1f\nPEAK_RSS_MB=%.1f" % (
        name, torch.get_num_threads(), torch.__version__, med, B * L / med,
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))


def parse(text):
    out = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


def load():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def peer(ours, coretype):
    env = dict(os.environ)
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    env["OMP_NUM_THREADS"] = str(threads())
    names = [c[0] for c in CONFIGS][:2 if quick() else 4]
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    core = subprocess.run([ours, "--ceiling"], env=env, capture_output=True, text=True).stdout
    core = parse(core).get("BLAS_CORE", "none")
    print("CPU=%s\nTHREADS=%d\nOPENBLAS_CORETYPE=%s\nBLAS_CORE=%s" % (cpu, threads(), coretype or "(unset)", core))
    print("%-10s %11s %6s %11s %6s %7s" % ("config", "ours tok/s", "load", "torch tok/s", "load", "ratio"))
    sys.stdout.flush()
    for name in names:
        l1 = load()
        r1 = subprocess.run([ours, "--one", name], env=env, capture_output=True, text=True)
        l2 = load()
        r2 = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", name], env=env,
                            capture_output=True, text=True)
        if r1.returncode or r2.returncode:
            print("%-10s failed: %s%s" % (name, r1.stderr.strip(), r2.stderr.strip()))
            continue
        a, b = float(parse(r1.stdout)["TOKENS_PER_S"]), float(parse(r2.stdout)["TOKENS_PER_S"])
        print("%-10s %11.1f %6s %11.1f %6s %6.2fx" % (name, a, l1, b, l2, a / b))
        print("%s.OURS_TOKENS_PER_S=%.1f\n%s.OURS_LOAD=%s\n%s.TORCH_TOKENS_PER_S=%.1f\n%s.TORCH_LOAD=%s\n"
              "%s.TORCH_PEAK_RSS_MB=%s\n%s.RATIO=%.3f" % (name, a, name, l1, name, b, name, l2, name,
                                                     parse(r2.stdout)["PEAK_RSS_MB"], name, a / b))
        sys.stdout.flush()


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "--one":
        one(args[1])
    elif len(args) >= 2 and args[0] == "--ours":
        ct = args[3] if len(args) == 4 and args[2] == "--coretype" else None
        peer(args[1], ct)
    else:
        sys.exit(__doc__)
