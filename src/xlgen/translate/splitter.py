"""Sentence splitting for translation, in every script.

Machine translation models are trained on sentences, so task data is translated sentence by sentence (as the paper
does with NLLB-3.3B). `sentencex` (Wikimedia; ~300 languages with fallback chains, maintained) does the splitting: it
scored best of four PyPI candidates on joined FLORES-200 and UD PUD sentences in 13 languages (see
`benchmarks/sentence_splitters.py` and DEVELOPERS.md), and its segments concatenate back to the input exactly, which
keeps offsets mappable. Two gaps are filled here:

* Chinese and Japanese: sentencex keeps `。` + digit together (it reads it as a decimal point); a full stop of these
  scripts never is one, so we split after it.
* Thai has no sentence punctuation (sentences are separated by spaces, as are many phrases). PyThaiNLP's CRF model
  (`crfcut`) splits it when installed (`pip install xlgen[thai]`); without it, Thai text is cut at spaces into pieces
  under `max_chars`.

Finally any unit longer than `max_chars` is cut at the last space (or CJK comma) before the limit: a translation
model would silently crop it (NLLB reads 512 tokens) and drop the rest of the text.
"""

from __future__ import annotations

import functools
import re

from xlgen.languages import normalize_language

MAX_CHARS = 600
NO_SPACE_SCRIPTS = {"Hans", "Hant", "Hani", "Jpan"}  # scripts written without spaces between sentences
_CJK_STOP = re.compile(r"(?<=[。！？])(?![。！？」』”’）)\]])")  # after a CJK full stop, unless closing punctuation follows


@functools.lru_cache(maxsize=256)
def _script(lang: str) -> str | None:
    from langcodes import Language

    return Language.get(normalize_language(lang)).maximize().script


@functools.lru_cache(maxsize=256)
def _base(lang: str) -> str:
    from langcodes import Language

    return Language.get(normalize_language(lang)).language


def joiner(lang: str) -> str:
    """What goes between translated sentences: nothing in Chinese and Japanese, a space elsewhere."""
    return "" if _script(lang) in NO_SPACE_SCRIPTS else " "


def split_sentences(text: str, lang: str, *, max_chars: int = MAX_CHARS) -> list[str]:
    """Segments of `text` that concatenate back to it exactly (whitespace stays with the segment before it)."""
    if not text:
        return []
    segments: list[str] = []
    for line in text.splitlines(keepends=True):
        segments.extend(_split_line(line, lang))
    out: list[str] = []
    for seg in segments:
        out.extend(_cap(seg, max_chars) if len(seg.strip()) > max_chars else [seg])
    return out


def split_units(text: str, lang: str, *, max_chars: int = MAX_CHARS) -> list[str]:
    """The sentences to translate: `split_sentences` without surrounding whitespace and empty pieces."""
    return [s.strip() for s in split_sentences(text, lang, max_chars=max_chars) if s.strip()]


def _split_line(line: str, lang: str) -> list[str]:
    if not line.strip():
        return [line]
    base = _base(lang)
    if base == "th":
        return _thai(line)
    import sentencex

    segs = list(sentencex.segment(base, line))
    if "".join(segs) != line:  # never expected (checked on 24k sentences); keep the text rather than lose any
        segs = [line]
    if _script(lang) in NO_SPACE_SCRIPTS:
        segs = [piece for seg in segs for piece in _CJK_STOP.split(seg) if piece]
    return _attach_whitespace(segs)


def _thai(line: str) -> list[str]:
    try:
        from pythainlp.tokenize import sent_tokenize
    except ImportError:
        return [line]  # cut at spaces by _cap when too long
    segs = sent_tokenize(line, engine="crfcut")
    return _attach_whitespace(segs) if "".join(segs) == line else [line]


def _attach_whitespace(segs: list[str]) -> list[str]:
    """Move leading whitespace of a segment onto the one before, so each segment starts with text."""
    out: list[str] = []
    for seg in segs:
        stripped = seg.lstrip()
        lead = seg[: len(seg) - len(stripped)]
        if out and lead:
            out[-1] += lead
            seg = stripped
        if seg:
            out.append(seg)
        elif out:
            out[-1] += seg
    return out


def _cap(seg: str, max_chars: int) -> list[str]:
    """Cut a segment longer than `max_chars` at the last space (or CJK comma) before the limit, else hard."""
    out = []
    while len(seg.strip()) > max_chars:
        window = seg[: max_chars + 1]
        cut = max(window.rfind(" "), window.rfind("，") + 1, window.rfind("、") + 1)
        if cut <= 0:
            cut = max_chars
        while cut < len(seg) and seg[cut].isspace():
            cut += 1
        out.append(seg[:cut])
        seg = seg[cut:]
    if seg:
        out.append(seg)
    return out
