from typing import get_args

from openline.domain.log_levels import LEVELS, at_least
from openline.sdk.events import LogLevel as SdkLogLevel


def test_a_minimum_level_keeps_it_and_everything_more_severe():
    assert at_least("warning") == ("warning", "error", "critical")
    assert at_least("debug") == LEVELS
    assert at_least(None) is None
    assert at_least("loud") is None


def test_the_sdk_copy_of_the_levels_is_the_platforms():
    # The SDK installs apart from the platform, so it cannot import domain/.
    assert get_args(SdkLogLevel) == LEVELS
