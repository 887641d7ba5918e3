"""What every translator offers the translation driver, and the registry that names them (`--translator KIND:TARGET`).

A translator decides its own units of translation (`units`): machine translation models take sentences, while a
parallel corpus can only answer for the segments it holds (sentences, or whole paragraphs when its sentences do not
align). `translate` returns None for a unit it cannot translate (a sentence missing from the corpus); the driver
counts and drops what depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from xlgen.errors import XlgenError
from xlgen.registry import Registry
from xlgen.translate.splitter import MAX_CHARS, split_sentences


@dataclass(frozen=True)
class Unit:
    """A piece of a source text to translate as one, with its character span in that text."""

    text: str
    start: int
    end: int


def sentence_units(text: str, lang: str, *, max_chars: int = MAX_CHARS) -> list[Unit]:
    """The sentences of `text` with their offsets (the splitter's segments concatenate back to the text)."""
    out, pos = [], 0
    for seg in split_sentences(text, lang, max_chars=max_chars):
        stripped = seg.strip()
        if stripped:
            start = pos + (len(seg) - len(seg.lstrip()))
            out.append(Unit(stripped, start, start + len(stripped)))
        pos += len(seg)
    return out


class Translator:
    kind: str = ""
    cacheable = True  # whether translations go through the content-addressed cache

    def fingerprint(self) -> str:
        """Names the model and every setting that changes its output; part of each cache key."""
        raise NotImplementedError

    def check_languages(self, src: str, tgt: str) -> None:
        """Raise before any work if this translator cannot translate from `src` into `tgt`."""

    def units(self, text: str, src: str, tgt: str) -> list[Unit]:
        return sentence_units(text, src)

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str | None]:
        raise NotImplementedError

    def close(self) -> None:
        pass


TRANSLATORS = Registry("translator", "--translator", attr="kind")
register_translator = TRANSLATORS.register


def make_translator(spec: str, **options) -> Translator:
    """`hf:facebook/nllb-200-distilled-600M`, `hf:./my-marian`, `parallel:flores+ntrex`, `parallel:my.{lang}.txt`."""
    from xlgen.translate import hf, parallel  # noqa: F401  (registration)

    kind, sep, target = spec.partition(":")
    if not sep or not target:
        raise XlgenError(f"--translator: expected KIND:TARGET such as hf:facebook/nllb-200-distilled-600M or parallel:flores, got {spec!r}")
    return TRANSLATORS.lookup(kind)(target, **options)
