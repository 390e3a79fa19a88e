"""The redactor: every secret it knows, in every encoding, is gone from any text."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hznctl.redact import PREFIX_MATCH, REDACTED, Redactor, encodings

SECRETS = st.text(min_size=4, max_size=40).filter(lambda s: s.strip() == s and len(s) >= 4)
AROUND = st.text(alphabet="abc '\"\n:-", max_size=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SECRETS, AROUND, AROUND, st.data())
def test_every_encoding_of_a_known_secret_is_redacted(secret: str, before: str, after: str,
                                                      data: st.DataObject) -> None:
    redactor = Redactor()
    redactor.remember(secret)
    form = data.draw(st.sampled_from(sorted(encodings(secret))))
    shown = redactor.redact(f"{before}{form}{after}")
    assert REDACTED in shown
    for each in encodings(secret):
        if len(each) >= PREFIX_MATCH or each not in before + after:
            assert each not in shown.replace(REDACTED, "\x00"), (each, shown)


def test_forms_and_a_cut_short_echo() -> None:
    secret = "canary-5f2e9c1a7b3d"
    redactor = Redactor()
    redactor.remember(secret)
    raw = secret.encode()
    for text in (secret, raw.hex(), raw.hex().upper(), "canary-5f2e9c1a7b3d".replace("-", "%2D"),
                 f"'{secret[:10]}'", f'"{secret}"'):
        assert secret[:PREFIX_MATCH] not in redactor.redact(f"ERR {text} end")
        assert "ERR " in redactor.redact(f"ERR {text} end")
    assert redactor.redact("nothing secret here") == "nothing secret here"
    assert redactor.redact("canary-5") == REDACTED  # 8 characters of its start
    assert redactor.redact("canary-") == "canary-"  # 7 are not (too common to mean it)


def test_short_values_are_not_secrets_and_unknown_text_passes() -> None:
    redactor = Redactor()
    redactor.remember("on")
    redactor.remember("6379")
    assert redactor.redact("connect to h:6379 on") == f"connect to h:{REDACTED} on"


def test_a_thousand_secrets_cost_a_lookup_per_character() -> None:
    redactor = Redactor()
    for index in range(1000):
        redactor.remember(f"password-{index:04d}-x7")
    text = "ERR unknown command 'HELLO', with args beginning with: '3' 'AUTH' 'u' " * 4
    started = time.perf_counter()
    for _ in range(1000):
        redactor.redact(text)
    assert time.perf_counter() - started < 2.0
    assert redactor.redact("AUTH password-0999-x7") == f"AUTH {REDACTED}"
