"""Reading alerts.toml: every key, the defaults table, desks and products by key or name, and one
clear line for each mistake."""

from __future__ import annotations

import sys
from datetime import date
from datetime import time as dtime
from pathlib import Path

import pytest
from conftest import FAKE_TOKEN, FAKE_USER
from records import BASE, NOW, TOMORROW, at, parsed_config

# The script is a module at the repository root, not a package: make it importable however pytest is run.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


import ind_alert  # noqa: E402
from ind_alert import Alert, ConfigError, Recipient  # noqa: E402


def test_the_smallest_config_gives_one_alert_for_the_default_recipient() -> None:
    parsed = parsed_config(BASE)
    assert parsed.alerts == (Alert("Amsterdam biometrics", "AM", "BIO", notify=("you",)),)
    assert parsed.recipients == {"you": ind_alert.DEFAULT_RECIPIENT}
    assert ind_alert.DEFAULT_RECIPIENT.pushover_user_env == "PUSHOVER_USER"


def test_every_key_of_an_alert_is_read() -> None:
    parsed = parsed_config("""
        [recipients.me]
        pushover_user_env = "PUSHOVER_USER"
        [recipients.sms]
        apprise_url_env = "SMS_URL"
        only_urgent = true

        [[alert]]
        name = "Den Haag: biometrics for two"
        desk = "Den Haag"
        product = "biometrics"
        persons = 2
        days_ahead = 14
        after = 2026-12-01
        before = 2026-12-31
        weekdays = ["mon", "Friday"]
        earliest = "8:00"
        latest = "12:30"
        priority = -1
        sound = "siren"
        notify = ["sms", "me"]
        urgent_within_days = 2
        urgent_priority = 2
        blind_after_minutes = 90
    """)
    assert parsed.alerts[0] == Alert(
        name="Den Haag: biometrics for two",
        desk="DH",
        product="BIO",
        persons=2,
        days_ahead=14,
        after=date(2026, 12, 1),
        before=date(2026, 12, 31),
        weekdays=frozenset({0, 4}),
        earliest=dtime(8, 0),
        latest=dtime(12, 30),
        priority=-1,
        sound="siren",
        notify=("sms", "me"),
        urgent_within_days=2,
        urgent_priority=2,
        blind_after_minutes=90,
    )
    assert parsed.recipients["sms"] == Recipient("sms", apprise_url_env="SMS_URL", only_urgent=True)
    assert [r.name for r in parsed.recipients_of(parsed.alerts[0])] == ["sms", "me"]


def test_the_defaults_table_applies_to_every_alert_unless_it_says_otherwise() -> None:
    parsed = parsed_config("""
        [defaults]
        days_ahead = 7
        persons = 2
        weekdays = ["mon"]

        [[alert]]
        name = "one"
        desk = "AM"
        product = "BIO"

        [[alert]]
        name = "two"
        desk = "DH"
        product = "DOC"
        days_ahead = 3
    """)
    one, two = parsed.alerts
    assert (one.days_ahead, one.persons, one.weekdays) == (7, 2, frozenset({0}))
    assert (two.days_ahead, two.persons, two.weekdays) == (3, 2, frozenset({0}))


@pytest.mark.parametrize(
    ("desk", "key"),
    [
        pytest.param("AM", "AM", id="a desk key"),
        pytest.param("am", "AM", id="a desk key in lower case"),
        pytest.param("Amsterdam", "AM", id="a desk name without IND"),
        pytest.param("IND AMSTERDAM", "AM", id="a desk name in upper case"),
        pytest.param(" den haag ", "DH", id="a desk name with spaces around it"),
        pytest.param("expatcenter utrecht", "fa24ccf0acbc76a7793765937eaee440", id="an expatcenter by name"),
        pytest.param("IND Brabanthallen, Den Bosch", "87d19bfc2e1b572ac3aab17032ed11dc", id="a name with a comma"),
        pytest.param("6B425FF9F87DE136A36B813CCCF26E23", "6b425ff9f87de136a36b813cccf26e23", id="a hex key in caps"),
    ],
)
def test_desks_are_known_by_key_or_name_in_any_case(desk: str, key: str) -> None:
    assert parsed_config(BASE.replace('desk = "AM"', f'desk = "{desk}"')).alerts[0].desk == (key,)


@pytest.mark.parametrize(
    ("product", "key"),
    [
        pytest.param("DOC", "DOC", id="a product key"),
        pytest.param("bio", "BIO", id="a product key in lower case"),
        pytest.param("Biometrics", "BIO", id="a product name"),
        pytest.param("RESIDENCE ENDORSEMENT STICKER", "VAA", id="a product name in upper case"),
        pytest.param("collect residence permit", "DOC", id="another name for collecting the document"),
        pytest.param("return visa", "TKV", id="the return visa by name"),
    ],
)
def test_products_are_known_by_key_or_name_in_any_case(product: str, key: str) -> None:
    assert parsed_config(BASE.replace('product = "BIO"', f'product = "{product}"')).alerts[0].product == key


def test_every_desk_of_the_reference_is_known() -> None:
    assert len(ind_alert.DESKS) == 17
    for key, name in ind_alert.DESKS.items():
        assert ind_alert.resolve_desk(key, "x") == key
        assert ind_alert.resolve_desk(name, "x") == key


def test_urgent_within_days_0_is_accepted_and_makes_todays_slots_urgent() -> None:
    parsed = parsed_config(BASE + "urgent_within_days = 0\n")
    assert parsed.alerts[0].urgent_within_days == 0
    assert ind_alert.is_urgent(parsed.alerts[0], at("2026-10-05", "15:00"), NOW)
    assert not ind_alert.is_urgent(parsed.alerts[0], TOMORROW, NOW)


def test_an_explicit_urgent_priority_of_0_is_kept() -> None:
    # e.g. urgency only to route to an only_urgent recipient, without bypassing quiet hours.
    parsed = parsed_config(BASE + "urgent_within_days = 1\nurgent_priority = 0\n")
    assert parsed.alerts[0].urgent_priority == 0


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param(
            "days_ahed = 3", ['unknown key "days_ahed"', 'did you mean "days_ahead"'], id="a misspelt key is named"
        ),
        pytest.param(
            "[[alerts]]\nname='x'", ['unknown key "alerts"', 'did you mean "alert"'], id="a misspelt table is named"
        ),
        pytest.param("[defaults]\nname = 'x'", ['unknown key "name"', "[defaults]"], id="a name cannot be a default"),
        pytest.param(
            "[defaults]\ndays_ahed = 3",
            ['unknown key "days_ahed"', "[defaults]", 'did you mean "days_ahead"'],
            id="a misspelt default is named",
        ),
        pytest.param(
            "[recipients.me]\npushover_user_env = 'PUSHOVER_USER'\nonly_urgnt = true",
            ['unknown key "only_urgnt"', 'did you mean "only_urgent"', "[recipients.me]"],
            id="a misspelt recipient key is named",
        ),
    ],
)
def test_an_unknown_key_anywhere_is_an_error_that_names_it(extra: str, expected: list[str]) -> None:
    text = extra + "\n" + BASE if extra.startswith("[") else BASE + extra
    with pytest.raises(ConfigError) as caught:
        parsed_config(text)
    assert caught.value.exit_code == 2
    for part in expected:
        assert part in str(caught.value)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            'desk = "Amsterdm"',
            ['unknown desk "Amsterdm"', 'did you mean "Amsterdam"', "--list-desks"],
            id="an unknown desk is named with a suggestion",
        ),
        pytest.param('desk = "XX"', ['unknown desk "XX"', "--list-desks"], id="an unknown desk key points to the list"),
        pytest.param(
            'desk = "RO"',
            ['desk "RO" is retired', "Expatcenter Rotterdam"],
            id="the retired Rotterdam desk names its successor",
        ),
        pytest.param(
            'desk = "ut"',
            ["retired", "Expatcenter Utrecht"],
            id="the retired Utrecht desk names its successor in any case",
        ),
        pytest.param(
            'product = "biometric"',
            ['unknown product "biometric"', 'did you mean "biometrics"', "DOC, BIO, VAA or TKV"],
            id="an unknown product is named with a suggestion",
        ),
        pytest.param("persons = 0", ["persons", "1 to 6", "not 0"], id="zero persons is refused"),
        pytest.param("persons = 7", ["persons", "1 to 6", "not 7"], id="seven persons are refused"),
        pytest.param('persons = "2"', ["persons", "remove the quotes"], id="persons as text is refused"),
        pytest.param("persons = true", ["persons", "1 to 6"], id="persons as a boolean is refused"),
        pytest.param("days_ahead = -1", ["days_ahead"], id="a negative days_ahead is refused"),
        pytest.param('earliest = "9.30"', ["earliest", '"09:30"', "9.30"], id="a time with a dot is refused"),
        pytest.param('latest = "24:00"', ["latest", '"09:30"'], id="hour 24 is refused"),
        pytest.param('earliest = "09:60"', ["earliest"], id="minute 60 is refused"),
        pytest.param('earliest = "9am"', ["earliest"], id="am and pm are refused"),
        pytest.param("earliest = 930", ["earliest"], id="a time as a number is refused"),
        pytest.param('after = "2026-12-01"', ["after", "TOML date", "no quotes"], id="a date in quotes is refused"),
        pytest.param(
            "before = 2026-12-01T09:00:00",
            ["before must be a date without a time: write before = 2026-12-01"],
            id="a date and time is refused with the date form to write",
        ),
        pytest.param(
            "after = 2026-12-31\nbefore = 2026-12-01",
            ["after (2026-12-31) is later than before (2026-12-01)"],
            id="after later than before is refused",
        ),
        pytest.param(
            'earliest = "13:00"\nlatest = "12:00"',
            ["earliest (13:00) is later than latest (12:00)"],
            id="earliest later than latest is refused",
        ),
        pytest.param('weekdays = ["funday"]', ["weekdays", "funday"], id="an unknown weekday is refused"),
        pytest.param('weekdays = "mon"', ["weekdays", "list"], id="weekdays as text is refused"),
        pytest.param("priority = 2", ["priority", "-2 to 1"], id="priority 2 is only for urgent slots"),
        pytest.param("notify = []", ["notify is empty"], id="an empty notify list is refused"),
        pytest.param(
            'notify = ["PUSHOVER_USER"]', ['unknown recipient "PUSHOVER_USER"'], id="notify names recipients not keys"
        ),
    ],
)
def test_a_bad_alert_value_is_an_error_that_says_what_to_fix(line: str, expected: list[str]) -> None:
    text = BASE.replace('desk = "AM"\n', "") if line.startswith("desk") else BASE
    text = text.replace('product = "BIO"\n', "") if line.startswith("product") else text
    with pytest.raises(ConfigError) as caught:
        parsed_config(text + line + "\n")
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert 'alert "Amsterdam biometrics"' in message
    for part in expected:
        assert part in message


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("name", id="a missing name"),
        pytest.param("desk", id="a missing desk"),
        pytest.param("product", id="a missing product"),
    ],
)
def test_a_missing_required_key_is_an_error_that_names_it(key: str) -> None:
    lines = [line for line in BASE.splitlines() if not line.startswith(f"{key} =")]
    with pytest.raises(ConfigError) as caught:
        parsed_config("\n".join(lines))
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert f"{key} is required" in message
    resolve = {"desk": ind_alert.resolve_desk, "product": ind_alert.resolve_product}.get(key)
    if resolve is not None and f'{key} = "' in message:
        # An example in the message must itself be a valid value for that key.
        resolve(message.split(f'{key} = "', 1)[1].split('"', 1)[0], "the example")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", ["no alerts", "[[alert]]"], id="a config without alerts is refused"),
        pytest.param(
            BASE + BASE.replace('"AM"', '"DH"'),
            ['name "Amsterdam biometrics" is used twice'],
            id="a duplicate alert name is refused",
        ),
        pytest.param(
            '[recipients.partner]\npushover_user_env = "PUSHOVER_USER_PARTNER"\n' + BASE + 'notify = ["partnr"]\n',
            ['unknown recipient "partnr"', 'did you mean "partner"'],
            id="an unknown recipient is named with a suggestion",
        ),
        pytest.param(
            '[recipients.me]\npushover_user_env = "PUSHOVER_USER"\napprise_url_env = "TELEGRAM_URL"\n' + BASE,
            ["[recipients.me]", "exactly one of pushover_user_env or apprise_url_env"],
            id="a recipient with both channels is refused",
        ),
        pytest.param(
            "[recipients.me]\nonly_urgent = true\n" + BASE,
            ["[recipients.me]", "exactly one of pushover_user_env or apprise_url_env"],
            id="a recipient with no channel is refused",
        ),
        pytest.param(
            '[recipients.me]\npushover_user_env = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG-"\n' + BASE,
            ["name an environment variable in capitals", "not the secret itself"],
            id="a secret written where its variable name belongs is refused",
        ),
        pytest.param(
            '[recipients.me]\napprise_url_env = "SMS_URL"\nonly_urgent = "yes"\n' + BASE,
            ["only_urgent", "true or false"],
            id="only_urgent must be a boolean",
        ),
        pytest.param('recipients = ["me"]\n' + BASE, ["recipients must be tables"], id="recipients must be tables"),
    ],
)
def test_a_bad_config_is_an_error_that_says_what_to_fix(text: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parsed_config(text)
    assert caught.value.exit_code == 2
    for part in expected:
        assert part in str(caught.value)


@pytest.mark.parametrize(
    "pasted",
    [
        pytest.param(FAKE_USER, id="a user key pasted as the variable name is never echoed"),
        pytest.param(f" {FAKE_USER} ", id="a user key pasted with spaces is never echoed"),
    ],
)
def test_a_user_key_pasted_where_its_variable_name_belongs_is_never_echoed(pasted: str) -> None:
    # Wherever it is caught (reading the config or checking the secrets), the key must not be printed.
    with pytest.raises(ConfigError) as caught:
        pasted_config = parsed_config(f'[recipients.me]\npushover_user_env = "{pasted}"\n' + BASE)
        ind_alert.require_secrets(pasted_config, {"PUSHOVER_TOKEN": FAKE_TOKEN})
    assert FAKE_USER not in str(caught.value)


def test_the_shipped_alerts_toml_is_valid() -> None:
    parsed = ind_alert.load_config(ROOT / "alerts.toml")
    assert parsed.alerts


def test_an_empty_weekdays_list_is_refused_as_it_could_never_match() -> None:
    with pytest.raises(ConfigError) as caught:
        parsed_config(BASE + "weekdays = []\n")
    assert caught.value.exit_code == 2
    assert 'the weekdays list is empty: name a day like "mon", or leave weekdays out' in str(caught.value)


@pytest.mark.parametrize("key", ["after", "before"])
def test_a_date_at_the_calendars_end_is_refused_in_the_config_not_an_overflow_on_every_run(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parsed_config(BASE + f"{key} = 9999-12-01\n")
    assert f"{key} must be a date before 2100-01-01, not 9999-12-01" in str(caught.value)
    with pytest.raises(ConfigError):
        parsed_config(BASE + f"{key} = 2100-01-01\n")
    assert parsed_config(BASE + f"{key} = 2099-12-31\n").alerts[0] is not None
