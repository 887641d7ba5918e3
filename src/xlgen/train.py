"""Adapt a model on source-language task data, evaluating on target languages as it trains.

    xlgen train configs/demo.yaml train.lr=1e-5
    xlgen train --resume runs/demo-lr1e-5

Three parts, top to bottom: setup (device, data, model, method, stream, optimizer: `setup`, `make_train_state`), one
optimizer step (`train_step`: forward, backward, step; the benchmarks time this very function), and the loop
(`train`: batch, step, log, evaluate, checkpoint). A run directory holds the resolved config, `metrics.jsonl` (every
evaluation), `train_log.jsonl`, `predictions/<lang>.jsonl`, `results.json` and `checkpoints/`; a killed run resumes
from its last complete checkpoint with the same data order.
"""

from __future__ import annotations

import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from xlgen import checkpoint as ckpt
from xlgen.adaptation import Method, get_method, parameter_report
from xlgen.backbones import Backbone, Encoded, load_backbone
from xlgen.config import RunConfig, load_config, save_config, to_dict
from xlgen.data import RunData, load_run_data, run_languages
from xlgen.errors import XlgenError
from xlgen.evaluate import evaluate_split, summarize
from xlgen.guards import check_guards
from xlgen.io import append_jsonl, atomic_write_json, ensure_writable_dir, read_json, read_jsonl_lenient
from xlgen.objectives import get_objective, objective_examples
from xlgen.perf.buckets import BucketPolicy, bucket_policy
from xlgen.perf.losses import resolve_loss_impl
from xlgen.perf.precision import WorkingWeights
from xlgen.perf.prefetch import Prefetcher, PreparedStep, to_device
from xlgen.runtime import RunContext, resolve_device, resolve_precision, set_seed
from xlgen.sampling import TrainingStream
from xlgen.tasks import Example, Task, get_task
from xlgen.tracking import Trackers

# -- setup ------------------------------------------------------------------------------------------------------------


def build_stream(cfg: RunConfig, task: Task, backbone: Backbone, data: RunData | None = None, batch_cost=None) -> TrainingStream:
    """Encode the training examples (task data, or raw-text objective examples for intermediate tuning) and the
    mixed-in target-language examples, grouped by language."""
    if cfg.stage == "intermediate":
        if cfg.data.raw is None:
            raise XlgenError("data.raw: intermediate tuning needs raw text (plain-text files or a dataset per language)")
        objective = get_objective(cfg.data.objective, backbone.family, backbone.tokenizer)
        by_lang = objective_examples(cfg.data.raw, objective, cfg.data.objective, cfg.train.seed, "data.raw")
        for lang in by_lang:
            backbone.check_language(lang)
        groups = {lang: backbone.encode(exs, objective) for lang, exs in by_lang.items()}
    else:
        assert data is not None
        by_lang: dict[str, list[Example]] = {}
        for ex in data.train:
            by_lang.setdefault(ex.lang, []).append(ex)
        groups = {lang: backbone.encode(exs, task) for lang, exs in by_lang.items()}
    mix = None
    if cfg.data.mix is not None:
        m = cfg.data.mix
        if m.raw is None:
            raise XlgenError("data.mix.raw: mixing-in needs raw text in the target languages")
        objective = get_objective(m.objective, backbone.family, backbone.tokenizer)
        by_lang_mix = objective_examples(m.raw, objective, m.objective, cfg.train.seed + 1, "data.mix.raw")
        for lang in by_lang_mix:
            backbone.check_language(lang)
        mix = {lang: backbone.encode(exs, objective) for lang, exs in by_lang_mix.items()}
    return TrainingStream(
        groups,
        max_tokens=cfg.train.max_tokens,
        seed=cfg.train.seed,
        batch_cost=batch_cost or backbone.batch_cost,
        sampling=cfg.data.source_sampling,
        mix=mix,
        mix_probability=cfg.data.mix.probability if cfg.data.mix else 0.0,
    )


def make_optimizer(params, cfg) -> torch.optim.Optimizer:
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}.get(cfg.optimizer)
    if cls is None:
        raise XlgenError(f"train.optimizer: unknown optimizer {cfg.optimizer!r} (known: adam, adamw)")
    kwargs = dict(lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay)
    try:
        # The fused kernel is several times faster than the per-tensor loop, on CPU as on GPU (the update of a
        # 268M-parameter model: 0.2 s instead of 1.4 s on 2 CPU cores).
        return cls(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, **kwargs)


def make_scheduler(optimizer, cfg):
    from transformers import get_inverse_sqrt_schedule

    return get_inverse_sqrt_schedule(optimizer, num_warmup_steps=cfg.warmup_steps)


def loss_function(backbone: Backbone, cfg, device_type: str = "cpu"):
    """The backbone's loss, compiled when `train.compile` asks for it. The function is compiled rather than the
    module so the decoder-only path (body, then the projection at labelled positions) is compiled as well.
    Unbucketed batches compile with dynamic shapes (each new shape would otherwise recompile); bucketed ones let torch
    specialise on the first shape and go dynamic at the second. CUDA graphs (`compile_mode: reduce-overhead`) exist on
    CUDA only; elsewhere that mode is the default one."""
    if not cfg.compile:
        return backbone.loss
    mode = getattr(cfg, "compile_mode", "default") or "default"
    if mode == "reduce-overhead" and device_type != "cuda":
        mode = "default"
    dynamic = None if bucket_policy(cfg, backbone, device_type) else True
    return torch.compile(backbone.loss, dynamic=dynamic, backend=cfg.compile_backend, mode=None if mode == "default" else mode)


@dataclass
class TrainState:
    """What a training step changes: the trainable parameters, the optimizer and schedule, the (compiled) loss."""

    params: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    scheduler: object
    loss_fn: object
    step: int = 0
    policy: BucketPolicy | None = None  # shape buckets (xlgen.perf.buckets), None: exact lengths
    weights: WorkingWeights | None = None  # bf16 working copies over the fp32 masters (precision bf16)


def make_train_state(ctx: RunContext) -> TrainState:
    """After any checkpoint is loaded into the model the bf16 copies must be refreshed (`weights.refresh_all()`)."""
    train = ctx.cfg.train
    params = [p for p in ctx.model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, train)
    ctx.backbone.loss_impl = resolve_loss_impl(train.loss_impl, ctx.device.type)
    return TrainState(params, optimizer, make_scheduler(optimizer, train), loss_function(ctx.backbone, train, ctx.device.type),
                      policy=bucket_policy(train, ctx.backbone, ctx.device.type),
                      weights=WorkingWeights(ctx.model) if ctx.precision == "bf16" else None)


def collate(ctx: RunContext, state: TrainState, items: list[Encoded]) -> dict[str, torch.Tensor]:
    """A micro-batch's tensors in host memory, padded to its shape bucket when the run buckets."""
    return ctx.backbone.collate(items, "cpu", state.policy.shape([e.cost for e in items]) if state.policy else None)


def setup(cfg: RunConfig, run_dir: Path, progress: bool = True) -> tuple[RunContext, Method, RunData]:
    """Everything a run needs before its first step; every language and dataset is checked before the model loads."""
    device = resolve_device(cfg.train.device)
    precision = resolve_precision(cfg.train.precision, device)
    task = get_task(cfg.task)
    if cfg.stage not in ("task", "intermediate"):
        raise XlgenError(f"stage: unknown stage {cfg.stage!r} (known: task, intermediate)")
    langs = run_languages(cfg, need_train=cfg.stage == "task")
    check_guards(cfg.generate, task, [*langs["dev"], *langs["test"]])
    set_seed(cfg.train.seed)
    backbone = load_backbone(cfg.model, device)
    data = load_run_data(cfg, task, backbone, need_train=cfg.stage == "task")
    if cfg.stage == "task":
        backbone.prepare(task)
    method = get_method(cfg.adaptation)
    backbone.model = method.apply(backbone.model, backbone.family).to(device)
    return RunContext(cfg, backbone, task, device, precision, run_dir=run_dir, progress=progress), method, data


# -- one optimizer step -----------------------------------------------------------------------------------------------


@dataclass
class StepResult:
    loss_sum: torch.Tensor  # summed token cross-entropy over the step's target tokens, on the device (read it to log)
    target_tokens: int
    tokens: int  # source + target tokens of the step's batches
    computed_tokens: int  # tokens the padded tensors hold (bucketing adds padding)


def train_step(ctx: RunContext, state: TrainState, micro: PreparedStep | list[list[Encoded]]) -> StepResult:
    """One optimizer step over `micro` (train.grad_accum micro-batches, prepared by `Prefetcher` or given as examples):
    forward, backward, clip, step. The loss is normalised by the step's target tokens, so every token weighs the same
    whatever the batch shapes. Nothing here waits for the GPU: the loss stays on the device, host tensors are copied
    without blocking. With bf16 working weights the passes run on the bf16 copies and the update on the fp32 masters."""
    if not isinstance(micro, PreparedStep):
        micro = PreparedStep(micro, [collate(ctx, state, items) for items in micro], {}, 0)
    loss_total = None
    for batch in micro.batches:
        batch = to_device(batch, ctx.device)
        with (state.weights.swapped() if state.weights else nullcontext()), ctx.autocast(), ctx.attention():
            loss_sum, _ = state.loss_fn(ctx.model, batch)
        (loss_sum / micro.n_target).backward()
        if state.weights:
            state.weights.collect_grads()
        loss_total = loss_sum.detach() if loss_total is None else loss_total + loss_sum.detach()
    if ctx.cfg.train.max_grad_norm:
        torch.nn.utils.clip_grad_norm_(state.params, ctx.cfg.train.max_grad_norm)
    state.optimizer.step()
    state.scheduler.step()
    state.optimizer.zero_grad(set_to_none=True)
    if state.weights:
        state.weights.refresh()
    state.step += 1
    return StepResult(loss_total, micro.n_target, micro.n_tokens, micro.n_computed)


# -- the loop ---------------------------------------------------------------------------------------------------------


def _open_run(cfg: RunConfig | None, resume_dir: str | Path | None) -> tuple[RunConfig, Path, dict | None]:
    """The config and run directory; the results too when the run already finished."""
    if resume_dir is not None:
        run_dir = Path(resume_dir)
        if not (run_dir / "config.yaml").exists():
            raise XlgenError(f"{run_dir}: not a run directory (no config.yaml)")
        cfg = load_config(run_dir / "config.yaml")
        if (run_dir / "results.json").exists():
            print(f"[xlgen] {run_dir} already finished; results.json is up to date")
            return cfg, run_dir, read_json(run_dir / "results.json")
    else:
        assert cfg is not None
        run_dir = Path(cfg.output_dir)
        if (run_dir / "checkpoints").exists() or (run_dir / "results.json").exists():
            raise XlgenError(f"{run_dir}: already holds a run; continue it with `xlgen train --resume {run_dir}` or choose another output_dir")
    ensure_writable_dir(run_dir)
    return cfg, run_dir, None


def _missing_dirs(path: Path) -> list[Path]:
    """`path` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for p in (path, *path.parents):
        if p.exists():
            break
        missing.append(p)
    return missing


def _remove_if_empty(dirs: list[Path]) -> None:
    for d in dirs:
        try:
            d.rmdir()
        except OSError:  # not empty (or gone): what is in it is not ours to remove
            return


def train(cfg: RunConfig | None = None, *, resume_dir: str | Path | None = None, progress: bool = True) -> dict:
    created = _missing_dirs(Path(resume_dir if resume_dir is not None else cfg.output_dir))
    cfg, run_dir, finished = _open_run(cfg, resume_dir)
    if finished is not None:
        return finished
    try:
        ctx, method, data = setup(cfg, run_dir, progress)
        params_info = parameter_report(ctx.model)
        if progress:
            print(f"[xlgen] {cfg.adaptation.method}: {params_info['trainable_params']:,} of {params_info['total_params']:,} parameters train ({100 * params_info['trainable_share']:.2f}%)")

        state = make_train_state(ctx)
        stream = build_stream(cfg, ctx.task, ctx.backbone, data, batch_cost=state.policy.batch_cost if state.policy else None)
    except BaseException:
        _remove_if_empty(created)  # a failed start leaves no run behind, not even the empty directories it made
        raise
    save_config(cfg, run_dir / "config.yaml")  # once everything checked out: a failed start leaves no run behind
    ckpt.remove_stale_temporaries(run_dir)  # a killed run's half-written files
    last = ckpt.latest(run_dir)
    if last is not None:
        state.step = ckpt.load(last, ctx.model, state.optimizer, state.scheduler, stream)
        if state.weights:
            state.weights.refresh_all()
        print(f"[xlgen] resuming {run_dir} from step {state.step}")
    ckpt.truncate_log(run_dir / "metrics.jsonl", state.step)
    ckpt.truncate_log(run_dir / "train_log.jsonl", state.step)

    ctx.trackers = Trackers(cfg.tracking, run_dir, run_dir.name, to_dict(cfg))
    ctx.model.train()
    # The next steps' batches are collated on a thread while the device computes; checkpoints record the position of
    # the last step taken (`batches.position`), not the stream's, which runs ahead.
    batches = Prefetcher(stream, lambda items: collate(ctx, state, items), micro_batches=cfg.train.grad_accum, device=ctx.device, background=cfg.train.prefetch)
    t_start, tokens_done, target_done = time.time(), 0, 0
    # The log window: loss and padding since the last log row (so a resumed run logs what an uninterrupted one does).
    log_loss, log_tokens, log_real, log_computed = torch.zeros((), device=ctx.device), 0, 0, 0
    pbar = tqdm(total=cfg.train.steps, initial=state.step, desc=f"train lr={cfg.train.lr:g}", unit="step", disable=not progress)
    # Divergence is watched on the device (no wait per step) and read where the loop waits anyway: when it logs,
    # evaluates or saves. A NaN/inf loss never comes back, so the run stops there, recorded as diverged.
    healthy = torch.ones((), dtype=torch.bool, device=ctx.device)
    finite_steps = torch.zeros((), dtype=torch.long, device=ctx.device)  # steps before the first non-finite loss
    start_step, diverged = state.step, None
    try:
        while state.step < cfg.train.steps:
            done = train_step(ctx, state, next(batches))
            step = state.step
            log_loss, log_tokens = log_loss + done.loss_sum, log_tokens + done.target_tokens
            log_real, log_computed = log_real + done.tokens, log_computed + done.computed_tokens
            tokens_done, target_done = tokens_done + done.tokens, target_done + done.target_tokens
            healthy = healthy & torch.isfinite(done.loss_sum)
            finite_steps = finite_steps + healthy
            pbar.update(1)

            due_log = step % cfg.train.log_every == 0 or step == cfg.train.steps
            due_eval = bool(data.dev) and (step % cfg.train.eval_every == 0 or step == cfg.train.steps)
            due_save = step % cfg.train.save_every == 0 or step == cfg.train.steps
            if (due_log or due_eval or due_save) and not bool(healthy):
                diverged = {"step": start_step + int(finite_steps) + 1, "stopped_at": step, "loss": str(log_loss.item() / max(log_tokens, 1))}
            if due_log or diverged:
                elapsed = time.time() - t_start
                loss = log_loss.item() / max(log_tokens, 1)  # the only point where the loop waits for the device
                row = {"step": step, "loss": loss, "lr": state.scheduler.get_last_lr()[0], "epoch": batches.position.epoch,
                       "target_tokens_per_s": target_done / elapsed, "tokens_per_s": tokens_done / elapsed, "padding": 1 - log_real / max(log_computed, 1)}
                append_jsonl(run_dir / "train_log.jsonl", row)
                ctx.trackers.log({f"train/{k}": v for k, v in row.items() if k != "step"}, step)
                pbar.set_postfix(loss=f"{row['loss']:.3f}")
                log_loss, log_tokens, log_real, log_computed = torch.zeros((), device=ctx.device), 0, 0, 0
            if diverged:
                break
            if due_eval:
                evaluate_split(ctx, "dev", step, data.dev)
            if due_save:
                ckpt.save(run_dir, step, ctx.model, state.optimizer, state.scheduler, batches.position, keep=cfg.train.keep_checkpoints)
    finally:
        batches.close()
    pbar.close()
    train_time = time.time() - t_start
    if diverged:
        return _record_divergence(ctx, state, stream, diverged, params_info, train_time)

    step = state.step
    ckpt.save_model(run_dir / "model", ctx.backbone, method, cfg.model.init_from or cfg.model.name)
    test_scores: dict[str, list[dict]] = {}
    test = evaluate_split(ctx, "test", step, data.test, scores=test_scores) if data.test else {}
    ctx.trackers.close()
    dev_rows = [r for r in read_jsonl_lenient(run_dir / "metrics.jsonl") if r.get("split") == "dev"]
    results = {
        "run_dir": str(run_dir),
        "model": cfg.model.name,
        "task": cfg.task.name,
        "lr": cfg.train.lr,
        "steps": step,
        "primary_metric": ctx.task.primary_metric,
        "test": test,
        "metric_profile": cfg.task.metric_profile,
        "test_summary": summarize(test, ctx.task.primary_metric, test_scores),
        "dev_last": {r["lang"]: {k: v for k, v in r.items() if k not in ("lang", "split")} for r in dev_rows if r["step"] == step},
        "adaptation": cfg.adaptation.method,
        **params_info,
        "artifact_bytes": sum(f.stat().st_size for f in (run_dir / "model").rglob("*") if f.is_file()),
        "train_examples": sum(len(g) for g in stream.groups.values()),
        "stage": cfg.stage,
        "train_time_s": train_time,
        "device": str(ctx.device),
        "precision": ctx.precision,
        "status": "done",
    }
    atomic_write_json(run_dir / "results.json", results)
    if not cfg.train.keep_checkpoints_after_finish:
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    return results


def _record_divergence(ctx: RunContext, state: TrainState, stream, diverged: dict, params_info: dict, train_time: float) -> dict:
    """A run whose loss became NaN/inf ends here: no model and no test evaluation (its weights are not numbers any
    more), results.json says `status: diverged` (the LR protocol counts it as a failed grid point), checkpoints go, and
    the model and optimizer state are released so the device is free for the next run of a study."""
    cfg, run_dir = ctx.cfg, ctx.run_dir
    error = f"diverged at step {diverged['step']}: the training loss is {diverged['loss']} (lr={cfg.train.lr:g})"
    print(f"[xlgen] {run_dir}: {error}; stopped", flush=True)
    results = {
        "run_dir": str(run_dir), "model": cfg.model.name, "task": cfg.task.name, "lr": cfg.train.lr, "steps": diverged["stopped_at"],
        "primary_metric": ctx.task.primary_metric, "test": {}, "test_summary": {}, "dev_last": {}, "adaptation": cfg.adaptation.method,
        **params_info, "train_examples": sum(len(g) for g in stream.groups.values()), "stage": cfg.stage, "train_time_s": train_time,
        "device": str(ctx.device), "precision": ctx.precision, "status": "diverged", "diverged": diverged, "error": error,
    }
    if ctx.trackers is not None:
        ctx.trackers.close()
    ctx.backbone.model = None
    state.params.clear()
    state.optimizer.state.clear()
    state.weights = None
    release_device(ctx.device)
    atomic_write_json(run_dir / "results.json", results)
    if not cfg.train.keep_checkpoints_after_finish:
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    return results


def release_device(device: torch.device) -> None:
    """Give freed tensors back: Python's cycles first, then the CUDA caching allocator's blocks."""
    import gc

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
