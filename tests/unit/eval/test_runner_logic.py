"""Pure parts of a run: question sampling, corpus selection, the eval tenant, and settings checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragplane.runtime.auth import validate_tenant
from ragplane.runtime.errors import InvalidArgument
from ragplane.runtime.settings import SettingsError, load_settings
from ragplane_eval.config import Settings
from ragplane_eval.datasets import Document, load_dataset
from ragplane_eval.judge import JudgeScores
from ragplane_eval.reports import ReportStore
from ragplane_eval.runner import Runner, corpus_tenant, sample_questions, select_corpus

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent / "fixtures"


def test_a_seeded_sample_is_reproducible_and_differs_across_seeds():
    questions = load_dataset(FIXTURES / "tiny_squad.json").questions
    first = sample_questions(questions, 2, seed=1)
    assert first == sample_questions(questions, 2, seed=1)
    assert len(first) == 2 and set(first) <= set(questions)
    seen = {tuple(q.id for q in sample_questions(questions, 2, seed=s)) for s in range(20)}
    assert len(seen) > 1
    assert [q.id for q in first] == sorted((q.id for q in first), key=[x.id for x in questions].index)


def test_limit_zero_or_past_the_end_takes_every_question():
    questions = load_dataset(FIXTURES / "tiny_squad.json").questions
    assert sample_questions(questions, 0, seed=5) == questions
    assert sample_questions(questions, 99, seed=5) == questions


def test_full_corpus_mode_keeps_every_document_as_a_distractor():
    dataset = load_dataset(FIXTURES / "tiny_squad.json")
    q4 = [q for q in dataset.questions if q.id == "q4"]
    assert select_corpus(dataset, q4, "full") == dataset.corpus


def test_articles_mode_keeps_the_whole_articles_of_the_sampled_questions():
    dataset = load_dataset(FIXTURES / "tiny_squad.json")
    q1 = [q for q in dataset.questions if q.id == "q1"]
    assert [d.doc_id for d in select_corpus(dataset, q1, "articles")] == ["Super_Bowl_50/0", "Super_Bowl_50/1"]


def test_the_eval_tenant_is_a_valid_tenant_fixed_by_the_caller_and_the_corpus_content():
    docs = [Document("a", "A", "alpha"), Document("b", "B", "beta")]
    tenant = corpus_tenant(docs, "t1")
    assert validate_tenant(tenant) == tenant and tenant.startswith("eval-")
    assert corpus_tenant(list(reversed(docs)), "t1") == tenant
    assert corpus_tenant([Document("a", "A", "alpha!"), docs[1]], "t1") != tenant
    assert corpus_tenant(docs, "t2") != tenant


class _NoJudge:
    name = "none"

    async def score(self, question, answer, contexts):  # pragma: no cover - never called here
        return JudgeScores(None, None, None)


def _runner(tmp_path, **overrides) -> Runner:
    settings = load_settings(Settings, {}, data_dir=str(tmp_path), online=False, **overrides)
    return Runner(settings, _NoJudge(), ReportStore(settings.reports_dir))


def test_dataset_paths_and_names_must_be_existing_files_of_the_dataset_folders(tmp_path):
    access = _runner(tmp_path, dataset_dirs=(str(FIXTURES),)).access("t1")
    with pytest.raises(InvalidArgument, match="dataset_path: no such dataset file: 'data/squad.json'"):
        access.resolve("data/squad.json")
    with pytest.raises(InvalidArgument, match="dataset_path: no such dataset file"):
        access.resolve(str(FIXTURES / "missing.json"))
    assert access.resolve(str(FIXTURES / "tiny.jsonl")) == (FIXTURES / "tiny.jsonl").resolve()
    assert access.resolve("tiny.jsonl") == (FIXTURES / "tiny.jsonl").resolve()


def test_by_default_a_run_reads_only_the_state_folder_and_the_cli_cache(tmp_path):
    runner = _runner(tmp_path)
    assert runner.settings.dataset_roots[0] == str(tmp_path / "datasets")
    with pytest.raises(InvalidArgument, match="outside the dataset folders"):
        runner.access("t1").resolve(str(FIXTURES / "tiny.jsonl"))


def test_a_v2_judge_needs_a_model_and_must_not_be_the_generator():
    with pytest.raises(SettingsError, match="RAGPLANE_EVAL_JUDGE_MODEL: required"):
        load_settings(Settings, {"RAGPLANE_EVAL_JUDGE": "v2"})
    same = {
        "RAGPLANE_EVAL_JUDGE": "v2",
        "RAGPLANE_EVAL_JUDGE_MODEL": "ensemble",
        "RAGPLANE_EVAL_JUDGE_ADDR": "127.0.0.1:50070",
        "RAGPLANE_LLM_MODEL_NAME": "ensemble",
        "RAGPLANE_MODEL_ADDR": "127.0.0.1:50070",
    }
    with pytest.raises(SettingsError, match="RAGPLANE_EVAL_JUDGE_MODEL: the judge must differ from the generator"):
        load_settings(Settings, same)
    assert load_settings(Settings, {**same, "RAGPLANE_EVAL_JUDGE_MODEL": "judge"}).judge_model == "judge"
    assert load_settings(Settings, {**same, "RAGPLANE_EVAL_JUDGE_ADDR": "127.0.0.1:50071"}).judge == "v2"


@pytest.mark.parametrize(
    ("var", "value", "problem"),
    [
        ("RAGPLANE_EVAL_SAMPLE_RATE", "1.5", "must be between 0 and 1"),
        ("RAGPLANE_EVAL_JUDGE", "gpt", "must be one of embedding, v2"),
        ("RAGPLANE_EVAL_CONCURRENCY", "0", "must be > 0"),
        ("RAGPLANE_EVAL_TOP_N", "50", "must be <= RAGPLANE_EVAL_TOP_K"),
    ],
)
def test_bad_settings_name_the_variable(var, value, problem):
    with pytest.raises(SettingsError, match=f"{var}: .*{problem}"):
        load_settings(Settings, {var: value})
