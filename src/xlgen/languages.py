"""Language tags: what users write, what prompts say, and what each backbone's tokenizer calls a language.

Users write ISO 639-1/639-3 codes or BCP-47 tags ("de", "eng", "zh-Hant"); xlgen stores the canonical BCP-47 form
(langcodes, with macrolanguage folding: "arb" -> "ar", "cmn" -> "zh"). Multilingual seq2seq backbones name
languages with tokens of their own: mBART-50 `de_DE`, NLLB-200 `deu_Latn`, M2M-100 `__de__`, Marian `>>deu<<`.
Each backbone family declares the token shapes of its codes (`code_patterns`, xlgen.backbones); the codes themselves
are read from the tokenizer, never from the model name, so any checkpoint that follows one of these conventions works.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import langcodes
from langcodes import Language

from .errors import XlgenError

# langcodes' default bound: zh/zh-Hant (54) and ms/id (34) stay apart, en/en-GB (5) and pt/pt-BR (0) match.
_MAX_DISTANCE = 25


def normalize_language(lang: str, *, context: str = "") -> str:
    """Canonical BCP-47 tag for a user-supplied code, so "eng", "en" and "EN" compare and hash equal."""
    where = f" in {context}" if context else ""
    text = str(lang).strip() if lang is not None else ""
    try:
        tag = langcodes.standardize_tag(text, macro=True)
        parsed = Language.get(tag)
    except ValueError:
        parsed = None
    if parsed is None or not parsed.language or parsed.language == "und" or not parsed.is_valid():
        raise XlgenError(
            f"unknown language code {lang!r}{where}; use an ISO 639-1/639-3 code or BCP-47 tag such as 'de', 'eng', "
            "'zh-Hant'"
        )
    return tag


def language_name(lang: str) -> str:
    """English name for prompts of decoder-only models ("Translate into German"), which understand names, not codes."""
    return Language.get(normalize_language(lang)).display_name("en")


def _code_patterns(patterns: Sequence[re.Pattern] | None) -> Sequence[re.Pattern]:
    """The given token shapes, or every family's when the caller has a tokenizer but no family."""
    if patterns is not None:
        return patterns
    from xlgen.backbones import all_code_patterns

    return all_code_patterns()


def model_language_codes(tokenizer, patterns: Sequence[re.Pattern] | None = None) -> dict[str, str]:
    """The tokenizer's language codes mapped to BCP-47 tags; empty when the model takes no language codes.

    `patterns`: the shapes of code tokens (a family's `code_patterns`); by default every family's.

    A script is kept only where it tells two codes of one language apart (NLLB `zho_Hant` -> "zh-Hant" next to
    `zho_Hans` -> "zh"); otherwise it is dropped, so a plain "ar" finds `arb_Arab` and "acm" finds `acm_Arab` even
    for languages langcodes has no script data for. mBART regions are dropped: they are placeholders (`en_XX`) or
    wrong (`ar_AR` is Arabic, not Argentina).
    """
    patterns = _code_patterns(patterns)
    parsed: dict[str, tuple[str, str | None]] = {}
    for token in _candidate_tokens(tokenizer):
        found = _parse_code(token, patterns)
        if found:
            parsed[token] = found
    scripts: dict[str, set[str | None]] = {}
    for base, script in parsed.values():
        scripts.setdefault(base, set()).add(script)
    codes = {}
    for token, (base, script) in parsed.items():
        keep = script is not None and len(scripts[base]) > 1 and script != _likely_script(base)
        codes[token] = _with_script(base, script) if keep else base
    return codes


def resolve_model_language_code(lang: str, tokenizer, *, model_name: str = "", patterns: Sequence[re.Pattern] | None = None) -> str:
    """The tokenizer's code for `lang` ("ar" -> "arb_Arab", "zh" -> "zho_Hans", "en" -> "en_XX").

    Matching goes through langcodes' distance so regional and macrolanguage variants find their code, while a
    different script (zh vs zh-Hant) or a merely related language (ms vs id) does not.
    """
    tag = normalize_language(lang)
    codes = model_language_codes(tokenizer, patterns)
    model = model_name or type(tokenizer).__name__
    if not codes:
        raise XlgenError(f"model {model} does not use language codes, so it cannot be told to write {tag!r}")
    by_tag: dict[str, str] = {}
    for code in sorted(codes, key=tokenizer.convert_tokens_to_ids):
        by_tag.setdefault(codes[code], code)  # several codes for one tag: the lowest id, i.e. the model's first
    match = langcodes.closest_supported_match(tag, list(by_tag), max_distance=_MAX_DISTANCE)
    if match is None:
        examples = ", ".join(sorted(by_tag)[:8])
        raise XlgenError(
            f"model {model} has no language code for {tag!r} ({language_name(tag)}); it knows {len(by_tag)} "
            f"languages, e.g. {examples}"
        )
    return by_tag[match]


def tokenizer_lang_value(tokenizer, code: str) -> str:
    """The value `tokenizer.src_lang` / `tgt_lang` take to select language token `code`.

    The token itself for mBART-50 and NLLB; M2M100 wants the bare code ("de" for `__de__`, its `lang_code_to_id` keys).
    """
    known = getattr(tokenizer, "lang_code_to_id", None) or {}
    bare = re.fullmatch(r"__(.+)__", code)
    if code not in known and bare and bare.group(1) in known:
        return bare.group(1)
    return code


@functools.lru_cache(maxsize=4096)
def same_language(a: str | None, b: str) -> bool:
    """Whether text identified as language `a` counts as language `b`: a detected language against a target (the
    language-correct rate, the XQuAD filter) or two user tags.

    Languages match after macrolanguage folding ("arb" = "ar") or when langcodes rates them near-identical
    (distance < 10: "no"/"nb" is 1, "ms"/"id" 14, "ca"/"es" 20), however either is spelled ("zho_Hans", "eng").
    Region never matters. Script matters only when both tags pin one down (by script or region): a bare "zh" says
    nothing about the script (fastText reports "zh" for both), so it matches "zh-Hant", while "zh-Hans" and "zh-TW"
    do not match each other. `a` may be None or an unknown code (nothing detected): False. Cached: the
    language-correct rate asks once per output.
    """
    try:
        la = Language.get(normalize_language(a))
    except XlgenError:
        return False
    lb = Language.get(normalize_language(b))
    if la.language != lb.language:
        pair = (la.language, lb.language)
        if min(langcodes.tag_distance(*pair), langcodes.tag_distance(*pair[::-1])) >= 10:
            return False
    sa, sb = _pinned_script(la), _pinned_script(lb)
    return sa is None or sb is None or sa == sb


def _candidate_tokens(tokenizer) -> list[str]:
    """Special tokens (where mBART/NLLB/M2M keep their codes) plus `>>xx<<` vocabulary entries (Marian's)."""
    tokens = [str(t) for t in getattr(tokenizer, "all_special_tokens", None) or []]
    tokens += [str(t) for t in getattr(tokenizer, "lang_code_to_id", None) or {}]
    tokens += [t for t in tokenizer.get_vocab() if t.startswith(">>") and t.endswith("<<")]
    return list(dict.fromkeys(tokens))


def _parse_code(token: str, patterns: Sequence[re.Pattern]) -> tuple[str, str | None] | None:
    """(canonical language, script or None) for a language-code token, None for any other token."""
    for pattern in patterns:
        m = pattern.match(token)
        if m:
            break
    else:
        return None
    script = m.groupdict().get("script")
    try:
        base = langcodes.standardize_tag(m.group("lang").lower(), macro=True)
    except ValueError:
        return None
    if not Language.get(base).is_valid():
        return None  # e.g. M2M-100's "ns", which is no ISO 639 code
    return base, script.title() if script else None


def _pinned_script(lang: Language) -> str | None:
    return lang.maximize().script if lang.script or lang.territory else None


def _likely_script(tag: str) -> str | None:
    return Language.get(tag).maximize().script


def _with_script(base: str, script: str) -> str:
    lang = Language.get(base)
    tag = Language.make(language=lang.language, script=script, territory=lang.territory).to_tag()
    return langcodes.standardize_tag(tag)
