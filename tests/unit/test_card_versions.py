"""Which immunization card versions showed a voided routine dose (pure)."""

from __future__ import annotations

from immunet.vaccination.card import card_version, revoked_versions


def test_versions_count_every_recording_and_every_void():
    assert card_version(3, 0) == 3
    assert card_version(2, 1) == 4  # three recordings and one void


def test_the_versions_from_the_recording_to_the_last_issue():
    # Doses 11, 12, 13 recorded (v1, v2, v3); 12 voided now: v2 and v3 showed it.
    rows = [(11, "recorded"), (12, "recorded"), (13, "recorded")]
    assert revoked_versions(12, rows, []) == (2, 3)
    # Then (v4 issued by the void) 14 recorded (v5), and 13 voided: v3, v4 and v5 showed it.
    rows = [(11, "recorded"), (12, "voided"), (13, "recorded"), (14, "recorded")]
    assert revoked_versions(13, rows, [13]) == (3, 5)
    # 14 voided after that (v6 issued by the second void): v5 (its recording) and v6.
    rows = [(11, "recorded"), (12, "voided"), (13, "voided"), (14, "recorded")]
    assert revoked_versions(14, rows, [13, 14]) == (5, 6)
    # The only dose, voided: just its own version.
    assert revoked_versions(7, [(7, "recorded")], []) == (1, 1)
