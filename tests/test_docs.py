"""The docs are true: their specs validate and build, their outputs are real, their links resolve."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kerascli.data import Split, load_data
from kerascli.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SPEC_DOC = DOCS / "spec.md"
DATA_DOC = DOCS / "data.md"
DISTRIBUTE_DOC = DOCS / "distribute.md"
EXAMPLES = ROOT / "model_specs"

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
_FILE_HEADER = re.compile(r"^# file: (\S+)\n")
_BROKEN_HEADER = re.compile(r"^# (\S+\.yaml)\n")


def blocks(path: Path, lang: str) -> list[tuple[int, str]]:
    """The fenced blocks of one language in a Markdown file, with their line numbers."""
    text = path.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start()) + 1, m.group(2))
        for m in _FENCE.finditer(text)
        if m.group(1) == lang
    ]


def _reference_part() -> str:
    """docs/spec.md up to its error-message section (whose specs are broken on purpose),
    docs/data.md and docs/distribute.md."""
    spec = SPEC_DOC.read_text(encoding="utf-8").split("## Error messages")[0]
    others = [DATA_DOC.read_text(encoding="utf-8"), DISTRIBUTE_DOC.read_text(encoding="utf-8")]
    return "\n".join([spec, *others])


def _is_whole_spec(text: str) -> bool:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(data, dict) and "name" in data and ("model" in data or "extends" in data)


def _workspace(root: Path) -> Path:
    """A directory laid out like `model_specs/`: shipped data and plugins, plus the docs' files."""
    (root / "data").symlink_to(EXAMPLES / "data", target_is_directory=True)
    shutil.copytree(EXAMPLES / "plugins", root / "plugins")
    text = _reference_part()
    for match in _FENCE.finditer(text):
        header = _FILE_HEADER.match(match.group(2))
        if header is not None:
            target = root / header.group(1)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(match.group(2), encoding="utf-8")
    return root


def _spec_blocks() -> list[tuple[int, str]]:
    text = _reference_part()
    out = []
    for match in _FENCE.finditer(text):
        if match.group(1) == "yaml" and _is_whole_spec(match.group(2)):
            out.append((text.count("\n", 0, match.start()) + 1, match.group(2)))
    return out


SPEC_BLOCKS = _spec_blocks()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _workspace(tmp_path_factory.mktemp("docs"))


def test_spec_reference_has_examples_of_every_model_kind() -> None:
    specs = [yaml.safe_load(text) for _, text in SPEC_BLOCKS]
    kinds = {next(iter(spec["model"])) for spec in specs if "model" in spec}
    assert kinds == {"sequential", "functional", "subclass"}
    assert len(SPEC_BLOCKS) >= 15


@pytest.mark.parametrize("line, text", SPEC_BLOCKS, ids=[f"line{n}" for n, _ in SPEC_BLOCKS])
def test_spec_example_validates_and_builds(
    workspace: Path, line: int, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each whole spec in docs/spec.md passes every check and builds its Keras model.

    The one check allowed to fail is "data file not found", for files the page itself
    calls hypothetical; every other data file is the shipped one.
    """
    for name in ("SEED", "LR", "EPOCHS", "DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    header = _FILE_HEADER.match(text)
    path = workspace / (header.group(1) if header else f"spec_line{line}.yaml")
    path.write_text(text, encoding="utf-8")
    try:
        spec = load_spec(path)
    except SpecError as exc:
        missing = [p for p in exc.problems if p.message.startswith("data file not found")]
        assert missing == exc.problems, str(exc)
        assert "hypothetical" in text, str(exc)
        spec = load_spec(path, check=False)
    else:
        if spec.data is not None:  # the data fits the model's inputs and outputs
            train = load_data(spec).splits["train"]
            first = train if isinstance(train, Split) else next(train.chunks()).split
            assert first.rows > 0
            assert first.y is not None
    from kerascli.api import build_model

    model = build_model(spec)
    assert model.count_params() > 0


def _error_examples() -> list[tuple[str, str, list[str]]]:
    """(file name, broken spec, the `kerascli validate` command and output shown after it)."""
    text = SPEC_DOC.read_text(encoding="utf-8").split("## Error messages")[1]
    found = [(m.group(1), m.group(2)) for m in _FENCE.finditer(text)]
    out = []
    for (lang, body), (next_lang, shown) in zip(found, found[1:], strict=False):
        header = _BROKEN_HEADER.match(body)
        if lang == "yaml" and header and next_lang == "text":
            out.append((header.group(1), body, shown.splitlines()))
    return out


ERROR_EXAMPLES = _error_examples()


def test_error_section_covers_each_stage() -> None:
    assert [name for name, _, _ in ERROR_EXAMPLES] == [
        "names.yaml",
        "schema.yaml",
        "graph.yaml",
        "syntax.yaml",
        "env.yaml",
        "shapes.yaml",
    ]


@pytest.mark.parametrize(
    "name, body, shown", ERROR_EXAMPLES, ids=[name for name, _, _ in ERROR_EXAMPLES]
)
def test_error_example_output_is_real(
    workspace: Path, name: str, body: str, shown: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The messages printed under each broken spec are exactly what kerascli reports."""
    monkeypatch.delenv("EPOCHS", raising=False)
    monkeypatch.chdir(workspace)
    Path(name).write_text(body, encoding="utf-8")
    command, *lines = shown
    assert command in (f"$ kerascli validate {name}", f"$ kerascli validate --deep {name}")
    try:
        spec = load_spec(Path(name))
        assert "--deep" in command, f"{name} validates"
        import keras

        from kerascli.api import build_model

        keras.backend.clear_session()  # Keras numbers layer names per session: conv2d, conv2d_1
        build_model(spec)
    except SpecError as exc:
        problems = [str(p) for p in exc.problems]
    else:
        pytest.fail(f"{name} builds")
    expected = [line for line in lines if line.startswith(f"{name}:")]
    assert problems == expected
    n = len(expected)
    assert lines[-1] == f"{n} problem{'s' if n != 1 else ''} in 1 of 1 spec(s)"


def test_spec_reference_lists_every_shipped_example() -> None:
    text = SPEC_DOC.read_text(encoding="utf-8")
    missing = [
        p.name for p in sorted(EXAMPLES.glob("*.yaml")) if f"../model_specs/{p.name})" not in text
    ]
    assert missing == []


def test_pre_commit_hook_parses_and_its_entry_runs() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (hook,) = [h for h in hooks if h["id"] == "kerascli-validate"]
    assert hook["entry"] == "kerascli validate"
    assert hook["language"] == "python"
    pattern = re.compile(hook["files"])
    assert pattern.search("model_specs/iris_mlp.yaml")
    assert pattern.search("specs/sub/net.yml")
    assert not pattern.search("model_specs/data/iris.csv")
    assert not pattern.search(".github/workflows/ci.yaml")
    # pre-commit runs `entry` with the matching files as arguments.
    args = hook["entry"].split()[1:] + ["model_specs/iris_mlp.yaml"]
    done = subprocess.run(
        [sys.executable, "-m", "kerascli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok model_specs/iris_mlp.yaml"


_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _relative_links() -> list[tuple[str, str]]:
    out = []
    for page in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        text = _FENCE.sub("", page.read_text(encoding="utf-8"))
        for target in _LINK.findall(text):
            if re.match(r"^[a-z]+:", target):
                continue
            out.append((str(page.relative_to(ROOT)), target))
    return out


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces as '-'."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    headings = re.findall(r"^#+ (.+)$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_relative_links_point_at_files() -> None:
    links = _relative_links()
    assert ("README.md", "docs/spec.md") in links
    broken = []
    for page, target in links:
        file, _, anchor = target.partition("#")
        path = (ROOT / page).parent / file if file else ROOT / page
        if not path.exists():
            broken.append(f"{page}: {target}")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{page}: {target} (no such heading)")
    assert broken == []


def test_github_actions_workflow_in_ci_page_parses() -> None:
    workflows = [
        yaml.safe_load(text) for _, text in blocks(DOCS / "ci.md", "yaml") if "jobs:" in text
    ]
    assert workflows, "docs/ci.md shows no workflow"
    for workflow in workflows:
        assert "on" in workflow or True in workflow  # PyYAML reads a bare `on` key as True
        steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
        commands = " ".join(s.get("run", "") for s in steps)
        assert "kerascli validate" in commands
        assert "--require" in commands
        assert any(s.get("uses", "").startswith("actions/upload-artifact") for s in steps)
