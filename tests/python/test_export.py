"""The TRL export as a trainer loads it: Hugging Face `datasets` over the JSONL
files that `tracepipe export --format trl` writes.

    <export>/manifest.json
    <export>/<split>.jsonl      {"messages": [...], "tools": [...]} per line

TRACEPIPE_EXPORT names an export directory. Without it, when TRACEPIPE_OUT
names a `tracepipe process` output (as in .ci/run), the test makes the export
itself with the tracepipe binary (TRACEPIPE_BIN, else
$CARGO_TARGET_DIR/debug/tracepipe) into a temporary directory.

Run:  PY="$(scripts/setup-python.sh)" && TRACEPIPE_EXPORT=/path/to/export "$PY" -m pytest tests/python/test_export.py
"""

import collections
import hashlib
import json
import os
import pathlib
import subprocess

import pytest

# Everything here is local files: never ask the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import datasets  # noqa: E402  (after the offline switches)

ROLES = {"system", "user", "assistant", "tool"}


def _binary() -> pathlib.Path:
    if os.environ.get("TRACEPIPE_BIN"):
        return pathlib.Path(os.environ["TRACEPIPE_BIN"])
    target = os.environ.get(
        "CARGO_TARGET_DIR", str(pathlib.Path(__file__).resolve().parents[2] / "target")
    )
    return pathlib.Path(target) / "debug" / "tracepipe"


if not os.environ.get("TRACEPIPE_EXPORT") and not (
    os.environ.get("TRACEPIPE_OUT") and _binary().is_file()
):
    pytest.skip(
        "neither TRACEPIPE_EXPORT nor TRACEPIPE_OUT with a tracepipe binary is set",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory) -> pathlib.Path:
    if os.environ.get("TRACEPIPE_EXPORT"):
        path = pathlib.Path(os.environ["TRACEPIPE_EXPORT"])
    else:
        path = tmp_path_factory.mktemp("export")
        subprocess.run(
            [
                str(_binary()),
                "export",
                "--from",
                os.environ["TRACEPIPE_OUT"],
                "--out",
                str(path),
                "--format",
                "trl",
                "--split",
                "train=0.8,validation=0.2",
            ],
            check=True,
        )
    assert (path / "manifest.json").is_file(), f"no manifest.json in {path}"
    return path


@pytest.fixture(scope="module")
def manifest(export_dir) -> dict:
    manifest = json.loads((export_dir / "manifest.json").read_text())
    if manifest["format"] != "trl":
        pytest.skip(f"the export is {manifest['format']}, not trl")
    return manifest


@pytest.fixture(scope="module")
def loaded(export_dir, manifest, tmp_path_factory) -> datasets.DatasetDict:
    files = {
        split["name"]: str(export_dir / split["file"])
        for split in manifest["splits"]
        if split["examples"] > 0
    }
    assert files, "the export holds no Examples"
    return datasets.load_dataset(
        "json", data_files=files, cache_dir=str(tmp_path_factory.mktemp("hf-cache"))
    )


def test_files_match_their_manifest_hashes(export_dir, manifest):
    for name, entry in manifest["files"].items():
        data = (export_dir / name).read_bytes()
        assert len(data) == entry["bytes"], name
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert data.count(b"\n") == entry["lines"], name


def test_splits_load_with_the_manifest_row_counts(loaded, manifest):
    expected = {s["name"]: s["examples"] for s in manifest["splits"] if s["examples"] > 0}
    assert {name: loaded[name].num_rows for name in loaded} == expected
    assert sum(expected.values()) == manifest["examples"]["exported"]
    for split in loaded.values():
        assert set(split.column_names) == {"messages", "tools"}


def test_rows_are_tool_calling_conversations(loaded, manifest):
    calls = collections.Counter()
    for split in loaded.values():
        for row in split:
            tools = row["tools"]
            assert isinstance(tools, list) and tools
            names = set()
            for tool in tools:
                assert tool["type"] == "function"
                assert isinstance(tool["function"]["parameters"], dict)
                names.add(tool["function"]["name"])
            open_calls = {}
            for i, message in enumerate(row["messages"]):
                assert message["role"] in ROLES, message
                if message["role"] != "tool":
                    assert not open_calls, f"unanswered calls before message {i}"
                if message["role"] == "assistant":
                    for call in message.get("tool_calls") or []:
                        function = call["function"]
                        # The TRL convention: arguments are objects, not JSON text.
                        assert isinstance(function["arguments"], dict), function
                        assert function["name"] in names
                        open_calls[call["id"]] = function["name"]
                        calls[function["name"]] += 1
                elif message["role"] == "tool":
                    assert open_calls.pop(message["tool_call_id"]) == message["name"]
                    assert isinstance(message["content"], str)
            assert not open_calls
    expected = collections.Counter()
    for suite in manifest["suites"].values():
        expected.update(suite["tool_calls"])
    assert calls == expected


def test_arguments_keep_only_their_own_keys(loaded):
    # Calls of different tools have different argument keys; loading must not
    # merge them into one struct padded with nulls.
    for split in loaded.values():
        for row in split:
            for message in row["messages"]:
                for call in message.get("tool_calls") or []:
                    arguments = call["function"]["arguments"]
                    assert None not in arguments.values(), arguments
