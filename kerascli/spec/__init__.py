"""The kerascli spec language: pure Python (Pydantic + PyYAML), never imports TensorFlow."""

from kerascli.spec.loader import load_spec, load_spec_dict, spec_from_document
from kerascli.spec.models import Spec
from kerascli.spec.problems import KerasCliError, Problem, SpecError

__all__ = [
    "KerasCliError",
    "Problem",
    "Spec",
    "SpecError",
    "load_spec",
    "load_spec_dict",
    "spec_from_document",
]
