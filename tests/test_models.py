import math
from pathlib import Path

import numpy as np

import pytest
import torch
from torch import nn

from quickdraw_vae.errors import QuickdrawError
from quickdraw_vae.losses import bce, iwae_nll
from quickdraw_vae.models import VAE, FoldConvTranspose2d, ModelConfig, kld, load_checkpoint, save_checkpoint

SMALL = dict(latent=4, channels=4, hidden=16, rnn_hidden=8, dropout=0.0)


@pytest.mark.parametrize("encoder", ["rnn", "cnn"])
@pytest.mark.parametrize("mode", ["none", "add"])
def test_shapes(encoder, mode):
    cfg = ModelConfig(encoder, **SMALL, num_classes=0 if mode == "none" else 5, cond_mode=mode)
    model = VAE(cfg)
    x = torch.rand(3, 1, 28, 28)
    y = None if mode == "none" else torch.tensor([0, 4, 2])
    logits, mu, logvar, kl = model(x, y)
    assert logits.shape == (3, 1, 28, 28) and mu.shape == logvar.shape == (3, 4)


def test_conditional_decoder_depends_on_the_label():
    torch.manual_seed(0)
    model = VAE(ModelConfig("cnn", **SMALL, num_classes=5, cond_mode="add")).eval()
    z = torch.zeros(2, 4)
    out = model.decode(z, torch.tensor([0, 1]))
    assert not torch.allclose(out[0], out[1])


def test_class_scale_multiplies_the_class_embedding_the_decoder_sees():
    torch.manual_seed(0)
    model = VAE(ModelConfig("cnn", **SMALL, num_classes=5, cond_mode="add")).eval()
    z, y = torch.randn(2, 4), torch.tensor([0, 3])
    assert torch.equal(model.decode(z, y, 1.0), model.decode(z, y))
    # scale 0: the class no longer reaches the decoder
    assert torch.allclose(model.decode(z, y, 0.0), model.decode(z, torch.tensor([1, 1]), 0.0))
    assert torch.allclose(model.decode(z, y, 2.0), model.decode(z + model.embedding(y), y), atol=1e-6)
    assert not torch.allclose(model.decode(z, y, 1.5), model.decode(z, y))


def test_kl_of_the_prior_is_zero_and_grows_with_distance():
    assert kld(torch.zeros(2, 8), torch.zeros(2, 8)).tolist() == [0.0, 0.0]
    # KL(N(mu, 1) || N(0, 1)) = mu^2 / 2 per dimension.
    assert kld(torch.full((1, 3), 2.0), torch.zeros(1, 3)).item() == pytest.approx(6.0)


def test_bce_of_known_inputs():
    # Logit 0 is probability 1/2: log 2 nats per pixel whatever the target.
    assert bce(torch.zeros(1, 1, 28, 28), torch.rand(1, 1, 28, 28)).item() == pytest.approx(784 * math.log(2), rel=1e-5)
    # A confident right answer costs nearly nothing.
    x = (torch.rand(1, 1, 28, 28) > 0.5).float()
    assert bce((x * 2 - 1) * 30, x).item() < 1e-6


def _log_weights(model, x, eps):
    """log p(x|z) + log p(z) - log q(z|x) at z = mu + sigma * eps, written with torch.distributions."""
    from torch.distributions import Bernoulli, Independent, Normal

    mu, logvar = model.encode(x)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    z = mu + torch.exp(0.5 * logvar) * eps  # (k, B, L)
    prior = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    logits = model.decode(z.reshape(-1, mu.shape[1])).view(len(eps), len(x), -1)
    # Bernoulli log-likelihood of targets in [0, 1]: the same cross-entropy the study summed
    log_px = Independent(Bernoulli(logits=logits, validate_args=False), 1).log_prob(x.flatten(1).expand_as(logits))
    return log_px + prior.log_prob(z) - q.log_prob(z)


@pytest.mark.parametrize("k, chunk", [(1, 4096), (5, 4096), (5, 3)])
def test_iwae_bound_is_the_log_mean_of_the_importance_weights(k, chunk):
    torch.manual_seed(0)
    model = VAE(ModelConfig("cnn", **SMALL)).eval()
    x = torch.rand(4, 1, 28, 28)
    torch.manual_seed(1)
    bound = iwae_nll(model, x, None, k=k, chunk=chunk)
    with torch.no_grad():
        # the same noise, drawn the way iwae_nll draws it when one pass holds all k samples
        torch.manual_seed(1)
        model.encode(x)  # nothing random in encoding: the stream is untouched
        eps = torch.randn(k, 4, 4)
        expected = -(torch.logsumexp(_log_weights(model, x, eps), 0) - math.log(k))
    if chunk >= k:
        assert torch.allclose(bound, expected, atol=1e-3, rtol=0)
    else:  # several passes draw the noise in other pieces: the same bound, other draws
        assert torch.allclose(bound.mean(), expected.mean(), atol=2.0) and not torch.allclose(bound, expected)


def test_the_single_sample_bound_is_the_analytic_elbo_up_to_its_sampled_kl():
    from quickdraw_vae.losses import elbo_terms

    torch.manual_seed(0)
    model = VAE(ModelConfig("cnn", **SMALL)).eval()
    x = torch.rand(4, 1, 28, 28)
    torch.manual_seed(1)
    one = iwae_nll(model, x, None, k=1)
    torch.manual_seed(1)
    terms = elbo_terms(model, x, None)
    # the same z for both: the reconstruction terms agree; what differs is KL, analytic here, sampled there
    with torch.no_grad():
        torch.manual_seed(1)
        eps = torch.randn(1, 4, 4)
        mu, logvar = model.encode(x)
        z = mu + torch.exp(0.5 * logvar) * eps[0]
        sampled_kl = (_gaussian(z, mu, logvar) - _gaussian(z, torch.zeros_like(z), torch.zeros_like(z))).mean()
    assert one.mean().item() == pytest.approx(terms["bce"] + sampled_kl.item(), abs=1e-3)


def _gaussian(z, mu, logvar):
    return -0.5 * (((z - mu) ** 2) / logvar.exp() + logvar + math.log(2 * math.pi)).sum(-1)


def test_checkpoint_round_trip(tmp_path):
    cfg = ModelConfig("rnn", **SMALL, num_classes=5, cond_mode="add")
    model = VAE(cfg).eval()
    save_checkpoint(tmp_path / "m.pt", model, ["a", "b", "c", "d", "e"])
    loaded, payload = load_checkpoint(tmp_path / "m.pt")
    assert loaded.cfg == cfg and payload["classes"] == ["a", "b", "c", "d", "e"]
    x, y = torch.rand(2, 1, 28, 28), torch.tensor([1, 3])
    assert torch.equal(loaded(x, y)[0], model(x, y)[0])
    # Loadable with weights_only=True: no pickled objects inside.
    torch.load(tmp_path / "m.pt", weights_only=True)
    # The bytes depend on the model alone (not on the temporary file it was written through): DVC
    # then sees an unchanged checkpoint when a stage retrains to the same weights.
    save_checkpoint(tmp_path / "again.pt", model, ["a", "b", "c", "d", "e"])
    assert (tmp_path / "again.pt").read_bytes() == (tmp_path / "m.pt").read_bytes()


def test_corrupt_and_foreign_checkpoints_fail_clearly(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(QuickdrawError, match="junk.pt: not a quickdraw-vae checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    model = VAE(ModelConfig("cnn", **SMALL))
    save_checkpoint(tmp_path / "m.pt", model, ["a", "b"])
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["config"]["encoder"] = "rnn"
    torch.save(payload, tmp_path / "other.pt")
    with pytest.raises(QuickdrawError, match="other.pt: weights do not match"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(QuickdrawError, match="missing.pt: no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_fine_channels_set_the_14x14_width_only():
    narrow = VAE(ModelConfig("cnn", **SMALL, fine_channels=2))
    assert narrow.encoder.net[0].out_channels == 2 and narrow.encoder.net[3].out_channels == 8
    assert narrow.decoder.net[-1].in_channels == 2
    assert VAE(ModelConfig("cnn", **SMALL)).encoder.net[0].out_channels == 4  # default: `channels`


@pytest.mark.parametrize("c_in,c_out,size,channels_last", [(16, 1, 14, True), (8, 3, 7, False)])
def test_fold_transposed_convolution_matches_the_library_kernel(c_in, c_out, size, channels_last):
    torch.manual_seed(0)
    ours = FoldConvTranspose2d(c_in, c_out, 4, 2, 1)
    reference = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1)
    reference.load_state_dict(ours.state_dict())  # the same parameters: checkpoints load either way
    x = torch.randn(5, c_in, size, size)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    outs, grads = [], []
    for layer in (ours, reference):
        xg = x.clone().requires_grad_()
        y = layer(xg)
        (y * torch.linspace(-0.5, 1, y.numel()).view_as(y)).sum().backward()
        outs.append(y)
        grads.append([xg.grad, layer.weight.grad, layer.bias.grad])
    assert outs[0].shape == outs[1].shape == (5, c_out, 2 * size, 2 * size)
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    for g_ours, g_ref in zip(*grads):
        torch.testing.assert_close(g_ours, g_ref, rtol=1e-4, atol=1e-4)


def test_the_rnn_encoder_reads_every_row():
    torch.manual_seed(0)
    model = VAE(ModelConfig("rnn", **SMALL, rnn_row_features=5)).eval()
    assert model.encoder.out_dim == 28 * 5
    x = torch.zeros(1, 1, 28, 28)
    moved = x.clone()
    moved[0, 0, 13, 5] = 1.0  # one pixel in a middle row reaches the code
    assert not torch.allclose(model.encode(x)[0], model.encode(moved)[0])


def _stored(tmp_path, cfg: ModelConfig, **config) -> Path:
    """A checkpoint of `cfg` whose stored config says `config` (None: the key absent), as format 1 wrote it."""
    save_checkpoint(tmp_path / "m.pt", VAE(cfg), ["a", "b"])
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["format"] = 1
    for key, value in config.items():
        payload["config"].pop(key, None) if value is None else payload["config"].__setitem__(key, value)
    torch.save(payload, tmp_path / "old.pt")
    return tmp_path / "old.pt"


def test_checkpoints_of_removed_options_load_when_they_used_what_stayed_and_name_the_decision_otherwise(tmp_path):
    rnn, cnn = ModelConfig("rnn", **SMALL), ModelConfig("cnn", **SMALL)
    kept = _stored(tmp_path, rnn, rnn_readout="rows", rnn_layers=1, decoder_output="transpose", rnn_row_features=None)
    assert load_checkpoint(kept)[0].cfg == rnn  # and 32 row features where the key is absent
    # the CNN encoder never read rnn_* keys: its checkpoints stored their old defaults
    assert load_checkpoint(_stored(tmp_path, cnn, rnn_readout="last", rnn_layers=1))[0].cfg == cnn
    for config, message in [({"rnn_readout": "pool"}, "rnn_readout 'pool', an option since removed (docs/tuning.md 1"),
                            ({"rnn_readout": None}, "rnn_readout 'last', an option since removed"),
                            ({"rnn_readout": "rows", "rnn_layers": 2}, "rnn_layers 2, an option since removed"),
                            ({"rnn_readout": "rows", "decoder_output": "resize_conv"}, "(docs/decisions.md D")]:
        with pytest.raises(QuickdrawError, match=message.replace("(", r"\(")):
            load_checkpoint(_stored(tmp_path, rnn, **config))
    conditional = ModelConfig("cnn", **SMALL, num_classes=2, cond_mode="add")
    with pytest.raises(QuickdrawError, match=r"cond_mode 'cvae', an option since removed \(docs/decisions.md F"):
        load_checkpoint(_stored(tmp_path, conditional, cond_mode="cvae"))


def test_sampler_file_keeps_the_class_scale_and_older_files_load_as_the_model_as_trained(tmp_path):
    from quickdraw_vae.sampling import Sampler, generate, load_sampler, save_sampler

    torch.manual_seed(0)
    model = VAE(ModelConfig("cnn", **SMALL, num_classes=5, cond_mode="add")).eval()
    save_sampler(tmp_path / "s.pt", Sampler("prior", 1.0, "mean", 1.0, class_scale=1.5))
    loaded = load_sampler(tmp_path / "s.pt")
    assert loaded.class_scale == 1.5
    labels = torch.tensor([0, 1, 2, 3, 4])
    as_trained = generate(model, Sampler("prior", 1.0, "mean", 1.0), 5, labels, seed=0)
    assert not np.array_equal(generate(model, loaded, 5, labels, seed=0), as_trained)

    state = loaded.state()
    del state["class_scale"]
    torch.save(state, tmp_path / "old.pt")
    assert np.array_equal(generate(model, load_sampler(tmp_path / "old.pt"), 5, labels, seed=0), as_trained)


def test_the_study_architectures_have_the_study_codes_parameter_counts(base_params):
    from quickdraw_vae.models import config_from_params, parameter_count
    from quickdraw_vae.params import parse_params

    base_params["profile"] = "study"
    models = parse_params(base_params).resolved().models
    counts = {m: parameter_count(VAE(config_from_params(m, models[m]))) for m in ("rnn_cnn", "cnn_cnn")}
    counts["conditional"] = parameter_count(VAE(config_from_params("cnn_cnn", models["cnn_cnn"], 5)))
    # counted from the study's vae_implementation.py (its fc_mu and fc_logvar are our one head layer)
    assert counts == {"rnn_cnn": 1_728_065, "cnn_cnn": 865_345, "conditional": 865_505}


@pytest.mark.parametrize("encoder", ["rnn", "cnn"])
def test_the_study_layers_read_drawings_as_the_study_did(encoder, tmp_path):
    cfg = ModelConfig(encoder, latent=4, channels=4, hidden=0, rnn_hidden=8, dropout=0.0, num_classes=5,
                      cond_mode="add", architecture="study")
    model = VAE(cfg)
    if encoder == "rnn":  # every row's output, both directions, feeds mu and logvar
        assert model.encoder.out_dim == 28 * 2 * 8 and model.encoder.gru.num_layers == 1
    else:  # convolutions of 4, 8, 16 maps, the last at 7x7, no normalisation
        assert model.encoder.out_dim == 16 * 7 * 7
        assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    logits, mu, logvar, _ = model(torch.rand(3, 1, 28, 28), torch.tensor([0, 4, 2]))
    assert logits.shape == (3, 1, 28, 28) and mu.shape == logvar.shape == (3, 4)
    save_checkpoint(tmp_path / "m.pt", model.eval(), list("abcde"))
    loaded, _ = load_checkpoint(tmp_path / "m.pt")
    x = torch.rand(2, 1, 28, 28)
    assert loaded.cfg.architecture == "study" and torch.equal(loaded.encode(x, torch.tensor([1, 2]))[0],
                                                               model.encode(x, torch.tensor([1, 2]))[0])


def test_an_unknown_architecture_is_named():
    with pytest.raises(QuickdrawError, match="unknown architecture 'vit'"):
        ModelConfig("cnn", **SMALL, architecture="vit")


def test_the_study_mixed_latents_take_five_patterns_in_turn():
    from quickdraw_vae.sampling import mixed_latents

    z = mixed_latents(5000, 32, torch.Generator().manual_seed(0))
    normal, sparse, uniform, alternating, focused = (z[i::5] for i in range(5))
    assert normal.std().item() == pytest.approx(1.0, abs=0.03)
    assert ((sparse != 0).sum(1) == 8).all() and sparse[sparse != 0].std().item() == pytest.approx(2.0, abs=0.1)
    assert uniform.abs().max().item() <= 1.5 and uniform.std().item() == pytest.approx(1.5 / 3 ** 0.5, abs=0.03)
    assert alternating.std().item() == pytest.approx(1.2, abs=0.03)
    # drawing 5j + 4 has four wide dimensions starting at j mod 28, the rest N(0, 0.25)
    wide = torch.zeros_like(focused, dtype=torch.bool)
    for j in range(len(focused)):
        wide[j, j % 28 : j % 28 + 4] = True
    assert focused[wide].std().item() == pytest.approx(2.0, abs=0.1)
    assert focused[~wide].std().item() == pytest.approx(0.5, abs=0.02)
    assert torch.equal(z, mixed_latents(5000, 32, torch.Generator().manual_seed(0)))


def test_a_mixture_prior_learns_with_the_model_and_keeps_the_other_layers_initial_weights():
    torch.manual_seed(0)
    standard = VAE(ModelConfig("cnn", **SMALL))
    torch.manual_seed(0)
    mixture = VAE(ModelConfig("cnn", **SMALL, prior="mixture", prior_components=3))
    shared = standard.state_dict()
    assert all(torch.equal(shared[k], v) for k, v in mixture.state_dict().items() if k in shared)
    assert {k for k in mixture.state_dict() if k not in shared} == {"prior.means", "prior.logvars", "prior.logits"}
    x = torch.rand(4, 1, 28, 28)
    _, mu, logvar, kl = mixture.train()(x)
    kl.mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in mixture.prior.parameters())
    with pytest.raises(QuickdrawError, match="prior_components"):
        ModelConfig("cnn", **SMALL, prior="mixture")


def test_the_mixture_prior_is_a_normalised_density_that_its_samples_follow():
    torch.manual_seed(0)
    prior = VAE(ModelConfig("cnn", **{**SMALL, "latent": 1}, prior="mixture", prior_components=2)).prior
    with torch.no_grad():
        prior.means.copy_(torch.tensor([[-3.0], [2.0]]))
        prior.logvars.copy_(torch.log(torch.tensor([[0.25], [1.0]])))
        prior.logits.copy_(torch.log(torch.tensor([0.3, 0.7])))
    grid = torch.linspace(-12, 12, 24001)[:, None]
    density = prior.log_prob(grid).exp()
    assert torch.trapezoid(density, grid[:, 0]).item() == pytest.approx(1.0, abs=1e-4)
    z = prior.sample(20000, torch.Generator().manual_seed(0))[:, 0]
    assert (z < -0.5).float().mean().item() == pytest.approx(0.3, abs=0.015)
    assert z[z > -0.5].mean().item() == pytest.approx(2.0, abs=0.05)


def test_against_the_standard_prior_the_kl_term_is_the_analytic_one_and_the_mixture_kl_is_its_estimate():
    torch.manual_seed(0)
    mu, logvar = torch.randn(5, 4), torch.randn(5, 4) * 0.3
    standard = VAE(ModelConfig("cnn", **SMALL))
    z = mu + torch.randn(5, 4) * torch.exp(0.5 * logvar)
    assert torch.equal(standard.kl(mu, logvar, z), kld(mu, logvar))
    # A one-component mixture at N(0, I) is the standard prior: its one-sample estimate averages to the analytic KL.
    one = VAE(ModelConfig("cnn", **SMALL, prior="mixture", prior_components=1))
    with torch.no_grad():
        one.prior.means.zero_()
    draws = mu + torch.randn(20000, 5, 4) * torch.exp(0.5 * logvar)
    estimate = one.kl(mu.expand(20000, -1, -1), logvar.expand(20000, -1, -1), draws).mean(0)
    assert torch.allclose(estimate, kld(mu, logvar), atol=0.05)
    assert torch.allclose(one.log_prior(z), standard.log_prior(z), atol=1e-5)
