"""The seed tables colour a difference by whether it is better for that metric, not by its sign."""
from __future__ import annotations

from facebench.report.build import tone


def test_higher_accuracy_is_better_and_higher_std_is_worse():
    assert tone("accuracy", 0.01) == "better" and tone("accuracy", -0.01) == "worse"
    assert tone("std", 0.01) == "worse" and tone("std", -0.01) == "better"
    assert tone("eer", -0.02) == "better"


def test_a_threshold_or_no_difference_has_no_tone():
    assert tone("threshold", 0.1) is None
    assert tone("accuracy", None) is None and tone("accuracy", 0.0) is None
