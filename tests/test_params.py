import pytest

from quickdraw_vae.errors import QuickdrawError
from quickdraw_vae.params import parse_params


def test_committed_params_parse(base_params):
    params = parse_params(base_params)
    assert params.data.classes == ["rabbit", "yoga", "hand", "snowman", "motorbike"]


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("data", "train_per_class", "many", "data.train_per_class must be an integer"),
        ("data", "test_per_class", 0, "data.test_per_class must be >= 1"),
        ("train", "epochs", -1, "train.epochs must be >= 1"),
        ("train", "batch_size", 0, "train.batch_size must be >= 1"),
        ("train", "device", "tpu", "train.device must be one of"),
        ("train", "lr", True, "train.lr must be a number"),
        ("data", "classes", ["rabbit", "../x"], "invalid class name '../x'"),
        ("data", "colour", "red", "unknown key data.colour"),
        ("conditional", "init", "pretrained", "conditional.init must be one of best, scratch"),
        ("judge", "width", 0, "judge.width must be >= 1"),
    ],
)
def test_bad_params_name_the_key(base_params, section, key, value, message):
    base_params[section][key] = value
    with pytest.raises(QuickdrawError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_params(base_params)


def test_bad_model_size_names_the_key(base_params):
    base_params["models"]["cnn_cnn"]["latent"] = 0
    with pytest.raises(QuickdrawError, match=r"models\.cnn_cnn\.latent must be >= 1"):
        parse_params(base_params)


def test_quick_applies_the_profile_from_params(base_params):
    base_params["quick"] = True
    params = parse_params(base_params).resolved()
    profile = base_params["quick_profile"]
    assert params.data.train_per_class == min(base_params["data"]["train_per_class"], profile["max_train_per_class"])
    assert params.train.epochs == profile["epochs"]
    assert params.train.batch_size == profile["batch_size"]
    assert params.conditional.epochs == profile["conditional_epochs"]
    assert params.judge.epochs == profile["judge_epochs"]
    assert params.models["cnn_cnn"].latent == profile["model"]["latent"]


def test_quick_never_raises_the_training_count(base_params):
    base_params["quick"] = True
    base_params["data"]["train_per_class"] = 640
    assert parse_params(base_params).resolved().data.train_per_class == 640


def test_warm_start_needs_the_add_or_shift_mode(base_params):
    base_params["conditional"].update(init="best", mode="concat")
    with pytest.raises(QuickdrawError, match="conditional.init best needs conditional.mode add or shift"):
        parse_params(base_params)
    base_params["conditional"]["init"] = "scratch"
    parse_params(base_params)


def test_conditional_training_epochs_follow_its_init(base_params):
    base_params["conditional"].update(init="scratch", epochs=5)
    assert parse_params(base_params).conditional_train.epochs == base_params["train"]["epochs"]
    base_params["conditional"]["init"] = "best"
    assert parse_params(base_params).conditional_train.epochs == 5
