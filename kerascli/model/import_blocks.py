"""Repeated units of an imported Functional graph folded into blocks (`kerascli import`).

Units `{prefix}_block{i}_{inner}`, i = 1..N (N >= 2), become one use `{prefix}: {block: NAME,
from: INPUT, repeat: N}`, which expands to those very layer names, where the units have the same
inner names, classes, call arguments and wiring, each reads only the one output of the unit
before it (the first: the use's `from`) and the model only the last's. Differing arguments are
block parameters (default: the most common value; then a use's `params`, `repeat_params`).
Runs of one structure share a block. The folded graph, expanded, must equal the flat one.

Long because finding a run, comparing its units and turning what differs into parameters is
one pass over the graph whose steps share the units it found.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kerascli.spec.blocks import layer_name, parse_layer_name
from kerascli.spec.check_graph import written_refs
from kerascli.spec.models import NODE_KEYS, ref_parts

WIRING_KEYS = NODE_KEYS
"""The keys of a node that are not its layer (`from`, `call`, `reuse`...)."""
_INPUT = "\0input"  # stands for the unit's input while units are compared

ValueOf = Callable[[str, str], Any]
"""The value of argument `key` of the layer of node `name` (for one the node leaves out)."""


@dataclass
class Run:
    """One foldable run: its units (inner name -> node name), input and output."""

    prefix: str
    units: list[dict[str, str]]
    source: str  # what the first unit reads: the use's `from`
    output: str  # the inner name of each unit's output
    form: str  # the units' shared structure, as JSON (runs of one form share a block)


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def layer_class(node: dict[str, Any]) -> str | None:
    """The node's layer class (`None` for a `reuse` or `block` node)."""
    classes = [k for k in node if k not in WIRING_KEYS]
    return classes[0] if len(classes) == 1 and "reuse" not in node else None


def refs_in(value: Any) -> list[str]:
    """Every reference in a `from` value (or `outputs`), as the graph checks find them."""
    return [ref for _, ref in written_refs(value, ())]


def rewire(value: Any, change: Callable[[str], str]) -> Any:
    """A `from` value with each reference changed."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {k: rewire(v, change) for k, v in value.items()}
    return [rewire(v, change) for v in value]


def fold_blocks(
    model: dict[str, Any], keep: set[str] | None = None, value_of: ValueOf | None = None
) -> dict[str, Any]:
    """`model` (a spec's `model` section) with its repeated units folded into blocks.

    Args:
        model: The section, `functional` holding flat nodes. Returned as is when nothing folds.
        keep: Node names that stay flat (those the spec cannot build, reported by line).
        value_of: Gives an argument a node leaves out (its default) where units differ in it.
    """
    functional: dict[str, Any] = model.get("functional") or {}
    nodes: dict[str, dict[str, Any]] = functional["layers"] if functional else {}
    runs = _runs(nodes, functional, keep or set()) if functional else []
    if not runs:
        return model
    blocks, uses = dict[str, Any](), dict[str, dict[str, Any]]()
    for form in dict.fromkeys(run.form for run in runs):
        made = _block([r for r in runs if r.form == form], nodes, value_of, set(blocks))
        if made is not None:
            blocks[made[0]] = made[1]
            uses.update(made[2])
    folded = _replace(nodes, functional, [r for r in runs if r.prefix in uses], uses)
    result = {k: v for k, v in model.items() if k not in ("blocks", "functional")}
    result.update(blocks={**model.get("blocks", {}), **blocks}, functional=folded)
    return result if blocks and _same_graph(model, result, value_of) else model


def _runs(nodes: dict[str, Any], functional: dict[str, Any], keep: set[str]) -> list[Run]:
    found: dict[str, dict[int, dict[str, str]]] = {}
    for name in nodes:
        parts = parse_layer_name(name)
        if parts is not None and name not in keep:
            prefix, repetition, inner = parts
            found.setdefault(prefix, {}).setdefault(repetition, {})[inner] = name
    taken = {*nodes, *functional["inputs"]}
    readers: list[tuple[Any, str]] = [(None, ref) for ref in refs_in(functional["outputs"])]
    for name, node in nodes.items():  # a layer reused elsewhere is no block's: `reuse: \0`
        readers += [(name, ref) for ref in refs_in(node["from"])]
        readers += [(name, "\0") for ref in [node.get("reuse")] if ref and parse_layer_name(ref)]
    runs = []
    for prefix, by_index in found.items():
        if prefix in taken or sorted(by_index) != list(range(1, len(by_index) + 1)):
            continue
        run = _run(prefix, [by_index[i] for i in sorted(by_index)], nodes, readers)
        if run is not None and len(run.units) >= 2:
            runs.append(run)
    return runs


def _run(
    prefix: str, units: list[dict[str, str]], nodes: dict[str, Any], readers: list[Any]
) -> Run | None:
    """The run of `units`, or `None` where they differ or are wired other than in a chain."""
    forms, inputs = [], []
    for unit in units:
        inner = {name: key for key, name in unit.items()}
        outside: set[str] = set()

        def local(ref: str, inner: dict[str, str] = inner, outside: set[str] = outside) -> str:
            found = _inner_ref(ref, inner)
            if found is None:
                outside.add(ref)
            return _INPUT if found is None else found

        form = {}
        for key, name in unit.items():
            node = nodes[name]
            cls = layer_class(node)
            if cls is None:
                return None
            form[key] = [cls, rewire(node["from"], local), node.get("call")]
        if len(outside) != 1:
            return None
        forms.append(_key(form))
        inputs.append(outside.pop())
    if len(set(forms)) != 1:
        return None
    second_reads = parse_layer_name(ref_parts(inputs[1])[0])
    if second_reads is None or second_reads[:2] != (prefix, 1):
        return None
    output, repeat = second_reads[2], len(units)
    chained = [layer_name(prefix, output, i, repeat) for i in range(1, repeat + 1)]
    if output not in units[0] or inputs[1:] != chained[:-1] or inputs[0] in chained:
        return None
    inside = {name for unit in units for name in unit.values()}
    for reader, ref in readers:  # the rest of the model reads only the last unit's output
        outside_read = ref_parts(ref)[0] in inside and ref != chained[-1]
        if reader not in inside and (ref == "\0" or outside_read):
            return None
    return Run(prefix, units, inputs[0], output, _key([forms[0], output]))


def _block(
    group: list[Run], nodes: dict[str, Any], value_of: ValueOf | None, names: set[str]
) -> tuple[str, dict[str, Any], dict[str, dict[str, Any]]] | None:
    """The block of runs of one form, and each run's use; `None` where an argument left out
    of some units cannot be had."""
    first = group[0].units[0]
    own = {name: inner for inner, name in first.items()}
    units = [unit for run in group for unit in run.units]
    input_name = next(n for n in ("x", "inputs", "unit_input") if n not in first)
    varying: dict[tuple[str, str], list[Any]] = {}
    layers: dict[str, Any] = {}
    for inner, name in first.items():
        node = nodes[name]
        cls = str(layer_class(node))
        keys = list(dict.fromkeys(k for unit in units for k in nodes[unit[inner]][cls]))
        args = {}
        for key in keys:
            try:
                values = [_argument(nodes[unit[inner]], cls, key, unit[inner], value_of)
                          for unit in units]  # fmt: skip
            except (KeyError, AttributeError, TypeError):
                return None
            if len({_key(v) for v in values}) == 1:
                args[key] = values[0]
            else:
                varying[(inner, key)] = values
                args[key] = None  # its `$param`, named below
        layers[inner] = {cls: args, **{k: node[k] for k in WIRING_KEYS if k in node}}
        layers[inner]["from"] = rewire(node["from"], lambda r: _inner_ref(r, own) or input_name)
    counts = Counter(key for _, key in varying)
    params: dict[str, Any] = {}
    per_unit: list[dict[str, Any]] = [{} for _ in units]
    for (inner, key), values in varying.items():
        param = key if counts[key] == 1 else f"{key}_{inner}"
        layers[inner][str(layer_class(layers[inner]))][key] = f"${param}"
        params[param] = _most_common(values)
        for each, value in zip(per_unit, values, strict=True):
            each[param] = value
    block = {"inputs": [input_name], **({"params": params} if params else {}), "layers": layers}
    block["outputs"] = group[0].output
    name, uses, start = _block_name(group[0].prefix, names), {}, 0
    for run in group:
        uses[run.prefix] = _use(run, name, params, per_unit[start : start + len(run.units)])
        start += len(run.units)
    return name, block, uses


def _argument(node: dict[str, Any], cls: str, key: str, name: str, value_of: Any) -> Any:
    """Argument `key` of a node, asked of `value_of` where the node leaves it out."""
    args = node[cls]
    return args[key] if key in args else value_of(name, key)


def _inner_ref(ref: str, inner: dict[str, str]) -> str | None:
    """`ref` in a unit's own names (`inner`: node name -> inner name); `None` outside it."""
    name, index = ref_parts(ref)
    if name not in inner:
        return None
    return inner[name] if index is None else f"{inner[name]}[{index}]"


def _most_common(values: list[Any]) -> Any:
    """The most common value (not null where another is given: a null default means "a use
    must give it"); the first of the most common."""
    counts = Counter(_key(v) for v in values)
    by_key = {_key(v): v for v in reversed(values)}
    best = max(counts, key=lambda k: (by_key[k] is not None, counts[k], -list(counts).index(k)))
    return by_key[best]


def _use(
    run: Run, block: str, defaults: dict[str, Any], per_unit: list[dict[str, Any]]
) -> dict[str, Any]:
    """The use of `block` for `run`: its `params` where its most common value is not the
    default, `repeat_params` for the units that differ from that."""
    params = {}
    for param, default in defaults.items():
        common = _most_common([each[param] for each in per_unit])
        if _key(common) != _key(default):
            params[param] = common
    given = {**defaults, **params}
    each = [{p: v for p, v in unit.items() if _key(v) != _key(given[p])} for unit in per_unit]
    use: dict[str, Any] = {"block": block, "from": run.source}
    use.update({"params": params} if params else {}, repeat=len(run.units))
    if any(each):
        use["repeat_params"] = each
    return use


def _block_name(prefix: str, taken: set[str]) -> str:
    base = (re.sub(r"[\d_]+$", "", prefix) or "unit") + "_block"  # conv2, conv3: conv_block
    return next(
        f"{base}{n or ''}" for n in range(len(taken) + 2) if f"{base}{n or ''}" not in taken
    )


def _replace(
    nodes: dict[str, Any], functional: dict[str, Any], runs: list[Run], uses: dict[str, Any]
) -> dict[str, Any]:
    """`functional` with each run's nodes replaced by its use (where its first node was), and
    each reference to a run's last output by the use's name."""
    last = {_last_output(run): run.prefix for run in runs}
    first = {min(run.units[0].values(), key=list(nodes).index): run.prefix for run in runs}
    folded = {name for run in runs for unit in run.units for name in unit.values()}
    layers: dict[str, Any] = {}
    change: Callable[[str], str] = lambda ref: last.get(ref, ref)  # noqa: E731
    for name, node in nodes.items():
        if name in first:
            use = uses[first[name]]
            layers[first[name]] = {**use, "from": rewire(use["from"], change)}
        if name in folded:
            continue
        layers[name] = {k: rewire(v, change) if k in ("from", "reuse") else v
                        for k, v in node.items()}  # fmt: skip
    return {**functional, "layers": layers, "outputs": rewire(functional["outputs"], change)}


def _last_output(run: Run) -> str:
    """The name of the output of a run's last unit (what the use's name stands for)."""
    return layer_name(run.prefix, run.output, len(run.units), len(run.units))


def _same_graph(flat: dict[str, Any], folded: dict[str, Any], value_of: ValueOf | None) -> bool:
    """Whether `folded` expands to the nodes and outputs of `flat` (an argument `flat` leaves
    out given as its value)."""
    from kerascli.spec.blocks import expand
    from kerascli.spec.models import ModelSpec

    try:
        before = expand(ModelSpec.model_validate(flat))
        after = expand(ModelSpec.model_validate(folded))
        if set(before.nodes) != set(after.nodes) or before.outputs != after.outputs:
            return False
        for name, node in after.nodes.items():
            old, new = before.nodes[name].node, node.node
            old_args, new_args = (old.layer or ("", {}))[1], (new.layer or ("", {}))[1]
            keys = {**old_args, **new_args}  # those only `new` gives, as `value_of` has them
            added = {k: _argument({"": old_args}, "", k, name, value_of) for k in keys}
            wiring = [old.from_, old.call, old.reuse, old.layer and old.layer[0], added]
            if _key(wiring) != _key(
                [new.from_, new.call, new.reuse, new.layer and new.layer[0], new_args]
            ):
                return False
    except (ValueError, TypeError, KeyError, AttributeError):
        return False
    return True
