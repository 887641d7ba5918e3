"""Vocabulary trimming: keep only the tokens a task and its target languages use.

A multilingual model pays for every language it knows: Gemma-3-270M's 262k-token output projection is most of the
compute of a forward pass and mT5's 250k-row embeddings are most of its parameters. Zero-shot transfer only ever needs
the tokens of the task data and of the target languages, so `trim_vocab` tokenizes those corpora, keeps the tokens
they use (plus everything a tokenizer or model refers to by itself: special, added and language-code tokens, byte
fallbacks, config ids), and writes a model whose embedding and output rows are the kept rows of the original, with a
tokenizer that maps text straight to the new ids.

What stays exact: on text covered by the corpora, the trimmed tokenizer segments exactly as the original (see
`_bpe_closure` for why BPE needs more than the used tokens), and the trimmed model's logits are the original logits
restricted to the kept tokens, so greedy decoding matches the original constrained to those tokens.

Only tokenizers backed by the `tokenizers` library (tokenizer.json) with a BPE or Unigram model are supported: those
are edited as JSON. The Python/sentencepiece tokenizers (M2M100, Marian, ByT5) are refused with an XlgenError.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from .errors import XlgenError
from .io import iter_lines, parse_json, read_json

BYTE_TOKEN = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")
MARIAN_CODE = re.compile(r"^>>[^<>\s]+<<$")
# Files that describe the untrimmed vocabulary; a copy left next to the trimmed tokenizer.json would contradict it.
_STALE_TOKENIZER_FILES = ("spiece.model", "sentencepiece.bpe.model", "tokenizer.model", "vocab.json", "merges.txt",
                          "vocab.txt", "added_tokens.json", "source.spm", "target.spm")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def trim_vocab(
    model_path: str,
    corpora: list[str],
    out: str,
    *,
    keep_tokens: list[str] = (),
    min_count: int = 1,
) -> dict:
    """Write a copy of `model_path` into `out` whose vocabulary is the tokens `corpora` use; return a report.

    `keep_tokens` are extra tokens to keep: an exact vocabulary entry is kept as is, anything else is tokenized and
    its tokens kept. Tokens used fewer than `min_count` times in the corpora are dropped (text using them then falls
    back to smaller pieces or bytes). The report gives vocabulary, parameter and weight-file sizes before and after,
    and how well the kept vocabulary covers the corpora.
    """
    import torch
    from transformers import AutoConfig, AutoTokenizer

    src, dst = Path(model_path), Path(out)
    if not (src / "config.json").is_file():
        raise XlgenError(f"{src}: not a model directory (no config.json)")
    if dst.resolve() == src.resolve():
        raise XlgenError(f"{dst}: the output directory must differ from the model directory")
    if dst.exists() and any(dst.iterdir()):
        raise XlgenError(f"{dst}: the output directory is not empty; trim-vocab writes a complete model there")
    if min_count < 1:
        raise XlgenError(f"min_count must be at least 1, got {min_count}")
    texts = read_corpus_texts(corpora)

    tokenizer = AutoTokenizer.from_pretrained(str(src))
    backend = getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None
    if backend is None:
        raise XlgenError(
            f"trim-vocab supports tokenizer.json-backed tokenizers; {type(tokenizer).__name__} is not ({src})"
        )
    spec = json.loads(backend.to_str())
    kind = spec["model"].get("type")
    if kind not in ("BPE", "Unigram"):
        raise XlgenError(f"trim-vocab supports BPE and Unigram tokenizers; {src} has a {kind} tokenizer")
    pieces = _model_pieces(spec["model"])  # old id -> piece, for the tokenizer model's own vocabulary
    added = {a["id"]: a for a in spec.get("added_tokens", [])}

    # What the corpora use.
    encodings = backend.encode_batch(texts, add_special_tokens=False)
    counts = Counter(i for enc in encodings for i in enc.ids)
    used = {i for i, n in counts.items() if n >= min_count}

    config = AutoConfig.from_pretrained(str(src))
    model = _load_model(src, config)
    rows = model.get_input_embeddings().weight.shape[0]

    # What must survive whatever the corpora say.
    kept = set(used) | set(added) | set(tokenizer.all_special_ids)
    kept |= {i for i, p in pieces.items() if BYTE_TOKEN.match(p) or MARIAN_CODE.match(p)}
    kept |= {i for i in (tokenizer.convert_tokens_to_ids(c) for c in _language_code_tokens(tokenizer)) if i is not None}
    kept |= _byte_level_alphabet_ids(spec, pieces)
    kept |= _config_ids(model.config) | _config_ids(getattr(model, "generation_config", None))
    vocab = {p: i for i, p in pieces.items()}
    full_vocab = tokenizer.get_vocab() if keep_tokens else {}
    for token in keep_tokens:
        if token in full_vocab:
            kept.add(full_vocab[token])
        else:
            kept |= set(backend.encode(token, add_special_tokens=False).ids)
    if spec["model"].get("unk_token") in vocab:
        kept.add(vocab[spec["model"]["unk_token"]])
    if spec["model"].get("unk_id") is not None:
        kept.add(spec["model"]["unk_id"])
    if kind == "BPE":
        special = {i for i, a in added.items() if a.get("special")}
        kept |= _bpe_closure(spec["model"], {pieces[i] for i in kept if i in pieces and i not in special}, vocab)
    kept.discard(None)
    beyond = sorted(i for i in kept if i >= rows)
    if beyond:
        raise XlgenError(
            f"{src}: the tokenizer has ids beyond the model's {rows} embedding rows (e.g. {beyond[0]}); "
            "the tokenizer and model do not match"
        )

    # New ids: the model vocabulary's kept pieces in their old order, then added-only tokens, so leading specials
    # (which tokenizer classes sometimes hard-code, e.g. T5's unk_id=2) keep their ids.
    order = sorted(i for i in kept if i in pieces) + sorted(i for i in kept if i not in pieces)
    remap = {old: new for new, old in enumerate(order)}

    before = _size_report(src, model)
    dst.mkdir(parents=True, exist_ok=True)
    _write_tokenizer(tokenizer, _trim_spec(spec, pieces, order, remap), dst)
    _trim_model(model, torch.tensor(order, dtype=torch.long), remap)
    model.save_pretrained(str(dst))
    after = _size_report(dst, model)

    # Check the result the way users will load it: the same token at every new id, the same segmentation.
    trimmed = AutoTokenizer.from_pretrained(str(dst))
    old_tokens = tokenizer.convert_ids_to_tokens(order)
    new_tokens = trimmed.convert_ids_to_tokens(list(range(len(order))))
    if old_tokens != new_tokens:
        bad = next(i for i, (a, b) in enumerate(zip(old_tokens, new_tokens)) if a != b)
        raise RuntimeError(f"trimmed tokenizer maps id {bad} to {new_tokens[bad]!r}, expected {old_tokens[bad]!r}")
    new_encodings = trimmed.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
    identical = sum(a.tokens == b.tokens for a, b in zip(encodings, new_encodings))
    total = sum(counts.values())
    return {
        "model": str(src),
        "out": str(dst),
        "tokenizer": type(tokenizer).__name__,
        "tokenizer_model": kind,
        "vocab_size_before": rows,
        "vocab_size_after": len(order),
        "kept_from_corpora": len(used),
        "parameters_before": before["parameters"],
        "parameters_after": after["parameters"],
        "file_bytes_before": before["file_bytes"],
        "file_bytes_after": after["file_bytes"],
        "corpus_texts": len(texts),
        "corpus_tokens": total,
        "corpus_distinct_tokens": len(counts),
        "coverage": sum(n for i, n in counts.items() if i in remap) / total if total else 1.0,
        "identical_tokenization": identical / len(texts),
    }


# --- corpora ---------------------------------------------------------------------------------------------------------


def read_corpus_texts(paths: list[str]) -> list[str]:
    """Texts of plain-text (one per line), JSON Lines or JSON (e.g. SQuAD) files.

    JSON files contribute every string value, keys excepted: for trimming it does not matter which field is the
    question and which the answer, only that every text the model will read or write is seen.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    texts: list[str] = []
    for path in map(Path, paths):
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            texts += [t for n, line in iter_lines(path) if line.strip() for t in _strings(parse_json(line, path, n))]
        elif suffix == ".json":
            texts += _strings(read_json(path))
        else:
            texts += [line for _, line in iter_lines(path)]
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise XlgenError(f"no text in the corpora {', '.join(map(str, paths))}")
    return texts


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


# --- tokenizer -------------------------------------------------------------------------------------------------------


def _model_pieces(model: dict) -> dict[int, str]:
    vocab = model["vocab"]
    if model["type"] == "Unigram":
        return {i: piece for i, (piece, _score) in enumerate(vocab)}
    return {i: piece for piece, i in vocab.items()}


def _language_code_tokens(tokenizer) -> list[str]:
    from .languages import model_language_codes

    return list(model_language_codes(tokenizer))


def _byte_level_alphabet_ids(spec: dict, pieces: dict[int, str]) -> set[int]:
    """GPT-2-style byte-level BPE spells every byte as one of 256 characters; keeping them keeps any text encodable."""
    if "ByteLevel" not in json.dumps(spec.get("pre_tokenizer")):
        return set()
    from tokenizers.pre_tokenizers import ByteLevel

    alphabet = set(ByteLevel.alphabet())
    return {i for i, p in pieces.items() if p in alphabet}


def _bpe_closure(model: dict, tokens: set[str], vocab: dict[str, int]) -> set[int]:
    """Ids of every token the BPE merges pass through on their way to `tokens`.

    BPE applies merges in rank order, so a trimmed tokenizer segments covered text the same way only if every merge
    that fired on the original is still there, and with it every intermediate token. Which intermediates those are
    does not depend on the context: the merges inside the span of a final token are exactly the ones BPE performs on
    that token's characters alone (a merge across the span's edge would have had to come first and would have broken
    the token). So replaying BPE on each kept token's own string, recording every symbol it creates, gives the closure.
    Merges are then kept when both parts and the result are kept: a subset of the original merges that contains all
    the fired ones cannot change which merge has the lowest rank at any step.
    """
    merges = {pair: rank for rank, pair in enumerate(_merge_pairs(model))}
    prefix = model.get("continuing_subword_prefix") or ""
    suffix = model.get("end_of_word_suffix") or ""
    byte_fallback = model.get("byte_fallback", False)
    seen: set[str] = set()
    for token in tokens:
        seen.update(_bpe_symbols(token, merges, vocab, prefix, suffix, byte_fallback))
    return {vocab[s] for s in seen if s in vocab}


def _bpe_symbols(token, merges, vocab, prefix, suffix, byte_fallback) -> list[str]:
    """Every symbol BPE creates (initial characters included) when it encodes `token`'s string as one word."""
    body, is_continuation, is_end = token, False, False
    if prefix and body.startswith(prefix):
        body, is_continuation = body[len(prefix):], True
    if suffix and body.endswith(suffix) and len(body) > len(suffix):
        body, is_end = body[: -len(suffix)], True
    if not body:
        return [token]
    symbols: list[str] = []
    for n, ch in enumerate(body):
        s = ch
        if prefix and (n > 0 or is_continuation):
            s = prefix + s
        if suffix and is_end and n == len(body) - 1:
            s = s + suffix
        if s in vocab:
            symbols.append(s)
        elif byte_fallback:
            symbols += [f"<0x{b:02X}>" for b in ch.encode("utf-8")]
        else:
            return [token]  # an unknown character: BPE cannot reach this token from text
    created = list(symbols)
    while len(symbols) > 1:
        ranked = [(merges.get((a, b)), n) for n, (a, b) in enumerate(zip(symbols, symbols[1:]))]
        ranked = [r for r in ranked if r[0] is not None]
        if not ranked:
            break
        _, n = min(ranked)
        a, b = symbols[n], symbols[n + 1]
        merged = a + (b[len(prefix):] if prefix and b.startswith(prefix) else b)
        symbols[n : n + 2] = [merged]
        created.append(merged)
    return created


def _merge_pairs(model: dict) -> list[tuple[str, str]]:
    """Merges as pairs; tokenizer.json stores them as pairs or, in older files, as "a b" strings."""
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model.get("merges", [])]


def _trim_spec(spec: dict, pieces: dict[int, str], order: list[int], remap: dict[int, int]) -> dict:
    """The tokenizer.json with only the kept tokens, renumbered, and every id it mentions remapped."""
    spec = dict(spec)
    model = dict(spec["model"])
    if model["type"] == "Unigram":
        model["vocab"] = [spec["model"]["vocab"][i] for i in order if i in pieces]
        if model.get("unk_id") is not None:
            model["unk_id"] = remap[model["unk_id"]]
    else:
        model["vocab"] = {pieces[i]: remap[i] for i in order if i in pieces}
        kept = model["vocab"]
        prefix = model.get("continuing_subword_prefix") or ""
        as_strings = any(isinstance(m, str) for m in model.get("merges", []))
        merges = []
        for a, b in _merge_pairs(spec["model"]):
            merged = a + (b[len(prefix):] if prefix and b.startswith(prefix) else b)
            if a in kept and b in kept and merged in kept:
                merges.append(f"{a} {b}" if as_strings else [a, b])
        model["merges"] = merges
    spec["model"] = model
    spec["added_tokens"] = [dict(a, id=remap[a["id"]]) for a in spec.get("added_tokens", []) if a["id"] in remap]
    spec["post_processor"] = _remap_processor(spec.get("post_processor"), remap)
    if spec.get("padding") and spec["padding"].get("pad_id") is not None:
        spec["padding"] = dict(spec["padding"], pad_id=remap.get(spec["padding"]["pad_id"], 0))
    return spec


def _remap_processor(proc, remap):
    if not proc:
        return proc
    proc = dict(proc)
    kind = proc.get("type")
    if kind == "TemplateProcessing":
        proc["special_tokens"] = {
            name: dict(tok, ids=[remap[i] for i in tok["ids"]]) for name, tok in proc["special_tokens"].items()
        }
    elif kind in ("BertProcessing", "RobertaProcessing"):
        for key in ("sep", "cls"):
            token, old = proc[key]
            proc[key] = [token, remap[old]]
    elif kind == "Sequence":
        proc["processors"] = [_remap_processor(p, remap) for p in proc["processors"]]
    return proc


def _write_tokenizer(tokenizer, spec: dict, out: Path) -> None:
    """Save the tokenizer the normal way (its config files), then replace tokenizer.json with the trimmed one."""
    tokenizer.save_pretrained(str(out))
    for name in _STALE_TOKENIZER_FILES:
        (out / name).unlink(missing_ok=True)
    (out / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False, indent=2), encoding="utf-8")
    config_path = out / "tokenizer_config.json"
    if config_path.is_file():
        # Older files list added tokens by id; transformers 5 writes none, but a copied config might.
        config = read_json(config_path)
        if isinstance(config.get("added_tokens_decoder"), dict):
            ids = {a["content"]: a["id"] for a in spec["added_tokens"]}
            config["added_tokens_decoder"] = {
                str(ids[t["content"]]): t for t in config["added_tokens_decoder"].values() if t["content"] in ids
            }
            config_path.write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")


# --- model -----------------------------------------------------------------------------------------------------------


def _load_model(src: Path, config):
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    cls = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
    try:
        return cls.from_pretrained(str(src), dtype="auto")
    except ValueError as e:
        raise XlgenError(f"{src}: cannot load as a generation model: {e}") from None


def _config_ids(config) -> set[int]:
    """Token ids a config refers to (pad, bos, eos, decoder start, forced tokens), which must all survive."""
    ids: set[int] = set()
    for _key, value in _id_fields(config):
        ids |= {v for v in (value if isinstance(value, list) else [value]) if isinstance(v, int) and v >= 0}
    return ids


def _id_fields(config):
    if config is None:
        return
    for key, value in list(vars(config).items()):
        if key.endswith(("_token_id", "_token_ids")) and value is not None:
            yield key, value
    for sub in ("text_config", "encoder", "decoder"):
        nested = getattr(config, sub, None)
        if nested is not None and hasattr(nested, "to_dict") and nested is not config:
            yield from _id_fields(nested)


def _remap_config(config, remap: dict[int, int]) -> None:
    if config is None:
        return
    for key, value in list(vars(config).items()):
        if not key.endswith(("_token_id", "_token_ids")) or value is None:
            continue
        if isinstance(value, list):
            setattr(config, key, [remap.get(v, v) if isinstance(v, int) and v >= 0 else v for v in value])
        elif isinstance(value, int) and value >= 0:
            setattr(config, key, remap[value])
    for key in ("suppress_tokens", "begin_suppress_tokens"):
        value = getattr(config, key, None)
        if isinstance(value, list):
            setattr(config, key, [remap[v] for v in value if v in remap])
    for sub in ("text_config", "encoder", "decoder"):
        nested = getattr(config, sub, None)
        if nested is not None and hasattr(nested, "to_dict") and nested is not config:
            _remap_config(nested, remap)


def _trim_model(model, index, remap: dict[int, int]) -> None:
    """Keep rows `index` of every vocabulary-sized weight in place, so tied weights stay tied and nothing re-inits.

    Weights shared by several modules (T5's shared embedding, tied LM heads) are sliced once and reassigned to all.
    """
    import torch

    rows = model.get_input_embeddings().weight.shape[0]
    size = len(index)
    sliced: dict[int, torch.nn.Parameter] = {}

    def take(param, dim=0):
        if id(param) not in sliced:
            data = param.detach().index_select(dim, index.to(param.device)).clone()
            sliced[id(param)] = torch.nn.Parameter(data, requires_grad=param.requires_grad)
        return sliced[id(param)]

    for module in model.modules():
        if isinstance(module, torch.nn.Embedding) and module.num_embeddings == rows:
            module.weight = take(module.weight)
            module.num_embeddings = size
            if module.padding_idx is not None:
                module.padding_idx = remap.get(module.padding_idx)
    head = model.get_output_embeddings()
    if head is not None and head.weight.shape[0] == rows:
        head.weight = take(head.weight)
        if getattr(head, "bias", None) is not None and head.bias.shape[0] == rows:
            head.bias = take(head.bias)
        if hasattr(head, "out_features"):
            head.out_features = size
    for name, buffer in list(model.named_buffers()):
        if name.endswith("final_logits_bias") and buffer.shape[-1] == rows:  # mBART/Marian logit bias
            owner = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
            owner.register_buffer(name.rsplit(".", 1)[-1], buffer.index_select(-1, index).clone())
    for config in (model.config, getattr(model.config, "get_text_config", lambda: None)()):
        if config is not None and getattr(config, "vocab_size", None) == rows:
            config.vocab_size = size
    if getattr(model, "vocab_size", None) == rows:
        model.vocab_size = size
    _remap_config(model.config, remap)
    _remap_config(getattr(model, "generation_config", None), remap)


def _size_report(directory: Path, model) -> dict:
    params = {id(p): p.numel() for p in model.parameters()}
    files = [p for p in directory.iterdir() if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES)]
    return {"parameters": sum(params.values()), "file_bytes": sum(p.stat().st_size for p in files)}


__all__ = ["trim_vocab", "read_corpus_texts"]
