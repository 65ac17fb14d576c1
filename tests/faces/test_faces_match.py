"""Matcher: vectorised distances agree with brute force; threshold and gap semantics; speed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentcam.faces import Match, Matcher


def brute_force(templates: np.ndarray, ids: list[int], query: np.ndarray) -> dict[int, float]:
    """Per-person minimum distance, the slow obvious way."""
    per_person: dict[int, float] = {}
    for template, pid in zip(templates, ids, strict=True):
        d = float(np.linalg.norm(template - query))
        per_person[pid] = min(d, per_person.get(pid, np.inf))
    return per_person


@st.composite
def galleries(draw: st.DrawFn) -> tuple[np.ndarray, list[int], np.ndarray]:
    n = draw(st.integers(1, 40))
    k = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    ids = [int(v) for v in rng.integers(0, draw(st.integers(1, 8)), size=n)]
    templates = rng.normal(scale=0.09, size=(n, 128))  # like dlib encodings: norm ~1
    queries = templates[rng.integers(0, n, size=k)] + rng.normal(
        scale=draw(st.sampled_from([0.0, 0.01, 0.05])), size=(k, 128)
    )
    return templates, ids, queries


@settings(max_examples=150, deadline=None)
@given(galleries(), st.sampled_from([0.3, 0.5, 0.7]))
def test_matches_agree_with_brute_force(
    gallery: tuple[np.ndarray, list[int], np.ndarray], threshold: float
) -> None:
    templates, ids, queries = gallery
    matcher = Matcher(templates, ids, threshold=threshold)
    results = matcher.match_many(queries)
    assert len(results) == len(queries)
    for query, got in zip(queries, results, strict=True):
        expected = brute_force(templates, ids, query)
        ranked = sorted(expected.items(), key=lambda kv: kv[1])
        best_pid, best = ranked[0]
        assert got.distance == pytest.approx(best, abs=1e-4)
        if got.person_id is not None:
            assert expected[got.person_id] == pytest.approx(best, abs=1e-9)
            assert best <= threshold
        else:
            assert best > threshold
        if len(ranked) == 1:
            assert got.second_distance is None and got.gap is None
        else:
            assert got.second_distance == pytest.approx(ranked[1][1], abs=1e-4)
            assert got.gap == pytest.approx(ranked[1][1] - best, abs=1e-4)
            assert got.gap is not None
            assert got.gap >= 0
        assert matcher.match(query) == got


def test_identical_vector_has_zero_distance() -> None:
    rng = np.random.default_rng(3)
    templates = rng.normal(scale=0.09, size=(50, 128))
    matcher = Matcher(templates, list(range(50)))
    match = matcher.match(templates[17])
    assert match.person_id == 17
    assert match.distance is not None and match.distance < 1e-4


def test_gap_is_to_a_different_person_and_threshold_decides() -> None:
    base = np.zeros(128)
    unit = np.eye(128)
    templates = np.stack([base + 0.1 * unit[0], base + 0.2 * unit[0], base + 0.45 * unit[1]])
    matcher = Matcher(templates, [7, 7, 9])  # person 7 has two templates
    match = matcher.match(base)
    assert match.person_id == 7
    assert match.distance == pytest.approx(0.1)
    assert match.second_distance == pytest.approx(0.45)  # not person 7's second template (0.2)
    assert match.gap == pytest.approx(0.35)

    strict = Matcher(templates, [7, 7, 9], threshold=0.05)
    no = strict.match(base)
    assert no.person_id is None
    assert no.distance == pytest.approx(0.1) and no.gap == pytest.approx(0.35)

    boundary = Matcher(templates, [7, 7, 9], threshold=0.1).match(base)
    assert boundary.person_id == 7  # at the threshold counts as a match


def test_single_person_and_empty_matchers() -> None:
    one = Matcher(np.full((2, 128), 0.05), [4, 4])
    match = one.match(np.zeros(128))
    assert match.person_id is None  # distance ~0.57 > 0.5
    assert match.distance == pytest.approx(np.sqrt(128) * 0.05)
    assert match.second_distance is None and match.gap is None

    empty = Matcher(np.zeros((0, 128)), [])
    assert empty.match(np.zeros(128)) == Match(None, None, None, None)
    assert empty.match_many(np.zeros((3, 128))) == [Match(None, None, None, None)] * 3
    assert one.match_many(np.zeros((0, 128))) == []


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="person ids"):
        Matcher(np.zeros((3, 128)), [1, 2])
    with pytest.raises(ValueError, match="NaN"):
        Matcher(np.full((1, 128), np.nan), [1])
    with pytest.raises(ValueError, match="length 128"):
        Matcher(np.zeros((1, 128)), [1]).match(np.zeros(64))


def test_matching_a_large_enrolment_finds_the_right_person() -> None:
    # Speed is measured by the benchmark suite (bench/), not asserted here.
    rng = np.random.default_rng(11)
    big = rng.normal(scale=0.09, size=(100_000, 128))
    ids = [int(v) for v in rng.integers(0, 20_000, size=100_000)]
    query = big[123] + 0.01
    matcher = Matcher(big, ids)
    assert matcher.match(query).person_id == ids[123]
    small = Matcher(big[:10_000], ids[:10_000])
    assert small.match(query).person_id == ids[123]
