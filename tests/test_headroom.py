"""Headroom on the quick card: personalisation helps on session 0, naive fine-tuning forgets it again."""

from facebench.models.headroom import MIN_GAIN, MIN_LOST, headroom_on_card


def test_quick_card_has_headroom_to_personalise_and_to_forget():
    result = headroom_on_card("faceworld-quick", person=0, steps=50, anchor_steps=20, eval_steps=10)
    assert result["gain"] >= MIN_GAIN, result
    assert result["lost_fraction"] >= MIN_LOST, result
    assert result["passes"]
