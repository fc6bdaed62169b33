"""`kerascli init`: every starter spec is written with its data, validates and trains."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest

from kerascli.spec.schema import SCHEMA_FILE
from kerascli.templates import TEMPLATES, file_bytes

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "kerascli" / "templates"


def test_every_template_file_is_registered() -> None:
    assert sorted(TEMPLATES) == sorted(p.stem for p in TEMPLATES_DIR.glob("*.yaml"))


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_template_validates_and_trains(cli, name: str, tmp_path: Path) -> None:
    spec = tmp_path / "project" / "spec.yaml"
    written = cli("init", "--template", name, spec, "--json")
    assert written.code == 0, written.err
    document = written.json()
    expected = [spec, *(spec.parent / rel for rel in TEMPLATES[name].files)]
    assert document["files"] == [str(p) for p in expected]
    assert all(p.is_file() for p in expected)
    assert document["schema"] == str(spec.parent / SCHEMA_FILE)
    lines = spec.read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"# yaml-language-server: $schema={SCHEMA_FILE}"
    assert sum(line.lstrip().startswith("#") for line in lines) >= 8  # sections explained

    validated = cli("validate", spec)
    assert validated.code == 0, validated.err

    runs = tmp_path / "runs"
    trained = cli("train", spec, "--epochs", "1", "--runs-dir", runs, "--json", "--quiet")
    assert trained.code == 0, trained.err
    result = trained.json()
    assert result["status"] == "completed"
    assert result["epochs"] == 1
    assert set(result["metrics"]) == {"train", "validation", "test"}
    assert (Path(result["run_dir"]) / "model.keras").is_file()


def test_default_is_mlp_in_spec_yaml(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("init")
    assert result.code == 0, result.err
    assert Path("spec.yaml").read_text(encoding="utf-8") == TEMPLATES["mlp"].text
    assert Path("data/iris.csv").read_bytes() == (TEMPLATES_DIR / "data" / "iris.csv").read_bytes()
    assert "kerascli train spec.yaml" in result.out
    assert f"kerascli schema --output {SCHEMA_FILE}" in result.out


def test_refuses_to_overwrite_unless_forced(cli, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: mine\n", encoding="utf-8")
    refused = cli("init", spec)
    assert refused.code == 2
    assert f"{spec} already exists; use --force to overwrite" in refused.err
    assert spec.read_text(encoding="utf-8") == "name: mine\n"
    assert not (tmp_path / "data").exists()  # nothing written at all

    forced = cli("init", spec, "--force")
    assert forced.code == 0, forced.err
    assert spec.read_text(encoding="utf-8") == TEMPLATES["mlp"].text


def test_other_data_in_the_way_is_refused_same_data_is_kept(cli, tmp_path: Path) -> None:
    first = cli("init", "--template", "functional", tmp_path / "a.yaml", "--json")
    assert first.code == 0, first.err
    second = cli("init", "--template", "mlp", tmp_path / "b.yaml", "--json")
    assert second.code == 0, second.err
    assert second.json()["files"] == [str(tmp_path / "b.yaml")]
    assert second.json()["kept"] == [str(tmp_path / "data" / "iris.csv")]

    (tmp_path / "data" / "iris.csv").write_text("my,own\n1,2\n", encoding="utf-8")
    refused = cli("init", "--template", "mlp", tmp_path / "c.yaml", "--json")
    assert refused.code == 2
    assert "data/iris.csv already exists" in refused.json()["errors"][0]["message"]
    assert not (tmp_path / "c.yaml").exists()


def test_unknown_template_suggests_the_closest(cli, tmp_path: Path) -> None:
    result = cli("init", "--template", "mpl", tmp_path / "spec.yaml")
    assert result.code == 2
    assert "unknown template 'mpl' (did you mean 'mlp'?)" in result.err
    assert not (tmp_path / "spec.yaml").exists()


def test_sine_data_is_deterministic() -> None:
    first, second = file_bytes("data/sine.npz"), file_bytes("data/sine.npz")
    assert hashlib.sha256(first).digest() == hashlib.sha256(second).digest()
    with np.load(io.BytesIO(first)) as arrays:
        window, after = arrays["window"], arrays["next"]
    assert window.shape == (400, 16, 1) and window.dtype == np.float32
    assert after.shape == (400,)
    assert np.abs(window).max() <= 1.3  # amplitude <= 1 plus a little noise
