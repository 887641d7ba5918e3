"""Self-supervised objectives on raw text, for intermediate tuning and for mixing-in target languages.

- prefix_lm: predict the continuation of a text from its beginning (Vu et al. 2022; the paper's choice for both);
- zmbart: reproduce randomly chosen sentences of the input (the ZmBART-like objective of the paper's appendix B);
- span_corruption: mT5's pretraining task (spans replaced by <extra_id_N>, the target lists them);
- denoising: mBART's (sentence permutation and spans replaced by one <mask>, the target is the original);
- pretraining: the backbone family's own (its `pretraining_objective`: span_corruption for T5, denoising for
  mBART/NLLB/M2M100, prefix_lm for the others).

Noise is applied to words (characters for scripts written without spaces) in text space, so every objective works
with every tokenizer; the sentinel and mask strings are the tokenizers' own special tokens.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import regex

from xlgen.config import ObjectiveConfig, RawTextSpec, expand_path, fill_language
from xlgen.errors import XlgenError
from xlgen.registry import Registry
from xlgen.tasks.base import Example

_NO_SPACE = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]")
_SENTENCE_END = regex.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")


def _units(text: str) -> tuple[list[str], str]:
    """Words, or characters for text in scripts without spaces; and the string that joins them back."""
    if len(_NO_SPACE.findall(text)) > len(text) / 3:
        return [c for c in text if not c.isspace()], ""
    return text.split(), " "


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


class Objective:
    name = ""
    instruction = "Continuation"  # decoder-only prompts end with "Continuation in German:"

    def __init__(self, cfg: ObjectiveConfig, tokenizer=None):
        self.cfg = cfg
        self.tokenizer = tokenizer

    def make(self, segment: str, lang: str, rng: random.Random, idx: str) -> Example | None:
        raise NotImplementedError


OBJECTIVES = Registry("objective", "objective.name", also_known=("pretraining",))
register_objective = OBJECTIVES.register


@register_objective("prefix_lm")
class PrefixLM(Objective):
    def make(self, segment, lang, rng, idx):
        units, joiner = _units(segment)
        if len(units) < 4:
            return None
        lo, hi = self.cfg.split_range
        k = min(max(1, int(len(units) * rng.uniform(lo, hi))), len(units) - 1)
        return Example(id=idx, lang=lang, input=joiner.join(units[:k]), target=joiner.join(units[k:]), references=[joiner.join(units[k:])])


@register_objective("zmbart")
class ZmBARTLike(Objective):
    instruction = "Sentences"

    def make(self, segment, lang, rng, idx):
        sents = split_sentences(segment)
        if len(sents) < 2:
            return None
        k = max(1, round(len(sents) * 0.3))
        chosen = sorted(rng.sample(range(len(sents)), k))
        target = " ".join(sents[i] for i in chosen)
        return Example(id=idx, lang=lang, input=segment, target=target, references=[target])


@register_objective("span_corruption")
class SpanCorruption(Objective):
    """T5's objective: 15% of the words in spans of mean length 3, each span replaced by a sentinel."""

    instruction = "Spans"
    density, mean_span = 0.15, 3.0

    def make(self, segment, lang, rng, idx):
        units, joiner = _units(segment)
        n = len(units)
        if n < 4:
            return None
        n_noise = max(1, round(n * self.density))
        n_spans = max(1, min(round(n_noise / self.mean_span), 99))
        starts = sorted(rng.sample(range(n), n_spans))
        masked = [False] * n
        for s in starts:
            for j in range(s, min(n, s + max(1, round(rng.expovariate(1 / self.mean_span))))):
                masked[j] = True
        inp, tgt, sid, i = [], [], 0, 0
        while i < n:
            if masked[i]:
                sentinel = f"<extra_id_{sid}>"
                sid += 1
                inp.append(sentinel)
                tgt.append(sentinel)
                while i < n and masked[i]:
                    tgt.append(units[i])
                    i += 1
            else:
                inp.append(units[i])
                i += 1
        tgt.append(f"<extra_id_{sid}>")
        return Example(id=idx, lang=lang, input=joiner.join(inp), target=joiner.join(tgt))


@register_objective("denoising")
class MBartDenoising(Objective):
    """mBART's objective: sentence permutation, then 35% of the words masked in Poisson(3.5) spans, one <mask> each."""

    instruction = "Original"
    mask_ratio, poisson_lambda = 0.35, 3.5

    def make(self, segment, lang, rng, idx):
        sents = split_sentences(segment) or [segment]
        rng.shuffle(sents)
        units, joiner = _units(" ".join(sents))
        n = len(units)
        if n < 4:
            return None
        mask_token = getattr(self.tokenizer, "mask_token", None) or "<mask>"
        budget = round(n * self.mask_ratio)
        out, i = [], 0
        while i < n:
            if budget > 0 and rng.random() < self.mask_ratio / self.poisson_lambda:
                length = min(_poisson(rng, self.poisson_lambda) or 1, budget, n - i)
                out.append(mask_token)
                i += length
                budget -= length
            else:
                out.append(units[i])
                i += 1
        return Example(id=idx, lang=lang, input=joiner.join(out), target=segment)


@register_objective("mlm")
class MaskedLM(Objective):
    """Masked language modelling (BERT, XLM-R): the example is the text; which tokens are masked is drawn anew in each
    batch by the encoder family (15%: 80% mask token, 10% random token, 10% unchanged)."""

    instruction = "Text"

    def make(self, segment, lang, rng, idx):
        return Example(id=idx, lang=lang, input=segment) if segment.strip() else None


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def get_objective(cfg: ObjectiveConfig, family: str, tokenizer=None) -> Objective:
    name = cfg.name
    if name == "pretraining":
        from xlgen.backbones import get_family

        name = get_family(family).pretraining_objective
    return OBJECTIVES.lookup(name)(cfg, tokenizer)


# -- raw text -------------------------------------------------------------------------------------------------------


def read_raw_lines(spec: RawTextSpec, lang: str) -> list[str]:
    if spec.path:
        path = Path(expand_path(spec.path, lang, spec.lang_names))
        if not path.exists():
            raise XlgenError(f"{path}: no such raw text file (language '{lang}')")
        from xlgen.io import iter_lines

        lines = []
        for _, line in iter_lines(path):
            line = line.strip()
            if line:
                lines.append(line)
                if spec.max_lines and len(lines) >= spec.max_lines:
                    break
        source = str(path)
    elif spec.hf:
        import datasets

        name = fill_language(spec.hf, lang, spec.lang_names)
        config = fill_language(spec.hf_config, lang, spec.lang_names) if spec.hf_config else None
        source = f"hf:{name}"
        try:
            ds = datasets.load_dataset(name, config, split=spec.split, streaming=True)
        except Exception as e:
            raise XlgenError(f"{source}: could not load ({type(e).__name__}: {e})") from None
        lines = []
        for r in ds:
            text = str(r.get(spec.text_field, "")).strip()
            if text:
                lines.append(text)
            if spec.max_lines and len(lines) >= spec.max_lines:
                break
    else:
        raise XlgenError("raw text spec needs `path` (a plain-text file) or `hf` (a dataset name)")
    if not lines:
        raise XlgenError(f"{source}: no text (language '{lang}')")
    return lines


def segments(lines: list[str], segment_chars: int, max_segments: int) -> list[str]:
    """Consecutive lines joined into segments of about `segment_chars` characters (long lines are cut at a space)."""
    out, cur = [], ""
    for line in lines:
        while len(line) > segment_chars * 2:
            cut = line.rfind(" ", 0, segment_chars)
            cut = cut if cut > segment_chars // 2 else segment_chars
            out.append((cur + " " + line[:cut]).strip())
            cur, line = "", line[cut:].strip()
        cur = (cur + " " + line).strip() if cur else line
        if len(cur) >= segment_chars:
            out.append(cur)
            cur = ""
        if len(out) >= max_segments:
            return out
    if cur and len(out) < max_segments:
        out.append(cur)
    return out


def objective_examples(spec: RawTextSpec, objective: Objective, cfg: ObjectiveConfig, seed: int, field: str) -> dict[str, list[Example]]:
    """Examples of `objective` from the raw text of each language, deterministic for a seed."""
    out = {}
    from xlgen.data import spec_languages

    for lang in spec_languages(spec, field):
        rng = random.Random(f"{seed}-{lang}")
        segs = segments(read_raw_lines(spec, lang), cfg.segment_chars, cfg.max_segments)
        exs = [objective.make(s, lang, rng, f"{objective.name}-{lang}-{i}") for i, s in enumerate(segs)]
        exs = [e for e in exs if e is not None]
        if not exs:
            raise XlgenError(f"{field}: the raw text for '{lang}' is too short to make {objective.name} examples")
        out[lang] = exs
    return out
