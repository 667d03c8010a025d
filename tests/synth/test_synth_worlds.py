"""The worlds of ``regdml synth --world``: the realistic world's digital shares against the evidence's
targets, the easy world unchanged, the confounded world's valid instrument, and the command line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from data_contracts.codebook import load_codebook
from pipelines.cli import main
from synth import WORLDS, SynthParams, generate_delivery, world_params
from synth.calendar import Calendar
from synth.codes import Codes
from synth.world import World

# issue 18 / shared/docs/evidence.md: share of eligible jobsamtaler held digitally, May 2020 - February 2021
TARGETS = {"dagpenge": (0.90, 0.98), "kontanthjaelp_jobparat": (0.80, 0.95)}
WINDOW_MONTHS = [f"2020-{m:02d}" for m in range(5, 13)] + ["2021-01", "2021-02"]


@pytest.fixture(scope="module")
def realistic(tmp_path_factory):
    out = tmp_path_factory.mktemp("realistic") / "d"
    s = generate_delivery(
        out, persons=20_000, seed=20200501, params=world_params("realistic"), write_meetings=False
    )
    return json.loads(open(s["truth"], encoding="utf-8").read())


def test_realistic_digital_shares_by_month_and_group(realistic):
    cells = realistic["sample"]["digital_share_by_month_and_group"]
    assert set(cells) == set(TARGETS)
    for group, (lo, hi) in TARGETS.items():
        assert list(cells[group]) == WINDOW_MONTHS, group
        for month, c in cells[group].items():
            share, n = c["digital_share"], c["n"]
            assert n >= 200, (group, month, n)
            # a month's share is a binomial mean: allowed 3 standard errors outside the target range
            se = math.sqrt(share * (1 - share) / n)
            assert lo - 3 * se <= share <= hi + 3 * se, (group, month, share, n)
    # kontanthjaelp below dagpenge in every month, as targeted
    for month in WINDOW_MONTHS:
        dp = cells["dagpenge"][month]["digital_share"]
        kh = cells["kontanthjaelp_jobparat"][month]["digital_share"]
        assert kh < dp, month
    assert realistic["world"] == "realistic" and realistic["params"]["world"] == "realistic"
    # few in-person meetings: the overall digital share is about 0.92 (easy: 0.67)
    s = realistic["sample"]
    assert 0.88 <= s["n_digital"] / s["n_eligible_meetings"] <= 0.96


def test_easy_world_is_the_dataclass_defaults():
    assert WORLDS["easy"] == {}
    assert world_params("easy") == SynthParams()
    assert SynthParams().world == "easy"


def test_world_params_apply_changes_and_refuse_unknown_world():
    p = world_params("realistic", selection_strength=0.0)
    assert p.selection_strength == 0.0 and p.share_never_reopen == WORLDS["realistic"]["share_never_reopen"]
    with pytest.raises(ValueError, match=r"world must be one of .*'nowhere'"):
        world_params("nowhere")
    with pytest.raises(ValueError, match="level_own_share"):
        SynthParams(level_own_share=1.0)


def test_confounded_instrument_is_valid_and_easy_is_not():
    codes, cal = Codes.from_codebook(load_codebook()), Calendar()
    easy = World.draw(5, codes, cal, world_params("easy"))
    conf = World.draw(5, codes, cal, world_params("confounded"))
    # the same draws: the easy level is the confounded one plus 1.5 x the municipality's hazard effect
    np.testing.assert_array_equal(easy.hazard_effect, conf.hazard_effect)
    np.testing.assert_allclose(easy.level_own - conf.level_own, 1.5 * easy.hazard_effect, atol=1e-12)
    assert conf.never_reopen.sum() == 0


def test_realistic_never_reopen_municipalities_stay_digital():
    codes, cal = Codes.from_codebook(load_codebook()), Calendar()
    w = World.draw(5, codes, cal, world_params("realistic"))
    assert 0.1 <= w.never_reopen.mean() <= 0.3
    kom = np.flatnonzero(w.never_reopen)
    dates = np.full(kom.shape, np.datetime64("2020-10-15", "D"))
    np.testing.assert_array_less(4.5 - 1e-12, w.digital_logit(kom, dates))
    after = w.digital_logit(kom, np.full(kom.shape, np.datetime64("2021-09-01", "D")))
    np.testing.assert_array_equal(after, w.level_post[kom])


def test_cli_default_world_is_realistic(tmp_path):
    out = tmp_path / "d"
    assert (
        main(["synth", "--persons", "60", "--seed", "2", "--out", str(out), "--quiet", "--no-meetings-file"])
        == 0
    )
    t = json.loads((tmp_path / "d.truth.json").read_text(encoding="utf-8"))
    assert (
        t["world"] == "realistic"
        and t["params"]["kh_digital_shift"] == WORLDS["realistic"]["kh_digital_shift"]
    )
    assert main(["synth", "--persons", "10", "--out", str(tmp_path / "e"), "--param", "world=easy"]) == 2
