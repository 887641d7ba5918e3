"""Vocabulary-prior guard: adds λ · log(p_target(token) / p_source(token)) to the logits, a nudge towards the tokens
the target language uses more than the source language does.

Frequencies are counted once per (vocabulary, language) on raw text and cached on disk (`$XLGEN_CACHE/guards/`, keyed
by the vocabulary's fingerprint and the corpus files). The built-in corpora are parallel text from the shared data
(FLORES-200 sentences vendored by SIB-200, NTREX-128 news): the same content in every language, so the ratio reflects
the language rather than the topic. They exist for en, de, es, fr, ro, ru, zh, ja, ko, ar, hi, th and vi; other
languages need `generate.guard_options.prior_corpora`. XQuAD itself is never used (it is what we evaluate on).

The ratio uses add-α smoothing over the tokens seen in either corpus; tokens seen in neither get 0 (no opinion), and
the ratio is clipped to ±CLIP so a token seen a handful of times cannot dominate the model.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from xlgen.config import expand_path
from xlgen.errors import XlgenError
from xlgen.guards.base import Guard, GuardProcessor, fit, register_guard
from xlgen.metrics.text import base_language

ALPHA = 0.5
CLIP = 5.0

_FLORES = {"en": "eng_Latn", "de": "deu_Latn", "es": "spa_Latn", "fr": "fra_Latn", "ro": "ron_Latn", "ru": "rus_Cyrl", "zh": "zho_Hans",
           "ja": "jpn_Jpan", "ko": "kor_Hang", "ar": "arb_Arab", "hi": "hin_Deva", "th": "tha_Thai", "vi": "vie_Latn"}
_NTREX = {"en": "src.eng", "de": "ref.deu", "es": "ref.spa", "fr": "ref.fra", "ro": "ref.ron", "ru": "ref.rus", "zh": "ref.zho-CN",
          "ja": "ref.jpn", "ko": "ref.kor", "ar": "ref.arb", "hi": "ref.hin", "th": "ref.tha", "vi": "ref.vie"}


def default_corpora(lang: str) -> list[str]:
    lang = base_language(lang)
    if lang not in _FLORES:
        return []
    flores = [f"${{XLGEN_DATA}}/flores200_via_sib200/{_FLORES[lang]}.{split}.tsv" for split in ("train", "dev", "test")]
    return [*flores, f"${{XLGEN_DATA}}/ntrex128/newstest2019-{_NTREX[lang]}.txt"]


def read_texts(path: Path) -> list[str]:
    """Plain text (one text per line), or a TSV with a `text` column (FLORES as vendored by SIB-200)."""
    if path.suffix == ".tsv":
        with path.open(encoding="utf-8", newline="") as f:
            rows = csv.DictReader(f, delimiter="\t")
            if not rows.fieldnames or "text" not in rows.fieldnames:
                raise XlgenError(f"{path}: no 'text' column (columns: {rows.fieldnames})")
            return [r["text"] for r in rows if r["text"]]
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def corpus_files(lang: str, overrides: dict[str, list[str]]) -> list[Path]:
    patterns = overrides.get(lang) or default_corpora(lang)
    if not patterns:
        raise XlgenError(f"generate.guard prior: no raw text for language {lang!r}; give generate.guard_options.prior_corpora.{lang}")
    files = [Path(expand_path(p, lang)) for p in patterns]
    for f in files:
        if not f.is_file():
            raise XlgenError(f"{f}: no such raw-text file (generate.guard prior, language {lang!r})")
    return files


def cache_dir() -> Path:
    from xlgen.embedded import cache_root

    return cache_root() / "guards"


def token_counts(tokenizer, vocab, lang: str, overrides: dict[str, list[str]]) -> np.ndarray:
    """Token counts of the language's raw text, from the disk cache when this vocabulary counted these files before."""
    files = corpus_files(lang, overrides)
    stamp = [(str(f.resolve()), f.stat().st_size, int(f.stat().st_mtime)) for f in files]
    key = hashlib.sha256(json.dumps([vocab.fingerprint, stamp]).encode()).hexdigest()[:16]
    mem = ("prior-counts", key)
    if mem in vocab.cache:
        return vocab.cache[mem]
    path = cache_dir() / f"counts-{lang}-{key}.npy"
    if path.is_file():
        counts = np.load(path)
    else:
        texts = [t for f in files for t in read_texts(f)]
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
        counts = np.bincount(np.fromiter((i for row in ids for i in row), dtype=np.int64), minlength=vocab.size)[: vocab.size]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npy")
        np.save(tmp, counts)
        tmp.replace(path)  # atomic: a concurrent or interrupted writer never leaves a half file under the real name
    vocab.cache[mem] = counts
    return counts


def log_ratio(target: np.ndarray, source: np.ndarray, alpha: float = ALPHA, clip: float = CLIP) -> np.ndarray:
    """Smoothed log p_target - log p_source per token; 0 for tokens neither corpus contains."""
    seen = (target > 0) | (source > 0)
    v = max(int(seen.sum()), 1)
    pt = (target + alpha) / (target.sum() + alpha * v)
    ps = (source + alpha) / (source.sum() + alpha * v)
    ratio = np.where(seen, np.log(pt) - np.log(ps), 0.0)
    return np.clip(ratio, -clip, clip).astype(np.float32)


class BiasProcessor(GuardProcessor):
    def __init__(self, ctx, bias: torch.Tensor):
        super().__init__(ctx)
        self.bias = bias

    def __call__(self, input_ids, scores):
        if self.generated(input_ids) is None:
            return scores
        return scores + fit(self.bias.to(device=scores.device, dtype=scores.dtype), scores.shape[-1], 0.0)


@register_guard("prior")
class PriorGuard(Guard):
    stage = 0

    @classmethod
    def check(cls, options, task, target_lang):
        if options.prior_source != target_lang:
            for lang in (target_lang, options.prior_source):
                corpus_files(lang, options.prior_corpora)

    def __init__(self, ctx):
        super().__init__(ctx)
        opts = ctx.options
        src = opts.prior_source
        if src == ctx.target_lang:
            self.bias = torch.zeros(ctx.vocab.size)
        else:
            tgt_counts = token_counts(ctx.tokenizer, ctx.vocab, ctx.target_lang, opts.prior_corpora)
            src_counts = token_counts(ctx.tokenizer, ctx.vocab, src, opts.prior_corpora)
            self.bias = opts.prior_strength * torch.from_numpy(log_ratio(tgt_counts, src_counts))

    def processor(self, examples, rows_per_example):
        return BiasProcessor(self.ctx, self.bias)
