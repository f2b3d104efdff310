"""Code tables: sex (GB/T 2261.1) and the 56 ethnic groups plus 97/98 (GB 3304)."""

from __future__ import annotations

from peripherals.idcard.codes import NATIONS, SEXES, code_for


def test_nation_table_is_complete():
    """01..56 and 97, 98: 58 codes, each name once."""
    assert sorted(NATIONS) == [f"{n:02d}" for n in range(1, 57)] + ["97", "98"]
    assert len(set(NATIONS.values())) == len(NATIONS)


def test_nation_table_spot_checks():
    """First, last and a few easily confused entries match GB 3304."""
    assert NATIONS["01"] == "汉"
    assert NATIONS["05"] == "维吾尔"
    assert NATIONS["30"] == "土"
    assert NATIONS["15"] == "土家"
    assert NATIONS["46"] == "德昂"
    assert NATIONS["56"] == "基诺"
    assert NATIONS["97"] == "其他"
    assert NATIONS["98"].startswith("外国血统")


def test_sex_table():
    """0 unknown, 1 male, 2 female, 9 unstated."""
    assert SEXES == {"0": "未知的性别", "1": "男", "2": "女", "9": "未说明的性别"}


def test_code_for_accepts_code_or_name():
    """A code is found from itself or from its printed name; anything else gives None."""
    assert code_for(NATIONS, "01") == "01"
    assert code_for(NATIONS, "汉") == "01"
    assert code_for(SEXES, "女") == "2"
    assert code_for(NATIONS, "火星") is None
