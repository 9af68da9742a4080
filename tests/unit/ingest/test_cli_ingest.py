"""``ragplane ingest``: which files it sends, with which doc ids, and which key --tenant picks."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragplane.cli.cmd_ingest import CliError, api_key_for_tenant, collect
from ragplane.cli.main import build_parser

pytestmark = pytest.mark.unit


def tree(root: Path, files: list[str]) -> None:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)


def test_folders_are_walked_for_supported_files_skipping_hidden_ones(tmp_path):
    tree(
        tmp_path / "docs",
        [
            "a.md",
            "sub/b.PDF",
            "sub/c.docx",
            "d.html",
            "e.txt",
            "image.png",
            ".hidden.md",
            ".git/config.md",
            "sub/.cache/x.txt",
            "noext",
        ],
    )
    documents, problems = collect([str(tmp_path / "docs")])
    assert [d.doc_id for d in documents] == ["a.md", "d.html", "e.txt", "sub/b.PDF", "sub/c.docx"]
    assert documents[0].source == (tmp_path / "docs" / "a.md").as_posix()
    assert documents[0].size == len("a.md") and not problems


def test_a_named_file_is_sent_whatever_its_extension_with_its_name_as_doc_id(tmp_path):
    tree(tmp_path, ["x/picture.png"])
    documents, problems = collect([str(tmp_path / "x" / "picture.png")])
    assert [d.doc_id for d in documents] == ["picture.png"] and not problems


def test_missing_paths_and_duplicate_doc_ids_are_reported(tmp_path):
    tree(tmp_path, ["one/a.md", "two/a.md"])
    documents, problems = collect([str(tmp_path / "one"), str(tmp_path / "two"), str(tmp_path / "nope")])
    assert [d.source for d in documents] == [(tmp_path / "one" / "a.md").as_posix()]
    assert problems[0][1].startswith("doc_id 'a.md' is also used by")
    assert problems[1] == (str(tmp_path / "nope"), "no such file or directory")


def test_tenant_picks_the_key_mapped_to_it():
    assert api_key_for_tenant("tenant-b", "k1=tenant-a,k2=tenant-b") == "k2"


def test_tenant_without_a_key_is_an_error_naming_it(tmp_path):
    with pytest.raises(CliError, match="--tenant nobody: no API key"):
        api_key_for_tenant("nobody", "k1=tenant-a")
    keys = tmp_path / "keys"
    keys.write_text("# comment\nfilekey=from-file\n")
    assert api_key_for_tenant("from-file", str(keys)) == "filekey"


def test_ingest_command_parses_its_options():
    args = build_parser().parse_args(
        [
            "ingest",
            "a",
            "b",
            "--tenant",
            "t",
            "--wait",
            "--timeout",
            "5",
            "--addr",
            "h:1",
            "--chunk-size",
            "256",
            "--chunk-overlap",
            "20",
            "--json",
        ]
    )
    assert (args.paths, args.tenant, args.wait, args.timeout, args.addr) == (["a", "b"], "t", True, 5.0, "h:1")
    assert (args.chunk_size, args.chunk_overlap, args.json) == (256, 20, True)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["ingest", "a", "--chunk-size", "-1"])
