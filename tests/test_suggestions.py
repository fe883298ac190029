"""Suggestions: which code is offered, and how running (or not running) it is judged."""

from __future__ import annotations

import re
import time

import pytest

from devscode_nb.assistant.suggestions import (
    EDITED_THRESHOLD,
    MAX_OPEN,
    Suggestion,
    SuggestionTracker,
    extract_code,
    normalise,
)

CODE = "import math\n\nprint(math.sqrt(2))"


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def tracker(**kw: object) -> tuple[SuggestionTracker, list[Suggestion], Clock]:
    decided: list[Suggestion] = []
    clock = Clock()
    return SuggestionTracker(decided.append, clock=clock, **kw), decided, clock  # type: ignore[arg-type]


# -- extract_code ---------------------------------------------------------------------------


def test_the_first_python_block_is_the_suggestion() -> None:
    answer = (
        f"Install it:\n```bash\npip install x\n```\nThen:\n```python\n{CODE}\n```\n"
        "```py\nx\n```"
    )
    assert extract_code(answer) == CODE


def test_an_unlabelled_block_is_taken_when_none_is_labelled_python() -> None:
    assert extract_code(f"Try\n```\n{CODE}\n```\n") == CODE
    assert extract_code(f"~~~\n{CODE}\n~~~") == CODE


def test_blocks_in_other_languages_are_not_offered() -> None:
    assert extract_code("Run\n```bash\npip install numpy\n```\n") is None
    assert extract_code('```json\n{"a": 1}\n```') is None


def test_a_cut_off_answer_offers_the_code_so_far() -> None:
    assert extract_code("Here:\n```python\nimport os\nprint(os.getcwd())") == (
        "import os\nprint(os.getcwd())"
    )


def test_a_longer_fence_may_contain_a_shorter_one() -> None:
    inner = 'doc = """\n```\nnot the end\n```\n"""'
    assert extract_code(f"````python\n{inner}\n````\nDone.") == inner


def test_an_answer_that_is_plainly_code_is_offered_whole() -> None:
    assert extract_code(CODE + "\n") == CODE
    assert extract_code("df.describe()") == "df.describe()"
    assert extract_code("%pip install numpy\nimport numpy as np") == (
        "%pip install numpy\nimport numpy as np"
    )


@pytest.mark.parametrize(
    "prose",
    ["Yes", "42", "You should use pandas for this.", "I cannot help with that", "", "   \n"],
)
def test_prose_offers_nothing(prose: str) -> None:
    assert extract_code(prose) is None


def test_normalise_ignores_line_end_whitespace_and_surrounding_blank_lines() -> None:
    assert normalise("\n\nx = 1   \r\ny = 2\t\n\n") == "x = 1\ny = 2"


#: What a hostile model may put around and inside its code: a clipboard write (OSC 52), a window
#: title, a screen clear, BEL, a C1 CSI and a bidi override.
SEQUENCES = ["\x1b]52;c;cm0gLXJmIH4=\x07", "\x1b]0;title\x1b\\", "\x1b[2J", "\x07", "\x9b2J",
             "\u202e"]


def test_the_code_offered_is_the_code_shown_without_control_sequences() -> None:
    lines = CODE.split("\n")
    dirty = "".join(f"{line}{seq}\n" for line, seq in zip(lines, SEQUENCES, strict=False))
    assert extract_code(f"Here:\n```python\n{dirty}```\n") == CODE
    # A fence that only reads as Python once the sequence is gone, as the person sees it.
    assert extract_code(f"```bash\nls\n```\n```\x1b[0mpython\n{CODE}\n```") == CODE
    assert extract_code(f"{dirty}\x1b[2J") == CODE  # unfenced, plainly code once cleaned
    assert extract_code(f"Here:\n```python\n{dirty}", whole_blocks=True) is None


def test_a_cell_matches_its_suggestion_as_shown_whatever_controls_either_holds() -> None:
    dirty = "import math\x1b]52;c;eA==\x07\n\nprint(math.sqrt(2))\x1b[2J\x07"
    for opened, ran in [(CODE, dirty), (dirty, CODE), (dirty, dirty)]:
        t, decided, _ = tracker()
        s = t.open(opened)
        assert t.match(ran) == (s, "accepted") and decided == [s]
        assert s.num_lines == 3


# -- ids and bookkeeping --------------------------------------------------------------------


def test_suggestions_get_random_hex_ids_and_know_their_size() -> None:
    t, _, _ = tracker()
    a = t.open(CODE + "\n\n", model="demo", provider="ollama", command="ask")
    assert (a.model, a.provider, a.command, a.num_lines) == ("demo", "ollama", "ask", 3)
    assert a.time_ms is None and a.outcome is None
    b = t.open(CODE)
    assert re.fullmatch(r"[0-9a-f]{16}", a.id) and a.id != b.id


# -- running the code -----------------------------------------------------------------------


def test_running_the_suggestion_as_is_accepts_it() -> None:
    t, decided, clock = tracker()
    s = t.open(CODE)
    clock.now += 2.5
    result = t.match("import math   \n\nprint(math.sqrt(2))\n\n")
    assert result == (s, "accepted")
    assert (s.outcome, s.via, s.time_ms, s.num_lines, s.accepted) == (
        "accepted",
        "execution",
        2500,
        3,
        True,
    )
    assert decided == [s]
    assert len(t) == 0
    assert t.match(CODE) is None  # decided once only


def test_running_it_edited_counts_as_edited() -> None:
    t, decided, _ = tracker()
    s = t.open(CODE)
    assert t.match("import math\n\nprint(math.sqrt(3))") == (s, "edited")
    assert s.outcome == "edited" and s.accepted and decided == [s]


def test_an_unrelated_cell_decides_nothing() -> None:
    t, decided, _ = tracker()
    s = t.open(CODE)
    assert t.match("df = pd.read_csv('data.csv')\ndf.head()") is None
    assert t.match("") is None and t.match("\n  \n") is None
    assert decided == [] and t.open_suggestions == [s]


def test_the_threshold_is_difflibs_close_match_cutoff() -> None:
    assert EDITED_THRESHOLD == 0.6
    t, _, _ = tracker(threshold=0.99)
    t.open(CODE)
    assert t.match("import math\n\nprint(math.sqrt(3))") is None


def test_the_most_similar_open_suggestion_is_matched() -> None:
    t, _, _ = tracker(supersede_on_open=False)
    a = t.open("x = load()\nplot(x)")
    b = t.open("y = compute(1, 2, 3)\nprint(y)")
    assert t.match("y = compute(1, 2, 4)\nprint(y)") == (b, "edited")
    assert t.match("x = load()\nplot(x)") == (a, "accepted")


# -- explicit decisions ---------------------------------------------------------------------


def test_decide_by_id_or_the_newest_open_one() -> None:
    t, decided, clock = tracker(supersede_on_open=False)
    a = t.open("a = 1")
    b = t.open("b = 2")
    clock.now += 0.25
    assert t.decide(None, "rejected") is b
    assert (b.outcome, b.via, b.time_ms, b.accepted) == ("rejected", "magic", 250, False)
    assert t.decide(a.id, "accepted", "button") is a
    assert (a.outcome, a.via) == ("accepted", "button")
    assert decided == [b, a]
    assert t.decide(a.id, "rejected") is None  # already decided
    assert t.decide("0123456789abcdef", "rejected") is None
    assert t.decide(None, "rejected") is None  # nothing open


# -- suggestions nobody decided -------------------------------------------------------------


def test_a_new_suggestion_makes_the_older_open_ones_ignored() -> None:
    t, decided, _ = tracker()
    old = t.open("a = 1")
    new = t.open("b = 2")
    assert (old.outcome, old.via) == ("ignored", "timeout") and not old.accepted
    assert decided == [old] and t.open_suggestions == [new]
    assert t.decide(old.id, "accepted") is None


def test_supersede_and_close_all_return_what_was_open() -> None:
    t, decided, _ = tracker(supersede_on_open=False)
    a, b = t.open("a = 1"), t.open("b = 2")
    assert t.close_all() == [a, b]
    assert [s.outcome for s in decided] == ["ignored", "ignored"]
    assert t.close_all() == [] and t.supersede() == []


def test_expire_ignores_suggestions_left_open_too_long() -> None:
    t, _, clock = tracker(supersede_on_open=False)
    a = t.open("a = 1")
    clock.now += 100
    b = t.open("b = 2")
    assert t.expire(60) == [a]
    assert (a.outcome, a.via, a.time_ms) == ("ignored", "timeout", 100_000)
    assert t.open_suggestions == [b]


def test_at_most_max_open_suggestions_stay_open() -> None:
    t, decided, _ = tracker(supersede_on_open=False)
    opened = [t.open(f"x = {i}") for i in range(MAX_OPEN + 5)]
    assert len(t) == MAX_OPEN
    assert decided == opened[:5] and all(s.outcome == "ignored" for s in decided)


# -- cost: the hook calls match on every cell -----------------------------------------------


def test_match_with_nothing_open_is_an_immediate_return() -> None:
    t, _, _ = tracker()
    big = "x = 1\n" * 10_000
    started = time.perf_counter()
    for _ in range(10_000):
        t.match(big)
    assert time.perf_counter() - started < 0.1


def test_match_stays_bounded_with_many_large_suggestions_and_a_huge_cell() -> None:
    t, _, _ = tracker(supersede_on_open=False)
    for i in range(MAX_OPEN):
        t.open("\n".join(f"value_{i}_{j} = compute({j})" for j in range(300)))
    cell = "\n".join(f"other_{j} = something_else({j})" for j in range(20_000))
    started = time.perf_counter()
    assert t.match(cell) is None
    assert time.perf_counter() - started < 2.0
