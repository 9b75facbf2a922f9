import re
from dataclasses import replace

import pytest

from quickdraw_vae.errors import QuickdrawError
from quickdraw_vae.params import ALL_MODELS, parse_params


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
        ("runtime", "device", "tpu", "runtime.device must be one of"),
        ("train", "lr", True, "train.lr must be a number"),
        ("data", "classes", ["rabbit", "../x"], "invalid class name '../x'"),
        ("data", "colour", "red", "unknown key data.colour"),
        ("conditional", "init", "pretrained", "conditional.init must be one of best, scratch"),
        ("judge", "width", 0, "judge.width must be >= 1"),
        ("sample", "class_scale", -0.5, "sample.class_scale must be >= 0.0"),
        ("perceptual", "weight", -1, "perceptual.weight must be >= 0.0, got -1"),
        ("perceptual", "sharpen", 0, "perceptual.sharpen must be >= 0.1, got 0"),
        ("perceptual", "layers", "all", "perceptual.layers must be one of last, blocks"),
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


@pytest.mark.parametrize("prior, components, message", [
    ("mixture", 0, r"models\.cnn_cnn\.prior_components must be above 0 with prior: mixture"),
    ("standard", 8, r"models\.cnn_cnn\.prior_components must be above 0 with prior: mixture and 0 with prior: standard"),
    ("vamp", 8, r"models\.cnn_cnn\.prior must be one of standard, mixture"),
])
def test_a_prior_and_its_component_count_agree(base_params, prior, components, message):
    base_params["models"]["cnn_cnn"].update(prior=prior, prior_components=components)
    with pytest.raises(QuickdrawError, match=message):
        parse_params(base_params)


def test_quick_applies_the_profile_from_params(base_params):
    base_params["quick"] = True
    params = parse_params(base_params).resolved()
    profile = base_params["quick_profile"]
    assert params.data.train_per_class == min(base_params["data"]["train_per_class"], profile["max_train_per_class"])
    assert params.train.epochs == profile["epochs"] and params.train.kl_warmup_epochs == profile["kl_warmup_epochs"]
    assert params.train.batch_size == profile["batch_size"]
    assert params.conditional.epochs == profile["conditional_epochs"]
    assert params.judge.epochs == profile["judge_epochs"]
    assert params.models["cnn_cnn"].latent == profile["model"]["latent"]


def test_quick_never_raises_the_training_count(base_params):
    base_params["quick"] = True
    base_params["data"]["train_per_class"] = 640
    assert parse_params(base_params).resolved().data.train_per_class == 640


def test_conditional_training_epochs_follow_its_init(base_params):
    base_params["conditional"].update(init="scratch", epochs=5)
    assert parse_params(base_params).conditional_train.epochs == base_params["train"]["epochs"]
    base_params["conditional"]["init"] = "best"
    assert parse_params(base_params).conditional_train.epochs == 5


def _set(params: dict, dotted: str, value) -> None:
    *path, key = dotted.split(".")
    node = params
    for part in path:
        node = node[part]
    node[key] = value


@pytest.mark.parametrize("changes, message", [
    ({"data.train_per_class": 1}, "data.train_per_class (1) leaves no training drawings"),
    ({"data.test_per_class": 100, "evaluate.n": 600}, r"evaluate.n (600) is larger than the test split (5 classes x data.test_per_class 100 = 500)"),
    ({"sample.n": 4}, "sample.n (4) is smaller than the number of classes (5)"),
    ({"sample.n": 802, "evaluate.n": 801}, "evaluate.n (801) is larger than the samples drawn (sample.n 802, 800 for the conditional"),
    ({"evaluate.kid_subset_size": 900, "evaluate.n": 800}, "evaluate.kid_subset_size (900) is larger than evaluate.n (800)"),
    ({"evaluate.feature_extractors": ["inception"]}, "evaluate.feature_extractors must include sketch"),
    ({"evaluate.max_held_out": 500, "evaluate.n": 800}, "evaluate.max_held_out (500) is smaller than evaluate.n (800)"),
    ({"runtime.processes": 3}, "train.batch_size (32) must be a multiple of runtime.processes (3)"),
    ({"claims.seed_params": ["train.sed"]}, "claims.seed_params has 'train.sed', which is not an integer param"),
    ({"perceptual.width": 16, "perceptual.seed": 0}, "perceptual.* trains the judge itself"),
])
def test_cross_field_mistakes_fail_before_any_work(base_params, changes, message):
    for key, value in changes.items():
        _set(base_params, key, value)
    with pytest.raises(QuickdrawError) as e:
        parse_params(base_params)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_cross_field_checks_see_quick_mode(base_params):
    # quick mode caps the training drawings; the carve-out must still leave some
    base_params["quick"] = True
    base_params["quick_profile"]["max_train_per_class"] = 1
    with pytest.raises(QuickdrawError, match="leaves no training drawings"):
        parse_params(base_params)


def test_prepare_rejects_a_cross_field_mistake_in_one_line(base_params, tmp_path):
    from conftest import run_stage, write_params

    base_params["evaluate"]["kid_subset_size"] = 5000
    result = run_stage("prepare", "--params", write_params(tmp_path / "params.yaml", base_params),
                       "--out", tmp_path / "prepared", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: params.yaml: evaluate.kid_subset_size (5000) is larger than "
                                                  "evaluate.n (800)"]
    assert not (tmp_path / "prepared").exists()


def test_the_study_profile_replaces_the_keys_it_names(base_params):
    base_params["profile"] = "study"
    p = parse_params(base_params).resolved()
    assert {m.architecture for m in p.models.values()} == {"study"}
    assert (p.models["rnn_cnn"].rnn_hidden, p.models["cnn_cnn"].channels) == (256, 32)
    assert p.training("rnn_cnn").lr == 0.01 and p.training("cnn_cnn").lr == 0.001
    conditional = p.training("conditional")
    assert (conditional.lr, conditional.epochs, conditional.kl_warmup_epochs) == (0.001, 50, 0)
    train = p.training("cnn_cnn")
    assert (train.epochs, train.batch_size, train.schedule, train.keep, train.weight_decay, train.hflip,
            train.kl_warmup_epochs) == (50, 128, "constant", "last", 0.0, False, 0)
    assert (p.conditional.init, p.conditional.embedding_init) == ("best", "random")
    assert (p.sample.strategy, p.sample.pixels, p.sample.class_scale) == ("mixed", "mean", 1.0)
    assert {p.sampling(m).temperature for m in ALL_MODELS} == {1.0}, "one temperature, as the study's code had"
    assert p.perceptual.weight == 0, "the study's loss is the ELBO alone"
    assert p.data == parse_params({**base_params, "profile": "ours"}).data, "same drawings under both profiles"


def test_each_model_is_sampled_at_its_own_temperature_or_the_shared_one(base_params):
    base_params["sample"].update(temperature=0.7, temperature_by_model={"cnn_cnn": 0.9})
    p = parse_params(base_params).resolved()
    assert [p.sampling(m).temperature for m in ("rnn_cnn", "cnn_cnn", "conditional")] == [0.7, 0.9, 0.7]
    assert p.sampling("cnn_cnn") == replace(p.sample, temperature=0.9), "only the temperature is the model's own"
    for by_model, message in (({"gan": 0.8}, "sample.temperature_by_model has unknown model 'gan'"),
                              ({"cnn_cnn": -1}, "sample.temperature_by_model.cnn_cnn must be between 0 and 10, got -1"),
                              ({"cnn_cnn": "hot"}, "sample.temperature_by_model.cnn_cnn must be a number, got 'hot'")):
        base_params["sample"]["temperature_by_model"] = by_model
        with pytest.raises(QuickdrawError) as e:
            parse_params(base_params)
        assert message in str(e.value) and "\n" not in str(e.value)


def test_the_study_quick_mode_is_ten_epochs_of_a_smaller_study_model(base_params):
    base_params.update(profile="study", quick=True)
    p = parse_params(base_params).resolved()
    model = p.models["cnn_cnn"]
    assert (model.architecture, model.latent, model.channels) == ("study", 16, 16)
    assert p.training("rnn_cnn").epochs == p.training("conditional").epochs == 10
    assert p.training("rnn_cnn").kl_warmup_epochs == 0 and p.training("rnn_cnn").lr == 0.01
    assert p.perceptual.weight == 0


def test_quick_mode_trains_without_the_perceptual_term_and_a_zero_weight_may_copy_the_judge(base_params):
    assert parse_params(base_params).perceptual.weight > 0
    base_params["quick"] = True
    assert parse_params(base_params).resolved().perceptual.weight == 0
    base_params["perceptual"].update(width=16, seed=0)  # the judge's settings, unused at weight 0
    parse_params(base_params)


def test_our_profile_ignores_the_study_profile(base_params):
    ours = parse_params(base_params).resolved()
    base_params["study_profile"]["train"]["epochs"] = 3
    assert parse_params(base_params).resolved() == replace_study(ours, base_params["study_profile"])


def replace_study(params, profile):
    from dataclasses import replace

    return replace(params, study_profile=profile)


@pytest.mark.parametrize("change, message", [
    (("train", "epoch", 3), "study_profile.train.epoch names no params key train.epoch"),
    (("profile", None, "study"), "study_profile.profile cannot be set by the profile itself"),
    (("train", "lr_by_model", {"gan": 0.1}), "train.lr_by_model has unknown model 'gan'"),
    (("train", "lr_by_model", {"rnn_cnn": 5.0}), "train.lr_by_model.rnn_cnn must be between"),
    (("sample", "strategy", "best"), "sample.strategy must be one of prior, gmm, mixed"),
])
def test_study_profile_mistakes_name_the_key(base_params, change, message):
    section, key, value = change
    base_params["profile"] = "study"
    if key is None:
        base_params["study_profile"][section] = value
    else:
        base_params["study_profile"][section][key] = value
    with pytest.raises(QuickdrawError) as e:
        parse_params(base_params)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_classes_are_picked_from_the_official_categories_by_name_all_or_count(base_params):
    base_params["data"]["classes"] = "all"
    base_params["sample"]["n"], base_params["evaluate"]["n"] = 3450, 1000  # a sample of every class
    params = parse_params(base_params)
    assert len(params.data.classes) == 345 and params.data.classes[0] == "aircraft carrier"
    assert "The Eiffel Tower" in params.data.classes and params.data.classes[-1] == "zigzag"
    base_params["data"]["classes"] = 5  # evenly spread over the list: the same five for every seed
    assert parse_params(base_params).data.classes == ["aircraft carrier", "chandelier", "harp", "palm tree", "spider"]  # 0, 69, 138, ...
    base_params["data"]["classes"] = ["The Great Wall of China", "rabbit"]
    assert parse_params(base_params).data.classes == ["The Great Wall of China", "rabbit"]


@pytest.mark.parametrize("classes, message", [
    (["rabit", "yoga"], "data.classes has unknown category 'rabit'; closest: rabbit, rain, crab"),
    (["rabbit", "qwxz"], "data.classes has unknown category 'qwxz'"),
    (346, "data.classes as a count must be between 2 and 345, got 346"),
    ("most", "data.classes must be a list of category names, all, or a count, got 'most'"),
])
def test_a_class_outside_the_categories_fails_with_the_closest_names(base_params, classes, message):
    base_params["data"]["classes"] = classes
    with pytest.raises(QuickdrawError, match=re.escape(message)):
        parse_params(base_params)


def test_a_category_list_of_ones_own(base_params, tmp_path):
    (tmp_path / "mine.txt").write_text("alpha\nbeta\n\ngamma\n")
    base_params["data"].update(categories=str(tmp_path / "mine.txt"), classes=["gamma", "alpha"])
    assert parse_params(base_params).data.classes == ["gamma", "alpha"]
    base_params["data"]["classes"] = ["rabbit", "alpha"]
    with pytest.raises(QuickdrawError, match="unknown category 'rabbit'"):
        parse_params(base_params)
    for text, message in (("alpha\n../up\n", r"mine.txt: invalid category name '../up'"),
                          ("alpha\nalpha\n", r"mine.txt: a category list needs at least two distinct names")):
        (tmp_path / "mine.txt").write_text(text)
        with pytest.raises(QuickdrawError, match=message):
            parse_params(base_params)
    base_params["data"]["categories"] = str(tmp_path / "none.txt")
    with pytest.raises(QuickdrawError, match=r"none.txt: category list not found \(params.yaml: data.categories\)"):
        parse_params(base_params)
