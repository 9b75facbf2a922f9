"""Training: one loop for every model, data held as tensors and batched by index.

Ours keeps the weights of the epoch with the lowest validation -ELBO (early stopping by selection,
never looking at test), warms the KL weight up from 0 to 1, and decays the learning rate on a
cosine; the study's protocol (`train.keep: last`, `schedule: constant`, no warm-up) keeps the last
epoch's weights at a constant rate. Either way the last epoch's training loss, accumulated in train
mode as the batches go, is reported as the study reported its "final loss".
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm import tqdm

from .data import Pixels, Split, subset_rows
from .errors import QuickdrawError
from .files import save_torch, write_json
from .losses import bce, elbo_terms, feature_distance
from .models import (
    VAE,
    ModelConfig,
    load_checkpoint,
    parameter_count,
    save_checkpoint,
)
from .params import RuntimeParams, TrainParams
from .runtime import pick_device, setup
from .tracking import EpochLog


def make_optimizer(model: VAE, tp: TrainParams, device: torch.device) -> torch.optim.Optimizer:
    # The fused kernel updates all 3.5 M weights in one pass: a third of a batch-32 step otherwise.
    fused = device.type in ("cpu", "cuda")
    # Decay on every weight: sparing biases, normalisation gains and the class embedding changed nothing
    # beyond the seeds' spread (docs/decisions.md K).
    return torch.optim.AdamW(model.parameters(), lr=tp.lr, weight_decay=tp.weight_decay, fused=fused or None)


def warm_start(model: VAE, trained: VAE, x: torch.Tensor | None = None, y: torch.Tensor | None = None,
               embedding_init: str = "class_means") -> None:
    """Copy every weight the two models share; the new class embedding starts at each class's mean
    code on (x, y), or (`embedding_init: random`) where PyTorch's initialisation put it, N(0, 1), as
    in the study's code.

    Started at the class means, the model counts the class mean twice (once in the code, once in the
    label): to reconstruct, the encoder must learn to leave the class to the label, which is what makes
    the decoder draw by class. Measured (8 epochs, offline data, one judge): judge accuracy on its
    samples 88% vs 85% with a zero embedding (docs/decisions.md C).
    """
    try:
        missing, unexpected = model.load_state_dict(trained.state_dict(), strict=False)
    except RuntimeError as e:  # a layer of another shape
        raise QuickdrawError(f"cannot warm-start: architectures differ ({str(e).splitlines()[1].strip()})") from None
    if unexpected or any(not k.startswith("embedding.") for k in missing):
        raise QuickdrawError(f"cannot warm-start: architectures differ ({', '.join(unexpected or missing)})")
    if model.embedding is None or embedding_init == "random":
        return
    if x is None or y is None:
        raise QuickdrawError("cannot warm-start a conditional model without labelled drawings")
    from .sampling import CODE_FIT_DRAWINGS, encode_means

    rows = subset_rows(len(x), CODE_FIT_DRAWINGS, seed=0)
    if rows is not None:
        x, y = x[torch.from_numpy(rows)], y[torch.from_numpy(rows)]
    codes = torch.from_numpy(encode_means(trained, x, None))
    nn.init.zeros_(model.embedding.weight)
    with torch.no_grad():
        for c in range(model.cfg.num_classes):
            if (y == c).any():
                model.embedding.weight[c] = codes[y == c].mean(0).to(model.embedding.weight.device)


def resume_path(resume_dir: Path, name: str) -> Path:
    """Where `fit` keeps a model's training state between epochs; `save_trained` removes it."""
    return resume_dir / f"{name}.pt"


def load_warm_start(path: Path, cfg: ModelConfig) -> VAE:
    """The unconditional checkpoint a conditional model of `cfg` starts from; it must match its architecture."""
    trained, _ = load_checkpoint(path)
    if replace(cfg, num_classes=0, cond_mode="none") != trained.cfg:
        raise QuickdrawError(f"{path}: trained with other models.* params than params.yaml; rerun train")
    return trained


@dataclass(frozen=True)
class Perceptual:
    """A term added to the training loss: `weight` x the squared distance between a sketch classifier's
    features of each drawing and of its reconstruction, pixels sigmoid(`sharpen` x logits), read at the
    `layers` `judge.SketchJudge.feature_layers` names (docs/decisions.md Q).

    The ELBO's Bernoulli pixels are blind to where a stroke goes once it is blurred; a classifier's
    features are not. The classifier is a second one (`train_perceptual`), never the judge that scores
    the samples (docs/decisions.md O). It is named by its checkpoint and read where the training runs:
    a process that has run PyTorch cannot fork the side-by-side trainings."""

    checkpoint: Path
    weight: float
    sharpen: float
    layers: str = "last"

    def loss_on(self, device: torch.device) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        from .judge import load_judge

        net = load_judge(self.checkpoint, "train_perceptual")[0].to(device).requires_grad_(False)
        layers = partial(net.feature_layers, layers=self.layers)
        return lambda logits, x: self.weight * feature_distance(layers, logits, x, self.sharpen).mean()

    def fingerprint(self) -> tuple:
        return self.weight, self.sharpen, self.layers, hashlib.sha256(Path(self.checkpoint).read_bytes()).hexdigest()


def perceptual_from_params(pp, checkpoint: Path) -> Perceptual | None:
    """The term `perceptual.*` asks for, its classifier at `checkpoint`; None at weight 0."""
    return Perceptual(checkpoint, pp.weight, pp.sharpen, pp.layers) if pp.weight > 0 else None


@dataclass
class FitResult:
    model: VAE
    history: list[dict]
    best_epoch: int
    seconds: float
    drawings_per_s: float


def _fingerprint(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Pixels):  # in pieces: the drawings may be a memory map of millions
            for start in range(0, len(part), 65536):
                h.update(part.rows(slice(start, start + 65536)).tobytes())
        else:
            h.update(part.cpu().numpy().tobytes() if isinstance(part, torch.Tensor) else repr(part).encode())
    return h.hexdigest()


def _epoch_order(epoch: int, n: int, order: torch.Generator, sampler) -> torch.Tensor:
    """The drawings one process takes this epoch, in order: all of them, or its shard (DistributedSampler)."""
    if sampler is None:
        return torch.randperm(n, generator=order)
    sampler.set_epoch(epoch)
    return torch.tensor(list(sampler), dtype=torch.int64)


def _sum_over_processes(values: torch.Tensor, device: torch.device) -> torch.Tensor:
    import torch.distributed as dist

    if not dist.is_initialized():
        return values
    values = values.to(device)  # NCCL reduces GPU tensors only
    dist.all_reduce(values)
    return values.cpu()


def _rng_states(order: torch.Generator, device: torch.device) -> list:
    """Every process's RNG streams (process 0 keeps them in the resume state): [(torch, order, cuda)]."""
    import torch.distributed as dist

    mine = (torch.get_rng_state(), order.get_state(),
            # the reparameterisation noise on a GPU comes from its own generator
            torch.cuda.get_rng_state(device) if device.type == "cuda" else None)
    if not dist.is_initialized():
        return [mine]
    every = [None] * dist.get_world_size()
    dist.all_gather_object(every, mine)
    return every


def fit(name: str, cfg: ModelConfig, tp: TrainParams,
        x: Pixels | torch.Tensor, y: torch.Tensor | None, xv: Pixels | torch.Tensor, yv: torch.Tensor | None,
        device: torch.device, resume_dir: Path | None = None, init_from: VAE | None = None,
        on_epoch: Callable[[dict], None] | None = None, embedding_init: str = "class_means",
        perceptual: Perceptual | None = None) -> FitResult:
    """Train, keeping the weights of the best validation epoch (`train.keep: best`) or of the last;
    `on_epoch` gets each epoch's history row.

    With `resume_dir`, the full training state (weights, optimizer, schedule, RNG streams) is saved
    after every epoch, and a rerun with the same config and data continues from the last one and
    ends exactly where an uninterrupted run would have.

    Under torchrun (`distributed`), each process takes its shard of every epoch and
    `train.batch_size / processes` drawings a step (an optimizer step still sees `train.batch_size`);
    process 0 alone validates, selects the epoch, and keeps the resume state (every process's RNG
    streams in it). Its result is the one to write.
    """
    from .distributed import world

    rank, processes = world()
    if tp.batch_size % processes:
        # torchrun started by hand with another process count than runtime.processes reaches here
        raise QuickdrawError(f"the batch size ({tp.batch_size}) must be a multiple of the number of training "
                             f"processes ({processes})")
    writer = rank == 0
    # Read before seeding: building the classifier draws from the RNG (more often on a file's first read).
    extra_loss = perceptual.loss_on(device) if perceptual is not None else None
    torch.manual_seed(tp.seed)
    model = VAE(cfg).to(device)
    if init_from is not None:
        warm_start(model, init_from, x, y, embedding_init)
    # The drawings stay where they are (a memory map, or a tensor): each batch is moved as it is taken.
    y = None if y is None or not cfg.conditional else y.cpu()
    yv = None if yv is None or not cfg.conditional else yv.cpu()
    opt = make_optimizer(model, tp, device)
    stepped, sampler, batch_size = model, None, tp.batch_size // processes
    if processes > 1:
        from torch.nn.parallel import DistributedDataParallel
        from torch.utils.data.distributed import DistributedSampler

        stepped = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        sampler = DistributedSampler(x, num_replicas=processes, rank=rank, shuffle=True, seed=tp.seed)
        torch.manual_seed(tp.seed + rank)  # the same first weights; each process its own noise and flips
    per_process = len(x) if sampler is None else len(sampler)
    steps_per_epoch = math.ceil(per_process / batch_size)
    total_steps = tp.epochs * steps_per_epoch
    if tp.schedule == "cosine":
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps)))
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    order = torch.Generator().manual_seed(tp.seed + rank)
    state = {"epoch": 0, "history": [], "best_epoch": 0, "best_state": None, "best_val": math.inf, "seconds": 0.0}
    resume_file = resume_path(resume_dir, name) if resume_dir else None
    key = _fingerprint(name, cfg, tp, x, y if y is not None else "", xv, embedding_init,
                       *(init_from.state_dict().values() if init_from is not None else ()),
                       *(perceptual.fingerprint() if perceptual is not None else ()),
                       *((f"{processes} processes",) if processes > 1 else ()))
    if resume_file and resume_file.exists():
        # On the CPU: RNG states must stay CPU byte tensors; the model and optimizer copy their own
        # tensors to the device as they load them.
        saved = torch.load(resume_file, map_location="cpu", weights_only=True)
        if saved.get("key") == key:
            model.load_state_dict(saved["model"])
            opt.load_state_dict(saved["optimizer"])
            sched.load_state_dict(saved["scheduler"])
            torch_rng, order_rng, cuda_rng = saved["rng"][rank]
            order.set_state(order_rng)
            torch.set_rng_state(torch_rng)
            if device.type == "cuda" and cuda_rng is not None:
                torch.cuda.set_rng_state(cuda_rng, device)
            state = saved["state"]
    for row in state["history"] if on_epoch else ():  # what the interrupted run had logged
        on_epoch(row)
    for epoch in range(state["epoch"] + 1, tp.epochs + 1):
        started = time.perf_counter()
        step = (epoch - 1) * steps_per_epoch
        model.train()
        sums, count = torch.zeros(2, dtype=torch.float64), 0
        perm = _epoch_order(epoch, len(x), order, sampler)
        bar = tqdm(range(0, len(perm), batch_size), desc=f"{name} {epoch}/{tp.epochs}", leave=False,
                   disable=None if writer else True)
        for start in bar:
            idx = perm[start : start + batch_size]
            xb = x[idx].to(device)
            if tp.hflip:
                flip = torch.rand(len(idx), generator=order) < 0.5
                xb = torch.where(flip.to(device)[:, None, None, None], xb.flip(-1), xb)
            yb = None if y is None else y[idx].to(device)
            logits, _, _, kl_each = stepped(xb, yb)
            rec, kl = bce(logits, xb).mean(), kl_each.mean()
            beta = min(1.0, (step + 1) / (tp.kl_warmup_epochs * steps_per_epoch)) if tp.kl_warmup_epochs else 1.0
            loss = rec + beta * kl
            if extra_loss is not None:
                loss = loss + extra_loss(logits, xb)
            if not torch.isfinite(loss):
                raise QuickdrawError(f"{name}: training loss became {loss.item()} at epoch {epoch}; lower train.lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            sums += torch.stack([rec.detach() * len(idx), kl.detach() * len(idx)]).double().cpu()
            count += len(idx)
            bar.set_postfix(loss=f"{(rec + kl).item():.1f}")
        totals = _sum_over_processes(torch.cat([sums, torch.tensor([count], dtype=torch.float64)]), device)
        train_bce, train_kld = (totals[:2] / totals[2]).tolist()
        if writer:
            val = elbo_terms(model, xv, yv)
            state["history"].append({"epoch": epoch, "train_total": train_bce + train_kld, "train_bce": train_bce,
                                     "train_kld": train_kld, "val_total": val["neg_elbo"], "val_bce": val["bce"],
                                     "val_kld": val["kld"]})
            if on_epoch:
                on_epoch(state["history"][-1])
            if val["neg_elbo"] < state["best_val"]:
                state.update(best_val=val["neg_elbo"], best_epoch=epoch,
                             best_state={k: v.detach().clone() for k, v in model.state_dict().items()}
                             if tp.keep == "best" else None)
        state["epoch"] = epoch
        state["seconds"] += time.perf_counter() - started
        if resume_file:
            rng = _rng_states(order, device)
            if writer:
                save_torch(resume_file, {"key": key, "model": model.state_dict(), "optimizer": opt.state_dict(),
                                         "scheduler": sched.state_dict(), "rng": rng, "state": state})
    if tp.keep == "best" and writer:
        model.load_state_dict(state["best_state"])
    model.eval()
    seconds = max(state["seconds"], 1e-9)
    return FitResult(model, state["history"], state["best_epoch"], seconds, tp.epochs * len(x) / seconds)


def split_metrics(model: VAE, splits: dict[str, tuple[Pixels, torch.Tensor]], seed: int) -> dict:
    """-ELBO, BCE and KLD on each named split, each from the same seed."""
    cond = model.cfg.conditional
    out = {}
    for split, (x, y) in splits.items():
        torch.manual_seed(seed)
        out[split] = elbo_terms(model, x, y if cond else None)
    return out


@dataclass
class Trained:
    """Everything one training writes, computed before any of it is written."""

    name: str
    model: VAE
    classes: list[str]
    metrics: dict
    timing: dict


def train_model(name: str, cfg: ModelConfig, tp: TrainParams, runtime: RuntimeParams, train: Split,
                validation: Split, classes: list[str], log_dir: Path, resume_dir: Path | None = None,
                init_from: VAE | None = None, embedding_init: str = "class_means",
                perceptual: Perceptual | None = None) -> Trained | None:
    """Fit one model on the training drawings, selecting epochs on validation (test is never seen);
    its weights, metrics and timing. The per-epoch figures go to `log_dir` (DVCLive) as it trains.
    Under torchrun, every process trains and process 0 gets the result; the others get None."""
    from . import distributed

    setup(distributed.threads_each(runtime.threads), tp.seed)
    device = pick_device(runtime.device)
    if distributed.launched():
        device = distributed.start(device)
    if cfg.conditional and cfg.num_classes != len(classes):
        raise QuickdrawError(f"the prepared drawings have {len(classes)} classes, the model expects {cfg.num_classes}")
    splits = {"train": (Pixels(train.images), torch.from_numpy(train.labels)),
              "validation": (Pixels(validation.images), torch.from_numpy(validation.labels))}
    result = fit(name, cfg, tp, *splits["train"], *splits["validation"], device, resume_dir, init_from,
                 EpochLog(log_dir, name) if distributed.is_writer() else None, embedding_init, perceptual)
    if not distributed.is_writer():
        return None
    metrics = split_metrics(result.model, splits, tp.seed)
    last = result.history[-1]
    metrics.update(model=name, architecture=cfg.encoder + "_cnn", parameters=parameter_count(result.model),
                   best_epoch=result.best_epoch, epochs=tp.epochs,
                   drawings={split: len(x) for split, (x, _) in splits.items()},
                   # the study's "final loss": the last epoch's training figures, as the batches went
                   final_train={"neg_elbo": last["train_total"], "bce": last["train_bce"], "kld": last["train_kld"]},
                   kept_epoch=result.best_epoch if tp.keep == "best" else tp.epochs,
                   protocol={"lr": tp.lr, "schedule": tp.schedule, "kl_warmup_epochs": tp.kl_warmup_epochs,
                             "batch_size": tp.batch_size, "weight_decay": tp.weight_decay, "keep": tp.keep,
                             "perceptual_weight": perceptual.weight if perceptual is not None else 0.0})
    timing = {"train_seconds": round(result.seconds, 2), "train_drawings_per_s": round(result.drawings_per_s, 1),
              "threads": runtime.threads, "device": str(device), "processes": distributed.world()[1]}
    # On the CPU, so a worker process can hand it back to the stage without CUDA's IPC.
    return Trained(name, result.model.cpu(), classes, metrics, timing)


def save_trained(trained: Trained, checkpoint: Path, metrics: Path, timing: Path, resume_dir: Path | None) -> None:
    """Write what was trained; its resume file (in `resume_dir`) has served and goes."""
    save_checkpoint(checkpoint, trained.model, trained.classes)
    write_json(metrics, trained.metrics)
    write_json(timing, trained.timing)
    if resume_dir is not None:
        resume_path(resume_dir, trained.name).unlink(missing_ok=True)


def train_models(jobs: dict[str, tuple[ModelConfig, TrainParams]], runtime: RuntimeParams, train: Split,
                 validation: Split, classes: list[str], log_dirs: dict[str, Path],
                 resume_dir: Path | None = None, perceptual: Perceptual | None = None) -> list[Trained]:
    """Train independent unconditional models: under torchrun one after the other, each across all the
    processes (process 0 gets them; the others an empty list); else side by side (`train_side_by_side`)."""
    from . import distributed

    if not distributed.launched():
        return train_side_by_side(jobs, runtime, train, validation, classes, log_dirs, resume_dir, perceptual)
    trained = [train_model(name, cfg, tp, runtime, train, validation, classes, log_dirs[name], resume_dir,
                           perceptual=perceptual)
               for name, (cfg, tp) in jobs.items()]
    return [t for t in trained if t is not None]


def train_side_by_side(jobs: dict[str, tuple[ModelConfig, TrainParams]], runtime: RuntimeParams, train: Split,
                       validation: Split, classes: list[str], log_dirs: dict[str, Path],
                       resume_dir: Path | None = None, perceptual: Perceptual | None = None) -> list[Trained]:
    """Train independent unconditional models at once, one process each, `runtime.threads` split among them.

    One batch-32 training uses a second thread poorly (docs/performance.md), so on
    2 cores two trainings side by side at 1 thread each finish sooner than one after the other.
    Results do not depend on the thread count; the caller writes them once every model has trained.
    """
    from .runtime import run_side_by_side

    workers = max(1, min(len(jobs), runtime.threads))
    each = replace(runtime, threads=max(1, runtime.threads // workers))
    calls = [(name, cfg, tp, each, train, validation, classes, log_dirs[name], resume_dir)
             for name, (cfg, tp) in jobs.items()]
    # This process has only read params and arrays so far, so its workers may fork (Linux) rather than spawn.
    start = "fork" if sys.platform == "linux" else "spawn"
    return run_side_by_side(partial(train_model, perceptual=perceptual), calls, workers, start)
