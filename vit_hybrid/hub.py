"""from_pretrained / save_pretrained: a local folder or a Hub id, safetensors first, no pickle code.

Loading follows transformers' rules so that Hub checkpoints and fine-tunes behave as users expect:
a base model takes a classification checkpoint (the `vit.` prefix is stripped), a classifier takes a
base checkpoint (its head is freshly initialised), missing and unexpected keys are reported in one
warning, mis-shaped keys are an error unless `ignore_mismatched_sizes=True`. pytorch_model.bin is
read only with `torch.load(weights_only=True)`; there is no trust_remote_code.
"""

from __future__ import annotations

import logging
import os
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import ViTHybridConfig
from .files import SAFE_WEIGHTS_NAME, WEIGHT_NAMES, WEIGHTS_NAME
from .resolve import HUB_OPTIONS, CheckpointError, resolve_first

logger = logging.getLogger("vit_hybrid")

M = TypeVar("M", bound=torch.nn.Module)


def read_state_dict(path: str) -> dict[str, torch.Tensor]:
    """Reads model.safetensors or pytorch_model.bin (tensors only; any other pickle is refused)."""
    try:
        if path.endswith(".safetensors"):
            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, OSError, RuntimeError, EOFError, ValueError) as err:
        raise CheckpointError(f"cannot read the weights in {path}: it is corrupted or not a checkpoint ({err})") from None
    except Exception as err:  # pickle.UnpicklingError and friends: code or objects in the pickle
        raise CheckpointError(
            f"refused to load {path}: it holds more than plain tensors, which could run code ({err})"
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"refused to load {path}: it is not a mapping of names to tensors")
    return state


def _align_prefix(state: dict[str, torch.Tensor], expected: set[str], prefix: str) -> dict[str, torch.Tensor]:
    """Adds or strips the base model's prefix so that checkpoint keys meet the model's keys."""
    head = prefix + "."
    if any(k.startswith(head) for k in expected):
        if not any(k.startswith(head) for k in state) and any(head + k in expected for k in state):
            return {head + k: v for k, v in state.items()}  # base checkpoint into a model with a head
    elif any(k.startswith(head) for k in state):
        return {k[len(head) :] if k.startswith(head) else k: v for k, v in state.items()}  # head dropped
    return state


def load_state(
    model: torch.nn.Module, state: dict[str, torch.Tensor], ignore_mismatched_sizes: bool = False
) -> dict[str, list]:
    """Copies `state` into `model` by the rules in this module's docstring; reports what differs
    in one warning and returns it as transformers' loading info: missing_keys, unexpected_keys,
    mismatched_keys ((key, checkpoint shape, model shape) each) and error_msgs."""
    own = model.state_dict()
    state = _align_prefix(state, set(own), getattr(model, "base_model_prefix", "vit"))
    shared = [k for k in state if k in own]
    if not shared:
        raise CheckpointError(
            f"the checkpoint shares no weights with {type(model).__name__}: is it a ViT-Hybrid checkpoint? "
            f"(first keys: {sorted(state)[:3]})"
        )
    bad_dtype = [k for k in shared if not state[k].is_floating_point()]
    if bad_dtype:
        raise CheckpointError(f"weights with a non-float dtype: {', '.join(f'{k} ({state[k].dtype})' for k in bad_dtype)}")
    mismatched = sorted(k for k in shared if state[k].shape != own[k].shape)
    if mismatched and not ignore_mismatched_sizes:
        detail = ", ".join(f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in mismatched)
        raise CheckpointError(
            f"weights of the wrong shape: {detail}. Pass ignore_mismatched_sizes=True to re-initialise them "
            "(e.g. to fine-tune with another number of labels)."
        )
    with torch.no_grad():
        for k in shared:
            if k not in mismatched:
                own[k].copy_(state[k])
    missing = sorted(set(own) - set(shared))
    unexpected = sorted(set(state) - set(own))
    notes = []
    if missing:
        notes.append(f"newly initialised (not in the checkpoint): {', '.join(missing)}")
    if mismatched:
        notes.append(f"re-initialised (shape mismatch): {', '.join(mismatched)}")
    if unexpected:
        notes.append(f"not used (not in this model): {', '.join(unexpected)}")
    if notes:
        logger.warning("Loading %s: %s. Train the model before trusting new weights.", type(model).__name__, "; ".join(notes))
    return {
        "missing_keys": missing,
        "unexpected_keys": unexpected,
        "mismatched_keys": [(k, tuple(state[k].shape), tuple(own[k].shape)) for k in mismatched],
        "error_msgs": [],
    }


def weights_file(name_or_path: str | os.PathLike, use_safetensors: bool | None, **hub: Any) -> str:
    """The checkpoint's weights: model.safetensors, else pytorch_model.bin; only the one named
    when use_safetensors is True (safetensors) or False (the pickle)."""
    names = {None: WEIGHT_NAMES, True: (SAFE_WEIGHTS_NAME,), False: (WEIGHTS_NAME,)}[use_safetensors]
    return resolve_first(name_or_path, names, **hub)


def load_model(
    cls: type[M],
    pretrained_model_name_or_path: str | os.PathLike | None,
    *,
    config: ViTHybridConfig | None = None,
    state_dict: dict[str, torch.Tensor] | None = None,
    ignore_mismatched_sizes: bool = False,
    output_loading_info: bool = False,
    use_safetensors: bool | None = None,
    attn_implementation: str | None = None,
    torch_dtype: torch.dtype | None = None,
    add_pooling_layer: bool | None = None,
    use_mask_token: bool | None = None,
    trust_remote_code: bool = False,
    **config_overrides: Any,
) -> M | tuple[M, dict[str, list]]:
    """Builds `cls` from a folder or Hub id and loads its weights; returns it in eval mode (and,
    with output_loading_info=True, the loading info of `load_state`).

    Args:
        config: use this config instead of the checkpoint's config.json.
        state_dict: use these weights instead of the checkpoint's file; with config= as well, the
            name may be None.
        ignore_mismatched_sizes: re-initialise weights whose shape differs, instead of failing.
        use_safetensors: True reads model.safetensors only, False pytorch_model.bin only; None
            tries them in that order.
        attn_implementation: "sdpa" (the fused kernel where it can; the default) or "eager".
        revision, token, cache_dir, local_files_only, force_download, subfolder (`HUB_OPTIONS`):
            where the files are (huggingface_hub also honours HF_HUB_OFFLINE and the shared cache).
        torch_dtype: cast the loaded model to this dtype.
        add_pooling_layer, use_mask_token: ViTHybridModel's own arguments.
        trust_remote_code: True is refused (False is accepted, for code written for transformers).
        config_overrides: replace config values, e.g. num_labels=10 or id2label={...}; a keyword
            that is neither an option above nor a config field is a TypeError.
    """
    if trust_remote_code:
        raise CheckpointError("trust_remote_code is not supported: this package never runs code that comes with a checkpoint")
    hub = {key: config_overrides.pop(key) for key in HUB_OPTIONS if key in config_overrides}
    unknown = sorted(set(config_overrides) - ViTHybridConfig.field_names())
    if unknown:
        raise TypeError(f"from_pretrained() got unexpected keyword argument(s): {', '.join(unknown)}")
    if pretrained_model_name_or_path is None and (config is None or state_dict is None):
        raise CheckpointError("from_pretrained(None, ...) needs both config= and state_dict=")
    if attn_implementation is not None:
        config_overrides["attn_implementation"] = attn_implementation
    if config is None:
        config = ViTHybridConfig.from_pretrained(pretrained_model_name_or_path, **hub, **config_overrides)
    elif config_overrides:
        config = ViTHybridConfig.from_dict(
            config.to_dict(), **{"attn_implementation": config._attn_implementation, **config_overrides}
        )
    if state_dict is None:
        state_dict = read_state_dict(weights_file(pretrained_model_name_or_path, use_safetensors, **hub))
    model_kwargs = {}
    if add_pooling_layer is not None:
        model_kwargs["add_pooling_layer"] = add_pooling_layer
    if use_mask_token is not None:
        model_kwargs["use_mask_token"] = use_mask_token
    model = cls(config, **model_kwargs)
    info = load_state(model, state_dict, ignore_mismatched_sizes)
    if torch_dtype is not None:
        model.to(torch_dtype)
    return (model.eval(), info) if output_loading_info else model.eval()


def save_model(model: torch.nn.Module, save_directory: str | os.PathLike, safe_serialization: bool = True) -> None:
    """Writes config.json (with `architectures`) and the weights, loadable here and in transformers."""
    config = model.config
    config.architectures = [type(model).__name__]
    config.extra["torch_dtype"] = str(next(model.parameters()).dtype).removeprefix("torch.")
    config.save_pretrained(save_directory)  # first: it refuses a path that is a file
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if safe_serialization:
        save_file(state, os.path.join(save_directory, SAFE_WEIGHTS_NAME), metadata={"format": "pt"})
    else:
        torch.save(state, os.path.join(save_directory, WEIGHTS_NAME))


__all__ = ["CheckpointError", "load_model", "load_state", "read_state_dict", "save_model"]
