"""The data formats and sources are one list and one rule (`facts`), which the spec's `format:`
key, the loader and the readers all ask."""

from __future__ import annotations

from typing import get_args

import pytest

from kerascli.spec.data_spec import COLUMN_TYPES, ColumnType, Format
from kerascli.spec.facts import DATA_FORMATS, format_of, is_glob, is_remote, source_format, streams
from kerascli.spec.models import DataSpec


def test_the_format_key_takes_exactly_the_known_formats() -> None:
    assert get_args(Format) == DATA_FORMATS
    assert get_args(ColumnType) == COLUMN_TYPES


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("a.csv", "csv"),
        ("a.TXT", "csv"),
        ("a.tsv", "tsv"),
        ("shards/*.parquet", "parquet"),
        ("a.pq", "parquet"),
        ("train.tfrecord-00001-of-00004", "tfrecord"),
        ("x.tfrecords", "tfrecord"),
        ("gs://bucket/part-*.tfrec", "tfrecord"),
        ("folder", None),
    ],
)
def test_format_of_a_name(name: str, fmt: str | None) -> None:
    assert format_of(name) == fmt


def test_a_folder_is_images_or_text_by_its_section() -> None:
    images = DataSpec.model_validate({"path": "pics", "images": {"image_size": [8, 8]}})
    assert source_format(images) == "images" and streams(images)
    column = DataSpec.model_validate(
        {"path": "pics.csv", "images": {"image_size": [8, 8], "column": "file"}}
    )
    assert source_format(column) == "csv" and streams(column)
    assert source_format(DataSpec.model_validate({"path": "docs", "text": {}})) == "text"


def test_what_streams() -> None:
    assert not streams(DataSpec(path="a.csv"))
    assert streams(DataSpec(path="a.csv", stream=True))
    assert streams(DataSpec(path="parts/*.csv"))
    assert streams(DataSpec(path="gs://bucket/a.csv"))
    assert streams(DataSpec(path="a.parquet"))
    assert is_remote("s3://b/k") and not is_remote("/data/a.csv")
    assert is_glob("part-[0-9].csv") and not is_glob("a.csv")
