"""Which languages a model saw in pretraining, to mark the targets it never saw (the paper's "unseen" languages).

Each list is copied from the model's own publication, cited beside it, as ISO 639 codes (BCP-47 where a script
matters). Membership uses `xlgen.languages.same_language`, so macrolanguages and near-identical codes match
("no" ~ "nb", "arb" = "ar"). A status is "seen", "unseen", or "unknown" where no list is published.
"""

from __future__ import annotations

import re

from xlgen.errors import XlgenError

# mBERT (bert-base-multilingual-cased): the 104 languages of google-research/bert, multilingual.md, "List of
# Languages" (the top-100 Wikipedias; the cased model adds Thai and Mongolian).
MBERT = """af sq ar an hy ast az ba eu bar be bn bpy bs br bg my ca ceb ce zh zh-Hant cv hr cs da nl en et fi fr gl ka
de el gu ht he hi hu is io id ga it ja jv kn kk ky ko la lv lt lmo nds lb mk mg ms ml mr min ne new nb nn oc fa pms pl
pt pa ro ru sco sr sh scn sk sl azb es su sw sv tl tg ta tt te tr uk ur uz vi vo war cy fy pnb yo th mn"""

# XLM-R: the 100 languages of CC-100, facebookresearch/fairseq examples/xlmr/README.md (and Conneau et al. 2020,
# table 6). Romanized variants (bn, hi, ta, te, ur in Latin script) are listed as their own; Burmese in Zawgyi font
# counts as Burmese, hence 99 codes.
XLMR = """af sq am ar hy as az eu be bn bn-Latn bs br bg my ca zh zh-Hant hr cs da nl en eo et fil fi fr gl ka de el gu
ha he hi hi-Latn hu is id ga it ja jv kn kk km ko ku ky lo la lv lt mk mg ms ml mr mn ne no or om ps fa pl pt pa ro ru
sa gd sr sd si sk sl so es su sw sv ta ta-Latn te te-Latn th tr uk ur ur-Latn ug uz vi cy fy xh yi"""

# mT5: the 101 languages of mC4, google-research/multilingual-t5 README.md, "Languages covered".
MT5 = """af sq am ar hy az eu be bn bg my ca ceb ny zh co cs da nl en eo et fil fi fr gl ka de el gu ht ha haw he hi hmn
hu is ig id ga it ja jv kn kk km ko ku ky lo la lv lt lb mk mg ms ml mt mi mr mn ne no ps fa pl pt pa ro ru sm gd sr sn
sd si sk sl so st es su sw sv tg ta te th tr uk ur uz vi cy fy xh yi yo zu"""


def _codes_from_tokens(tokens) -> list[str]:
    from xlgen.backbones import all_code_patterns
    from xlgen.languages import _parse_code, _with_script

    out = []
    for t in tokens:
        found = _parse_code(str(t), all_code_patterns())
        if found:
            base, script = found
            out.append(_with_script(base, script) if script and script not in ("Latn",) and base not in ("zh",) else base)
            if base == "zh" and script == "Hant":
                out[-1] = "zh-Hant"
    return sorted(set(out))


def _mbart50() -> list[str]:
    # mBART-50 (Tang et al. 2020): the language codes of its tokenizer, transformers'
    # models/mbart50/tokenization_mbart50.py FAIRSEQ_LANGUAGE_CODES (the model was pretrained on all of them).
    from transformers.models.mbart50.tokenization_mbart50 import FAIRSEQ_LANGUAGE_CODES

    return _codes_from_tokens(FAIRSEQ_LANGUAGE_CODES)


def _nllb200() -> list[str]:
    # NLLB-200 (NLLB Team 2022): the 202 language codes of its tokenizer, transformers'
    # models/nllb/tokenization_nllb.py FAIRSEQ_LANGUAGE_CODES.
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

    return _codes_from_tokens(FAIRSEQ_LANGUAGE_CODES)


# Gemma 3 (the embedded Gemma-3-270M): Google publishes no per-language list. The Gemma 3 model card says only that
# the pretraining data covers "over 140 languages", without naming them, so xlgen ships no list and reports every
# target's status as "unknown" rather than guessing. Give `pretraining_language_list` in a study to use a list of
# your own.
GEMMA3 = None

LISTS = {
    "mbert": lambda: MBERT.split(),
    "xlmr": lambda: XLMR.split(),
    "mt5": lambda: MT5.split(),
    "mbart50": _mbart50,
    "nllb200": _nllb200,
    "gemma3": lambda: GEMMA3,
}

# Model names (hub names, or directory names) -> list, first match wins.
_NAME_PATTERNS = (
    (r"bert-base-multilingual|mbert", "mbert"),
    (r"xlm-roberta|xlmr", "xlmr"),
    (r"mt5", "mt5"),
    (r"mbart-large-50|mbart50|mbart-50", "mbart50"),
    (r"nllb", "nllb200"),
    (r"^embedded$|gemma-?3", "gemma3"),
)


def list_for_model(model_name: str) -> str | None:
    """The shipped list that fits a model name, or None."""
    for pattern, key in _NAME_PATTERNS:
        if re.search(pattern, model_name.lower()):
            return key
    return None


def pretraining_languages(key: str) -> list[str] | None:
    """The languages of list `key`; None where the model's languages are not published."""
    if key not in LISTS:
        raise XlgenError(f"pretraining_languages: unknown list {key!r} (known: {', '.join(LISTS)})")
    return LISTS[key]()


def status(lang: str, languages: list[str] | None) -> str:
    """"seen", "unseen", or "unknown" (no list)."""
    from xlgen.languages import same_language

    if languages is None:
        return "unknown"
    return "seen" if any(same_language(lang, seen) for seen in languages) else "unseen"
