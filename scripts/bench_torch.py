"""gobg against a matched PyTorch spline flow, side by side on the same cores.

Run through scripts/bench-torch.sh, which prepares the environment. Both sides
train alanine dipeptide (testdata/md/ala2, first 10,000 frames) in full
internal coordinates (D = 60) with a neural spline flow of 6 rational-quadratic
couplings, 8 bins, conditioners of two hidden layers of 128 (SiLU), batch 256,
Adam, and both compute the reverse-KL step's energy with OpenMM's CPU platform
(amber99sbildn + amber99_obc, no cutoff, no constraints): gobg through its
OpenMM worker process, PyTorch in-process. Rounds interleave the two so that
both see the same machine load; CPU time (user + system, all threads and child
processes) is the figure compared, as wall time on shared cores is noisy.

The PyTorch side: nflows' PiecewiseRationalQuadraticCouplingTransform with
alternating masks, linear tails at +-1, a standard normal base; a Z-matrix
built breadth-first over the bond graph; internal coordinates normalised to
[-1, 1] (torsions by pi, bonds and angles affinely by the data's range) and
placed by NeRF with its log-determinant (log r for the second and third atoms'
bond lengths, 2 log r + log sin(theta) for every later atom).
"""

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from torch import nn

import mdtraj
import openmm
import openmm.app as app
import openmm.unit as unit
from nflows.distributions.normal import StandardNormal
from nflows.flows.base import Flow
from nflows.transforms.base import CompositeTransform
from nflows.transforms.coupling import PiecewiseRationalQuadraticCouplingTransform
from nflows.utils import torchutils

KB = 0.00831446261815324  # kJ/mol/K, as OpenMM has it


def zmatrix(top):
    """Placement order and (bond, angle, torsion) reference atoms per atom."""
    n = top.n_atoms
    nbr = [[] for _ in range(n)]
    for a, b in top.bonds:
        nbr[a.index].append(b.index)
        nbr[b.index].append(a.index)
    root = next(a.index for a in top.atoms if a.element.symbol != "H" and len(nbr[a.index]) > 1)
    order, parent, seen = [root], {root: None}, {root}
    i = 0
    while i < len(order):
        for b in sorted(nbr[order[i]]):
            if b not in seen:
                seen.add(b)
                parent[b] = order[i]
                order.append(b)
        i += 1
    if len(order) != n:
        raise SystemExit("bench_torch: the bond graph is not connected")
    placed = []
    rows = []  # (atom, j, k, l) with -1 for none
    for a in order:
        j = parent[a]
        k = l = -1
        if j is not None:
            k = parent[j] if parent[j] is not None else next((c for c in placed if c not in (a, j)), -1)
            if k != -1 and len(placed) >= 3:
                cand = [parent[k]] if parent[k] is not None else []
                cand += [c for c in nbr[j] if c in placed] + placed
                l = next(c for c in cand if c not in (a, j, k))
        rows.append((a, -1 if j is None else j, k, l))
        placed.append(a)
    return rows


def to_internal(x, rows):
    """x [F, N, 3] -> bonds, angles, torsions of the Z-matrix (numpy)."""
    bonds, angles, tors = [], [], []
    for idx, (a, j, k, l) in enumerate(rows):
        if idx >= 1:
            bonds.append(np.linalg.norm(x[:, a] - x[:, j], axis=-1))
        if idx >= 2:
            u, v = x[:, a] - x[:, j], x[:, k] - x[:, j]
            c = (u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
            angles.append(np.arccos(np.clip(c, -1, 1)))
        if idx >= 3:
            b0, b1, b2 = x[:, j] - x[:, a], x[:, k] - x[:, j], x[:, l] - x[:, k]
            n1, n2 = np.cross(b0, b1), np.cross(b1, b2)
            m1 = np.cross(n1, b1 / np.linalg.norm(b1, axis=-1, keepdims=True))
            tors.append(np.arctan2((m1 * n2).sum(-1), (n1 * n2).sum(-1)))
    return np.stack(bonds, 1), np.stack(angles, 1), np.stack(tors, 1)


class ICTransform:
    """Normalised internal coordinates z in [-1, 1]^D -> Cartesian x (nm), with log|dx/dz|."""

    def __init__(self, rows, bonds, angles, dtype):
        self.rows, self.dtype = rows, dtype
        pad = lambda lo, hi: (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
        self.blo, self.bhi = (torch.tensor(v, dtype=dtype) for v in pad(bonds.min(0), bonds.max(0)))
        self.alo, self.ahi = (torch.tensor(v, dtype=dtype) for v in pad(angles.min(0), angles.max(0)))
        self.nb, self.na = bonds.shape[1], angles.shape[1]

    def normalise(self, bonds, angles, tors):
        t = lambda v: torch.tensor(v, dtype=self.dtype)
        zb = 2 * (t(bonds) - self.blo) / (self.bhi - self.blo) - 1
        za = 2 * (t(angles) - self.alo) / (self.ahi - self.alo) - 1
        return torch.cat([zb, za, t(tors) / math.pi], 1)

    def to_cartesian(self, z):
        B = z.shape[0]
        zb, za, zt = z[:, :self.nb], z[:, self.nb:self.nb + self.na], z[:, self.nb + self.na:]
        r = self.blo + (zb + 1) / 2 * (self.bhi - self.blo)
        th = self.alo + (za + 1) / 2 * (self.ahi - self.alo)
        ph = zt * math.pi
        logdet = (torch.log((self.bhi - self.blo) / 2).sum() + torch.log((self.ahi - self.alo) / 2).sum()
                  + zt.shape[1] * math.log(math.pi)).expand(B)
        n = len(self.rows)
        pos = [None] * n
        zero = torch.zeros(B, dtype=self.dtype)
        for idx, (a, j, k, l) in enumerate(self.rows):
            if idx == 0:
                pos[a] = torch.stack([zero, zero, zero], 1)
            elif idx == 1:
                pos[a] = pos[j] + torch.stack([r[:, 0], zero, zero], 1)
            elif idx == 2:
                ri, ti = r[:, 1], th[:, 0]
                u = pos[k] - pos[j]
                u = u / u.norm(dim=1, keepdim=True)
                # in the xy-plane, at angle ti from u
                c, s = torch.cos(ti), torch.sin(ti)
                d = torch.stack([u[:, 0] * c - u[:, 1] * s, u[:, 0] * s + u[:, 1] * c, zero], 1)
                pos[a] = pos[j] + ri[:, None] * d
                logdet = logdet + torch.log(ri)
            else:
                ri, ti, pi = r[:, idx - 1], th[:, idx - 2], ph[:, idx - 3]
                bc = pos[j] - pos[k]
                bc = bc / bc.norm(dim=1, keepdim=True)
                nv = torch.cross(pos[k] - pos[l], bc, dim=1)
                nv = nv / nv.norm(dim=1, keepdim=True)
                m = torch.cross(nv, bc, dim=1)
                # the minus on the last component gives torsions IUPAC's sign
                d2 = torch.stack([-ri * torch.cos(ti), ri * torch.sin(ti) * torch.cos(pi),
                                  -ri * torch.sin(ti) * torch.sin(pi)], 1)
                pos[a] = pos[j] + d2[:, :1] * bc + d2[:, 1:2] * m + d2[:, 2:3] * nv
                logdet = logdet + 2 * torch.log(ri) + torch.log(torch.sin(ti))
        return torch.stack(pos, 1), logdet


class OpenMMEnergy(torch.autograd.Function):
    """U(x)/kT with its gradient from OpenMM's forces."""

    @staticmethod
    def forward(ctx, x, context, kt):
        xs = x.detach().cpu().numpy().astype(np.float64)
        u = np.empty(len(xs))
        f = np.empty_like(xs)
        for i, xi in enumerate(xs):
            context.setPositions(xi)
            st = context.getState(getEnergy=True, getForces=True)
            u[i] = st.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
            f[i] = st.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)
        ctx.save_for_backward(torch.tensor(-f / kt, dtype=x.dtype))
        return torch.tensor(u / kt, dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        (grad,) = ctx.saved_tensors
        return g[:, None, None] * grad, None, None


class MLP(nn.Module):
    """The conditioner: two hidden layers with SiLU (nflows passes a context it ignores)."""

    def __init__(self, cin, cout, hidden):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(cin, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, cout))

    def forward(self, x, context=None):
        return self.net(x)


def make_flow(dim, dtype, bins=8, layers=6, hidden=128):
    def net(cin, cout):
        return MLP(cin, cout, hidden)
    ts = []
    for i in range(layers):
        mask = torchutils.create_alternating_binary_mask(dim, even=(i % 2 == 0))
        ts.append(PiecewiseRationalQuadraticCouplingTransform(mask, net, num_bins=bins, tails="linear",
                                                              tail_bound=1.0))
    return Flow(CompositeTransform(ts), StandardNormal([dim])).to(dtype)


def cpu_time():
    """CPU seconds of this process (all threads) and its children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def measure(fn, reps):
    fn()  # warm-up
    c0 = cpu_time()
    for _ in range(reps):
        fn()
    return (cpu_time() - c0) * 1e3 / reps


class TorchSide:
    def __init__(self, root, dtype, frames, batch, threads):
        torch.set_num_threads(threads)
        md = os.path.join(root, "testdata", "md", "ala2")
        traj = mdtraj.load(os.path.join(md, "traj.dcd"), top=os.path.join(md, "top.pdb"))[:frames]
        rows = zmatrix(traj.topology)
        b, a, t = to_internal(traj.xyz.astype(np.float64), rows)
        self.ic = ICTransform(rows, b, a, dtype)
        self.z = self.ic.normalise(b, a, t)
        self.flow = make_flow(self.z.shape[1], dtype)
        self.params = sum(p.numel() for p in self.flow.parameters())
        self.opt = torch.optim.Adam(self.flow.parameters(), lr=1e-4)
        self.batch, self.dtype = batch, dtype
        self.gen = torch.Generator().manual_seed(1)
        pdb = app.PDBFile(os.path.join(md, "top.pdb"))
        ff = app.ForceField("amber99sbildn.xml", "amber99_obc.xml")
        system = ff.createSystem(pdb.topology, nonbondedMethod=app.NoCutoff, constraints=None)
        plat = openmm.Platform.getPlatformByName("CPU")
        self.context = openmm.Context(system, openmm.VerletIntegrator(0.001), plat, {"Threads": "1"})
        self.kt = KB * 300.0

    def nll_step(self):
        torch.set_default_dtype(self.dtype)  # nflows draws base noise in the default dtype
        i = torch.randint(0, len(self.z), (self.batch,), generator=self.gen)
        loss = -self.flow.log_prob(self.z[i]).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()

    def kl_step(self):
        torch.set_default_dtype(self.dtype)
        z, logq = self.flow.sample_and_log_prob(self.batch)
        x, ld = self.ic.to_cartesian(z)
        u = OpenMMEnergy.apply(x, self.context, self.kt)
        loss = (u + logq - ld).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()

    def sample(self):
        torch.set_default_dtype(self.dtype)
        with torch.no_grad():
            z, logq = self.flow.sample_and_log_prob(1000)
            x, ld = self.ic.to_cartesian(z)
            (logq - ld).numpy()
            x.numpy()


def gobg_round(test_bin, root, reps, threads):
    """One run of BenchmarkPeer; cpu-ms/op per case, keyed by (side, case)
    with side gobg-f32 or gobg-f64 (sub-benchmarks CASE/float32, CASE/float64)."""
    env = dict(os.environ)
    args = [test_bin, "-test.run", "^$", "-test.bench", "^BenchmarkPeer$", "-test.benchtime", "%dx" % reps,
            "-test.cpu", str(threads)]
    out = subprocess.run(args, cwd=os.path.join(root, "flow", "train"), env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("gobg benchmark failed:\n" + out.stdout[-3000:] + out.stderr[-3000:])
    res = {}
    for line in out.stdout.splitlines():
        m = re.match(r"BenchmarkPeer/(\S+?)/float(32|64)(-\d+)?\s+\d+\s+.*?([\d.]+) cpu-ms/op", line)
        if m:
            res[("gobg-f" + m.group(2), m.group(1))] = float(m.group(4))
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p.add_argument("--gobg-test", required=True, help="test binary of ./flow/train (go test -c)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--reps", type=int, default=10, help="timed repetitions of each case per round")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()

    sides = {"torch-f32": TorchSide(a.root, torch.float32, 10000, 256, a.threads),
             "torch-f64": TorchSide(a.root, torch.float64, 10000, 256, a.threads)}
    cases = {"nll": "nll_step", "kl-openmm": "kl_step", "sample": "sample"}
    gobg = ["gobg-f32", "gobg-f64"]
    res = {k: {c: [] for c in ["nll", "kl-openmm", "kl-native", "sample"]} for k in gobg + list(sides)}
    for r in range(a.rounds):
        t0 = time.time()
        for (side, c), v in gobg_round(a.gobg_test, a.root, a.reps, a.threads).items():
            res[side][c].append(v)
        for name, s in sides.items():
            for c, m in cases.items():
                res[name][c].append(measure(getattr(s, m), a.reps))
        print("round %d of %d: %.0f s" % (r + 1, a.rounds, time.time() - t0), file=sys.stderr, flush=True)

    med = {k: {c: (statistics.median(v) if v else None) for c, v in d.items()} for k, d in res.items()}
    print("\nCPU ms per operation (median of %d interleaved rounds, %d repetitions each; %d threads; load %.1f)\n"
          % (a.rounds, a.reps, a.threads, os.getloadavg()[0]))
    print("| operation | gobg float32 | gobg float64 | PyTorch float32 | PyTorch float64 | gobg / PyTorch f32 | gobg / PyTorch f64 |")
    print("|---|---|---|---|---|---|---|")
    label = {"nll": "NLL step, batch 256", "kl-openmm": "KL step, batch 256, OpenMM CPU energy",
             "kl-native": "KL step, batch 256, gobg native energy", "sample": "1,000 structures with log q"}
    for c in ["nll", "kl-openmm", "kl-native", "sample"]:
        g32, g64, t32, t64 = med["gobg-f32"][c], med["gobg-f64"][c], med["torch-f32"][c], med["torch-f64"][c]
        fmt = lambda v: "%.1f" % v if v is not None else "–"
        ratio = lambda x, y: "%.2f" % (x / y) if x is not None and y else "–"
        print("| %s | %s | %s | %s | %s | %s | %s |"
              % (label[c], fmt(g32), fmt(g64), fmt(t32), fmt(t64), ratio(g32, t32), ratio(g64, t64)))
    sps = {k: (1e6 / med[k]["sample"] if med[k]["sample"] else None) for k in med}
    print("\nstructures per CPU-second with log q: gobg f32 %.0f, f64 %.0f, PyTorch f32 %.0f, f64 %.0f"
          % (sps["gobg-f32"], sps["gobg-f64"], sps["torch-f32"], sps["torch-f64"]))
    print("PyTorch flow parameters: %d (torch %s, nflows, %d threads)"
          % (sides["torch-f32"].params, torch.__version__, torch.get_num_threads()))
    if a.json:
        print(json.dumps({"rounds": a.rounds, "reps": a.reps, "threads": a.threads, "cpu_ms": res, "median_cpu_ms": med,
                          "torch_params": sides["torch-f32"].params, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
