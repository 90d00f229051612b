"""PyTorch reference logits for tests/models_test.ts ("... match PyTorch").

Builds tiny-width PyTorch versions of resnet20 (option A, as the common CIFAR
ResNet code), resnet18 (CIFAR stem, projection shortcuts) and vgg16_bn (RNI:
last pool averages), fills every parameter and BN statistic with a closed-form
value of (tfjs weight name, flat index in PyTorch layout) that the test
reproduces in TypeScript, and prints the eval-mode logits for a closed-form
input. Run: /usr/bin/python3 tests/models_torch_reference.py
Module names equal the tfjs layer names, so the weight mapping is mechanical.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


M32 = 0xFFFFFFFF


def unit(h, j):
    """A uniform value in [-1, 1) from integers h, j (murmur3 fmix32; exact in JS too)."""
    x = (h * 0x9E3779B1 + j) & M32
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & M32
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & M32
    x ^= x >> 16
    return x / 2**31 - 1


def value(key, j, shape):
    """The shared closed form; key is the tfjs weight name ("conv1/kernel")."""
    h = sum((i + 1) * ord(ch) for i, ch in enumerate(key))
    s = unit(h, j)
    kind = key.split("/")[1]
    if kind == "kernel":
        return s * math.sqrt(6.0 / math.prod(shape[1:]))
    if kind == "gamma":
        return 1 + 0.2 * s
    if kind == "moving_variance":
        return 0.5 + s * s
    return 0.1 * s  # bias, beta, moving_mean


TFJS = {"weight": "kernel", "bias": "bias"}
TFJS_BN = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean",
           "running_var": "moving_variance"}


def fill(model):
    with torch.no_grad():
        for mod_name, mod in model.named_modules():
            table = TFJS_BN if isinstance(mod, nn.BatchNorm2d) else TFJS
            for p_name, t in list(mod.named_parameters(recurse=False)) + list(
                    mod.named_buffers(recurse=False)):
                if p_name not in table:
                    continue
                key = f"{mod_name}/{table[p_name]}"
                flat = [value(key, j, tuple(t.shape)) for j in range(t.numel())]
                t.copy_(torch.tensor(flat, dtype=torch.float32).reshape(t.shape))


class Net(nn.Module):
    """Layers registered under their tfjs names; forward given as a function."""

    def __init__(self, forward):
        super().__init__()
        self._fwd = forward

    def forward(self, x):
        return self._fwd(self, x)


def conv_bn(net, name, bn_name, cin, cout, k, stride, bias=False):
    setattr(net, name, nn.Conv2d(cin, cout, k, stride, k // 2, bias=bias))
    setattr(net, bn_name, nn.BatchNorm2d(cout))


def resnet(stages, blocks, option_a, stem_relu):
    def fwd(net, x):
        x = net.bn1(net.conv1(x))
        if stem_relu:
            x = F.relu(x)
        cin = stages[0]
        for s, cout in enumerate(stages):
            for b in range(blocks):
                p = f"layer{s + 1}_{b}"
                stride = 2 if s > 0 and b == 0 else 1
                y = F.relu(getattr(net, p + "_bn1")(getattr(net, p + "_conv1")(x)))
                y = getattr(net, p + "_bn2")(getattr(net, p + "_conv2")(y))
                if stride != 1 or cin != cout:
                    if option_a:
                        pad = (cout - cin) // 2
                        sc = F.pad(x[:, :, ::stride, ::stride], (0, 0, 0, 0, pad, cout - cin - pad))
                    else:
                        sc = getattr(net, p + "_shortcut_bn")(getattr(net, p + "_shortcut_conv")(x))
                else:
                    sc = x
                x = F.relu(y + sc)
                cin = cout
        return net.fc(x.mean((2, 3)))

    net = Net(fwd)
    conv_bn(net, "conv1", "bn1", 3, stages[0], 3, 1)
    cin = stages[0]
    for s, cout in enumerate(stages):
        for b in range(blocks):
            p = f"layer{s + 1}_{b}"
            stride = 2 if s > 0 and b == 0 else 1
            conv_bn(net, p + "_conv1", p + "_bn1", cin, cout, 3, stride)
            conv_bn(net, p + "_conv2", p + "_bn2", cout, cout, 3, 1)
            if not option_a and (stride != 1 or cin != cout):
                conv_bn(net, p + "_shortcut_conv", p + "_shortcut_bn", cin, cout, 1, stride)
            cin = cout
    net.fc = nn.Linear(cin, 3)
    return net


def vgg16_bn(width):
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    cfg = [c if c == "M" else max(1, round(c * width)) for c in cfg]

    def fwd(net, x):
        i = 0
        for j, c in enumerate(cfg):
            if c == "M":
                x = (F.avg_pool2d if j == len(cfg) - 1 else F.max_pool2d)(x, 2)
            else:
                i += 1
                x = F.relu(getattr(net, f"features_bn{i}")(getattr(net, f"features_conv{i}")(x)))
        return net.classifier(x.flatten(1))

    net = Net(fwd)
    cin, i = 3, 0
    for c in cfg:
        if c != "M":
            i += 1
            conv_bn(net, f"features_conv{i}", f"features_bn{i}", cin, c, 3, 1, bias=True)
            cin = c
    net.classifier = nn.Linear(cin, 3)
    return net


def closed_form_input(n, c, h, w):
    """NCHW input; element (b, ch, y, x) = sin(0.3 * flat NHWC index)."""
    x = torch.empty(n, h, w, c)
    flat = x.view(-1)
    for j in range(flat.numel()):
        flat[j] = math.sin(0.3 * j)
    return x.permute(0, 3, 1, 2).contiguous()


if __name__ == "__main__":
    cases = {
        "resnet20 width 0.25, 15x15": (resnet([4, 8, 16], 3, True, True), 15),
        "resnet18 width 0.125, 16x16": (resnet([8, 16, 32, 64], 2, False, True), 16),
        "vgg16_bn width 0.0625, 32x32": (vgg16_bn(0.0625), 32),
    }
    for name, (net, side) in cases.items():
        fill(net)
        net.eval()
        with torch.no_grad():
            y = net(closed_form_input(2, 3, side, side))
        print(name, [round(v, 6) for v in y.flatten().tolist()])
