"""The shared settings checks every service's configuration uses."""

from __future__ import annotations

import dataclasses

import pytest

from ragplane.runtime.settings import (
    CommonSettings,
    SettingsError,
    env,
    in_range,
    load_settings,
    non_empty,
    non_negative,
    one_of,
    optional,
)

pytestmark = pytest.mark.unit


@dataclasses.dataclass(frozen=True)
class _Checked(CommonSettings):
    mode: str = env("RAGPLANE_CHECKED_MODE", "fast", check=one_of("fast", "exact"))
    window: int = env("RAGPLANE_CHECKED_WINDOW", 256, check=in_range(8, 512))
    top_p: float = env("RAGPLANE_CHECKED_TOP_P", 1.0, check=in_range(0.0, 1.0, low_open=True))
    name: str = env("RAGPLANE_CHECKED_NAME", "x", check=non_empty)
    budget: int | None = env("RAGPLANE_CHECKED_BUDGET", None, check=optional(non_negative))


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("RAGPLANE_CHECKED_MODE", "slow", "RAGPLANE_CHECKED_MODE: must be one of fast, exact, but got 'slow'"),
        ("RAGPLANE_CHECKED_WINDOW", "7", "RAGPLANE_CHECKED_WINDOW: must be between 8 and 512, but got 7"),
        ("RAGPLANE_CHECKED_WINDOW", "513", "RAGPLANE_CHECKED_WINDOW: must be between 8 and 512, but got 513"),
        ("RAGPLANE_CHECKED_TOP_P", "0", "RAGPLANE_CHECKED_TOP_P: must be in (0, 1], but got 0.0"),
        ("RAGPLANE_CHECKED_NAME", "", "RAGPLANE_CHECKED_NAME: must not be empty"),
        ("RAGPLANE_CHECKED_BUDGET", "-3", "RAGPLANE_CHECKED_BUDGET: must be >= 0, but got -3"),
    ],
)
def test_checks_reject_bad_values_naming_the_variable(variable, raw, message):
    with pytest.raises(SettingsError) as info:
        load_settings(_Checked, {variable: raw})
    assert str(info.value) == message


def test_checks_accept_the_bounds_and_unset_optionals():
    settings = load_settings(
        _Checked,
        {
            "RAGPLANE_CHECKED_MODE": "exact",
            "RAGPLANE_CHECKED_WINDOW": "512",
            "RAGPLANE_CHECKED_TOP_P": "1.0",
            "RAGPLANE_CHECKED_BUDGET": "",
        },
    )
    assert (settings.mode, settings.window, settings.top_p, settings.budget) == ("exact", 512, 1.0, None)
    assert load_settings(_Checked, {"RAGPLANE_CHECKED_WINDOW": "8"}).window == 8
