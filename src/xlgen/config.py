"""Typed run configuration: nested dataclasses, built from YAML, overridden by `key=value`, saved with every run.

One loader (`from_dict`, pydantic underneath) builds every config xlgen reads: runs, studies, the LR protocol, the
adaptation methods' sections. Its errors are one line naming the YAML file and the dotted field
(`train.lr: expected a number, got 'fast'`); there is no interpolation language on top of YAML.
Defaults are the paper's settings (Chirkova & Nikoulina, appendix A): Adam, inverse-square-root schedule with 4k warmup
steps, 20k steps, 4000-token batches, evaluation every 2k steps.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from xlgen.errors import XlgenError

T = TypeVar("T")
C = TypeVar("C", bound=type)

# Numbers are accepted where strings are expected (`hf_config: 2023`), as YAML would have it.
_PYDANTIC = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


def typed_config(cls: C) -> C:
    """A config section: a keyword-only dataclass that `from_dict` checks field by field (unknown keys are errors)."""
    cls.__pydantic_config__ = _PYDANTIC
    return dataclass(kw_only=True)(cls)


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, (str, dict)) else value


def _not_bool(value: Any) -> Any:
    """pydantic reads true as 1 where an integer is expected: `train.steps=true` trained one step without a word."""
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "expected an integer")
    return value


# A list field that also takes a single item: `data.test.languages=de` means [de].
ListOf = Annotated[list[T], BeforeValidator(_one_or_many)]
# Counts and sizes a run divides by or loops on: a zero or negative value would crash or never end, so it is a config
# error instead (`train.eval_every: must be at least 1, got 0`).
AtLeast1 = Annotated[int, BeforeValidator(_not_bool), Field(ge=1)]
AtLeast0 = Annotated[int, BeforeValidator(_not_bool), Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


@typed_config
class ModelConfig:
    # A Hugging Face hub name, a local directory, or "embedded" (the Gemma-3-270M built by `xlgen models prepare`).
    name: str = "embedded"
    # Backbone family; "auto" reads it from the model config (see xlgen.backbones).
    family: str = "auto"
    # Inputs are cropped to this many tokens; None = the family's maximum (512 mT5/NLLB/M2M100/Marian, 1024 mBART).
    max_input_length: AtLeast1 | None = None
    max_target_length: AtLeast1 | None = None
    # Decoder-only prompt; {input} is the task input, {instruction} the task's word ("Answer"), {language} a name.
    prompt_template: str = "{input}\n{instruction} in {language}:"
    # Load weights from this run directory or checkpoint instead (e.g. an intermediate-tuning run).
    init_from: str | None = None


class AdaptationConfig:
    """`adaptation: {method: lora, lora: {r: 8}}`: `method` names a registered adaptation method (xlgen.adaptation:
    full | freeze | adapters | prompt | lora | peft), and the section named after a method holds its options, typed by
    that method's own `Options` dataclass, so each method keeps its options to itself. Sections of methods other than
    the active one may be given (a base config shared by several methods) and are checked alike.

    In code: `AdaptationConfig(method="lora", lora={"r": 4})`; `.options` is the active method's options.
    """

    def __init__(self, method: str = "full", **sections: Any):
        from xlgen.adaptation import METHODS

        METHODS.lookup(method)  # an unknown method is an error naming adaptation.method
        self.method = method
        self.sections = {name: _options_section(name, value) for name, value in sections.items()}
        self.sections.setdefault(method, METHODS[method].Options())

    @property
    def options(self) -> Any:
        return self.sections[self.method]

    def to_dict(self) -> dict:
        return {"method": self.method, **{name: to_dict(opts) for name, opts in self.sections.items()}}

    def __eq__(self, other) -> bool:
        return isinstance(other, AdaptationConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"AdaptationConfig({self.to_dict()})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(cls._from_data)

    @classmethod
    def _from_data(cls, data: Any) -> AdaptationConfig:
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise FieldError("", f"expected a mapping, got {data!r}")
        return cls(**data)


def _options_section(name: str, value: Any) -> Any:
    """A method's options from a mapping (or as given), checked against the method's `Options`."""
    from xlgen.adaptation import METHODS

    if name not in METHODS:
        renamed = _renamed_flat_key(name)
        if renamed:
            raise FieldError(name, f"options now live in the method's own section: write {renamed}")
        raise FieldError(name, f"unknown config field (known: method, {', '.join(sorted(METHODS))})")
    options = METHODS[name].Options
    if isinstance(value, options):
        return value
    try:
        return _adapter(options).validate_python({} if value is None else value)
    except ValidationError as e:
        field, _, message = _message(options, e.errors()[0], name).partition(": ")
        raise FieldError(field, message) from None


def _renamed_flat_key(key: str) -> str | None:
    """The new spelling of a flat key of the old AdaptationConfig (`lora_r` -> `lora: {r: ...}`)."""
    from xlgen.adaptation import METHODS

    for name, cls in METHODS.items():
        for option in (f.name for f in dataclasses.fields(cls.Options)):
            if key in (f"{name}_{option}", f"{name.rstrip('s')}_{option}"):
                return f"adaptation: {{method: {name}, {name}: {{{option}: ...}}}}"
    return None


@typed_config
class DatasetSpec:
    # A local file (SQuAD JSON for qa, JSONL otherwise); may contain {lang} and ${ENV} (e.g. ${XLGEN_DATA}).
    path: str | None = None
    # Or a Hugging Face dataset name (and config / split); {lang} is filled in for per-language sets.
    hf: str | None = None
    hf_config: str | None = None
    split: str = "train"
    # Language of the records; for dev/test sets the list of languages the {lang} pattern expands to.
    lang: str | None = None
    languages: ListOf[str] = field(default_factory=list)
    # Keep the first N examples after filtering (None: all). Applied per language.
    max_examples: AtLeast1 | None = None
    # What {name} stands for per language in `path`/`hf`/`hf_config` (default: the lower-case English name, e.g.
    # "french"), for datasets that name languages in words: XL-Sum's configs are `french`, `chinese_simplified`.
    lang_names: dict[str, str] = field(default_factory=dict)


@typed_config
class TaskConfig:
    name: str = "qa"  # qa | summarization | jsonl (see xlgen.tasks)
    # Field names for JSONL tasks (summarization defaults: XL-Sum's "text" and "summary").
    id_field: str = "id"
    input_field: str | None = None
    target_field: str | None = None
    # Metric for the generic jsonl task: rouge | squad.
    metric: str | None = None
    # The paper's XQuAD filter on evaluation sets: keep questions whose gold answer has no digits and is identified as
    # the target language.
    xquad_filter: bool = False
    # Classification tasks (pos, ner, nli): the label set (None: POS the 17 UPOS tags, NLI its three labels, NER the
    # entity types of the training data) and a map applied to labels as read (NER: {DATE: O} drops MasakhaNER's dates).
    labels: list[str] | None = None
    label_map: dict[str, str] = field(default_factory=dict)
    # Which metric profile (xlgen.metrics.profiles) drives selection and headline tables: "paper" (the paper's exact
    # tools: SQuAD v1.1 script, gem-metrics ROUGE) or "multilingual" (script-aware). Both are computed every time.
    metric_profile: str = "paper"
    # fastText language-ID model file (the paper's lid.176.bin); None: $XLGEN_LID_MODEL, else the bundled lid.176.ftz.
    langid_model: str | None = None


@typed_config
class RawTextSpec:
    """Raw text for self-supervised objectives: plain-text files (one document or sentence per line) or a dataset."""

    path: str | None = None  # may contain {lang} and ${ENV}
    hf: str | None = None
    hf_config: str | None = None
    split: str = "train"
    text_field: str = "text"
    lang: str | None = None
    languages: ListOf[str] = field(default_factory=list)
    lang_names: dict[str, str] = field(default_factory=dict)
    # Read at most this many lines (records) per language.
    max_lines: AtLeast1 | None = None


@typed_config
class ObjectiveConfig:
    # prefix_lm (continue a text from its beginning: the paper's choice) | zmbart (cite random sentences of the input) |
    # span_corruption (mT5's pretraining task) | denoising (mBART's) | pretraining (the backbone family's own)
    name: str = "prefix_lm"
    # Raw text is cut into segments of about this many characters; each segment makes one example.
    segment_chars: AtLeast1 = 600
    max_segments: AtLeast1 = 20_000  # per language
    # prefix_lm: the split point, as a fraction of the segment, is drawn uniformly from this range.
    split_range: tuple[float, float] = (0.25, 0.75)


@typed_config
class MixConfig:
    """Mixing-in target languages: each batch element is, with `probability`, a self-supervised example in a target
    language (languages uniform within that share) instead of a task example (the paper: 1%, PrefixLM)."""

    raw: RawTextSpec | None = None
    probability: Probability = 0.01
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)


@typed_config
class DataConfig:
    train: ListOf[DatasetSpec] = field(default_factory=list)
    dev: DatasetSpec | None = None
    test: DatasetSpec | None = None
    # With several source languages: "uniform" picks each batch's language uniformly (the paper, after Li & Murray
    # 2023); "proportional" pools all examples.
    source_sampling: str = "uniform"
    mix: MixConfig | None = None
    # Intermediate tuning (stage: intermediate): the raw text and the objective it is trained on.
    raw: RawTextSpec | None = None
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)


@typed_config
class TrainConfig:
    lr: PositiveFloat = 1e-4
    steps: AtLeast0 = 20_000
    warmup_steps: AtLeast0 = 4_000
    # Tokens per micro-batch (padded source + target tokens), batches built by a token budget with length grouping.
    max_tokens: AtLeast1 = 4_000
    grad_accum: AtLeast1 = 1
    optimizer: str = "adam"  # adam | adamw
    betas: tuple[float, float] = (0.9, 0.999)
    eps: NonNegativeFloat = 1e-8
    weight_decay: NonNegativeFloat = 0.0
    max_grad_norm: PositiveFloat | None = None
    # auto: bf16 on GPU, fp32 on CPU. native: bf16 wherever the hardware has bf16 units (GPUs; CPUs with AMX or
    # AVX512-BF16), else fp32. bf16: bf16 working copies of the weights, cast once per step, over fp32 master
    # weights (xlgen.perf.precision); bf16-autocast: fp32 weights under autocast (every use casts).
    precision: str = "auto"  # auto | native | fp32 | bf16 | bf16-autocast
    eval_every: AtLeast1 = 2_000
    save_every: AtLeast1 = 2_000
    keep_checkpoints: AtLeast0 = 1
    # Checkpoints exist to resume; a finished run has `model/` and drops them unless asked to keep them (a full
    # checkpoint of a 270M model with Adam state is 3 GB, and a study makes dozens of runs).
    keep_checkpoints_after_finish: bool = False
    log_every: AtLeast1 = 50
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # torch.compile the loss computation (the model's forward included). Each new batch shape costs a compile
    # (dynamic shapes limit how many); worth it on GPU for long runs, slower on CPU (see BENCHMARKS.md). The backend
    # is torch's (`inductor`; `aot_eager` checks tracing without generating kernels).
    compile: bool = False
    compile_backend: str = "inductor"
    # torch.compile mode: default | reduce-overhead (CUDA graphs; on CUDA only, elsewhere default) | max-autotune...
    compile_mode: str = "default"
    # Shape buckets (xlgen.perf.buckets): lengths padded up to multiples of bucket_source (decoder-only: the whole
    # sequence) and bucket_target, rows up to what the budget holds, so the GPU's per-shape work (attention plans,
    # compiled and CUDA graphs) is done once per bucket. auto: on for CUDA and for compiled runs.
    bucketing: str = "auto"  # auto | on | off
    bucket_source: AtLeast1 = 64
    bucket_target: AtLeast1 = 16
    # The loss through the output layer (xlgen.perf.losses): auto = chunked (never every position's logits at once) |
    # plain (the model's own logits) | liger (Liger-Kernel's fused kernel; CUDA, `pip install liger-kernel`).
    loss_impl: str = "auto"
    # SDPA kernels in order of preference (xlgen.perf.attention): auto = the family's choice, else e.g. "cudnn,efficient".
    attention: str = "auto"
    # Collate the next steps' batches on a background thread (pinned memory and non-blocking copies on CUDA).
    prefetch: bool = True


@typed_config
class GuardOptions:
    """Settings of the decoding-time language guards (xlgen.guards); each field is read by one guard only."""

    # prior: strength λ of the added per-token log-ratio of target- vs source-language frequency.
    prior_strength: float = 1.0
    # prior: the language the model was adapted on (the frequencies the target's are compared with).
    prior_source: str = "en"
    # prior: raw text per language, overriding the built-in table (paths with ${XLGEN_DATA} and {lang}).
    prior_corpora: dict[str, ListOf[str]] = field(default_factory=dict)
    # span: the answer begins and ends where words of the input do (any character boundary in scripts written without
    # spaces; beginnings inside Arabic/Hebrew words, which take joined prefixes); false allows cuts inside words.
    span_whole_words: bool = True
    # rerank: candidates per input (branches from the best first tokens) and the weight of the language-ID term.
    # Each extra candidate adds one decoding pass (the prompt is shared): 3 keeps reranking alone near 1.5x the time of
    # plain decoding; with span the output layer shrinks to the paragraph's tokens and 8, tuned on XQuAD-ro
    # (docs/guards-candidates.md, docs/guards-240.md), costs about 1.45x on 240 questions per language (1.1-1.2x on 48,
    # where unguarded decoding batches worse).
    rerank_candidates: int = 3
    rerank_weight: float = 1.0
    # rerank: always | wrong. wrong: decode plainly (under the other guards) first, and make candidates only for the
    # inputs whose output language ID does not put in the target language: the cost of the candidates is paid on
    # that share of inputs alone, and outputs already in the right language are left as plain decoding made them.
    rerank_when: str = "always"


@typed_config
class GenerateConfig:
    # None: the task's default (32 tokens for QA, 128 for summarization).
    max_new_tokens: AtLeast1 | None = None
    num_beams: AtLeast1 = 1
    # Input tokens per generation batch (inputs sorted by length, so padding stays small). Decoding one token reads
    # every weight once whatever the batch, so large batches are nearly free per step, on CPU as on GPU.
    max_tokens: AtLeast1 = 24_000
    max_batch_size: AtLeast1 = 96
    # Decoding-time language guards, composable (xlgen.guards): span | script | prior | rerank; [] = plain decoding.
    guard: ListOf[str] = field(default_factory=list)
    guard_options: GuardOptions = field(default_factory=GuardOptions)


@typed_config
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    adaptation: AdaptationConfig = field(default_factory=AdaptationConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    # task: adapt on task data; intermediate: self-supervised tuning on raw text (`xlgen intermediate-tune`), whose
    # output model is a backbone for later runs (model.name: INTERMEDIATE_RUN_DIR).
    stage: str = "task"
    # Mirror logs to experiment trackers (tensorboard, mlflow, wandb); off by default.
    tracking: ListOf[str] = field(default_factory=list)
    output_dir: str = "runs/run"


# ----------------------------------------------------------------------------------------------------------------------
# Building dataclasses from plain data: one typed loader (pydantic) for run, study and protocol configs


@functools.lru_cache(maxsize=None)
def _adapter(cls: Any) -> TypeAdapter:
    return TypeAdapter(cls)


def from_dict(cls: Any, data: Any, where: str = "") -> Any:
    """Build config `cls` from plain data, checking every field's type; unknown keys are errors (typos matter).

    pydantic does the checking and the lenient conversions a command line needs ("1e-5" and 3 where numbers and
    strings are expected); its errors are turned into one line naming the dotted field, as `train.lr: expected a
    number, got 'fast'`.
    """
    try:
        return _adapter(cls).validate_python(data)
    except ValidationError as e:
        raise XlgenError(_message(cls, e.errors()[0], where)) from None


_EXPECTED = {
    "float": "a number", "int": "an integer", "bool": "true or false", "string": "a string", "list": "a list",
    "tuple": "a list", "dict": "a mapping", "dataclass": "a mapping", "model": "a mapping",
}  # fmt: skip
_BOUNDS = {"greater_than_equal": "at least", "greater_than": "greater than", "less_than_equal": "at most", "less_than": "less than"}


def _message(cls: Any, err: dict, where: str) -> str:
    loc = list(err["loc"])
    kind = err["type"]
    if isinstance(err.get("ctx", {}).get("error"), FieldError):  # raised by a section's own loader
        inner = err["ctx"]["error"]
        return _join(where, _dotted(cls, loc)[0], inner.field) + f": {inner.message}"
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        path, known = _dotted(cls, loc)
        return _join(where, path) + f": unknown config field (known: {', '.join(sorted(known or []))})"
    path, _ = _dotted(cls, loc)
    got = err.get("input")
    what = _EXPECTED.get(kind.split("_")[0])
    if kind in ("missing", "missing_argument"):
        text = "missing (required)"
    elif kind in ("too_short", "too_long") and isinstance(got, (list, tuple)):
        text = f"expected {err['ctx'].get('max_length', err['ctx'].get('min_length'))} values, got {len(got)}"
    elif kind in _BOUNDS:
        text = f"must be {_BOUNDS[kind]} {next(iter(err['ctx'].values()))}, got {got!r}"
    elif kind == "finite_number":
        text = f"expected a finite number, got {got!r}"
    elif what is not None:
        text = f"expected {what}, got {got!r}"
    else:
        text = err["msg"]
    return _join(where, path) + f": {text}"


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p).replace(".[", "[")


def _dotted(cls: Any, loc: list) -> tuple[str, list[str] | None]:
    """The dotted field name of a pydantic error location (`data.train[0].lnag`), and the field names known where it
    ends (for unknown keys). Union member tags that pydantic adds to locations are skipped."""
    tp, out, known = cls, "", None
    for part in loc:
        tp = _plain(tp)
        if isinstance(part, int):
            out += f"[{part}]"
            args = typing.get_args(tp)
            tp = args[0] if args else Any
        elif dataclasses.is_dataclass(tp):
            hints = typing.get_type_hints(tp, include_extras=True)
            known = [f.name for f in dataclasses.fields(tp)]
            out = _join(out, part)
            tp = hints.get(part, Any)
        elif typing.get_origin(tp) is dict:
            out = _join(out, part)
            tp = typing.get_args(tp)[1]
    return out, known


def _plain(tp: Any) -> Any:
    """`tp` without Annotated wrappers and without None in an optional."""
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _plain(args[0])
    return tp


class FieldError(XlgenError, ValueError):
    """An error a section's own validation raises (see AdaptationConfig), `field` relative to the section. A ValueError,
    so that pydantic adds where the section sits (`adaptation.lora.r`), and an XlgenError when raised directly."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message = field, message


def to_dict(obj: Any) -> Any:
    if isinstance(obj, AdaptationConfig):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):  # e.g. a study's references: {name: ReferenceSpec}
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


_SCIENTIFIC = re.compile(r"^[+-]?\d+(\.\d*)?[eE][+-]?\d+$")


def _parse_scalar(text: str) -> Any:
    """A value as YAML reads it, except that YAML's "1e-5" and "2e4" (it wants "1.0e-5") are numbers here."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return float(value) if isinstance(value, str) and _SCIENTIFIC.match(value) else value


def set_dotted(data: dict, key: str, value: Any) -> dict:
    """Set `a.b.c` in nested mappings, creating sections as needed."""
    parts = key.strip().split(".")
    node = data
    for p in parts[:-1]:
        if node.get(p) is None:
            node[p] = {}
        if not isinstance(node[p], dict):
            raise XlgenError(f"override {key!r}: {p} is not a section")
        node = node[p]
    node[parts[-1]] = value
    return data


def parse_override(item: str) -> tuple[str, Any]:
    """`a.b.c=value` as (dotted key, value parsed as YAML: `train.lr=1e-5`, `data.dev.languages=[th,vi]`)."""
    if "=" not in item:
        raise XlgenError(f"override {item!r}: expected key=value, e.g. train.lr=1e-5")
    key, raw = item.split("=", 1)
    if not all(part.strip() for part in key.split(".")):  # "=3", "train..lr=1": no field to name in the error
        raise XlgenError(f"override {item!r}: empty field name in {key.strip()!r}, expected key=value, e.g. train.lr=1e-5")
    return key.strip(), _parse_scalar(raw)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `a.b.c=value` overrides to nested mappings."""
    for item in overrides:
        set_dotted(data, *parse_override(item))
    return data


def load_yaml(path: str | Path) -> dict:
    from xlgen.io import read_yaml

    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise XlgenError(f"{path}: expected a mapping at the top level")
    return data


def load_config(path: str | Path | None, overrides: list[str] = (), cls: type = RunConfig) -> Any:
    data = load_yaml(path) if path else {}
    data = apply_overrides(data, list(overrides))
    try:
        return from_dict(cls, data)
    except XlgenError as e:
        raise XlgenError(f"{path or 'config'}: {e}") from None


def save_config(cfg: Any, path: str | Path) -> None:
    from xlgen.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True))


def data_dir() -> Path:
    """Where the shared datasets live: $XLGEN_DATA, else ../shared/data beside the working directory or the repo."""
    env = os.environ.get("XLGEN_DATA")
    if env:
        return Path(env)
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        cand = base.parent / "shared" / "data"
        if cand.is_dir():
            return cand
    return Path.cwd().parent / "shared" / "data"


def fill_language(text: str, lang: str, names: dict[str, str] | None = None) -> str:
    """Fill {lang} (the code) and {name} (a name the dataset uses for the language) in a dataset path or name."""
    if "{name}" in text:
        from xlgen.languages import language_name

        text = text.replace("{name}", (names or {}).get(lang) or language_name(lang).lower())
    return text.replace("{lang}", lang)


def expand_path(path: str, lang: str | None = None, names: dict[str, str] | None = None) -> str:
    """Fill {lang}, {name} and ${ENV} in a dataset path; ${XLGEN_DATA} defaults to the shared data directory."""
    env = dict(os.environ)
    env.setdefault("XLGEN_DATA", str(data_dir()))
    out = path
    for k, v in env.items():
        out = out.replace("${" + k + "}", v)
    if lang is not None:
        out = fill_language(out, lang, names)
    return os.path.expanduser(out)
