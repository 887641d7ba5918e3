"""The T5 family: mT5, T5, byT5, umT5. No language codes: input X </s>, target Y </s>; mT5 was pretrained on span
corruption, whose sentinels (`<extra_id_N>`) adapted models still emit."""

from __future__ import annotations

from pathlib import Path

from xlgen.backbones.base import register_family
from xlgen.backbones.seq2seq import Seq2SeqBackbone

# T5's attention and feed-forward modules add their residual and norm in the T5Layer* around them.
T5_ADAPTER_HOSTS = {"attn": ("SelfAttention",), "cross": ("EncDecAttention",), "ffn": ("DenseReluDense",)}


@register_family("t5")
class T5Backbone(Seq2SeqBackbone):
    model_types = ("t5", "mt5", "umt5")  # byT5 checkpoints say "t5"
    rudiments = (r"<extra_id_\d+>",)  # span-corruption sentinels
    pretraining_objective = "span_corruption"
    lora_target_candidates = (("q", "v"),)

    @classmethod
    def adapter_hosts(cls, model) -> dict[str, tuple[str, ...]]:
        return T5_ADAPTER_HOSTS


# -- tiny test models (xlgen.testing) ---------------------------------------------------------------------------------


def _t5_spm() -> bytes:
    """The shared model relabelled to T5's layout (<pad>=0 </s>=1 <unk>=2, no <s>)."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    from xlgen.testing import shared_spm

    proto = pb.ModelProto()
    proto.ParseFromString(shared_spm())
    kind = pb.ModelProto.SentencePiece.Type
    for i, (piece, type_) in enumerate([("<pad>", kind.CONTROL), ("</s>", kind.CONTROL), ("<unk>", kind.UNKNOWN)]):
        proto.pieces[i].piece = piece
        proto.pieces[i].type = type_
    spec = proto.trainer_spec
    spec.pad_id, spec.eos_id, spec.unk_id, spec.bos_id = 0, 1, 2, -1
    spec.pad_piece, spec.eos_piece, spec.unk_piece = "<pad>", "</s>", "<unk>"
    return proto.SerializeToString()


def _t5_tokenizer(scratch: Path):
    from transformers import T5Tokenizer

    from xlgen.testing import write_file

    write_file(scratch / "spiece.model", _t5_spm())
    return T5Tokenizer.from_pretrained(str(scratch), extra_ids=100, model_max_length=512)


def _byt5_tokenizer(scratch: Path):
    from transformers import ByT5Tokenizer

    return ByT5Tokenizer(model_max_length=1024)


def _untie_lm_head(model):
    """Give the model its own lm_head, as mT5/ByT5 checkpoints have (saved separately, loaded untied)."""
    import torch

    weight = torch.empty_like(model.lm_head.weight).normal_(std=model.config.d_model**-0.5)
    model.lm_head.weight = torch.nn.Parameter(weight)
    return model


def _t5_kwargs(tokenizer, vocab_size: int) -> dict:
    from xlgen.testing import DIMS
    d = DIMS
    return dict(
        vocab_size=vocab_size,
        d_model=d["d_model"],
        d_kv=d["d_model"] // d["heads"],
        d_ff=d["ffn"],
        num_layers=d["layers"],
        num_decoder_layers=d["layers"],
        num_heads=d["heads"],
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )


def _t5_model(tokenizer):
    from transformers import T5Config, T5ForConditionalGeneration

    from xlgen.testing import round_up

    # Like t5-small: vocab padded to a multiple of 128 (32128 vs 32100 tokens), tied, ReLU.
    config = T5Config(**_t5_kwargs(tokenizer, round_up(len(tokenizer), 128)), feed_forward_proj="relu")
    return T5ForConditionalGeneration(config)


def _mt5_model(tokenizer):
    from transformers import MT5Config, MT5ForConditionalGeneration

    from xlgen.testing import round_up

    config = MT5Config(**_t5_kwargs(tokenizer, round_up(len(tokenizer), 128)), feed_forward_proj="gated-gelu")
    return _untie_lm_head(MT5ForConditionalGeneration(config))


def _byt5_model(tokenizer):
    from transformers import T5Config, T5ForConditionalGeneration

    # Like byt5-small: untied and unscaled (T5Config reads tie_word_embeddings=False as "do not scale outputs").
    kwargs = _t5_kwargs(tokenizer, len(tokenizer))
    config = T5Config(**kwargs, feed_forward_proj="gated-gelu", tie_word_embeddings=False)
    return _untie_lm_head(T5ForConditionalGeneration(config))


T5Backbone.tiny_models = {
    "t5": (_t5_tokenizer, _t5_model),
    "mt5": (_t5_tokenizer, _mt5_model),
    "byt5": (_byt5_tokenizer, _byt5_model),
}
