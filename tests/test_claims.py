"""The claim ledger's rules, on made-up runs: which epochs the dynamics claims read, how a claim is
decided within a profile, and that the decision seeds are never the ledger's."""

import pytest

from quickdraw_vae.claims import Claim, decide, early_epoch, main, tenth_epoch
from quickdraw_vae.errors import QuickdrawError


def _run(warmup: int, epochs: int) -> dict:
    return {"metrics": {"metrics/train/cnn_cnn.json:protocol.kl_warmup_epochs": warmup},
            "histories": {"cnn_cnn": {"train_total": [float(e) for e in range(epochs)]}}}


@pytest.mark.parametrize("warmup, epochs, early, tenth", [
    (0, 50, 0, 4),     # the study: epoch 1, and epoch 5 of 50
    (10, 60, 10, 14),  # ours: the first epoch after the warm-up, and 5 epochs into the 50 after it
    (3, 10, 3, 3),     # ours, quick: epoch 4 both
    (0, 10, 0, 0),     # the study, quick
])
def test_dynamics_are_read_from_the_first_epoch_after_the_warm_up(warmup, epochs, early, tenth):
    run = _run(warmup, epochs)
    assert early_epoch(run, "cnn_cnn") == early and tenth_epoch(run, "cnn_cnn") == tenth


def test_a_profile_decides_each_claim_on_its_own_mode_and_corrects_over_all_of_them():
    clear = [1.0, 1.2, 0.9, 1.1, 1.05]
    noise = [0.5, -0.4, 0.3, -0.6, 0.1]
    claims = [Claim("full", "", "", "full", lambda r, p: (r, 0.0)),
              Claim("quick", "", "", "quick", lambda r, p: (r, 0.0)),
              Claim("reversed", "", "", "full", lambda r, p: (0.0, r))]
    blocks = {"ours": clear, "ours-quick": noise}
    decided = decide(claims, blocks, "ours")
    assert [r["outcome"] for r in decided] == ["holds", "inconclusive", "does not hold"]
    assert decided[0]["a"] == clear and decided[1]["a"] == noise
    # claims 1 and 3 tie for the smallest p of three: Holm multiplies both by 3
    assert decided[0]["p_holm"] == decided[2]["p_holm"] == pytest.approx(3 * decided[0]["p"])


def test_a_claim_about_drawings_is_decided_over_drawings_even_from_one_run():
    claim = Claim("snowman", "", "", "full", drawings=lambda r: (160, 160, 120, 160))
    (decided,) = decide([claim], {"study": [None]}, "study")
    assert decided["outcome"] == "holds" and decided["a"] == [1.0] and decided["b"] == [0.75]


def test_fresh_seeds_that_overlap_the_decision_seeds_are_refused(tmp_path, base_params):
    from conftest import write_params

    base_params["claims"]["first_seed"] = 3
    params = write_params(tmp_path / "params.yaml", base_params)
    with pytest.raises(QuickdrawError, match=r"claims.first_seed gives seeds \[3, 4\], which are claims.decision_seeds"):
        main(["--params", str(params), "--collect-only"])
