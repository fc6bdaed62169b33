"""Checks a schema-valid spec against Keras's names, the model graph and the files it names.

Runs without TensorFlow, from the generated catalog. Each concern has its module: names,
arguments and `compile:` (`check_names`, applications and ops included), the Functional graph
(`check_graph`), blocks and their uses (`check_blocks`), weights files (`check_weights`),
fine-tuning stages (`check_stages`), data sources, their sections, columns and the data-to-model
binding (`check_data`; `data.augment`'s layers in `check_names`), callbacks' monitors
(`monitor`). This module runs them and locates every finding in the YAML through the spec's
`Document`.
"""

from __future__ import annotations

from typing import Any

from kerascli.spec.check_blocks import check_blocks
from kerascli.spec.check_data import check_columns, check_data_model, check_files
from kerascli.spec.check_distribute import check_distribute
from kerascli.spec.check_graph import check_graph
from kerascli.spec.check_names import check_augment, check_call, check_compile, check_layers
from kerascli.spec.check_sources import check_sources
from kerascli.spec.check_stages import check_stages
from kerascli.spec.check_weights import check_weights
from kerascli.spec.datafile import data_header
from kerascli.spec.models import Spec, call_parts
from kerascli.spec.monitor import check_monitors
from kerascli.spec.problems import Finding, KeyPath, Problem
from kerascli.spec.source import Document


def check_spec(spec: Spec, doc: Document, training: bool = True) -> list[Problem]:
    """All problems a schema-valid spec has, located in its document. Without `training` (a run's
    spec, loaded to predict or evaluate) data files need not exist (a run predicts with its
    training data gone), and what only training uses is not checked: callbacks and their
    monitors, `loss_weights`, `fit.class_weight` (a run trained before a check was added still
    predicts)."""
    lenient = bool(spec.plugins)
    findings: list[Finding] = []
    model = spec.model
    if model.sequential is not None:
        path: KeyPath = ("model", "sequential", "layers")
        findings += check_layers(model.sequential.layers, path, lenient)
    if model.functional is not None:
        findings += check_graph(model.functional, lenient)
    findings += check_blocks(model, lenient)
    findings += check_compile(spec, lenient, training)
    if training:  # a run's callbacks (and their monitors) are not used to predict or evaluate
        for i, call in enumerate(spec.callbacks):
            findings += check_call("callbacks", *call_parts(call), ("callbacks", i), lenient)
        findings += check_monitors(spec)
        findings += check_stages(spec)
        findings += check_weights(spec)  # (a run predicts with the weights it saved)
        findings += check_augment(spec, lenient)  # (training batches only)
        findings += check_distribute(spec)
    findings += check_files(spec, training)
    findings += check_sources(spec)
    header = data_header(spec)
    findings += check_columns(spec, header)
    findings += check_data_model(spec, header)
    problems = []
    for path, message, at_key in findings:
        if path and path not in doc.keys and _value_at(doc.data, path[:-1]) == path[-1]:
            # A name written as a bare string (`loss: mse`): point at that value.
            path, at_key = path[:-1], False
        problems.append(doc.problem(path, message, at_key=at_key))
    return problems


def _value_at(data: Any, path: KeyPath) -> Any:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data
