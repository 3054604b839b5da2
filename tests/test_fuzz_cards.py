"""Fuzzing load_card: random YAML texts and random mutations of a valid card end in a valid Card
or in a one-line CardError, within SECONDS, never in another exception and never in a hang.

Both kinds of input are built by the same functions from a source of draws: numpy's rng (a few
dozen fixed seeds, run everywhere) or hypothesis (more, shrunk to the smallest failing input
where one fails; skipped where hypothesis is not installed).
"""

import copy
import datetime
import math
import signal

import numpy as np
import pytest
import yaml

from facebench.data.cards import Card, CardError, load_card

SECONDS = 2.0
"""The most a load of a card may take (a card is at most 16 KiB; a dense one reads in 0.4 s)."""

VALID = {
    "description": "a fuzzed card",
    "resolution": 32,
    "source": {
        "kind": "faceworld",
        "world_seed": 3,
        "persons": 2,
        "sessions": 2,
        "train_per_session": 2,
        "test_per_session": 2,
    },
    "protocol": {"steps_per_session": 5, "lr": 0.001},
}
KEYS = ["description", "resolution", "source", "protocol", "kind", "world_seed", "persons",
        "sessions", "train_per_session", "test_per_session", "root", "on_bad_image", "lr",
        "batch_new", "<<"]
"""Keys a mutation adds: the card format's (in the wrong places too) and YAML's merge key."""
INTEGERS = [0, 1, -1, 31, 32, 256, 257, 1000, 1001, 10**5, 10**12, 2**63, -(2**63), 10**30]
"""Integers at the bounds of a card's sizes and past them, past 64 bits, past 20 digits."""
REALS = [math.nan, math.inf, -math.inf, -0.0, 0.5, 1e308, 5e-324, 3e-4]
"""Reals that are not finite, at float's ends, or ordinary."""
TEXTS = ["", "faceworld", "folder", "skip", "64", "1e3", ".nan", "yes", "~", "null", "x" * 10_000,
         "a\nb", "\ud800", "\x00", "*a", "&a", "<<", "../..", "ünïcode ☃", "2001-02-30", "1:2:3"]
"""Texts that are a card's words, look like other YAML types, are long or are not UTF-8 text."""
PIECES = ["\n", " ", "  ", ":", ": ", "- ", "[", "]", "{", "}", ",", "&a ", "*a", "!!int ", "!!str ",
          "!!binary ", "!!timestamp ", "!!set ", "!!bool ", "!!python/object ", "? ", "|", ">", "'",
          '"', "#", "---", "...", "%YAML 1.1\n", "\t", "\\", "\\u", "\\x00", "<<: ", "description",
          "resolution", "source", "kind", "faceworld", "folder", "protocol", "lr", "persons", "1",
          "0x", "1e3", ".nan", ".inf", "1:2", "2001-02-30", "~", "true", "é", "\x01", "\ufeff", "\r",
          "9" * 30, "[" * 30, "x" * 3000,
          "\nx: 2001-02-30", "\nx: !!bool maybe", "\nx: !!timestamp now", "\nx: !!int ''",
          "\n? [1]\n: 2", "\n? {a: 1}\n: 2", "\nx: &a [1]\ny: *a", '\nx: "\\ud800\\0"',
          "\nx: 1:2:3:4:5:6:7:8:9:10:11:12", "\nx: {<<: {a: 1}}", "\nx: !!set {a}", "\nx: !!set [1]",
          "\nx: !!omap [1]", "\nx: 1\nx: 2", "\n.nan: 1\n.nan: 2"]
"""Fragments of YAML text: its syntax, a card's words, odd scalars, lines PyYAML fails on."""


class RngDraws:
    """Draws from numpy's rng: an index below n, an integer, a real, a text."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def index(self, n: int) -> int:
        return int(self.rng.integers(n))

    def integer(self) -> int:
        if self.index(2):
            return INTEGERS[self.index(len(INTEGERS))]
        return int(self.rng.integers(-999, 999))

    def real(self) -> float:
        if self.index(2):
            return REALS[self.index(len(REALS))]
        return float(self.rng.normal() * 10.0 ** self.index(20))

    def text(self) -> str:
        return TEXTS[self.index(len(TEXTS))]


class HypothesisDraws:
    """Draws from hypothesis's ``data`` (st: hypothesis.strategies): the same as RngDraws, from
    hypothesis's own integers, floats and texts beside the edge cases."""

    def __init__(self, data, st):
        self.data, self.st = data, st

    def index(self, n: int) -> int:
        return self.data.draw(self.st.integers(0, n - 1))

    def integer(self) -> int:
        return self.data.draw(self.st.integers() | self.st.sampled_from(INTEGERS))

    def real(self) -> float:
        return self.data.draw(self.st.floats() | self.st.sampled_from(REALS))

    def text(self) -> str:
        return self.data.draw(self.st.text(max_size=200) | self.st.sampled_from(TEXTS))


def random_value(draws, depth: int = 0):
    """A random YAML value: a scalar of any type, a list, a mapping or a deep nesting."""
    kind = draws.index(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return bool(draws.index(2))
    if kind == 2:
        return draws.integer()
    if kind == 3:
        return draws.real()
    if kind == 4:
        return draws.text()
    if kind == 5:
        return datetime.date(2000 + draws.index(50), 1 + draws.index(12), 1 + draws.index(28))
    if kind == 6:
        return [random_value(draws, depth + 1) for _ in range(draws.index(4))]
    if kind == 7:
        return {random_key(draws): random_value(draws, depth + 1) for _ in range(draws.index(4))}
    value = random_value(draws, depth + 1)
    for level in range(draws.index(40)):  # past the 16 levels a card may nest
        value = [value] if level % 2 else {"a": value}
    return value


def random_key(draws):
    """A random mapping key: a card's key, a text, or another scalar."""
    kind = draws.index(4)
    if kind == 0:
        return KEYS[draws.index(len(KEYS))]
    if kind == 1:
        return draws.text()
    return draws.integer() if kind == 2 else None


def mutated_card(draws) -> object:
    """VALID with a few random edits (a value replaced, a key dropped or added), or at times a
    random value in its place."""
    if draws.index(10) == 0:
        return random_value(draws)
    card = copy.deepcopy(VALID)
    for _ in range(1 + draws.index(3)):
        mappings = [card] + [value for value in card.values() if isinstance(value, dict)]
        mapping = mappings[draws.index(len(mappings))]
        keys = list(mapping)
        edit = draws.index(3) if keys else 2
        if edit == 0:
            mapping[keys[draws.index(len(keys))]] = random_value(draws)
        elif edit == 1:
            del mapping[keys[draws.index(len(keys))]]
        else:
            mapping[random_key(draws)] = random_value(draws)
    return card


def card_text(draws) -> bytes:
    """A mutated card written as YAML (its non-ASCII escaped or not), in UTF-8 (a lone surrogate
    left as the bytes UTF-8 refuses)."""
    text = yaml.safe_dump(mutated_card(draws), sort_keys=False, allow_unicode=bool(draws.index(2)))
    return text.encode("utf-8", "surrogatepass")


def random_yaml(draws) -> bytes:
    """Random YAML text: pieces of YAML inserted into a valid card's text (or into nothing), and
    some of it cut out."""
    text = yaml.safe_dump(VALID, sort_keys=False) if draws.index(2) else ""
    for _ in range(draws.index(12)):
        at = draws.index(len(text) + 1)
        if draws.index(4) == 0:
            text = text[:at] + text[at + 1 + draws.index(8):]
        else:
            piece = draws.text() if draws.index(6) == 0 else PIECES[draws.index(len(PIECES))]
            text = text[:at] + piece + text[at:]
    return text.encode("utf-8", "surrogatepass")


class Hang(BaseException):
    """load_card ran past SECONDS (no ``except Exception`` in it can catch this)."""


def check_load(path, content: bytes) -> None:
    """Write ``content`` to the card file ``path`` and load it: a valid Card (whose hash is
    computed and whose content, written again, loads the same) or a one-line CardError naming
    the file, within SECONDS; anything else fails the test."""
    path.write_bytes(content)

    def hang(signum, frame):
        raise Hang(f"load_card took more than {SECONDS} s on {content[:200]!r}")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.setitimer(signal.ITIMER_REAL, SECONDS)
    try:
        card = load_card(path)
    except CardError as error:
        message = str(error)
        assert error.path == path and message.startswith(f"{path}: ")
        assert "\n" not in message and len(message) < len(str(path)) + 300, message
        return
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert isinstance(card, Card) and len(card.sha256) == 64
    path.write_text(yaml.safe_dump(card.data))
    assert load_card(path).data == card.data


@pytest.fixture(scope="module")
def card_file(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "card.yaml"


def test_the_fuzzed_card_is_valid_unmutated(card_file):
    card_file.write_text(yaml.safe_dump(VALID))
    assert load_card(card_file).data["source"] == VALID["source"]


@pytest.mark.parametrize("seed", range(40))
def test_a_mutated_card_loads_or_fails_cleanly(card_file, seed):
    check_load(card_file, card_text(RngDraws(seed)))


@pytest.mark.parametrize("seed", range(30))
def test_random_yaml_loads_or_fails_cleanly(card_file, seed):
    check_load(card_file, random_yaml(RngDraws(seed)))


@pytest.mark.parametrize("build", [card_text, random_yaml], ids=["mutated cards", "random YAML"])
def test_hypothesis_inputs_load_or_fail_cleanly(card_file, build):
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=150, deadline=None, database=None,
                         suppress_health_check=[hypothesis.HealthCheck.too_slow])
    @hypothesis.given(st.data())
    def check(data):
        check_load(card_file, build(HypothesisDraws(data, st)))

    check()
