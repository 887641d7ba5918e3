"""Any Hugging Face translation model (NLLB-200, M2M100, mBART-50 many-to-many, Marian) or a decoder-only LM with a
prompt, through xlgen's own backbones: they already know each model's language codes (`deu_Latn`, `__de__`, `de_DE`,
`>>deu<<`), force the target code, and `xlgen.evaluate.generate` batches by sorted length under a token budget."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from xlgen.config import GenerateConfig, ModelConfig, TaskConfig
from xlgen.tasks.base import Example, Task
from xlgen.translate.base import Translator, register_translator
from xlgen.translate.cache import file_fingerprint

# Decoder-only models see a prompt; {source} and {language} are language names, {input} the sentence.
DEFAULT_PROMPT = "Translate from {source} into {language}.\n{source}: {input}\n{language}:"


class _TranslatePrompt(Task):
    """Not a registered task: only what the backbones read when they build a prompt."""

    name = "translate"
    instruction = "Translate"
    default_max_new_tokens = 256


@register_translator("hf")
class HFTranslator(Translator):
    def __init__(self, target: str, *, device: str = "auto", num_beams: int = 1, max_tokens: int = 8_000, max_batch_size: int = 64,
                 prompt_template: str | None = None, max_length_ratio: float = 2.0, **_):
        from xlgen.backbones import load_backbone, resolve_model_path
        from xlgen.runtime import resolve_device, resolve_precision

        self.name = target
        self.device = resolve_device(device)
        self.precision = resolve_precision("auto", self.device)
        self.backbone = load_backbone(ModelConfig(name=target, prompt_template=prompt_template or DEFAULT_PROMPT), self.device)
        self.template = self.backbone.cfg.prompt_template
        self.gen = GenerateConfig(num_beams=num_beams, max_tokens=max_tokens, max_batch_size=max_batch_size)
        self.max_length_ratio = max_length_ratio
        self.task = _TranslatePrompt(TaskConfig())
        self._weights = _weights_fingerprint(resolve_model_path(target))

    def fingerprint(self) -> str:
        causal = "" if self.backbone.is_encoder_decoder else f"|prompt={self.template}"
        return f"hf|{self.name}|{self._weights}|beams={self.gen.num_beams}|ratio={self.max_length_ratio}{causal}"

    def check_languages(self, src: str, tgt: str) -> None:
        self.backbone.check_language(src)
        self.backbone.check_language(tgt)

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str | None]:
        """Greedy (or beam) translations, in groups of similar token length so that each group's generation limit
        (`max_length_ratio` x its longest input) stops a degenerate repetition early instead of at a global cap."""
        from xlgen.evaluate import generate
        from xlgen.languages import language_name

        if not texts:
            return []
        bb = self.backbone
        if not bb.is_encoder_decoder:
            head, tail = self.template.split("{input}", 1)
            names = {"{source}": language_name(src), "{language}": language_name(tgt)}
            for k, v in names.items():
                head = head.replace(k, v)
            tail = tail.replace("{source}", names["{source}"])
            bb.cfg = dataclasses.replace(bb.cfg, prompt_template=head + "{input}" + tail)
        lengths = [len(ids) for ids in bb.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        groups: dict[int, list[int]] = {}
        for i, n in enumerate(lengths):
            groups.setdefault(max(n, 1).bit_length(), []).append(i)  # powers of two: 1, 2-3, 4-7, 8-15, ...
        out: list[str | None] = [None] * len(texts)
        for bits, idx in sorted(groups.items()):
            limit = min(int(self.max_length_ratio * (1 << bits)) + 8, bb.max_target_length)
            gen = dataclasses.replace(self.gen, max_new_tokens=limit)
            examples = [Example(id=str(i), lang=src, input=texts[i]) for i in idx]
            gens = generate(bb, bb.model, examples, self.task, tgt, gen, device=self.device, precision=self.precision, progress=False)
            for i, g in zip(idx, gens):
                # An empty translation of a non-empty sentence is a failure (NLLB does it on some Chinese input), not
                # a translation: it would silently delete the sentence from its paragraph.
                out[i] = g.prediction.strip() or None
        return out


def _weights_fingerprint(path: str) -> str:
    """A local model directory is fingerprinted by its config and weight files, so retraining it invalidates the
    cache; a hub name stands for itself (hub revisions are immutable under their commit, not their name)."""
    import hashlib

    p = Path(path)
    if not p.is_dir():
        return "hub"
    h = hashlib.sha256()
    for f in sorted(p.iterdir()):
        if f.name == "config.json":
            h.update(f.read_bytes())
        elif f.suffix in (".safetensors", ".bin") and f.is_file():
            h.update(f"{f.name}:{file_fingerprint(f)}".encode())
    return h.hexdigest()[:16]
