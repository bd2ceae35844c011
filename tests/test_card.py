from stages import card
from tests.conftest import repo_params


def test_card_reports_data_training_and_limits():
    params = repo_params()
    history = {"loss": [1.0, 0.5], "val_accuracy": [0.5, 0.75]}
    text = card.render(params, ["yes", "no"], {"train": 80, "validation": 10, "test": 12}, history)
    front, body = text.split("---\n")[1], text.split("---\n", 2)[2]
    assert "pipeline_tag: audio-classification" in front
    assert "80 train, 10 validation, 12 test" in body
    assert "| val_accuracy | 0.7500 |" in body and "| loss | 0.5000 |" in body
    assert "held-out *synthetic* voices" in body
    assert "hidden_size: 96" in body


def test_card_for_a_checkpoint_names_it_and_omits_the_config():
    params = repo_params()
    params["model"]["checkpoint"] = "facebook/wav2vec2-base"
    text = card.render(params, ["yes"], {"train": 1, "validation": 1, "test": 1}, {"loss": [1.0]})
    assert "base checkpoint: facebook/wav2vec2-base" in text
    assert "## Model config" not in text
