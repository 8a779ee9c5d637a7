"""Import a published checkpoint into the project's own backbone definition, checking every tensor.

How the file is read is config, the keys of a model's ``weights`` (workflow/schemas/config.schema.yaml, ``source``):

- ``container``: the key, or dotted key path (``module.state_dict``), of the state dict inside the loaded file. Given,
  exactly that path is used and a missing key is an error naming ``<where>.container`` and the file's top-level keys.
  Absent, the automatic default: the file's ``state_dict`` entry when it has one (a mapping), else the file itself.
- ``drop``: regexes (``re.search``) of the source keys, as stored in the container, of tensors deliberately not
  imported (a classifier such as facenet-pytorch's ``logits.weight``); their number and keys are in the report.
- ``key_prefix``: stripped from every other key, each of which must have it.
- ``rename``: ``[{pattern: regex, replace: string}, ...]``, each rule ``re.sub(pattern, replace, key)`` (every match;
  ``\\1`` and ``\\g<name>`` refer to groups), applied in order to every key after ``key_prefix`` is stripped.
- ``map``: absent, by name: every model tensor must be found, no source tensor may be left over (missing and
  unexpected keys named). ``by-order``: the i-th source tensor goes to the i-th tensor of the model's state dict.

Either way every tensor is checked: its shape, and its kind (floating point or integer) against the model's; a
mismatch is refused before the model is touched. The file is loaded weights-only (facebench.weights), so a file that
carries code is refused.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from facebench.weights import SHOWN, ConversionError, load_weights_only, open_container

BY_ORDER = "by-order"
MAPS = (BY_ORDER,)  # without ``map``: by name


def _compile(pattern, key: str, origin: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except (re.error, TypeError) as err:
        raise ConversionError(f"{origin}: config key {key}: {pattern!r} is not a regular expression ({err})") from err


def _renamer(rename, where: str, origin: str):
    """``key -> new key`` for the ``rename`` rules (a list of {pattern, replace}), applied in order."""
    if not rename:
        return lambda key: key
    if not isinstance(rename, (list, tuple)):
        raise ConversionError(f"{origin}: config key {where}.rename: a list of {{pattern: regex, replace: string}} "
                              f"rules, got {type(rename).__name__}")
    rules = []
    for i, rule in enumerate(rename):
        if not isinstance(rule, Mapping) or set(rule) != {"pattern", "replace"}:
            raise ConversionError(f"{origin}: config key {where}.rename[{i}]: a rule is {{pattern: regex, replace: "
                                  f"string}}, got {rule!r}")
        rules.append((i, _compile(rule["pattern"], f"{where}.rename[{i}].pattern", origin), rule["replace"]))

    def by_rules(key):
        for i, pattern, replace in rules:
            try:
                key = pattern.sub(replace, key)
            except (re.error, IndexError) as err:
                raise ConversionError(f"{origin}: config key {where}.rename[{i}].replace: {replace!r}: {err}") from err
        return key
    return by_rules


def _kind(t: torch.Tensor) -> str:
    return "floating" if t.is_floating_point() else "integer"


def source_entries(source: Mapping, weights: Mapping, where: str, origin: str) -> tuple[list, list]:
    """([(key in the file, key after key_prefix and rename, tensor)] in the file's order, [dropped keys])."""
    key_prefix = weights.get("key_prefix") or ""
    drop = [_compile(p, f"{where}.drop[{i}]", origin) for i, p in enumerate(weights.get("drop") or [])]
    rename = _renamer(weights.get("rename"), where, origin)
    entries, dropped = [], []
    for key, value in source.items():
        if drop and isinstance(key, str) and any(p.search(key) for p in drop):
            dropped.append(key)
            continue
        if not isinstance(value, torch.Tensor):
            raise ConversionError(f"{origin}: entry {key!r} is a {type(value).__name__}, not a tensor")
        if not isinstance(key, str):
            raise ConversionError(f"{origin}: entry {key!r}: a state dict's keys are strings")
        name = key
        if key_prefix:
            if not name.startswith(key_prefix):
                raise ConversionError(f"{origin}: key {key!r} lacks the expected prefix {key_prefix!r}")
            name = name[len(key_prefix):]
        entries.append((key, rename(name), value))
    return entries, dropped


def _by_name(entries: list, target: Mapping, origin: str) -> dict:
    mapped, twice = {}, {}
    for key, name, value in entries:
        if name in mapped:
            twice.setdefault(name, [mapped[name][0]]).append(key)
        mapped[name] = (key, value)
    missing = [k for k in target if k not in mapped]
    unexpected = sorted(set(mapped) - set(target))
    wrong = [f"{k}: checkpoint {tuple(mapped[k][1].shape)} vs model {tuple(target[k].shape)}"
             for k in sorted(set(mapped) & set(target)) if mapped[k][1].shape != target[k].shape]
    kinds = [f"{k}: checkpoint {mapped[k][1].dtype} vs model {target[k].dtype}"
             for k in sorted(set(mapped) & set(target)) if _kind(mapped[k][1]) != _kind(target[k])]
    problems = []
    if twice:
        problems.append(f"{len(twice)} key(s) that several checkpoint tensors are renamed to: "
                        + "; ".join(f"{k} <- {v}" for k, v in list(twice.items())[:SHOWN]))
    if missing:
        problems.append(f"{len(missing)} model tensor(s) not in the checkpoint: {sorted(missing)[:SHOWN]}")
    if unexpected:
        problems.append(f"{len(unexpected)} checkpoint tensor(s) the model has no place for: {unexpected[:SHOWN]}")
    if wrong:
        problems.append(f"{len(wrong)} shape mismatch(es): {wrong[:SHOWN]}")
    if kinds:
        problems.append(f"{len(kinds)} dtype mismatch(es) (floating vs integer): {kinds[:SHOWN]}")
    if problems:
        raise ConversionError(f"{origin}: does not fit the model: " + "; ".join(problems))
    return {k: mapped[k][1] for k in target}


def _shape(t: torch.Tensor | None, other: torch.Tensor | None) -> str:
    if t is None:
        return "-"
    text = str(tuple(t.shape))
    return text + f" {t.dtype}" if other is not None and _kind(t) != _kind(other) else text


def _by_order(entries: list, target: Mapping, where: str, origin: str) -> dict:
    model = list(target.items())
    differ = []
    for i in range(max(len(entries), len(model))):
        s = entries[i][2] if i < len(entries) else None
        t = model[i][1] if i < len(model) else None
        if s is None or t is None or s.shape != t.shape or _kind(s) != _kind(t):
            differ.append(i)
    if differ:
        head = ("index", "source key", "source shape", "model key", "model shape")
        rows = [head] + [(str(i), entries[i][0] if i < len(entries) else "-",
                          _shape(entries[i][2] if i < len(entries) else None, model[i][1] if i < len(model) else None),
                          model[i][0] if i < len(model) else "-",
                          _shape(model[i][1] if i < len(model) else None,
                                 entries[i][2] if i < len(entries) else None)) for i in differ[:SHOWN]]
        widths = [max(len(r[c]) for r in rows) for c in range(len(head))]
        table = "\n".join("    " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows)
        more = f"\n    ... and {len(differ) - SHOWN} more" if len(differ) > SHOWN else ""
        count = (f"{len(entries)} source tensors for the model's {len(model)}; " if len(entries) != len(model)
                 else "")
        raise ConversionError(f"{origin}: config key {where}.map: {BY_ORDER!r} does not fit the model: {count}"
                              f"{len(differ)} pair(s) differ{f', the first {SHOWN}' if more else ''}:\n{table}{more}")
    return {k: entries[i][2] for i, (k, _) in enumerate(model)}


def map_state_dict(source: Mapping, target: Mapping, weights: Mapping, where: str = "weights",
                   origin: str = "checkpoint") -> dict:
    """The model's state dict (``target``'s keys and dtypes) filled from ``source`` as ``weights`` (the config keys
    above) says; ``where`` is its config key, named in errors; raises ConversionError."""
    return _convert(source, target, weights, where, origin)[0]


def _convert(source: Mapping, target: Mapping, weights: Mapping, where: str, origin: str) -> tuple[dict, list]:
    how = weights.get("map")
    if how is not None and how not in MAPS:
        raise ConversionError(f"{origin}: config key {where}.map: {how!r} is not one of {list(MAPS)} (without map: "
                              "by name)")
    entries, dropped = source_entries(source, weights, where, origin)
    state = _by_order(entries, target, where, origin) if how == BY_ORDER else _by_name(entries, target, origin)
    return {k: v.to(target[k].dtype) for k, v in state.items()}, dropped


def import_checkpoint(path, model: torch.nn.Module, weights: Mapping, where: str = "weights") -> dict:
    """Load ``path`` weights-only into ``model`` (in place) as ``weights`` (a model's config mapping, whose other keys
    are ignored) says; ``where`` is its config key (``models.<name>.weights``), named in errors. Returns the report:
    tensors, parameters, container (the path used; None: the file itself), map, dropped (a count), dropped_keys."""
    origin = str(path)
    loaded = load_weights_only(path)
    source, container = open_container(loaded, weights.get("container"), where, origin)
    state, dropped = _convert(source, model.state_dict(), weights, where, origin)
    model.load_state_dict(state, strict=True)
    return {"tensors": len(state), "parameters": int(sum(v.numel() for v in state.values())),
            "container": container, "map": weights.get("map") or "by-name", "dropped": len(dropped),
            "dropped_keys": dropped}
