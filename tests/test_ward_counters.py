"""The ward's counters (窓口) carry the ward offices' real addresses, not placeholders."""

from __future__ import annotations

from ward import ward_counter, ward_reference

OFFICES = {
    "世田谷地域": ("世田谷総合支所", "東京都世田谷区世田谷4-22-33"),
    "北沢地域": ("北沢総合支所", "東京都世田谷区北沢2-8-18"),
    "玉川地域": ("玉川総合支所", "東京都世田谷区等々力3-4-1"),
    "砧地域": ("砧総合支所", "東京都世田谷区成城6-2-1"),
    "烏山地域": ("烏山総合支所", "東京都世田谷区南烏山6-22-14"),
}


def test_every_district_s_counter_has_a_street_address() -> None:
    reference = ward_reference()
    assert reference["ward"]["main_office"]["address"] == "東京都世田谷区世田谷4-21-27"
    for district in reference["districts"]:
        counter = ward_counter(district["code"])
        assert counter is not None, district["code"]
        if district["code"] == "futako_tamagawa":
            assert (counter.name, counter.address) == (
                "二子玉川まちづくりセンター",
                "東京都世田谷区玉川4-4-5",
            )
            continue
        assert (counter.name, counter.address) == OFFICES[district["area"]], district["code"]
        # A street address ends in block numbers (丁目-番-号), never a bare town name.
        assert counter.address[-1].isdigit()
