"""Model files: joining parts in order, hash verification, reuse through the marker, unknown references."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ragplane_generate.models import ModelFileError, chat_template_for, join_parts, resolve_model

pytestmark = pytest.mark.unit


def make_parts(tmp_path: Path, chunks: list[bytes]) -> list[Path]:
    parts = []
    for i, chunk in enumerate(chunks, start=1):
        path = tmp_path / "pkg" / f"part{i:02d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(chunk)
        parts.append(path)
    return parts


def test_parts_are_joined_in_order_and_verified(tmp_path):
    chunks = [b"GGUF", b"-middle-", b"end"]
    parts = make_parts(tmp_path, chunks)
    digest = hashlib.sha256(b"".join(chunks)).hexdigest()
    dest = join_parts(parts, tmp_path / "cache" / "m.gguf", digest)
    assert dest.read_bytes() == b"GGUF-middle-end"
    marker = json.loads((tmp_path / "cache" / "m.gguf.verified").read_text())
    assert marker == {"sha256": digest, "size": 15}


def test_a_hash_mismatch_leaves_nothing_behind(tmp_path):
    parts = make_parts(tmp_path, [b"a", b"b"])
    with pytest.raises(ModelFileError, match="sha256 of the joined parts is"):
        join_parts(parts, tmp_path / "cache" / "m.gguf", "0" * 64)
    assert list((tmp_path / "cache").glob("m.gguf*")) == []
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []


def test_a_verified_file_is_reused_without_reading_the_parts(tmp_path):
    chunks = [b"one", b"two"]
    parts = make_parts(tmp_path, chunks)
    digest = hashlib.sha256(b"onetwo").hexdigest()
    dest = join_parts(parts, tmp_path / "cache" / "m.gguf", digest)
    for part in parts:
        part.unlink()
    assert join_parts(parts, tmp_path / "cache" / "m.gguf", digest) == dest


def test_a_file_whose_size_changed_since_verification_is_joined_again(tmp_path):
    parts = make_parts(tmp_path, [b"one", b"two"])
    digest = hashlib.sha256(b"onetwo").hexdigest()
    dest = join_parts(parts, tmp_path / "cache" / "m.gguf", digest)
    dest.write_bytes(b"truncated")
    join_parts(parts, dest, digest)
    assert dest.read_bytes() == b"onetwo"


def test_missing_parts_are_named(tmp_path):
    parts = make_parts(tmp_path, [b"x"])
    with pytest.raises(ModelFileError, match="missing parts: .*part09.bin"):
        join_parts([*parts, tmp_path / "pkg" / "part09.bin"], tmp_path / "cache" / "m.gguf", "0" * 64)


def test_a_gguf_path_is_used_and_checked_when_a_hash_is_given(tmp_path):
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUFdata")
    assert resolve_model(str(model), cache_dir=tmp_path / "cache") == model
    good = hashlib.sha256(b"GGUFdata").hexdigest()
    assert resolve_model(str(model), cache_dir=tmp_path / "cache", sha256=good) == model
    with pytest.raises(ModelFileError, match="sha256 is"):
        resolve_model(str(model), cache_dir=tmp_path / "cache2", sha256="1" * 64)


def test_relative_gguf_paths_are_looked_up_in_the_models_dir(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.gguf").write_bytes(b"x")
    assert (
        resolve_model("m.gguf", cache_dir=tmp_path, models_dir=str(tmp_path / "models"))
        == tmp_path / "models" / "m.gguf"
    )


def test_unknown_names_and_missing_files_are_explained(tmp_path):
    with pytest.raises(ModelFileError, match="unknown model 'llama-70b'"):
        resolve_model("llama-70b", cache_dir=tmp_path)
    with pytest.raises(ModelFileError, match="does not exist"):
        resolve_model(str(tmp_path / "nope.gguf"), cache_dir=tmp_path)


def test_packaged_models_use_chatml():
    assert chat_template_for("qwen2.5-1.5b") == "chatml"
    assert chat_template_for("smollm2-135m") == "chatml"
