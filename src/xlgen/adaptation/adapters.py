"""Bottleneck adapters (Houlsby et al. 2019; Bapna & Firat 2019), stacked (MAD-X) or fused (AdapterFusion).

The paper compares adapters with the other lightweight methods as one way of keeping the pretrained weights (and so
the model's other languages) intact: a small down-projection -> non-linearity -> up-projection with a residual is
inserted after every attention block (self- and cross-attention) and every feed-forward block, and only these train.

Written here rather than taken from a library: `adapters` (1.3.0) pins transformers 4.57 and PEFT has no bottleneck
adapters. The code is small because transformers models expose their sublayers as modules:

- Insertion uses forward hooks on the sublayer ("host") modules, which keeps every base parameter name unchanged (a
  wrapper module would rename `self_attn.q_proj.weight` to `self_attn.module.q_proj.weight` and break loading). The
  adapters themselves live in an `AdapterSlot` registered as a child of the host named `adapters`, so the module tree
  prints them and their parameter names are stable: `...layers.0.self_attn.adapters.task.down.weight`. The hook
  rewrites the host's output (the first element when it is a tuple, as attention modules return), so it works the same
  under `generate` with a KV cache, `torch.no_grad`, gradient checkpointing, `deepcopy` and pickling.
- Hosts are the sublayer outputs *before* the residual add, as in Houlsby. Which modules they are is the backbone
  family's knowledge (`adapter_hosts`, xlgen.backbones): T5's `SelfAttention`/`EncDecAttention`/`DenseReluDense`
  (inside T5Layer*, which add their own residual and norm), the BART family's `self_attn`/`encoder_attn`/`fc2` (whose
  FFN has no submodule), decoder-only `self_attn`/`mlp`, and for BLOOM the output projections
  `self_attention.dense`/`mlp.dense_4h_to_h`, because BLOOM's attention and MLP add the residual inside.
- The up-projection starts at zero, so a fresh adapter is exactly the identity and the model's outputs do not change
  until it trains.

Composition (`set_active`): a `Stack` of steps applied in sequence at every slot, each step an adapter (with its own
residual) or a fusion; e.g. `Stack("lang_en", "task")` is MAD-X's language adapter under a task adapter, and
`Stack(Fuse("en", "fr", "de"), "task")` a task adapter over fused language adapters.

Fusion (Pfeiffer et al. 2021, as in the `adapters` library's default "dynamic" config): the query is the sublayer
output h, keys and values are the fused adapters' outputs before their residual (u_i = up(act(down(h)))), projected by
d x d matrices (value initialised to the identity), softmax over adapters, and h added back:
`h + sum_i softmax_i(Qh . Ku_i) V u_i`. At initialisation this is a convex combination of the adapters' full outputs
h + u_i. (The library's optional regulariser pulling V towards the identity is not implemented.)

Artifacts (`AdaptersMethod.save`): `trained.safetensors` holds what this run trained (one adapter, or one fusion),
`frozen.safetensors` the frozen adapters it was trained with (e.g. loaded language adapters), both keyed by full
parameter names; the manifest's `adapters` entry records every module (dimension, activation, fused names), the
composition and which were loaded from where. So the artifact is self-contained: evaluation never needs the
directories the frozen adapters came from, which may have moved. Frozen copies cost a few MB each.
"""

from __future__ import annotations

import re
from dataclasses import field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from xlgen.adaptation.base import WEIGHTS, Method, read_manifest, register_method
from xlgen.config import AtLeast1, typed_config
from xlgen.errors import XlgenError

FROZEN = "frozen.safetensors"
SLOT = "adapters"  # the attribute name of the slot on each host module
FUSION_NAME = "fusion"  # the fusion trained by `adaptation.adapters.compose: fuse`
# A task head (a classifier on an encoder, see xlgen.backbones.encoder) registered on the model under this name trains
# and is saved with the run's trained adapter, as prediction heads are with task adapters in the `adapters` library.
HEAD = "xlgen_head"

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


# ----------------------------------------------------------------------------------------------------------------------
# Modules


def _check_activation(activation: str) -> None:
    from transformers.activations import ACT2FN

    if activation not in ACT2FN:
        raise XlgenError(f"adaptation.adapters.activation: unknown activation {activation!r} (e.g. relu, gelu, silu, tanh)")


class Adapter(nn.Module):
    """x + up(act(down(x))), with up = 0 at initialisation so a fresh adapter changes nothing."""

    def __init__(self, d: int, dim: int, activation: str):
        super().__init__()
        from transformers.activations import ACT2FN

        _check_activation(activation)
        self.dim, self.activation = dim, activation
        self.down = nn.Linear(d, dim)
        self.act = ACT2FN[activation]
        self.up = nn.Linear(dim, d)
        nn.init.normal_(self.down.weight, std=0.02)  # BERT-style, as the `adapters` library
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def delta(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.act(self.down(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.delta(x)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, activation={self.activation!r}"


class Fusion(nn.Module):
    """AdapterFusion attention over the outputs of `adapters` (see the module docstring)."""

    def __init__(self, d: int, adapters: list[str]):
        super().__init__()
        self.adapters = list(adapters)
        self.query = nn.Linear(d, d)
        # No key bias: it adds the same q.b to every adapter's score, which the softmax ignores (it would never train).
        self.key = nn.Linear(d, d, bias=False)
        self.value = nn.Linear(d, d, bias=False)
        nn.init.normal_(self.query.weight, std=0.02)
        nn.init.zeros_(self.query.bias)
        nn.init.normal_(self.key.weight, std=0.02)
        with torch.no_grad():
            self.value.weight.copy_(torch.eye(d))

    def forward(self, h: torch.Tensor, outputs: list[torch.Tensor]) -> torch.Tensor:
        u = torch.stack(outputs, dim=-2)  # (..., n_adapters, d)
        scores = (self.key(u) @ self.query(h).unsqueeze(-1)).squeeze(-1)  # (..., n_adapters)
        probs = scores.softmax(dim=-1).unsqueeze(-1)
        return h + (probs * self.value(u)).sum(dim=-2)

    def extra_repr(self) -> str:
        return f"adapters={self.adapters}"


class AdapterSlot(nn.ModuleDict):
    """The named adapters and fusions at one insertion point, and the active composition (a tuple of their names,
    applied in order; a fusion step reads the adapters it fuses from the same slot)."""

    def __init__(self):
        super().__init__()
        self._active: tuple[str, ...] = ()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for name in self._active:
            module = self[name]
            if isinstance(module, Fusion):
                h = module(h, [self[a].delta(h) for a in module.adapters])
            else:
                h = module(h)
        return h

    def extra_repr(self) -> str:
        return f"active={list(self._active)}"


def _slot_hook(module, args, output):
    """Forward hook on a host: pass its output (or the output's first element) through the host's slot.

    Module-level and looking the slot up on the module, so hooks stay valid in deep copies and pickles."""
    slot = getattr(module, SLOT)
    if not slot._active:
        return output
    if isinstance(output, torch.Tensor):
        return slot(output)
    if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
        return (slot(output[0]),) + tuple(output[1:])
    raise XlgenError(f"adapters: cannot adapt the output of {type(module).__name__} ({type(output).__name__})")


# ----------------------------------------------------------------------------------------------------------------------
# Composition


class Fuse:
    """A fusion step: `Fuse("en", "fr", name="fusion")` (the adapters may be left out to mean the fusion's own)."""

    def __init__(self, *adapters: str, name: str = FUSION_NAME):
        self.adapters, self.name = list(adapters), name

    def __repr__(self) -> str:
        return f"Fuse({', '.join(map(repr, self.adapters))}, name={self.name!r})"


class Stack:
    """Steps applied in sequence at every insertion point, bottom first: adapter names or `Fuse` steps."""

    def __init__(self, *steps: str | Fuse):
        self.steps = list(steps)

    def __repr__(self) -> str:
        return f"Stack({', '.join(map(repr, self.steps))})"


# ----------------------------------------------------------------------------------------------------------------------
# Functions on a model


def _host_names(model, family: str) -> dict[str, list[str]]:
    """Module paths of the hosts of each kind ("attn", "cross", "ffn"), as the backbone family names them."""
    from xlgen.backbones import get_family

    model_type = getattr(model.config, "model_type", "")
    table = get_family(family).adapter_hosts(model)
    found: dict[str, list[str]] = {"attn": [], "cross": [], "ffn": []}
    taken: set[str] = set()
    for path, module in model.named_modules():
        if not re.search(r"\.\d+\.", path) or isinstance(module, (AdapterSlot, Adapter, Fusion)):
            continue  # hosts lie inside a numbered layer; never adapt our own modules
        parts = path.split(".")
        if any(".".join(parts[:i]) in taken for i in range(1, len(parts))):
            continue  # inside a host already found (e.g. the experts of an MoE `mlp`)
        for kind, suffixes in table.items():
            if any(path == s or path.endswith("." + s) for s in suffixes):
                found[kind].append(path)
                taken.add(path)
                break
    is_enc_dec = bool(getattr(model.config, "is_encoder_decoder", False))
    if not found["attn"] or not found["ffn"] or (is_enc_dec and not found["cross"]):
        raise XlgenError(
            f"adapters: no recognisable attention/feed-forward blocks in {type(model).__name__} (model_type "
            f"{model_type!r}; found {', '.join(f'{len(v)} {k}' for k, v in found.items())}); "
            f"its sublayer names are not among the {family!r} family's adapter hosts (xlgen.backbones)"
        )
    return found


def _hidden_size(model) -> int:
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    d = getattr(cfg, "hidden_size", None) or getattr(cfg, "d_model", None)
    if not d:
        raise XlgenError(f"adapters: cannot tell the hidden size of {type(model).__name__}")
    return int(d)


def slots(model) -> list[tuple[str, AdapterSlot]]:
    """Every insertion point: (path of the slot, slot)."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, AdapterSlot)]


def _ensure_slots(model, family: str) -> list[AdapterSlot]:
    existing = slots(model)
    if existing:
        return [s for _, s in existing]
    out = []
    for paths in _host_names(model, family).values():
        for path in paths:
            host = model.get_submodule(path)
            if hasattr(host, SLOT):
                raise XlgenError(f"adapters: {path} already has an attribute {SLOT!r}")
            slot = AdapterSlot()
            host.add_module(SLOT, slot)
            host.register_forward_hook(_slot_hook)
            out.append(slot)
    return out


def _check_name(name: str, what: str = "adapter") -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise XlgenError(f"adapters: invalid {what} name {name!r} (letters, digits, '_' and '-', starting with a letter)")


def _add(model, slot_list: list[AdapterSlot], name: str, make) -> None:
    for slot in slot_list:
        if name in slot:
            raise XlgenError(f"adapters: the model already has an adapter or fusion named {name!r}")
    param = next(model.parameters())
    for slot in slot_list:
        try:
            slot[name] = make().to(device=param.device, dtype=param.dtype)
        except KeyError:  # ModuleDict refuses keys that shadow its attributes ("keys", "train", ...)
            raise XlgenError(f"adapters: {name!r} cannot be used as a name (it is a reserved attribute)") from None


def add_adapters(model, family: str, name: str, dim: int = 64, activation: str = "relu") -> None:
    """Insert a fresh adapter `name` after every attention and feed-forward block. It stays inactive until
    `set_active` names it, so adding one never changes what the model computes."""
    _check_name(name)
    if int(dim) < 1:
        raise XlgenError(f"adaptation.adapters.dim: must be at least 1 (got {dim})")
    d = _hidden_size(model)
    _check_activation(activation)  # before touching the model
    _add(model, _ensure_slots(model, family), name, lambda: Adapter(d, int(dim), activation))


def add_fusion(model, names: list[str], name: str = FUSION_NAME) -> None:
    """Add an AdapterFusion `name` over existing adapters `names` at every insertion point (inactive until set)."""
    _check_name(name, "fusion")
    if len(names) < 1:
        raise XlgenError("adapters: a fusion needs at least one adapter to fuse")
    kinds = modules(model)
    for n in names:
        if kinds.get(n, {}).get("kind") != "adapter":
            raise XlgenError(f"adapters: cannot fuse {n!r}: no adapter of that name (have: {', '.join(kinds) or 'none'})")
    d = _hidden_size(model)
    _add(model, [s for _, s in slots(model)], name, lambda: Fusion(d, list(names)))


def modules(model) -> dict[str, dict]:
    """The adapters and fusions on the model, in insertion order: name -> {kind, dim, activation} / {kind, adapters}."""
    found = slots(model)
    if not found:
        return {}
    out = {}
    for name, m in found[0][1].items():
        if isinstance(m, Fusion):
            out[name] = {"kind": "fusion", "adapters": list(m.adapters)}
        else:
            out[name] = {"kind": "adapter", "dim": m.dim, "activation": m.activation}
    return out


def _steps(composition) -> list[str | Fuse]:
    if composition is None:
        return []
    if isinstance(composition, (str, Fuse)):
        return [composition]
    if isinstance(composition, Stack):
        return list(composition.steps)
    if isinstance(composition, (list, tuple)):
        return list(composition)
    raise XlgenError(f"adapters: cannot read the composition {composition!r}")


def set_active(model, composition: str | Fuse | Stack | list | None) -> None:
    """Make `composition` what every slot applies: an adapter name, a `Fuse`, a `Stack` (or a list, read as a
    stack) of them; None or [] switches adapters off."""
    have = modules(model)
    names = []
    for step in _steps(composition):
        if isinstance(step, Fuse):
            info = have.get(step.name)
            if not info or info["kind"] != "fusion":
                raise XlgenError(f"adapters: no fusion named {step.name!r}; add it with add_fusion")
            if step.adapters and sorted(step.adapters) != sorted(info["adapters"]):
                raise XlgenError(f"adapters: fusion {step.name!r} fuses {info['adapters']}, not {step.adapters}")
            names.append(step.name)
        elif isinstance(step, str):
            if step not in have:
                raise XlgenError(f"adapters: no adapter named {step!r} (have: {', '.join(have) or 'none'})")
            names.append(step)
        else:
            raise XlgenError(f"adapters: a composition step must be an adapter name or a Fuse, not {step!r}")
    if names and not have:
        raise XlgenError("adapters: the model has no adapters")
    for _, slot in slots(model):
        slot._active = tuple(names)


def active(model) -> list[str]:
    """The active composition as names (a fusion by its own name), bottom first."""
    found = slots(model)
    return list(found[0][1]._active) if found else []


def _owner(param_name: str) -> str | None:
    """The adapter/fusion a parameter belongs to, or None for a base-model parameter."""
    m = re.search(rf"(?:^|\.){SLOT}\.([^.]+)\.", param_name)
    return m.group(1) if m else None


def adapter_state(model, name: str) -> dict[str, torch.Tensor]:
    """The parameters of adapter or fusion `name`, by full parameter name, detached on the CPU."""
    state = {n: p.detach().contiguous().cpu() for n, p in model.named_parameters() if _owner(n) == name}
    if not state:
        raise XlgenError(f"adapters: no adapter or fusion named {name!r}")
    return state


def load_adapter_state(model, name: str, state: dict[str, torch.Tensor]) -> None:
    """Copy saved weights into adapter/fusion `name`; the saved keys may name it differently (a language adapter
    saved as "task" loaded as "lang_fr"), but must otherwise match the model's parameter names and shapes exactly."""
    saved = {_owner(k) for k in state}
    if None in saved or len(saved) != 1:
        raise XlgenError(f"adapters: the state to load into {name!r} must hold exactly one adapter (found {sorted(map(str, saved))})")
    old = saved.pop()
    rx = re.compile(rf"((?:^|\.){SLOT}\.){re.escape(old)}\.")
    renamed = {rx.sub(lambda m: f"{m.group(1)}{name}.", k, count=1): v for k, v in state.items()}
    params = dict(model.named_parameters())
    target = {n for n in params if _owner(n) == name}
    if set(renamed) != target:
        diff = sorted(set(renamed) ^ target)
        raise XlgenError(f"adapters: saved weights for {name!r} do not fit this model (e.g. {diff[0]})")
    with torch.no_grad():
        for k, v in renamed.items():
            if params[k].shape != v.shape:
                raise XlgenError(f"adapters: {k}: saved shape {tuple(v.shape)} does not fit {tuple(params[k].shape)}")
            params[k].copy_(v)


def _is_head(param_name: str) -> bool:
    return param_name.startswith(HEAD + ".") or f".{HEAD}." in param_name


def head_parameters(model, named: bool = False):
    """Parameters of the model's task head (see HEAD), if it has one."""
    return [(n, p) if named else p for n, p in model.named_parameters() if _is_head(n)]


def load_head_state(model, state: dict[str, torch.Tensor], source) -> None:
    """Copy the task-head weights of a saved task adapter into the model's head (which must have the same shape)."""
    part = {k: v for k, v in state.items() if _is_head(k)}
    if not part:
        return
    params = dict(head_parameters(model, named=True))
    if set(part) != set(params) or any(params[k].shape != v.shape for k, v in part.items()):
        raise XlgenError(f"{source}: its task head ({len(part)} tensors) does not fit the model's ({len(params)}); was it trained for another label set?")
    with torch.no_grad():
        for k, v in part.items():
            params[k].copy_(v)


def freeze_all_but(model, trainable_names: list[str]) -> int:
    """Freeze every parameter except those of the named adapters/fusions; return how many parameters train."""
    keep = set(trainable_names)
    n = 0
    for pname, p in model.named_parameters():
        train = _owner(pname) in keep
        p.requires_grad_(train)
        n += p.numel() if train else 0
    return n


def _artifact_dir(path: str | Path) -> Path:
    """An adapter artifact directory, or a run directory holding one in `model/`."""
    p = Path(path).expanduser()
    if read_manifest(p) is None and read_manifest(p / "model") is not None:
        p = p / "model"
    return p


def load_saved_adapter(model, family: str, path: str | Path, name: str) -> None:
    """Load the adapter an earlier adapters run trained (its artifact directory) as adapter `name`, frozen.

    An existing adapter `name` is overwritten, which is how a language adapter is swapped at evaluation time."""
    from xlgen.backbones import get_family

    p = _artifact_dir(path)
    manifest = read_manifest(p)
    if manifest is None or not (p / WEIGHTS).is_file():
        raise XlgenError(f"adaptation.adapters.load.{name}: {path} is not a saved adapter (no xlgen_adaptation.json/{WEIGHTS})")
    if manifest.get("method") != "adapters":
        raise XlgenError(f"adaptation.adapters.load.{name}: {path} was trained with method {manifest.get('method')!r}, not adapters")
    if manifest.get("family") not in (None, family) and get_family(manifest["family"]) is not get_family(family):
        raise XlgenError(f"adaptation.adapters.load.{name}: {path} is for a {manifest['family']} model, not {family}")
    layout = manifest.get("adapters")
    if layout:
        (trained,) = layout["trained"]
        info = layout["modules"][trained]
    else:  # an artifact without a layout: its config says what it trained
        a = manifest["adaptation"]
        a = {"compose": "stack", "dim": 64, "activation": "relu", **a.get("adapters", {})}
        info = {"kind": "fusion" if a["compose"] == "fuse" else "adapter", "dim": a["dim"], "activation": a["activation"]}
    if info["kind"] != "adapter":
        raise XlgenError(f"adaptation.adapters.load.{name}: {path} holds a trained fusion, not an adapter")
    existing = modules(model).get(name)
    if existing is None:
        add_adapters(model, family, name, info["dim"], info["activation"])
    elif existing != info:
        raise XlgenError(f"adaptation.adapters.load.{name}: {path} holds a {info} adapter; the model's {name!r} is {existing}")
    state = load_file(str(p / WEIGHTS))
    load_adapter_state(model, name, {k: v for k, v in state.items() if not _is_head(k)})
    if head_parameters(model):  # a task adapter brings its head (on a model that has one, e.g. an encoder)
        load_head_state(model, state, p)


# ----------------------------------------------------------------------------------------------------------------------
# The registry method


@typed_config
class AdaptersOptions:
    dim: AtLeast1 = 64  # bottleneck dimension (Bapna & Firat 2019; the paper: 64)
    activation: str = "relu"
    name: str = "task"  # this run's adapter
    # Saved adapters to load (frozen) before training, as name -> artifact or run directory (e.g. language adapters).
    load: dict[str, str] = field(default_factory=dict)
    # How adapters combine at each insertion point: "stack" (the loaded ones under this run's adapter, in order) or
    # "fuse" (a learned AdapterFusion over the loaded adapters; only the fusion trains).
    compose: str = "stack"
    # fuse: loaded adapters kept stacked above the fusion instead of fused, in order (e.g. a task adapter over fused
    # language adapters, as the transfer study's interference measurement needs).
    stack_above: list[str] = field(default_factory=list)


@register_method("adapters")
class AdaptersMethod(Method):
    """`adaptation: {method: adapters, adapters: {...}}`: loaded adapters (frozen) + this run's adapter (stack) or a
    fusion (fuse)."""

    Options = AdaptersOptions

    layout: dict | None = None

    def apply(self, model, family: str):
        opts = self.opts
        if opts.compose not in ("stack", "fuse"):
            raise XlgenError(f"adaptation.adapters.compose: expected stack or fuse, got {opts.compose!r}")
        loaded = list(opts.load)
        for name, path in opts.load.items():
            load_saved_adapter(model, family, path, name)
        if opts.compose == "stack":
            if opts.name in loaded:
                raise XlgenError(f"adaptation.adapters.name: {opts.name!r} is also the name of a loaded adapter")
            add_adapters(model, family, opts.name, opts.dim, opts.activation)
            trained = opts.name
            set_active(model, Stack(*loaded, trained))
        else:
            above = list(opts.stack_above)
            unknown = [n for n in above if n not in loaded]
            if unknown:
                raise XlgenError(f"adaptation.adapters.stack_above: {unknown[0]!r} is not a loaded adapter (load: {', '.join(loaded) or 'none'})")
            fused = [n for n in loaded if n not in above]
            if not fused:
                raise XlgenError("adaptation.adapters.compose: fuse needs adapters to fuse (adaptation.adapters.load)")
            add_fusion(model, fused, FUSION_NAME)
            trained = FUSION_NAME
            set_active(model, Stack(Fuse(*fused, name=FUSION_NAME), *above))
        freeze_all_but(model, [trained])
        if opts.compose == "stack":  # a new (task) adapter trains its head; a fusion keeps the loaded one
            for p in head_parameters(model):
                p.requires_grad_(True)
        self.layout = {
            "trained": [trained],
            "loaded_from": {n: str(_artifact_dir(p).resolve()) for n, p in opts.load.items()},
        }
        return model

    def _describe(self, model) -> dict:
        layout = dict(self.layout or {})
        mods = modules(model)
        # Known after apply/load; otherwise (adapters added by hand) whatever requires grad.
        trained = layout.get("trained") or sorted({_owner(k) for k, p in model.named_parameters() if p.requires_grad} - {None})
        return {
            "modules": mods,
            "composition": active(model),
            "trained": list(trained),
            "frozen": [n for n in mods if n not in trained],
            "loaded_from": layout.get("loaded_from", {}),
        }

    def trained_state(self, model) -> dict[str, torch.Tensor]:
        names = (self.layout or {}).get("trained") or self._describe(model)["trained"]
        state = {k: v for n in names for k, v in adapter_state(model, n).items()}
        state.update({k: p.detach().contiguous().cpu() for k, p in head_parameters(model, named=True)})
        return state

    def save(self, model, out: Path) -> None:
        self.layout = self._describe(model)
        save_file(self.trained_state(model), str(Path(out) / WEIGHTS))
        frozen = {k: v for n in self.layout["frozen"] for k, v in adapter_state(model, n).items()}
        if frozen:
            save_file(frozen, str(Path(out) / FROZEN))

    def manifest_extra(self) -> dict:
        """What `load` needs to rebuild the adapters without the directories they were first loaded from."""
        return {"adapters": self.layout} if self.layout else {}

    def load(self, model, out: Path, family: str):
        out = Path(out)
        layout = (read_manifest(out) or {}).get("adapters")
        if not layout or "modules" not in layout:
            return super().load(model, out, family)  # rebuild from the config (re-reads adapters.load)
        for name, info in layout["modules"].items():
            if info["kind"] == "adapter":
                add_adapters(model, family, name, info["dim"], info["activation"])
        for name, info in layout["modules"].items():
            if info["kind"] == "fusion":
                add_fusion(model, info["adapters"], name)
        set_active(model, layout["composition"])
        state = load_file(str(out / WEIGHTS))
        if (out / FROZEN).is_file():
            state.update(load_file(str(out / FROZEN)))
        for name in layout["modules"]:
            part = {k: v for k, v in state.items() if _owner(k) == name}
            if not part:
                raise XlgenError(f"{out}: the artifact has no weights for adapter {name!r}")
            load_adapter_state(model, name, part)
        load_head_state(model, state, out)
        freeze_all_but(model, layout["trained"])
        self.layout = layout
        return model
