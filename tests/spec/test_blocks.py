"""Blocks and repeat: expansion (names, parameters, wiring) and located block mistakes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kerascli.spec import SpecError, load_spec
from kerascli.spec.blocks import expand
from kerascli.spec.check_blocks import check_blocks
from kerascli.spec.models import ModelSpec
from tests.conftest import SPECS

FIXTURES = Path(__file__).parent / "fixtures"


def _model(text: str) -> ModelSpec:
    return ModelSpec.model_validate(yaml.safe_load(text))


def _layers(model: ModelSpec) -> dict[str, tuple[Any, Any]]:
    return {n.name: (n.node.layer, n.node.from_) for n in expand(model).nodes.values()}


def test_a_resnet_stage_expands_to_named_wired_layers() -> None:
    graph = expand(load_spec(FIXTURES / "blocks_resnet.yaml").model)
    nodes = graph.nodes
    stage = [name for name in nodes if name.startswith("stage2_block3_")]
    assert stage == [
        "stage2_block3_conv1_conv",
        "stage2_block3_conv1_bn",
        "stage2_block3_relu",
        "stage2_block3_conv2_conv",
        "stage2_block3_conv2_bn",
        "stage2_block3_shortcut",
        "stage2_block3_add",
    ]
    assert len(nodes) == 2 + 3 * 7 + 3  # stem, pool; 3 repetitions; heads_left/right, joined
    # defaults, then the use's params, then repeat_params (strides 2 in repetition 1 only)
    first = nodes["stage2_block1_conv1_conv"].node.layer
    assert first == ("Conv2D", {"filters": 16, "kernel_size": 3, "strides": 2, "padding": "same"})
    assert nodes["stage2_block2_conv1_conv"].node.layer[1]["strides"] == 1  # type: ignore[index]
    assert nodes["stage2_block1_shortcut"].node.layer[1]["strides"] == 2  # type: ignore[index]
    assert nodes["stage2_block1_relu"].node.layer == ("Activation", {"activation": "relu"})
    assert nodes["stage2_block3_relu"].node.layer == ("Activation", {"activation": "gelu"})
    # repetition i+1 reads repetition i's output; a reference to the use reads the last one
    assert nodes["stage2_block1_conv1_conv"].node.from_ == "stem"
    assert nodes["stage2_block2_conv1_conv"].node.from_ == "stage2_block1_add"
    assert nodes["stage2_block2_shortcut"].node.from_ == "stage2_block1_add"
    assert nodes["stage2_block3_add"].node.from_ == [
        "stage2_block3_shortcut",
        "stage2_block3_conv2_bn",
    ]
    assert nodes["pool"].node.from_ == "stage2_block3_add"
    assert graph.outputs == {"joined": "joined", "stage2": "stage2_block3_add"}


def test_each_node_says_where_it_is_written_and_which_use_made_it() -> None:
    nodes = expand(load_spec(FIXTURES / "blocks_resnet.yaml").model).nodes
    conv = nodes["stage2_block3_conv1_conv"]
    assert conv.path == ("model", "blocks", "conv_bn", "layers", "conv")
    assert conv.use == (
        "in block 'conv_bn', used by 'conv1', in block 'residual', used by 'stage2' (repetition 3)"
    )
    assert nodes["heads_left"].use == "in block 'split', used by 'heads'"
    assert nodes["pool"].path == ("model", "functional", "layers", "pool")
    assert nodes["pool"].use is None
    for node in nodes.values():  # block-free
        assert node.node.block is None and node.node.layer is not None


def test_outputs_of_a_multi_output_block_are_picked_by_index() -> None:
    nodes = expand(load_spec(FIXTURES / "blocks_resnet.yaml").model).nodes
    assert nodes["heads_left"].node.from_ == "pool"
    assert nodes["joined"].node.from_ == ["heads_left", "heads_right"]


def test_a_model_without_blocks_expands_to_its_own_nodes() -> None:
    model = load_spec(SPECS / "wine_residual.yaml").model
    assert model.functional is not None
    graph = expand(model)
    assert list(graph.nodes) == list(model.functional.layers)
    for name, node in graph.nodes.items():
        assert node.node is model.functional.layers[name]
        assert node.use is None
    assert graph.outputs == {name: name for name in model.functional.output_names}


SWAP = """
blocks:
  swap:
    inputs: [a, b]
    params: {scale: 1.0, train: false}
    layers:
      left: {Rescaling: {scale: $scale}, from: b, call: {training: $train}}
      right: {Rescaling: {scale: [$scale]}, from: a}
    outputs: [left, right]
functional:
  inputs: {p: {shape: [2]}, q: {shape: [2]}}
  layers:
    chain: {block: swap, from: {b: q, a: p}, repeat: 3, repeat_params: [{}, {scale: 2.0}, {}]}
    out: {Concatenate: {}, from: ["chain[0]", "chain[1]"]}
  outputs: out
"""


def test_repetitions_chain_every_output_to_the_next_input() -> None:
    layers = _layers(_model(SWAP))
    assert layers["chain_block1_left"] == (("Rescaling", {"scale": 1.0}), "q")
    assert layers["chain_block1_right"] == (("Rescaling", {"scale": [1.0]}), "p")
    assert layers["chain_block2_left"] == (("Rescaling", {"scale": 2.0}), "chain_block1_right")
    assert layers["chain_block2_right"] == (("Rescaling", {"scale": [2.0]}), "chain_block1_left")
    assert layers["out"][1] == ["chain_block3_left", "chain_block3_right"]
    assert expand(_model(SWAP)).nodes["chain_block1_left"].node.call == {"training": False}


NESTED = """
blocks:
  dense:
    inputs: [x]
    params: {units: null}
    layers:
      layer: {Dense: {units: $units}, from: x}
    outputs: layer
  pair:
    inputs: [x]
    params: {width: 4}
    layers:
      first: {block: dense, from: x, params: {units: $width}}
      second: {block: dense, from: first, repeat_params: [{units: $width}, {units: 1}]}
    outputs: second
  passthrough:
    inputs: [x]
    layers:
      unused: {Dense: {units: 1}, from: x}
    outputs: x
functional:
  inputs: {features: {shape: [3]}}
  layers:
    body: {block: pair, from: features, params: {width: 8}}
    same: {block: passthrough, from: "body"}
    out: {Dense: {units: 1}, from: same}
  outputs: out
"""


def test_nested_blocks_expand_with_their_parent_parameters() -> None:
    layers = _layers(_model(NESTED))
    assert layers["body_first_layer"] == (("Dense", {"units": 8}), "features")
    assert layers["body_second_block1_layer"] == (("Dense", {"units": 8}), "body_first_layer")
    assert layers["body_second_block2_layer"] == (
        ("Dense", {"units": 1}),
        "body_second_block1_layer",
    )
    # a block output naming its input passes the use's `from` through
    assert layers["out"][1] == "body_second_block2_layer"
    assert list(check_blocks(_model(NESTED), lenient=False)) == []


def test_expand_refuses_a_block_that_uses_itself() -> None:
    model = load_spec(FIXTURES / "blocks_recursion.yaml", check=False).model
    with pytest.raises(ValueError, match="block 'outer' uses itself: outer -> middle -> outer"):
        expand(model)


# -- located mistakes ------------------------------------------------------------------------
EXPECTED: dict[str, list[str]] = {
    "blocks_input_index": [  # found by expanding: `x` is `enc[1]` in this use
        "7:9: model.blocks.unit.layers.d: 'x[0]': input 'x' is one output, 'enc[1]' (in block"
        " 'unit', used by 'u')"
    ],
    "blocks_unknown_block": [
        "13:22: model.functional.layers.stage.block: unknown block 'residuall' (did you mean"
        " 'residual'?)"
    ],
    "blocks_inner_refs": [
        "7:9: model.blocks.unit.layers.x: node 'x' has the same name as a block input",
        "8:42: model.blocks.unit.layers.dense.from: unknown node or block input 'hiden' in"
        " block 'unit' (did you mean 'hidden' or 'dense'?)",
        "9:43: model.blocks.unit.layers.hidden.from: 'a' is outside block 'unit': its nodes"
        " read from its inputs (x) and from each other",
        "10:24: model.blocks.unit.layers.again.reuse: reuse names no layer node of block"
        " 'unit': 'dence' (did you mean 'dense'?)",
        "11:24: model.blocks.unit.outputs[1]: unknown node or block input 'hiddn' in block"
        " 'unit' (did you mean 'hidden'?)",
    ],
    "blocks_params": [
        "8:52: model.blocks.unit.layers.dense.Dense.activation: unknown parameter"
        " '$activaton' of block 'unit' (did you mean 'activation'?)",
        "14:44: model.functional.layers.one.params.unit: block 'unit' has no parameter 'unit'"
        " (did you mean 'units'?)",
        "14:7: model.functional.layers.one: block 'unit' needs a value for its parameter"
        " 'units' (its default is null): give params: {units: ...}",
        "15:80: model.functional.layers.two.repeat_params[2].size: block 'unit' has no"
        " parameter 'size'; it has units, activation",
        "15:7: model.functional.layers.two: block 'unit' needs a value for its parameter"
        " 'units' in repetition 2 (its default is null): give params: {units: ...}",
    ],
    "blocks_from_repeat": [
        "14:33: model.functional.layers.one.from: block 'merge' takes 2 inputs (left, right),"
        " got 1",
        "15:43: model.functional.layers.two.from.rigth: block 'merge' has no input 'rigth'"
        " (did you mean 'right'?)",
        "15:33: model.functional.layers.two.from: from gives nothing for the block input 'right'",
        "16:55: model.functional.layers.three.repeat: repeat: 2 feeds each repetition's"
        " outputs to the next, so block 'merge' needs as many outputs as inputs: it has 2"
        " inputs (left, right) and 1 output (sum)",
    ],
    "blocks_out_of_range": [
        "15:38: model.functional.layers.out.from: 'heads[2]' is out of range: block 'split'"
        " has 2 outputs (heads[0] to heads[1])",
        "16:20: model.functional.outputs[1]: 'heads' gives 2 outputs (block 'split'): name"
        " one, heads[0] to heads[1]",
    ],
    "blocks_recursion": [
        "12:23: model.blocks.middle.layers.back.block: block 'outer' uses itself:"
        " outer -> middle -> outer"
    ],
    # once, though three repetitions share the mistake; a parameter's value at its `$name`
    "blocks_layer_call": [
        "8:25: model.blocks.unit.layers.dense.Dense.unit: unknown argument 'unit' for Dense"
        " (did you mean 'units'?)",
        "8:46: model.blocks.unit.layers.dense.Dense.activation: unknown activation 'rellu'"
        " (did you mean 'relu' or 'relu6' or 'elu'?) (in block 'unit', used by 'stage'"
        " (repetition 2))",
    ],
    "blocks_name_clash": [
        "7:9: model.blocks.unit.layers.dense: the layer name 'stage_dense' is given twice (in"
        " block 'unit', used by 'stage'): rename this node or the use"
    ],
    "blocks_sequential": [
        "3:3: model.blocks: blocks are for Functional models: nodes of model.functional use them"
    ],
}


def _expected(name: str) -> list[str]:
    return [f"{FIXTURES / name}.yaml:{line}" for line in EXPECTED[name]]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_block_mistakes_are_located(name: str) -> None:
    spec = load_spec(FIXTURES / f"{name}.yaml", check=False)
    findings = check_blocks(spec.model, lenient=False)
    problems = [str(spec.document.problem(path, message, at)) for path, message, at in findings]
    assert problems == _expected(name)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_load_spec_reports_block_mistakes(name: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(FIXTURES / f"{name}.yaml")
    reported = [str(problem) for problem in caught.value.problems]
    assert [line for line in _expected(name) if line not in reported] == []


def test_every_blocks_fixture_is_tested() -> None:
    stems = {p.stem for p in FIXTURES.glob("blocks_*.yaml")}
    assert stems == {*EXPECTED, "blocks_resnet"}


def test_blocks_that_would_expand_past_the_limit_are_refused_unexpanded(tmp_path: Path) -> None:
    """Twelve blocks, each repeating the one before 100 times, would be 100**11 layers: refused
    at once, located at the use, without expanding anything."""
    blocks = {"b0": {"inputs": ["x"], "layers": {"d": {"Dense": [2], "from": "x"}}, "outputs": "d"}}
    for i in range(1, 12):
        use = {"block": f"b{i - 1}", "from": "x", "repeat": 100}
        blocks[f"b{i}"] = {"inputs": ["x"], "layers": {"u": use}, "outputs": "u"}
    spec = {
        "name": "bomb",
        "model": {
            "blocks": blocks,
            "functional": {
                "inputs": {"i": {"shape": [2]}},
                "layers": {"top": {"block": "b11", "from": "i"}},
                "outputs": "top",
            },
        },
    }
    path = tmp_path / "bomb.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    (problem,) = info.value.problems
    assert problem.path == "model.functional.layers.top"
    assert problem.message.startswith("the block uses expand to more than 10,000 layers")


def test_an_unused_block_that_would_expand_past_the_limit_is_refused(tmp_path: Path) -> None:
    """A block no node uses is checked too: its own uses count against the limit, so `validate`
    never walks an exponential tree of repetitions."""
    blocks = {"b0": {"inputs": ["x"], "layers": {"d": {"Dense": [2], "from": "x"}}, "outputs": "d"}}
    for i in range(1, 4):
        each = [{} for _ in range(60)]
        use = {"block": f"b{i - 1}", "from": "x", "repeat_params": each}
        blocks[f"b{i}"] = {"inputs": ["x"], "layers": {"u": use}, "outputs": "u"}
    spec = {
        "name": "unused",
        "model": {
            "blocks": blocks,
            "functional": {
                "inputs": {"i": {"shape": [2]}},
                "layers": {"out": {"Dense": [1], "from": "i"}},
                "outputs": "out",
            },
        },
    }
    path = tmp_path / "unused.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    (problem,) = info.value.problems
    assert problem.path == "model.blocks.b3.layers.u"
    assert problem.message.startswith("the block uses expand to more than 10,000 layers")


def test_a_layer_in_a_block_takes_its_name_from_the_use(tmp_path: Path) -> None:
    spec = {
        "name": "named",
        "model": {
            "blocks": {
                "unit": {
                    "inputs": ["x"],
                    "layers": {"d": {"Dense": {"units": 2, "name": "fixed"}, "from": "x"}},
                    "outputs": "d",
                }
            },
            "functional": {
                "inputs": {"i": {"shape": [2]}},
                "layers": {"u": {"block": "unit", "from": "i", "repeat": 2}},
                "outputs": "u",
            },
        },
    }
    path = tmp_path / "named.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    (problem,) = info.value.problems
    assert problem.path == "model.blocks.unit.layers.d.Dense.name"
    assert problem.message == "a layer in a block is named by each use ('{use}_d'): remove name"
