import json

from i2vbench.taxonomy import PARADIGM_IDS, paradigm_from_label


def test_list_tasks_json(bench):
    code, out, _ = bench("list", "tasks", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["task"] for r in rows] == ["ovmot", "stvg", "tvg", "vtr", "var", "videoqa", "captioning"]


def test_list_paradigms_has_nine(bench):
    code, out, _ = bench("list", "paradigms", "--json")
    assert code == 0
    assert [r["paradigm"] for r in json.loads(out)] == list(PARADIGM_IDS)
    assert len(PARADIGM_IDS) == 9


def test_paradigm_labels_as_printed_in_the_survey():
    for printed, pid in [
        ("Post Network Tuning", "post_network_tuning"),
        ("Post-Network Tuning", "post_network_tuning"),
        ("F.Tuning with Extra Models", "extra_models"),
        ("F.Tuning with Adapter", "adapter"),
        ("F.Tuning with LoRA", "lora"),
        ("Prompt tuning", "prompt_tuning"),
        ("Partial tuning", "partial_tuning"),
        ("Side-Tuning", "side_tuning"),
        ("Knowledge Distillation", "knowledge_distillation"),
        ("Full Fine-Tuning", "full_fine_tuning"),
    ]:
        assert paradigm_from_label(printed).id == pid


def test_unknown_list_target_is_a_usage_error(bench):
    code, _, _ = bench("list", "nope")
    assert code == 2
