"""Bottleneck adapters on tiny models of every family: identity at start, only adapters train, counts, save/load,
stacking and fusion through `adaptation.adapter_load`, and the artifact's size."""

import copy
import shutil
import warnings

import pytest
import torch

from xlgen.adaptation import get_method, read_manifest, write_manifest
from xlgen.adaptation.adapters import (
    FROZEN,
    Adapter,
    AdaptersMethod,
    Fuse,
    Fusion,
    Stack,
    active,
    adapter_state,
    add_adapters,
    add_fusion,
    freeze_all_but,
    load_adapter_state,
    load_saved_adapter,
    modules,
    set_active,
    slots,
)
from xlgen.adaptation.base import WEIGHTS
from xlgen.config import AdaptationConfig, from_dict
from xlgen.errors import XlgenError
from xlgen.testing import FAMILIES, tiny_model

DIM = 8
SOURCES = ["The cat sat on the mat.", "Où est la gare ?", "Der Himmel ist heute sehr blau und klar."]
TARGETS = ["A cat sat.", "Where is the station?", "The sky is blue."]



def family_of(f: str) -> str:
    """The xlgen backbone family the trainer would pass to `apply`."""
    return {"mt5": "t5", "byt5": "t5", "mbart50": "mbart"}.get(f, f)


def load_model(f: str):
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM
    from transformers.utils import logging

    logging.disable_progress_bar()
    cls = AutoModelForCausalLM if f == "causal" else AutoModelForSeq2SeqLM
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls.from_pretrained(tiny_model(f)).eval()


_BATCHES = {}


def batch(f: str) -> dict:
    if f not in _BATCHES:
        from transformers import AutoTokenizer

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tok = AutoTokenizer.from_pretrained(tiny_model(f))
        b = dict(tok(SOURCES, return_tensors="pt", padding=True))
        if f != "causal":
            labels = tok(TARGETS, return_tensors="pt", padding=True)["input_ids"]  # target-side codes do not matter here
            b["labels"] = labels.masked_fill(labels == tok.pad_token_id, -100)
        _BATCHES[f] = b
    return _BATCHES[f]


def loss(model, f: str):
    b = batch(f)
    if f == "causal":
        return model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["input_ids"]).loss
    return model(**b).loss


@torch.no_grad()
def logits(model, f: str) -> torch.Tensor:
    model.eval()
    b = batch(f)
    if f == "causal":
        return model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
    return model(**b).logits


@torch.no_grad()
def generate(model, f: str, **kw):
    model.eval()
    b = batch(f)
    out = model.generate(
        input_ids=b["input_ids"], attention_mask=b["attention_mask"], max_new_tokens=5, do_sample=False,
        num_beams=1, output_scores=True, return_dict_in_generate=True, **kw,
    )  # fmt: skip
    return out.sequences, torch.stack(out.scores)


def train(model, f: str, steps: int = 3) -> None:
    torch.manual_seed(0)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        loss(model, f).backward()
        opt.step()
    model.eval()


def snapshot(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def owner(name: str) -> str | None:
    parts = name.split(".")
    return parts[parts.index("adapters") + 1] if "adapters" in parts else None


def changed(before, model) -> set[str]:
    return {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}


def expected_slots(model) -> int:
    c = model.config
    if c.is_encoder_decoder:
        enc = getattr(c, "encoder_layers", None) or c.num_layers
        dec = getattr(c, "decoder_layers", None) or c.num_decoder_layers
        return 2 * enc + 3 * dec
    return 2 * c.num_hidden_layers


def save_artifact(method, model, f: str, out):
    out.mkdir(parents=True)
    method.save(model, out)
    write_manifest(out, method, str(tiny_model(f)), family_of(f), method.manifest_extra())
    return out


def load_artifact(f: str, out):
    """What `load_backbone` does: the method from the manifest's config, then `load` on a fresh base model."""
    manifest = read_manifest(out)
    method = get_method(from_dict(AdaptationConfig, manifest["adaptation"]))
    return method.load(load_model(f), out, manifest["family"])


def randomize(model, name: str, seed: int) -> None:
    """Stand in for a trained adapter (a fresh one is the identity and would give a fusion nothing to learn from)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if owner(n) == name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)


@pytest.mark.parametrize("f", FAMILIES)
def test_adapter_run_on_every_family(f, tmp_path):
    model = load_model(f)
    base_logits, (base_seq, base_scores) = logits(model, f), generate(model, f)

    method = AdaptersMethod(AdaptationConfig(method="adapters", adapters={"dim": DIM}))
    assert method.apply(model, family_of(f)) is model

    # (c) one adapter after every attention block (cross-attention included) and every feed-forward block
    task = [m for n, m in model.named_modules() if isinstance(m, Adapter) and n.endswith(".adapters.task")]
    assert len(task) == len(slots(model)) == expected_slots(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(owner(n) == "task" for n in trainable)
    assert any(n.endswith(("self_attn.adapters.task.down.weight", "SelfAttention.adapters.task.down.weight")) for n in trainable)

    # (a) a fresh adapter is the identity
    assert torch.equal(logits(model, f), base_logits)
    seq, scores = generate(model, f)
    # (last-position-only projections in generate can round differently once the hidden states are new tensors)
    assert torch.equal(seq, base_seq) and torch.allclose(scores, base_scores, rtol=0, atol=1e-6)

    # (b) training moves every adapter tensor and nothing else
    before = snapshot(model)
    train(model, f)
    assert changed(before, model) == trainable

    # generation with the KV cache sees the adapters, and agrees with generation without the cache
    seq, scores = generate(model, f)
    assert not torch.allclose(scores, base_scores)
    seq_nc, scores_nc = generate(model, f, use_cache=False)
    assert torch.equal(seq, seq_nc) and torch.allclose(scores, scores_nc, atol=1e-5)

    # (d) save -> fresh base model -> load reproduces the model exactly
    out = save_artifact(method, model, f, tmp_path / "task")
    assert not (out / FROZEN).exists()
    loaded = load_artifact(f, out)
    assert torch.equal(logits(loaded, f), logits(model, f))
    seq2, scores2 = generate(loaded, f)
    assert torch.equal(seq2, seq) and torch.equal(scores2, scores)

    # (f) the artifact holds the adapter parameters only (fp32) plus a small safetensors header
    n = sum(p.numel() for name, p in model.named_parameters() if owner(name) == "task")
    size = (out / WEIGHTS).stat().st_size
    assert 4 * n <= size <= 4 * n + 16_384
    assert n < 0.2 * sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("f", FAMILIES)
def test_stack_and_fuse_loaded_adapters(f, tmp_path):
    fam = family_of(f)
    # Two "language adapters", saved as earlier runs would save them.
    lang_dirs = []
    for i, lang in enumerate(["en", "fr"]):
        model = load_model(f)
        method = AdaptersMethod(AdaptationConfig(method="adapters", adapters={"dim": DIM, "name": f"lang_{lang}"}))
        method.apply(model, fam)
        randomize(model, f"lang_{lang}", seed=i)
        lang_dirs.append(save_artifact(method, model, f, tmp_path / f"lang_{lang}"))
    saved_en = load_artifact(f, lang_dirs[0])

    # (e) stack: a frozen language adapter (renamed on load) under this run's task adapter; only the task adapter trains
    model = load_model(f)
    cfg = AdaptationConfig(method="adapters", adapters={"dim": DIM, "load": {"lang": str(lang_dirs[0])}})
    method = AdaptersMethod(cfg)
    method.apply(model, fam)
    assert active(model) == ["lang", "task"]
    assert torch.equal(logits(model, f), logits(saved_en, f))  # the fresh task adapter adds nothing yet
    before = snapshot(model)
    train(model, f)
    moved = changed(before, model)
    assert moved and {owner(n) for n in moved} == {"task"}
    assert {n for n, p in model.named_parameters() if p.requires_grad} == moved

    # The artifact is self-contained: the language adapter's own directory is not needed to load it.
    out = save_artifact(method, model, f, tmp_path / "stack")
    assert (out / FROZEN).exists()
    assert read_manifest(out)["adapters"]["frozen"] == ["lang"]
    shutil.move(lang_dirs[0], tmp_path / "moved_en")
    loaded = load_artifact(f, out)
    assert active(loaded) == ["lang", "task"]
    assert torch.equal(logits(loaded, f), logits(model, f))
    shutil.move(tmp_path / "moved_en", lang_dirs[0])

    # (e) fuse: AdapterFusion over the two frozen language adapters; only the fusion trains
    model = load_model(f)
    cfg = AdaptationConfig(method="adapters", adapters={"compose": "fuse", "load": {"en": str(lang_dirs[0]), "fr": str(lang_dirs[1])}})
    method = AdaptersMethod(cfg)
    method.apply(model, fam)
    assert active(model) == ["fusion"]
    fusions = [m for _, s in slots(model) for m in s.values() if isinstance(m, Fusion)]
    assert len(fusions) == expected_slots(model)
    before = snapshot(model)
    train(model, f)
    moved = changed(before, model)
    assert moved == {n for n, p in model.named_parameters() if p.requires_grad}
    assert {owner(n) for n in moved} == {"fusion"}
    out = save_artifact(method, model, f, tmp_path / "fuse")
    assert set(read_manifest(out)["adapters"]["frozen"]) == {"en", "fr"}
    loaded = load_artifact(f, out)
    assert torch.equal(logits(loaded, f), logits(model, f))


@pytest.mark.parametrize("f", ["t5", "causal"])
def test_composition_api(f):
    """The transfer-language study's setups with the functions: language adapters per language, a task adapter
    stacked on one of them or on their fusion; swapping the language adapter at evaluation time."""
    model = load_model(f)
    base = logits(model, f)
    for name in ["en", "fr", "de", "task"]:
        add_adapters(model, family_of(f), name, dim=DIM)
    assert torch.equal(logits(model, f), base)  # added adapters are inactive
    for i, name in enumerate(["en", "fr", "de"]):
        randomize(model, name, seed=i)
    add_fusion(model, ["en", "fr", "de"], name="langs")
    assert modules(model)["langs"] == {"kind": "fusion", "adapters": ["en", "fr", "de"]}

    set_active(model, Stack("en", "task"))
    en = logits(model, f)
    assert not torch.equal(en, base)
    set_active(model, Stack(Fuse("en", "fr", "de", name="langs"), "task"))
    assert active(model) == ["langs", "task"]
    assert freeze_all_but(model, ["task"]) == sum(v.numel() for v in adapter_state(model, "task").values())
    train(model, f, steps=1)

    # Swap: load the "fr" weights into "en" (names are rewritten on load), and the stack now computes what fr does.
    set_active(model, ["fr"])
    fr = logits(model, f)
    load_adapter_state(model, "en", adapter_state(model, "fr"))
    set_active(model, "en")
    assert torch.equal(logits(model, f), fr)
    set_active(model, None)
    assert torch.equal(logits(model, f), base)

    # Deep copies carry their own adapters (the hook looks the slot up on the copied module).
    set_active(model, "en")
    clone = copy.deepcopy(model)
    randomize(clone, "en", seed=9)
    assert torch.equal(logits(model, f), fr) and not torch.equal(logits(clone, f), fr)


def test_errors(tmp_path):
    from transformers import BertConfig, BertForMaskedLM

    model = load_model("t5")
    add_adapters(model, "t5", "task", dim=DIM)
    with pytest.raises(XlgenError, match="already has"):
        add_adapters(model, "t5", "task")
    with pytest.raises(XlgenError, match="reserved"):
        add_adapters(model, "t5", "keys")
    with pytest.raises(XlgenError, match="invalid adapter name"):
        add_adapters(model, "t5", "a.b")
    with pytest.raises(XlgenError, match="activation"):
        add_adapters(model, "t5", "other", activation="nope")
    with pytest.raises(XlgenError, match="no adapter named"):
        set_active(model, Stack("lang", "task"))
    with pytest.raises(XlgenError, match="no fusion"):
        set_active(model, Fuse("task"))
    with pytest.raises(XlgenError, match="cannot fuse"):
        add_fusion(model, ["task", "lang"])
    with pytest.raises(XlgenError, match="fuse needs"):
        AdaptersMethod(AdaptationConfig(method="adapters", adapters={"compose": "fuse"})).apply(load_model("t5"), "t5")
    with pytest.raises(XlgenError, match="adapters.compose"):
        AdaptersMethod(AdaptationConfig(method="adapters", adapters={"compose": "mix"})).apply(load_model("t5"), "t5")
    with pytest.raises(XlgenError, match="not a saved adapter"):
        load_saved_adapter(load_model("t5"), "t5", tmp_path, "lang")
    # A causal artifact does not load into an encoder-decoder.
    causal = load_model("causal")
    m = AdaptersMethod(AdaptationConfig(method="adapters", adapters={"dim": DIM}))
    m.apply(causal, "causal")
    art = save_artifact(m, causal, "causal", tmp_path / "causal")
    with pytest.raises(XlgenError, match="causal model"):
        load_saved_adapter(load_model("t5"), "t5", art, "lang")
    # A model whose blocks are named otherwise (BERT: attention.self / intermediate / output) is refused clearly.
    bert = BertForMaskedLM(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32))
    with pytest.raises(XlgenError, match="no recognisable attention/feed-forward"):
        add_adapters(bert, "causal", "task")


def _decoder_only(arch: str):
    import transformers as t

    small = dict(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1)
    if arch == "bloom":  # attention and MLP add the residual inside, so the adapters go on their output projections
        return t.BloomForCausalLM(t.BloomConfig(vocab_size=64, hidden_size=16, n_layer=2, n_head=2))
    if arch == "gemma3":
        return t.Gemma3ForCausalLM(t.Gemma3TextConfig(**small, head_dim=8, sliding_window=4))
    return t.Qwen2ForCausalLM(t.Qwen2Config(**small))


@pytest.mark.parametrize("arch", ["bloom", "gemma3", "qwen2"])
def test_other_decoder_only_architectures(arch):
    torch.manual_seed(0)
    model = _decoder_only(arch).eval()
    x = torch.randint(3, 64, (2, 7))
    with torch.no_grad():
        base = model(input_ids=x).logits
    add_adapters(model, "causal", "task", dim=4)
    set_active(model, "task")
    assert len(slots(model)) == 4
    if arch == "bloom":
        assert [n for n, _ in slots(model)][:2] == ["transformer.h.0.self_attention.dense.adapters", "transformer.h.0.mlp.dense_4h_to_h.adapters"]
    with torch.no_grad():
        assert torch.equal(model(input_ids=x).logits, base)
    randomize(model, "task", seed=0)
    with torch.no_grad():
        assert not torch.allclose(model(input_ids=x).logits, base)
        cached = model.generate(input_ids=x, max_new_tokens=4, do_sample=False, pad_token_id=0)
        uncached = model.generate(input_ids=x, max_new_tokens=4, do_sample=False, pad_token_id=0, use_cache=False)
    assert torch.equal(cached, uncached)
