"""PyTorch CPU peer for bench/backends.ts: the same two nets (see bench/nets.ts), batch 64
of 32x32x3, SGD training step and inference batch, timed on the CPU (best ms of --steps;
the minimum is the estimate least disturbed by other load on a shared machine).

Usage: /usr/bin/python3 bench/peers/torch_bench.py [--threads 2] [--warmup 2] [--steps 5]
                                                  [--device cpu|cuda]
Prints one JSON object: {"torch": version, "threads": n, "vgg": {"train_ms", "infer_ms"}, ...}.
With --device cuda (a GPU machine, to set WebGPU figures beside) every timing synchronises.
"""
import argparse
import json
import time

import torch
from torch import nn


def conv_bn_relu(cin, cout, stride=1):
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout, eps=1e-3),
            nn.ReLU()]


def vgg_net():
    layers, cin = [], 3
    for widths in ([32, 32], [64, 64], [128, 128]):
        for w in widths:
            layers += conv_bn_relu(cin, w)
            cin = w
        layers.append(nn.MaxPool2d(2, 2))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10)]
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = nn.Sequential(*conv_bn_relu(cin, cout, stride))
        self.b = nn.Sequential(nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
                               nn.BatchNorm2d(cout, eps=1e-3))
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout, eps=1e-3))

    def forward(self, x):
        return torch.relu(self.b(self.a(x)) + self.shortcut(x))


def res_net():
    return nn.Sequential(*conv_bn_relu(3, 16), BasicBlock(16, 16, 1), BasicBlock(16, 32, 2),
                         BasicBlock(32, 64, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(64, 10))


def time_ms(fn, warmup, steps, sync):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1000)
    return min(times)


def bench(model, warmup, steps, device):
    model = model.to(device)
    x = torch.randn(64, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (64,), device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()

    def train():
        model.train()
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    def infer():
        model.eval()
        with torch.no_grad():
            model(x)

    return {"train_ms": time_ms(train, warmup, steps, sync),
            "infer_ms": time_ms(infer, warmup, steps, sync)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    a = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": a.device}
    if a.device == "cuda":
        out["gpu"] = torch.cuda.get_device_name(0)
    for name, build in (("vgg", vgg_net), ("resnet", res_net)):
        out[name] = bench(build(), a.warmup, a.steps, a.device)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
