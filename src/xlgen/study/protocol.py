"""The paper's learning-rate protocol (Chirkova & Nikoulina, section 3 and appendix A) as pure decision logic.

No training happens here, and no method is named here: each method's role (`LRRole`: search its own LR, refine it,
or take another method's) is given by the driver, which reads it from the adaptation method's class
(`xlgen.study.outcomes.method_roles`). A study driver loops `ask()` -> run the proposed runs -> `tell()` the outcomes,
until `done()`. Every choice is appended to `decisions()` together with the numbers that made it, so a report can show why
a learning rate was picked and not just which one.

Per model x task x method:

1. Preliminary LR (PLR) search, without intermediate tuning (IT), first seed only. Start with `start_lrs`
   ({1e-3, 1e-4, 1e-5}). While the best LR sits at an edge of the searched range, add one decade beyond that edge
   (never past `max_lr` / `min_lr`) and stop as soon as the new edge LR is not strictly better than the best before
   it. For methods whose role says `refine` (full finetuning) also try 3x the best LR: the best decade is usually the
   largest LR that still generates in the target language, and 3x locates that maximum more precisely. The best LR
   tried is the PLR. Methods whose role names `lr_from` (freeze, mix, multi-source: built on full finetuning) do no
   search: they take the PLR of that method, as in the paper.
2. Final choice: the best of {PLR x m for m in multipliers} x {IT off, IT on}, i.e. {PLR, 10 PLR} x {no IT, IT}.
   Runs already done during the search are reused, not repeated.
3. The chosen setting is then run with the remaining seeds (phase "final"); averaging over seeds is the report's job.

Rules that the paper leaves open, fixed here and tested:

* Selection metric: the task metric averaged over the non-English validation languages (`outcome_from_metrics`).
* Eligibility: a failed run, a run without a metric, and (when `lang_correct_floor` is set) a run whose average
  language-correct rate is below the floor or missing, cannot be selected. It is still logged with its numbers, and at
  an edge it counts as "not improving", so it stops the extension.
* Ties (see `TIE_RULE`): on an exactly equal metric prefer the smaller LR (smaller LRs keep the target language better,
  section 4), then the setting without IT (it is cheaper). An extension continues only on a strict improvement.
* If no start LR is eligible but some runs completed (e.g. all below the language floor), the search moves down a
  decade at a time, since lowering the LR is what brings the target language back. If nothing eligible is ever found,
  the method's entry in `selected()` has `lr=None` and a reason, and the study goes on with the other methods.
* Candidate LRs above `max_lr` (including 3x and 10x PLR) are not proposed; the decision's reason says so.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field

from xlgen.config import ListOf, from_dict, to_dict, typed_config
from xlgen.errors import XlgenError

STATE_VERSION = 1
TIE_RULE = "higher metric first (lower if higher_is_better=False); on an exact tie the smaller LR, then without IT"
# (The direction is the selection metric's, from its registry entry, carried by each RunOutcome.)
_REL = 1e-9  # LRs are compared after rounding to 10 significant digits; limits get this relative slack


def canon_lr(lr: float) -> float:
    """Round so that 1e-3 * 10, 1e-2 and 3 * 1e-4 vs 3e-4 are the same key (float products are not exact)."""
    return float(f"{float(lr):.10g}")


def fmt_lr(lr: float) -> str:
    """Short scientific form used in run names: 1e-4, 3e-5, 2.5e-3."""
    mant, exp = f"{canon_lr(lr):.9e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{int(exp)}"


@dataclass(frozen=True)
class RunKey:
    """One training run; hashable so results can be looked up by it. `lr` is rounded on creation."""

    model: str
    task: str
    method: str
    lr: float
    it: bool
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "lr", canon_lr(self.lr))
        object.__setattr__(self, "it", bool(self.it))
        object.__setattr__(self, "seed", int(self.seed))

    @property
    def name(self) -> str:
        return f"{self.model}/{self.task}/{self.method}/lr{fmt_lr(self.lr)}/{'it' if self.it else 'noit'}/s{self.seed}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RunKey:
        return cls(**d)


@dataclass
class RunOutcome:
    """What the driver reports for a run: the selection metric and average language-correct rate, or a failure."""

    key: RunKey
    status: str  # "done" | "failed"
    metric: float | None = None
    lang_correct: float | None = None
    error: str | None = None
    # The selection metric's direction, as its registry entry declares it (xlgen.metrics).
    higher_is_better: bool = True

    def __post_init__(self):
        if self.status not in ("done", "failed"):
            raise XlgenError(f"{self.key.name}: status must be 'done' or 'failed', got {self.status!r}")
        # NaN is not valid JSON and compares false with everything; treat it as "no metric".
        if self.metric is not None and math.isnan(self.metric):
            self.metric = None
        if self.lang_correct is not None and math.isnan(self.lang_correct):
            self.lang_correct = None

    def to_dict(self) -> dict:
        return {"key": self.key.to_dict(), "status": self.status, "metric": self.metric, "lang_correct": self.lang_correct, "error": self.error,
                "higher_is_better": self.higher_is_better}

    @classmethod
    def from_dict(cls, d: dict) -> RunOutcome:
        return cls(key=RunKey.from_dict(d["key"]), status=d["status"], metric=d.get("metric"), lang_correct=d.get("lang_correct"), error=d.get("error"),
                   higher_is_better=d.get("higher_is_better", True))


@dataclass(frozen=True)
class LRRole:
    """A method's place in the protocol: it searches its own PLR (optionally refined by 3x), or takes `lr_from`'s."""

    refine: bool = False
    lr_from: str | None = None


@typed_config
class ProtocolConfig:
    start_lrs: ListOf[float] = field(default_factory=lambda: [1e-3, 1e-4, 1e-5])
    min_lr: float = 1e-7
    max_lr: float = 1e-1
    # Start LRs of particular methods (others start from start_lrs), e.g. to compare methods each at its usual LR.
    start_lrs_by_method: dict[str, ListOf[float]] = field(default_factory=dict)
    # Extend the search a decade beyond the best edge LR while it improves (the paper); off: a grid over the start LRs.
    extend: bool = True
    # Methods whose role says `refine` also try refine_factor x the best decade (the paper: full finetuning only);
    # off: no refinement for any method.
    refine: bool = True
    refine_factor: float = 3.0
    # Same units as RunOutcome.lang_correct (xlgen's language_correct_rate is in percent). None = no floor.
    lang_correct_floor: float | None = None
    use_it_options: ListOf[bool] = field(default_factory=lambda: [False, True])
    multipliers: ListOf[float] = field(default_factory=lambda: [1, 10])
    # Name of the selection metric, or {task: name}; "primary" = the task's primary_metric, given by the driver.
    metric: str | dict[str, str] = "primary"
    lang_correct_key: str = "lang_correct"
    # Which split selection reads: "dev" (validation languages; a study without them is an error) or, only when
    # asked for explicitly, "test" (then every report says the selection saw test data).
    select_on: str = "dev"

    def __post_init__(self):
        self.start_lrs = [canon_lr(x) for x in self.start_lrs]
        self.start_lrs_by_method = {m: [canon_lr(x) for x in lrs] for m, lrs in self.start_lrs_by_method.items()}
        self.min_lr, self.max_lr = canon_lr(self.min_lr), canon_lr(self.max_lr)
        self.use_it_options = [bool(x) for x in self.use_it_options]
        p = "protocol"
        if not 0 < self.min_lr <= self.max_lr:
            raise XlgenError(f"{p}.min_lr/max_lr: need 0 < min_lr <= max_lr, got {self.min_lr}, {self.max_lr}")
        for name, lrs in [("start_lrs", self.start_lrs), *((f"start_lrs_by_method.{m}", v) for m, v in self.start_lrs_by_method.items())]:
            if not lrs or any(x <= 0 for x in lrs):
                raise XlgenError(f"{p}.{name}: need at least one positive LR, got {lrs}")
            outside = [x for x in lrs if not self._within(x)]
            if outside:
                raise XlgenError(f"{p}.{name}: {outside} outside [min_lr={self.min_lr}, max_lr={self.max_lr}]")
        if self.refine_factor <= 0:
            raise XlgenError(f"{p}.refine_factor: must be positive, got {self.refine_factor}")
        if not self.use_it_options or len(set(self.use_it_options)) != len(self.use_it_options):
            raise XlgenError(f"{p}.use_it_options: need distinct values from [false, true], got {self.use_it_options}")
        if not self.multipliers or any(m <= 0 for m in self.multipliers):
            raise XlgenError(f"{p}.multipliers: need positive numbers, got {self.multipliers}")
        if self.select_on not in ("dev", "test"):
            raise XlgenError(f"{p}.select_on: must be 'dev' (validation data) or 'test', got {self.select_on!r}")

    def _within(self, lr: float) -> bool:
        return self.min_lr * (1 - _REL) <= lr <= self.max_lr * (1 + _REL)

    def metric_name(self, task: str) -> str:
        return self.metric.get(task, "primary") if isinstance(self.metric, dict) else self.metric

    def to_dict(self) -> dict:
        return to_dict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ProtocolConfig:
        return from_dict(cls, d, "protocol")


def outcome_from_metrics(key: RunKey, per_lang: dict[str, dict], cfg: ProtocolConfig, *, primary: str | None = None, source_langs=("en",)) -> RunOutcome:
    """Average the selection metric and language-correct rate over validation languages, skipping the source
    language(s): the protocol tunes for cross-lingual transfer, and English scores would reward overfitting to it.
    How to average, and which way is better, is the metric's registry entry (xlgen.metrics)."""
    from xlgen.metrics import aggregate, measure

    name = cfg.metric_name(key.task)
    if name == "primary":
        if not primary:
            raise XlgenError(f"{key.name}: protocol.metric is 'primary'; pass the task's primary_metric")
        name = primary
    langs = [lang for lang in per_lang if lang not in source_langs]
    if not langs:
        raise XlgenError(f"{key.name}: no non-source validation languages in {sorted(per_lang)}")
    for lang in langs:
        if name not in per_lang[lang]:
            raise XlgenError(f"{key.name}: language '{lang}' has no metric '{name}' (has: {sorted(per_lang[lang])})")
    direction = measure(name).higher_is_better
    if direction is None:
        raise XlgenError(f"{key.name}: protocol.metric {name!r} has no better direction; select on a task metric")
    metric = aggregate(name, [float(per_lang[lang][name]) for lang in langs])
    lcs = [per_lang[lang].get(cfg.lang_correct_key) for lang in langs]
    lang_correct = None if any(x is None for x in lcs) else aggregate("lang_correct", [float(x) for x in lcs])
    return RunOutcome(key=key, status="done", metric=metric, lang_correct=lang_correct, higher_is_better=direction)


class _Search:
    """PLR search state of one model x task x method. stage: start -> (up|down)* -> refine? -> done."""

    def __init__(self, model: str, task: str, method: str, start_lrs: list[float]):
        self.model, self.task, self.method = model, task, method
        self.stage = "start"
        self.lrs = list(start_lrs)
        self.best_before: float | None = None  # best LR before the latest extension step
        self.plr: float | None = None
        self.reason = ""


class _Final:
    """Phase-2 state of one model x task x method. stage: wait -> grid -> seeds -> done."""

    def __init__(self, model: str, task: str, method: str, source: str):
        self.model, self.task, self.method, self.source = model, task, method, source
        self.stage = "wait"
        self.plr: float | None = None
        self.grid: list[RunKey] = []
        self.chosen: RunKey | None = None
        self.reason = ""


class LRProtocol:
    """`roles`: method -> LRRole; a method without one searches its own LR. A role's `lr_from` may name a method that is
    not in `methods`: it is searched for its PLR (and has a role of its own in `roles`, or the default)."""

    def __init__(self, cfg: ProtocolConfig, models: list[str], tasks: list[str], methods: list[str], seeds: list[int] = (0,),
                 roles: dict[str, LRRole] | None = None):
        self.cfg = cfg
        self.models, self.tasks, self.methods, self.seeds = list(models), list(tasks), list(methods), [int(s) for s in seeds]
        for what, xs in (("models", self.models), ("tasks", self.tasks), ("methods", self.methods), ("seeds", self.seeds)):
            if not xs:
                raise XlgenError(f"protocol: {what} is empty")
            if len(set(xs)) != len(xs):
                raise XlgenError(f"protocol: {what} has duplicates: {xs}")
        self.roles = dict(roles or {})
        for m in self.methods:
            src = self.source_of(m)
            if src != m and self.source_of(src) != src:
                raise XlgenError(f"protocol: '{m}' takes its PLR from '{src}', which takes its own from '{self.source_of(src)}'; "
                                 "a method's LR must come from a method that searches its own")
        self._reset()

    def role(self, method: str) -> LRRole:
        return self.roles.get(method) or LRRole()

    def source_of(self, method: str) -> str:
        """The method whose PLR `method` uses: itself, or its role's `lr_from`."""
        return self.role(method).lr_from or method

    def _reset(self):
        self.results: dict[RunKey, RunOutcome] = {}
        self._decisions: list[dict] = []
        self._searches: dict[tuple, _Search] = {}
        self._finals: dict[tuple, _Final] = {}
        for model in self.models:
            for task in self.tasks:
                for method in self.methods:
                    # A derived method's source is searched even if not listed itself: its PLR is needed.
                    source = self.source_of(method)
                    if (model, task, source) not in self._searches:
                        start = self.cfg.start_lrs_by_method.get(source, self.cfg.start_lrs)
                        self._searches[(model, task, source)] = _Search(model, task, source, start)
                    self._finals[(model, task, method)] = _Final(model, task, method, source)

    # ---- driver API -------------------------------------------------------------------------------------------------

    def ask(self) -> list[RunKey]:
        """Runs that can start now and have no result yet. Idempotent: asking again before `tell` returns them again,
        which is what a driver resuming after a crash wants."""
        out: dict[RunKey, None] = {}
        for s in self._searches.values():
            if s.stage != "done":
                for lr in s.lrs:
                    out[self._skey(s, lr)] = None
        for f in self._finals.values():
            if f.stage == "grid":
                out.update(dict.fromkeys(f.grid))
            elif f.stage == "seeds":
                out.update(dict.fromkeys(self._seed_keys(f)))
        return [k for k in out if k not in self.results]

    def tell(self, outcomes: list[RunOutcome]) -> None:
        """Record outcomes and take every decision they allow. Re-telling an identical outcome is a no-op; a different
        outcome for a known run is an error, because decisions were already taken on the first one."""
        for o in outcomes:
            if not isinstance(o, RunOutcome):
                raise XlgenError(f"protocol.tell: expected RunOutcome, got {type(o).__name__}")
            old = self.results.get(o.key)
            if old is not None and old.to_dict() != o.to_dict():
                raise XlgenError(f"{o.key.name}: already told as {old.to_dict()}; refusing a different outcome {o.to_dict()}")
            self.results[o.key] = o
        changed = True
        while changed:
            changed = False
            for s in self._searches.values():
                changed |= self._advance_search(s)
            for f in self._finals.values():
                changed |= self._advance_final(f)

    def done(self) -> bool:
        return all(f.stage == "done" for f in self._finals.values())

    def decisions(self) -> list[dict]:
        return copy.deepcopy(self._decisions)

    def selected(self) -> dict[tuple[str, str, str], dict]:
        """Chosen setting per (model, task, method), once phase 2 has decided (seed runs may still be pending)."""
        out = {}
        for k, f in self._finals.items():
            if f.stage not in ("seeds", "done"):
                continue
            c = f.chosen
            o = self.results.get(c) if c else None
            out[k] = {
                "lr": c.lr if c else None,
                "it": c.it if c else None,
                "metric": o.metric if o else None,
                "lang_correct": o.lang_correct if o else None,
                "plr": f.plr,
                "plr_from": f.source,
                "seeds": list(self.seeds) if c else [],
                "reason": f.reason,
            }
        return out

    def state_dict(self) -> dict:
        """JSON-serializable. The state is a function of the results, so resuming replays them; decisions are kept as
        logged so their chronological order survives."""
        return {
            "version": STATE_VERSION,
            "config": self.cfg.to_dict(),
            "models": list(self.models),
            "tasks": list(self.tasks),
            "methods": list(self.methods),
            "seeds": list(self.seeds),
            "roles": {m: asdict(r) for m, r in sorted(self.roles.items())},
            "results": [o.to_dict() for o in self.results.values()],
            "decisions": copy.deepcopy(self._decisions),
        }

    def load_state_dict(self, sd: dict) -> None:
        if sd.get("version") != STATE_VERSION:
            raise XlgenError(f"protocol state: version {sd.get('version')!r} not supported (expected {STATE_VERSION})")
        mine = {"config": self.cfg.to_dict(), "models": self.models, "tasks": self.tasks, "methods": self.methods, "seeds": self.seeds,
                "roles": {m: asdict(r) for m, r in sorted(self.roles.items())}}
        theirs = dict(sd, config=ProtocolConfig.from_dict(sd["config"]).to_dict())
        differ = [k for k, v in mine.items() if _norm(theirs.get(k)) != _norm(v)]
        if differ:
            raise XlgenError(f"protocol state: {differ} differ from this study's; resuming with a changed setup would mix decisions")
        self._reset()
        self.tell([RunOutcome.from_dict(d) for d in sd["results"]])
        self._decisions = copy.deepcopy(sd["decisions"])

    @classmethod
    def from_state_dict(cls, sd: dict) -> LRProtocol:
        roles = {m: LRRole(**r) for m, r in sd.get("roles", {}).items()}
        p = cls(ProtocolConfig.from_dict(sd["config"]), sd["models"], sd["tasks"], sd["methods"], sd["seeds"], roles)
        p.load_state_dict(sd)
        return p

    # ---- selection --------------------------------------------------------------------------------------------------

    def _why_not(self, key: RunKey) -> str | None:
        """None if the run can be selected, else why not."""
        o = self.results.get(key)
        if o is None:
            return "no result"
        if o.status == "failed":
            return f"failed: {o.error or 'no error message'}"
        if o.metric is None:
            return "no metric"
        floor = self.cfg.lang_correct_floor
        if floor is not None:
            if o.lang_correct is None:
                return f"no lang_correct but floor {floor} is set"
            if o.lang_correct < floor:
                return f"lang_correct {o.lang_correct:.4g} < floor {floor:.4g}"
        return None

    def _best(self, keys: list[RunKey]) -> RunKey | None:
        """The single place where TIE_RULE is applied."""
        ok = [k for k in keys if self._why_not(k) is None]
        if not ok:
            return None
        sign = -1.0 if self.results[ok[0]].higher_is_better else 1.0
        return min(ok, key=lambda k: (sign * self.results[k].metric, k.lr, k.it))

    def _better(self, a: RunKey, b: RunKey | None) -> bool:
        """Strictly better metric (used for 'still improving'); ties do not extend the search."""
        if b is None:
            return True
        ma, mb = self.results[a].metric, self.results[b].metric
        return ma > mb if self.results[a].higher_is_better else ma < mb

    def _candidates(self, keys: list[RunKey]) -> list[dict]:
        out = []
        for k in sorted(keys, key=lambda k: (k.lr, k.it, k.seed)):
            o = self.results.get(k)
            why = self._why_not(k)
            out.append({
                "run": k.name, "lr": k.lr, "it": k.it, "seed": k.seed,
                "status": o.status if o else None, "metric": o.metric if o else None,
                "lang_correct": o.lang_correct if o else None, "error": o.error if o else None,
                "eligible": why is None, "why_not": why,
            })
        return out

    def _log(self, phase: str, g, keys: list[RunKey], chosen: RunKey | None, reason: str, **extra) -> None:
        self._decisions.append({
            "phase": phase, "model": g.model, "task": g.task, "method": g.method,
            "metric_name": self.cfg.metric_name(g.task), "lang_correct_floor": self.cfg.lang_correct_floor,
            "candidates": self._candidates(keys),
            "chosen": None if chosen is None else {"lr": chosen.lr, "it": chosen.it, "metric": self.results[chosen].metric},
            "reason": reason, **extra,
        })

    # ---- phase 1: PLR search ----------------------------------------------------------------------------------------

    def _skey(self, s: _Search, lr: float) -> RunKey:
        return RunKey(s.model, s.task, s.method, lr, False, self.seeds[0])

    def _step(self, lr: float, direction: str) -> float | None:
        nxt = canon_lr(lr * 10 if direction == "up" else lr / 10)
        return nxt if self.cfg.extend and self.cfg._within(nxt) else None

    def _advance_search(self, s: _Search) -> bool:
        if s.stage == "done":
            return False
        keys = [self._skey(s, lr) for lr in s.lrs]
        if any(k not in self.results for k in keys):
            return False
        best = self._best(keys)
        lo, hi = min(s.lrs), max(s.lrs)
        fmt = lambda x: "none" if x is None else fmt_lr(x)  # noqa: E731

        if s.stage == "start":
            phase = "plr-search"
            if best is None:
                completed = any(self.results[k].status == "done" for k in keys)
                nxt = self._step(lo, "down")
                if completed and nxt is not None:
                    return self._extend(s, keys, None, "down", nxt, phase, f"no eligible LR among {[fmt_lr(x) for x in s.lrs]}; lower LRs keep the target language, so extend down to {fmt_lr(nxt)}")
                return self._finish(s, keys, None, phase, f"no eligible LR among {[fmt_lr(x) for x in s.lrs]}" + ("" if completed else " (all failed)") + "; search stops")
            if best.lr == hi and (nxt := self._step(hi, "up")) is not None:
                return self._extend(s, keys, best, "up", nxt, phase, f"best {fmt_lr(best.lr)} is the upper edge; extend up to {fmt_lr(nxt)}")
            if best.lr == lo and (nxt := self._step(lo, "down")) is not None:
                return self._extend(s, keys, best, "down", nxt, phase, f"best {fmt_lr(best.lr)} is the lower edge; extend down to {fmt_lr(nxt)}")
            where = ("inside the range" if lo < best.lr < hi else "at an edge (extension is off)" if not self.cfg.extend
                     else f"at an edge, but the next decade is outside [{fmt_lr(self.cfg.min_lr)}, {fmt_lr(self.cfg.max_lr)}]")
            return self._refine_or_finish(s, keys, best, phase, f"best {fmt_lr(best.lr)} is {where}; no extension")

        if s.stage in ("up", "down"):
            phase = f"extend-{s.stage}"
            new = self._skey(s, s.lrs[-1])
            prev = self._skey(s, s.best_before) if s.best_before is not None else None
            why = self._why_not(new)
            improving = why is None and self._better(new, prev)
            if improving or (prev is None and best is None):
                nxt = self._step(new.lr, s.stage)
                verdict = "improves on " + fmt(s.best_before) if improving else "still no eligible LR"
                if nxt is not None:
                    return self._extend(s, keys, best, s.stage, nxt, phase, f"{fmt_lr(new.lr)} {verdict}; extend {s.stage} to {fmt_lr(nxt)}")
                stop = f"{fmt_lr(new.lr)} {verdict}, but the next decade is outside [{fmt_lr(self.cfg.min_lr)}, {fmt_lr(self.cfg.max_lr)}]; stop"
            else:
                stop = f"{fmt_lr(new.lr)} is not better than {fmt(s.best_before)}" + (f" ({why})" if why else "") + "; stop extending"
            if best is None:
                return self._finish(s, keys, None, phase, stop + "; no eligible LR found")
            return self._refine_or_finish(s, keys, best, phase, stop)

        # stage == "refine"
        new = s.lrs[-1]
        why = self._why_not(self._skey(s, new))
        self._log("refine-3x", s, keys, best, f"tried {fmt_lr(new)} = {self.cfg.refine_factor:g} x {fmt(s.best_before)}" + (f" ({why})" if why else "") + f"; best overall {fmt(best.lr if best else None)}")
        return self._finish(s, keys, best, None, None)

    def _extend(self, s: _Search, keys, best, direction: str, nxt: float, phase: str, reason: str) -> bool:
        self._log(phase, s, keys, best, reason, next_lrs=[nxt])
        s.stage, s.best_before = direction, best.lr if best else None
        s.lrs.append(nxt)
        return True

    def _refine_or_finish(self, s: _Search, keys, best: RunKey, phase: str, reason: str) -> bool:
        if self.cfg.refine and self.role(s.method).refine:
            r = canon_lr(best.lr * self.cfg.refine_factor)
            if r in s.lrs:
                reason += f"; {fmt_lr(r)} already tried"
            elif not self.cfg._within(r):
                reason += f"; refinement {fmt_lr(r)} is outside [{fmt_lr(self.cfg.min_lr)}, {fmt_lr(self.cfg.max_lr)}], skipped"
            else:
                self._log(phase, s, keys, best, reason + f"; refine with {self.cfg.refine_factor:g} x {fmt_lr(best.lr)} = {fmt_lr(r)}", next_lrs=[r])
                s.stage, s.best_before = "refine", best.lr
                s.lrs.append(r)
                return True
        return self._finish(s, keys, best, phase, reason)

    def _finish(self, s: _Search, keys, best: RunKey | None, phase: str | None, reason: str | None) -> bool:
        if phase is not None:
            self._log(phase, s, keys, best, reason, next_lrs=[])
        s.stage = "done"
        s.plr = best.lr if best else None
        tried = [fmt_lr(x) for x in sorted(s.lrs)]
        if best:
            s.reason = f"PLR {fmt_lr(best.lr)} is the best eligible of {tried}"
        else:
            s.reason = f"no eligible LR among {tried}: " + "; ".join(f"{fmt_lr(k.lr)} {self._why_not(k)}" for k in sorted(keys, key=lambda k: k.lr))
        self._log("plr", s, keys, best, s.reason, plr=s.plr)
        return True

    # ---- phase 2: {PLR, 10 PLR} x {no IT, IT}, then seeds ----------------------------------------------------------

    def _seed_keys(self, f: _Final) -> list[RunKey]:
        c = f.chosen
        return [RunKey(c.model, c.task, c.method, c.lr, c.it, seed) for seed in self.seeds[1:]]

    def _advance_final(self, f: _Final) -> bool:
        if f.stage == "wait":
            s = self._searches[(f.model, f.task, f.source)]
            if s.stage != "done":
                return False
            f.plr = s.plr
            via = "" if f.source == f.method else f" (PLR of '{f.source}')"
            if s.plr is None:
                f.stage, f.reason = "done", f"no PLR{via}: {s.reason}"
                self._log("final", f, [], None, f.reason, plr=None, plr_from=f.source)
                return True
            lrs = [canon_lr(s.plr * m) for m in self.cfg.multipliers]
            skipped = [x for x in lrs if not self.cfg._within(x)]
            f.grid = [RunKey(f.model, f.task, f.method, lr, it, self.seeds[0]) for lr in dict.fromkeys(lrs) if self.cfg._within(lr) for it in self.cfg.use_it_options]
            f.reason = f"PLR {fmt_lr(s.plr)}{via}" + (f"; {[fmt_lr(x) for x in skipped]} above max_lr {fmt_lr(self.cfg.max_lr)}, not tried" if skipped else "")
            f.stage = "grid"
            if not f.grid:
                f.stage, f.reason = "done", f.reason + "; no candidate left"
                self._log("final", f, [], None, f.reason, plr=f.plr, plr_from=f.source)
            return True
        if f.stage == "grid":
            if any(k not in self.results for k in f.grid):
                return False
            f.chosen = self._best(f.grid)
            if f.chosen is None:
                f.reason += "; no eligible candidate among PLR multiples x IT options"
                f.stage = "done"
            else:
                c = f.chosen
                f.reason += f"; best is lr {fmt_lr(c.lr)} {'with' if c.it else 'without'} IT (metric {self.results[c].metric:.6g}); ties: {TIE_RULE}"
                f.stage = "seeds" if self.seeds[1:] else "done"
            self._log("final", f, f.grid, f.chosen, f.reason, plr=f.plr, plr_from=f.source, seed_runs=[k.name for k in self._seed_keys(f)] if f.chosen else [])
            return True
        if f.stage == "seeds":
            if any(k not in self.results for k in self._seed_keys(f)):
                return False
            f.stage = "done"
            return True
        return False


def _norm(x):
    """Compare configs as JSON would see them (tuples vs lists, canonical floats)."""
    if isinstance(x, dict):
        return {k: _norm(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_norm(v) for v in x]
    if isinstance(x, float):
        return canon_lr(x)
    return x
