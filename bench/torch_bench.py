"""One PyTorch benchmark case: the twin of bench/case.ts, for `npm run bench:torch`.

Runs one configuration in one mode in this process (so its peak memory is its
own) and prints one line "RESULT {json}" with the same fields as rnnkit's
CaseResult.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_bench.py '<CaseSpec as JSON>'
    /usr/bin/python3 bench/torch_bench.py --check      # prints versions, or why torch is missing

Setup (Debian 12): apt-get install -y python3-torch   (PyTorch 1.13, for /usr/bin/python3)

The model matches rnnkit's: one-hot input (F.one_hot(...).float(), as the
issue's reference figures used), nn.RNN (tanh) / nn.GRU / nn.LSTM with
batch_first, nn.Linear to V logits, CrossEntropyLoss, Adam (lr 1e-3) and
clip_grad_norm_ 5. Forward-only runs under torch.no_grad(); batch-1 sampling
feeds one token at a time and draws the next with torch.multinomial over the
softmax, as a user's sampling loop would.
"""
import json
import math
import os
import resource
import sys
import time

# Without a passive wait policy PyTorch's OpenMP threads spin against
# OpenBLAS's and it runs up to 3.7x slower: an unfair comparison. It must be
# set before torch (libgomp) loads; the harness sets it too.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

THREADS = 2

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as err:  # pragma: no cover - the message is the point
    sys.stderr.write(
        f"bench/torch_bench.py: cannot import torch with {sys.executable} ({err}).\n"
        "Install Debian's PyTorch for the system Python: sudo apt-get install -y python3-torch\n"
        "and run this script with /usr/bin/python3 (npm run bench:torch does).\n"
    )
    sys.exit(3)


def versions():
    import platform

    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", ""),
    }


def proc_status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return float("nan")


def machine_busy_seconds():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / 100.0


def self_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def median(xs):
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def tokens(n, V, seed):
    """The same LCG stream as bench/case.ts."""
    s = seed & 0xFFFFFFFF
    out = []
    for _ in range(n):
        s = (s * 1103515245 + 12345) & 0xFFFFFFFF
        out.append((s >> 8) % V)
    return out


class Net(nn.Module):
    def __init__(self, cell, H, layers, bidirectional, V):
        super().__init__()
        R = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.rnn = R(V, H, num_layers=layers, bidirectional=bidirectional, batch_first=True)
        self.out = nn.Linear(H * (2 if bidirectional else 1), V)

    def forward(self, x, state=None):
        y, state = self.rnn(x, state)
        return self.out(y), state


def time_steps(spec, fn):
    last = 0.0
    for _ in range(spec["warmup"]):
        t0 = time.perf_counter()
        fn()
        last = time.perf_counter() - t0
    steps = max(spec["minSteps"], min(spec["maxSteps"], math.ceil(spec["targetSeconds"] / max(last, 1e-6))))
    times = []
    busy0, self0, wall0 = machine_busy_seconds(), self_cpu_seconds(), time.perf_counter()
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    wall = time.perf_counter() - wall0
    other = max(0.0, machine_busy_seconds() - busy0 - (self_cpu_seconds() - self0)) / wall
    return times, other


def run(spec):
    torch.set_num_threads(THREADS)
    torch.manual_seed(1)
    c, V, B, T = spec["config"], spec["V"], spec["B"], spec["T"]
    baseline = proc_status_bytes("VmRSS")
    model = Net(c["cell"], c["units"], c["layers"], c["bidirectional"], V)
    tokens_per_step = B * T
    mode = spec["mode"]
    if mode == "sample":
        L = spec["sampleLength"]
        tokens_per_step = L
        gen = torch.Generator().manual_seed(0)
        model.eval()

        def fn():
            with torch.no_grad():
                tok = torch.tensor([[1]])
                state = None
                out = []
                for _ in range(L):
                    logits, state = model(F.one_hot(tok, V).float(), state)
                    p = torch.softmax(logits[:, -1], dim=-1)
                    tok = torch.multinomial(p, 1, generator=gen)
                    out.append(tok.item())
            assert len(out) == L

    else:
        x = torch.tensor(tokens(B * T, V, 12345)).view(B, T)
        if mode == "forward":
            model.eval()

            def fn():
                with torch.no_grad():
                    model(F.one_hot(x, V).float())

        else:
            y = torch.tensor(tokens(B * T, V, 54321)).view(B * T)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            loss_fn = nn.CrossEntropyLoss()
            params = list(model.parameters())

            def fn():
                opt.zero_grad()
                logits, _ = model(F.one_hot(x, V).float())
                loss = loss_fn(logits.reshape(B * T, V), y)
                loss.backward()
                nn.utils.clip_grad_norm_(params, 5.0)
                opt.step()
                return loss.item()

    times, other = time_steps(spec, fn)
    sec = median(times)
    return {
        "lib": "torch",
        "mode": mode,
        "id": c["id"],
        "B": B,
        "T": T,
        "tokensPerStep": tokens_per_step,
        "steps": len(times),
        "times": times,
        "medianSeconds": sec,
        "tokensPerSec": tokens_per_step / sec,
        "peakBytes": proc_status_bytes("VmHWM"),
        "baselineBytes": baseline,
        "otherCores": other,
        "versions": versions(),
    }


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    if sys.argv[1] == "--check":
        torch.set_num_threads(THREADS)
        print("RESULT " + json.dumps(versions()))
        return
    print("RESULT " + json.dumps(run(json.loads(sys.argv[1]))), flush=True)


if __name__ == "__main__":
    main()
