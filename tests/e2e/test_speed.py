"""bf16 against fp32 with the real weights: the faster precision's result holds up."""

from stylize import StylizeConfig, run


def test_bf16_result_holds_up(images):
    losses = {}
    for precision in ("fp32", "bf16"):
        config = StylizeConfig(size=48, iterations=15, precision=precision)
        losses[precision] = run(images["content"], images["style"], config=config).losses["total"]
    assert losses["bf16"] < losses["fp32"] * 1.25
