"""Every adaptation method on every backbone family (tiny real models): what should be frozen stays bit-identical,
what should train changes, and a saved artifact reloads and generates exactly the same output."""

import copy

import pytest
import torch

from xlgen.adaptation import METHODS, get_method, parameter_report
from xlgen.backbones import load_backbone
from xlgen.checkpoint import save_model
from xlgen.config import AdaptationConfig, DatasetSpec, GenerateConfig, ModelConfig, TaskConfig
from xlgen.evaluate import generate
from xlgen.tasks import get_task
from xlgen.testing import tiny_model
from xlgen.train import make_optimizer

FAMILIES = ["t5", "mt5", "byt5", "mbart50", "nllb", "m2m100", "marian", "causal"]
METHOD_CONFIGS = {
    "full": AdaptationConfig(method="full"),
    "freeze": AdaptationConfig(method="freeze"),
    "adapters": AdaptationConfig(method="adapters", adapters={"dim": 8}),
    "prompt": AdaptationConfig(method="prompt", prompt={"length": 5}),
    "lora": AdaptationConfig(method="lora", lora={"r": 4}),
}


def test_every_registered_method_is_covered():
    assert set(METHOD_CONFIGS) | {"peft"} == set(METHODS)


@pytest.fixture(scope="module")
def qa_examples(data_dir):
    task = get_task(TaskConfig(name="qa"))
    spec = DatasetSpec(path=str(data_dir / "xquad" / "xquad.{lang}.json"), max_examples=6)
    return task, task.load(spec, "en"), task.load(spec, "de")[:3]


def _frozen_expectation(name: str, method: str, family: str, encoder_decoder: bool) -> bool | None:
    """Whether a base parameter must stay frozen under `method` (None: the method decides, checked elsewhere)."""
    if method == "full":
        return False
    if method == "freeze" and encoder_decoder:
        return "decoder." in name or "shared" in name or "embed" in name or "lm_head" in name or "final_logits_bias" in name
    if method == "freeze":
        return None
    return True  # adapters, prompt, lora: every base weight frozen


def _base_name(name: str, base_names: set) -> str:
    """A parameter's name in the base model, under PEFT's wrappers (`base_model.model.`, `base_layer`)."""
    name = name.replace(".base_layer", "")
    for prefix in ("base_model.model.", "base_model."):
        if name.startswith(prefix) and name[len(prefix) :] in base_names:
            return name[len(prefix) :]
    return name


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", list(METHOD_CONFIGS))
def test_method_trains_the_right_weights_and_reloads(tmp_path, qa_examples, family, method):
    task, train_exs, test_exs = qa_examples
    torch.manual_seed(0)
    backbone = load_backbone(ModelConfig(name=str(tiny_model(family)), max_input_length=64))
    before = {n: p.detach().clone() for n, p in backbone.model.named_parameters()}
    m = get_method(METHOD_CONFIGS[method])
    model = backbone.model = m.apply(backbone.model, backbone.family)
    report = parameter_report(model)
    assert 0 < report["trainable_params"] <= report["total_params"]
    if method != "full":
        assert report["trainable_share"] < 1

    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(params, type("C", (), dict(optimizer="adam", lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0))())
    model.train()
    batch = backbone.collate(backbone.encode(train_exs, task), "cpu")
    for _ in range(3):
        loss, n = backbone.loss(model, batch)
        (loss / n).backward()
        opt.step()
        opt.zero_grad()

    # Base weights: frozen ones bit-identical, trained ones changed.
    after = {_base_name(n, set(before)): p.detach() for n, p in model.named_parameters()}
    trainable = {_base_name(n, set(before)) for n, p in model.named_parameters() if p.requires_grad}
    changed_any = False
    for name, old in before.items():
        assert name in after, name
        expect_frozen = _frozen_expectation(name, method, family, model.config.is_encoder_decoder)
        if name in trainable:
            changed_any = changed_any or not torch.equal(old, after[name])
        else:
            assert torch.equal(old, after[name]), f"{name} is frozen but changed"
        if expect_frozen is True:
            assert name not in trainable, f"{name} should be frozen under {method}"
        elif expect_frozen is False and method == "freeze":
            assert name in trainable, f"{name} should train under freeze"
    new_params = [n for n in trainable if n not in before]
    if method in ("full", "freeze"):
        assert changed_any and not new_params
    else:
        assert new_params, "the method's own parameters should train"

    # Save only what trained; reload base + parts; identical greedy outputs.
    gen = GenerateConfig(max_new_tokens=5)
    outputs = [g.raw for g in generate(backbone, model, test_exs, task, "de", gen, progress=False)]
    save_model(tmp_path / "model", backbone, m, str(tiny_model(family)))
    reloaded = load_backbone(ModelConfig(name=str(tmp_path / "model"), max_input_length=64))
    again = [g.raw for g in generate(reloaded, reloaded.model, test_exs, task, "de", gen, progress=False)]
    assert again == outputs
    files = {p.name for p in (tmp_path / "model").iterdir()}
    assert "xlgen_adaptation.json" in files
    if method not in ("full",):
        assert "model.safetensors" not in files  # only the trained parts
        saved = sum(p.stat().st_size for p in (tmp_path / "model").iterdir())
        assert saved < 4 * report["total_params"]


def test_freeze_decoder_only_keeps_embeddings_head_and_upper_layers(qa_examples):
    backbone = load_backbone(ModelConfig(name=str(tiny_model("causal"))))
    model = get_method(AdaptationConfig(method="freeze")).apply(backbone.model, "causal")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    n_layers = model.config.num_hidden_layers
    assert not any("embed" in n or "lm_head" in n for n in trainable)
    assert any(f"layers.{0}." in n for n in trainable)
    assert not any(f"layers.{n_layers - 1}." in n for n in trainable)
    custom = get_method(AdaptationConfig(method="freeze", freeze={"patterns": [r"embed"]})).apply(copy.deepcopy(backbone.model), "causal")
    assert any(f"layers.{n_layers - 1}." in n for n, p in custom.named_parameters() if p.requires_grad)


def test_prompt_tuning_is_encoder_side_and_initialised_from_vocab():
    backbone = load_backbone(ModelConfig(name=str(tiny_model("mt5"))))
    model = get_method(AdaptationConfig(method="prompt", prompt={"length": 7})).apply(backbone.model, "t5")
    cfg = model.active_peft_config
    assert cfg.num_transformer_submodules == 1 and cfg.num_virtual_tokens == 7
    prompt = model.prompt_encoder["default"].embedding.weight
    vocab = backbone.model.get_input_embeddings().weight
    # Every prompt vector is a row of the embedding matrix.
    assert all(any(torch.equal(row, v) for v in vocab) for row in prompt)


def test_any_peft_config_passes_through():
    backbone = load_backbone(ModelConfig(name=str(tiny_model("causal"))))
    m = get_method(AdaptationConfig(method="peft", peft={"config": {"peft_type": "IA3", "target_modules": ["k_proj", "v_proj", "down_proj"], "feedforward_modules": ["down_proj"]}}))
    model = m.apply(backbone.model, "causal")
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("ia3" in n for n in names)
    from xlgen.errors import XlgenError

    with pytest.raises(XlgenError, match="adaptation.peft.config"):
        get_method(AdaptationConfig(method="peft")).apply(backbone.model, "causal")
