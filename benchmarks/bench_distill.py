"""Trajectory-matching iterations/s: curatekit's `TrajectoryMatcher.step` vs the official MTT inner loop, re-created.

The official loop (GeorgeCazenavette/mtt-distillation, `distill.py` + `reparam_module.py` + `utils.py`; DATM's is the same) wraps
the ConvNet in a `ReparamModule`: the parameters are deleted from the submodules and one flat parameter replaces them; every
forward call splits the flat vector into views and `setattr`s them onto the submodules before running the module. Its DSA
(`DiffAugment`, 'S' mode) builds the affine matrices of scale and rotate as nested Python lists, one image at a time. Each
iteration: pick an expert and a start epoch, unroll `syn_steps` student steps with `create_graph=True` on minibatches of
the synthetic images, the normalized parameter distance to the expert `expert_epochs` later, backward, SGD steps on the
images and the learning rate. That loop is re-created here class for class on the same ConvNet, data and expert trajectories.

curatekit runs `TrajectoryMatcher.step` (functional forward from the flat vector, batched DSA). Both sides run the same
number of iterations on the same synthetic start, alternating (official, curatekit, official, …), and the median of the
repeats is reported as iterations/s and their ratio, with the load average. A correctness check runs first: with DSA off and
the same minibatch order both sides must give the same matching loss and the same gradient on the images.

    python benchmarks/bench_distill.py                      # CPU: widths 32 and 64, IPC 1 and 10, 20 student steps
    python benchmarks/bench_distill.py --threads 1          # one thread per process (a busy shared machine)
    python benchmarks/bench_distill.py --device cuda --widths 128 --ipc 1 10 50   # GPU

Expert trajectories are random walks from a network's initialization (the speed of an iteration does not depend on what the
experts learned); the synthetic images start from real Fashion-MNIST images of each class (random noise if it is missing).
"""
import argparse, math, os, statistics, sys, time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from curatekit import distill
from curatekit.data import fashion_mnist, fashion_mnist_available


# ---- the official code, re-created -------------------------------------------------------------------------------------
class ReparamModule(nn.Module):
    "The official flat-parameter wrapper: one `flat_param`; each forward sets views of it as plain attributes of the submodules."
    def __init__(self, module):
        super().__init__()
        self.module = module
        self._infos, params = [], []
        for mn, m in self.named_modules():
            for n, p in m.named_parameters(recurse=False):
                self._infos.append((mn, n)); params.append(p.detach())
        self._numels, self._shapes = [p.numel() for p in params], [p.shape for p in params]
        self.flat_param = nn.Parameter(torch.cat([p.reshape(-1) for p in params]))
        for mn, n in self._infos: delattr(self._mod(mn), n)
        self._unflatten(self.flat_param)

    def _mod(self, mn):
        m = self
        for p in mn.split(".") if mn else []: m = getattr(m, p)
        return m

    def _unflatten(self, flat):
        for (mn, n), t, s in zip(self._infos, flat.split(self._numels), self._shapes): setattr(self._mod(mn), n, t.view(s))

    def forward(self, x, flat_param):
        flat_param = torch.squeeze(flat_param)
        saved = [getattr(self._mod(mn), n) for mn, n in self._infos]
        self._unflatten(flat_param)
        try: return self.module(x)
        finally:
            for (mn, n), p in zip(self._infos, saved): setattr(self._mod(mn), n, p)


class ParamDiffAug:
    def __init__(self):
        self.aug_mode, self.prob_flip, self.ratio_scale, self.ratio_rotate = "S", 0.5, 1.2, 15.0
        self.ratio_crop_pad, self.ratio_cutout, self.brightness, self.saturation, self.contrast = 0.125, 0.5, 1.0, 2.0, 0.5
        self.batchmode, self.latestseed = False, -1


def rand_scale(x, p):
    sx = torch.rand(x.shape[0]) * (p.ratio_scale - 1.0 / p.ratio_scale) + 1.0 / p.ratio_scale
    sy = torch.rand(x.shape[0]) * (p.ratio_scale - 1.0 / p.ratio_scale) + 1.0 / p.ratio_scale
    theta = torch.tensor([[[sx[i], 0, 0], [0, sy[i], 0]] for i in range(x.shape[0])], dtype=torch.float)
    return F.grid_sample(x, F.affine_grid(theta, x.shape, align_corners=True).to(x.device), align_corners=True)

def rand_rotate(x, p):
    t = (torch.rand(x.shape[0]) - 0.5) * 2 * p.ratio_rotate / 180 * float(np.pi)
    theta = torch.tensor([[[torch.cos(t[i]), torch.sin(-t[i]), 0], [torch.sin(t[i]), torch.cos(t[i]), 0]] for i in range(x.shape[0])],
                         dtype=torch.float)
    return F.grid_sample(x, F.affine_grid(theta, x.shape, align_corners=True).to(x.device), align_corners=True)

def rand_flip(x, p): return torch.where(torch.rand(x.size(0), 1, 1, 1, device=x.device) < p.prob_flip, x.flip(3), x)
def rand_brightness(x, p): return x + (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) - 0.5) * p.brightness
def rand_saturation(x, p):
    m = x.mean(dim=1, keepdim=True)
    return (x - m) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) * p.saturation) + m
def rand_contrast(x, p):
    m = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - m) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) + p.contrast) + m

def rand_crop(x, p):
    sx, sy = int(x.size(2) * p.ratio_crop_pad + 0.5), int(x.size(3) * p.ratio_crop_pad + 0.5)
    tx = torch.randint(-sx, sx + 1, size=[x.size(0), 1, 1], device=x.device)
    ty = torch.randint(-sy, sy + 1, size=[x.size(0), 1, 1], device=x.device)
    gb, gx, gy = torch.meshgrid(torch.arange(x.size(0), device=x.device), torch.arange(x.size(2), device=x.device),
                                torch.arange(x.size(3), device=x.device), indexing="ij")
    gx, gy = torch.clamp(gx + tx + 1, 0, x.size(2) + 1), torch.clamp(gy + ty + 1, 0, x.size(3) + 1)
    return F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0]).permute(0, 2, 3, 1).contiguous()[gb, gx, gy].permute(0, 3, 1, 2)

def rand_cutout(x, p):
    cs = int(x.size(2) * p.ratio_cutout + 0.5), int(x.size(3) * p.ratio_cutout + 0.5)
    ox = torch.randint(0, x.size(2) + (1 - cs[0] % 2), size=[x.size(0), 1, 1], device=x.device)
    oy = torch.randint(0, x.size(3) + (1 - cs[1] % 2), size=[x.size(0), 1, 1], device=x.device)
    gb, gx, gy = torch.meshgrid(torch.arange(x.size(0), device=x.device), torch.arange(cs[0], device=x.device),
                                torch.arange(cs[1], device=x.device), indexing="ij")
    gx, gy = torch.clamp(gx + ox - cs[0] // 2, min=0, max=x.size(2) - 1), torch.clamp(gy + oy - cs[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype, device=x.device)
    mask[gb, gx, gy] = 0
    return x * mask.unsqueeze(1)

AUGMENT_FNS = {"color": [rand_brightness, rand_saturation, rand_contrast], "crop": [rand_crop], "cutout": [rand_cutout],
               "flip": [rand_flip], "scale": [rand_scale], "rotate": [rand_rotate]}

def DiffAugment(x, strategy, param):
    ops = strategy.split("_")
    p = ops[torch.randint(0, len(ops), size=(1,)).item()]
    for f in AUGMENT_FNS[p]: x = f(x, param)
    return x.contiguous()


class Official:
    "The official distill.py iteration (MTT; DATM's differs only in the label handling)."
    def __init__(self, buffers, image_syn, label_syn, args, device):
        self.buffers, self.args, self.device, self.dsa_param = buffers, args, device, ParamDiffAug()
        self.image_syn = image_syn.detach().clone().to(device).requires_grad_(True)
        self.label_syn = label_syn.to(device)
        self.syn_lr = torch.tensor(args.lr_teacher, device=device).requires_grad_(True)
        self.optimizer_img = torch.optim.SGD([self.image_syn], lr=args.lr_img, momentum=0.5)
        self.optimizer_lr = torch.optim.SGD([self.syn_lr], lr=args.lr_lr, momentum=0.5)
        self.criterion = nn.CrossEntropyLoss().to(device)
        self.expert_idx = 0

    def iteration(self, chunks=None, start_epoch=None, dsa=True):
        a = self.args
        student_net = ReparamModule(distill.ConvNet(**a.arch)).to(self.device)
        student_net.train()
        num_params = sum(np.prod(p.size()) for p in student_net.parameters())
        expert_trajectory = self.buffers[self.expert_idx % len(self.buffers)]; self.expert_idx += 1
        start_epoch = np.random.randint(0, a.max_start_epoch) if start_epoch is None else start_epoch
        starting_params = expert_trajectory[start_epoch]
        target_params = expert_trajectory[start_epoch + a.expert_epochs].to(self.device)
        student_params = [starting_params.to(self.device).clone().requires_grad_(True)]
        starting_params = starting_params.to(self.device)
        indices_chunks = [] if chunks is None else list(chunks)
        for step in range(a.syn_steps):
            if not indices_chunks: indices_chunks = list(torch.split(torch.randperm(len(self.image_syn)), a.batch_syn))
            these_indices = indices_chunks.pop()
            x, this_y = self.image_syn[these_indices], self.label_syn[these_indices]
            if dsa: x = DiffAugment(x, a.dsa_strategy, param=self.dsa_param)
            x = student_net(x, flat_param=student_params[-1])
            ce_loss = self.criterion(x, this_y)
            grad = torch.autograd.grad(ce_loss, student_params[-1], create_graph=True)[0]
            student_params.append(student_params[-1] - self.syn_lr * grad)
        param_loss = F.mse_loss(student_params[-1], target_params, reduction="sum") / num_params
        param_dist = F.mse_loss(starting_params, target_params, reduction="sum") / num_params
        grand_loss = param_loss / param_dist
        self.optimizer_img.zero_grad(); self.optimizer_lr.zero_grad()
        grand_loss.backward()
        grad_img = self.image_syn.grad.detach().clone()
        self.optimizer_img.step(); self.optimizer_lr.step()
        return grand_loss.item(), grad_img


# ---- the comparison ------------------------------------------------------------------------------------------------
def data(ipc, seed=0):
    if fashion_mnist_available():
        x, y = fashion_mnist("train")
        x, y = distill.as_images(x[:20000]), distill.as_labels(y[:20000])
        xs, ys = distill.init_synthetic(x, y, ipc, "real", gen=torch.Generator().manual_seed(seed))
        return xs, ys, "Fashion-MNIST"
    g = torch.Generator().manual_seed(seed)
    return torch.randn(10 * ipc, 1, 28, 28, generator=g), torch.arange(10).repeat_interleave(ipc), "noise"

def random_experts(arch, n, epochs, seed=0):
    "Trajectories: a seeded network's parameters plus a Gaussian random walk (scale 1% of the parameters' RMS per epoch)."
    out = []
    for i in range(n):
        w0 = distill.seeded_convnet(seed + i, **arch).flat()
        g = torch.Generator().manual_seed(seed + i)
        steps = torch.randn(epochs, len(w0), generator=g) * w0.pow(2).mean().sqrt() * 0.01
        out.append(torch.cat([w0[None], w0[None] + steps.cumsum(0)]))
    return out

class MemoryBuffer(distill.ExpertBuffer):
    "An `ExpertBuffer` over in-memory trajectories (the benchmark's experts)."
    def __init__(self, trajs, arch):
        self._cache, self.arch, self.path = dict(enumerate(trajs)), arch, Path("<memory>")
        self.config = dict(epochs=len(trajs[0]) - 1); self.files = [None] * len(trajs)

def matcher(buf, xs, ys, a, device, **kw):
    "A `TrajectoryMatcher` started from the given synthetic set (instead of drawing one)."
    m = distill.TrajectoryMatcher(buf, ipc=a.ipc, syn_steps=a.syn_steps, expert_epochs=a.expert_epochs, lr_img=a.lr_img,
                                  lr_lr=a.lr_lr, lr_teacher=a.lr_teacher, batch_syn=a.batch_syn, device=device,
                                  **dict(dict(max_start_epoch=a.max_start_epoch), **kw))
    m.images = xs.detach().clone().to(device).requires_grad_(True); m.labels = ys.to(device)
    m.lr = torch.tensor(a.lr_teacher, device=device).requires_grad_(True)
    m.opts = [torch.optim.SGD([m.images], lr=a.lr_img, momentum=0.5), torch.optim.SGD([m.lr], lr=a.lr_lr, momentum=0.5)]
    m.order, m.losses = [], []
    return m

def check_agreement(buf, xs, ys, a, device):
    "DSA off, expert 0 from epoch 0, the same minibatches: both sides' matching loss and gradient on the images."
    m = matcher(buf, xs, ys, a, device, max_start_epoch=1, dsa=False)
    m.order, m.gen = [0], torch.Generator().manual_seed(5)
    g = torch.Generator().manual_seed(5); torch.randint(0, 1, (1,), generator=g)   # curatekit draws t first, then batches
    seq, chunks = [], []
    while len(seq) < a.syn_steps:
        if not chunks: chunks = list(torch.randperm(len(xs), generator=g).split(a.batch_syn))
        seq.append(chunks.pop())
    l_off, g_off = Official(buf._cache, xs, ys, a, device).iteration(chunks=seq[::-1], start_epoch=0, dsa=False)
    l_ck = m.step(0)
    return abs(l_off - l_ck), float((g_off - m.images.grad).abs().max()), float(g_off.abs().max())

def time_side(make, iters, warmup):
    obj = make()
    for _ in range(warmup): obj()
    t = time.perf_counter()
    for _ in range(iters): obj()
    return iters / (time.perf_counter() - t)

def run(width, ipc, args, device):
    arch = dict(channels=1, num_classes=10, width=width, depth=3, im_size=28, norm="instancenorm")
    trajs = random_experts(arch, args.experts, args.max_start_epoch + args.expert_epochs)
    buf = MemoryBuffer(trajs, arch)
    xs, ys, src = data(ipc)
    a = argparse.Namespace(**dict(vars(args), arch=arch, ipc=ipc, batch_syn=args.batch_syn or 10 * ipc))
    dl, dg, gmax = check_agreement(buf, xs, ys, a, device)
    def official():
        torch.manual_seed(0); np.random.seed(0)
        o = Official(buf._cache, xs, ys, a, device)
        return lambda: o.iteration()
    def curatekit():
        m, it = matcher(buf, xs, ys, a, device), [0]
        def step(): m.step(it[0]); it[0] += 1
        return step
    off, ck = [], []
    for r in range(args.repeats):
        off.append(time_side(official, args.iters, args.warmup))
        ck.append(time_side(curatekit, args.iters, args.warmup))
    o, c = statistics.median(off), statistics.median(ck)
    return dict(width=width, ipc=ipc, data=src, official=o, curatekit=c, ratio=c / o, loss_diff=dl, grad_diff=dg, grad_max=gmax,
                off_all=off, ck_all=ck)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[32, 64])
    ap.add_argument("--ipc", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--syn-steps", dest="syn_steps", type=int, default=20)
    ap.add_argument("--expert-epochs", dest="expert_epochs", type=int, default=2)
    ap.add_argument("--max-start-epoch", dest="max_start_epoch", type=int, default=5)
    ap.add_argument("--batch-syn", dest="batch_syn", type=int, default=None, help="default: all synthetic images")
    ap.add_argument("--experts", type=int, default=3)
    ap.add_argument("--iters", type=int, default=5, help="timed iterations per repeat")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    args.lr_img, args.lr_lr, args.lr_teacher, args.dsa_strategy = 1000.0, 1e-5, 0.01, distill.DSA_STRATEGY
    if args.threads: torch.set_num_threads(args.threads)
    dev = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {dev}; load average before: {os.getloadavg()[0]:.1f}; syn_steps {args.syn_steps}, {args.iters} iterations × "
          f"{args.repeats} repeats per side, alternating")
    print("| width | IPC | official it/s | curatekit it/s | speed-up | loss diff (DSA off) | max grad diff / max grad |")
    print("|---|---|---|---|---|---|---|")
    for w in args.widths:
        for ipc in args.ipc:
            r = run(w, ipc, args, args.device)
            print(f"| {w} | {ipc} | {r['official']:.3f} | {r['curatekit']:.3f} | **{r['ratio']:.2f}×** | {r['loss_diff']:.1e} | "
                  f"{r['grad_diff']:.1e} / {r['grad_max']:.1e} |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")

if __name__ == "__main__": main()
