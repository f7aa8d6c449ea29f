"""The knowledge specification: ids, models and the relation vocabulary."""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from proda.errors import ConfigError, UnknownRelationType
from proda.schema import Chain, Chunk, Concept, Relation, default_vocabulary, ids
from proda.schema.models import Provenance
from proda.schema.statements import fold, foldable, shown_name, source_key
from proda.schema.vocabulary import RelationType, Vocabulary


def test_ids_are_stable_across_machines() -> None:
    # Fixed expected digests: a change here re-keys every graph ever written, so it must be deliberate.
    assert ids.concept_id("Supply Curve", "economics") == "con_" + ids.content_hash(
        "economics\x1fsupply curve")[:20]
    assert ids.concept_id("Supply Curve", "economics") == "con_8e3667620fee2c3e5121"
    assert ids.document_id("economics/m48593") == "doc_8f134ccd86cde875ee19"


def test_names_normalise_to_one_concept() -> None:
    a = Concept(name="Supply  Curve", discipline="economics")
    b = Concept(name="supply curve.", discipline="economics")
    c = Concept(name="supply curve", discipline="business")
    assert a.id == b.id != c.id
    assert ids.normalise_name("ﬁscal\u00a0Policy ") == "fiscal policy"  # NFKC ligature and nbsp


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(" \t\n\r\x1c\x1f\u00a0\u2003.,;:ﬁAZ"),
               max_size=24))
def test_name_normalisation_is_the_regex_definition(name: str) -> None:
    """The fast path (ASCII lower-casing, str.split) keys every name as the definition does: NFKC,
    case fold, every whitespace run one space, then trimmed of spaces and . , ; : (ids depend on it)."""
    expected = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", name).casefold()).strip(" \t\n.,;:")
    assert ids.normalise_name(name) == expected


def test_a_derived_id_is_the_fingerprint_without_hashing_again_and_cannot_go_stale(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An element validated without an id has its derived id as its fingerprint (no second hash); a given
    id is checked against the identity; identity fields are frozen, and a copy that updates the identity
    derives its fingerprint again, so a stale id is still caught as a collision."""
    built = Concept(name="Supply Curve", discipline="economics")
    calls: list[str] = []
    real = Concept.derived_id
    monkeypatch.setattr(Concept, "derived_id", lambda self: calls.append(self.name) or real(self))
    assert built.fingerprint == built.id == "con_8e3667620fee2c3e5121" and calls == []
    read = Concept.model_validate_json(built.model_dump_json())  # an id given (a file's record): checked
    assert read.fingerprint == read.id and calls == ["Supply Curve"]
    forged = Concept(id="con_forged", name="Supply Curve", discipline="economics")
    assert forged.fingerprint == built.id != forged.id
    with pytest.raises(ValidationError, match="frozen"):
        built.name = "demand curve"  # type: ignore[misc]
    for element, field in ((Chunk(document_id="d", ordinal=0, discipline="economics", text="t"), "ordinal"),
                           (Relation(type="causes", subject_id="a", object_id="b", discipline="economics"), "type"),
                           (Chain(discipline="economics", relation_ids=["r"], concept_ids=["a", "b"]), "relation_ids")):
        with pytest.raises(ValidationError, match="frozen"):
            setattr(element, field, element.__dict__[field])
    moved = built.model_copy(update={"name": "demand curve"})
    assert moved.id == built.id and moved.fingerprint == ids.concept_id("demand curve", "economics")
    described = built.model_copy(update={"description": "a schedule"})
    assert described.fingerprint == described.id == built.id
    assert Concept.model_validate_json('{"kind": "concept", "id": "", "name": "x", "discipline": "economics"}'
                                       ).fingerprint == ids.concept_id("x", "economics")


def test_relation_and_chain_ids_follow_their_parts() -> None:
    r1 = Relation(type="causes", subject_id="a", object_id="b", discipline="economics")
    r2 = Relation(type="prevents", subject_id="a", object_id="b", discipline="economics")
    assert r1.id != r2.id
    ch = Chain(discipline="economics", relation_ids=[r1.id], concept_ids=["a", "b"])
    assert ch.id == ids.chain_id([r1.id])
    assert Chain(discipline="economics", relation_ids=[r2.id], concept_ids=["a", "b"]).id != ch.id


def test_models_forbid_unknown_fields_and_bad_shapes() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Concept(name="x", discipline="economics", colour="red")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="needs 3 concept_ids"):
        Chain(discipline="economics", relation_ids=["r1", "r2"], concept_ids=["a", "b"])
    with pytest.raises(ValidationError, match="discipline"):
        Concept(name="x", discipline="Economics & Law")
    with pytest.raises(ValidationError):
        Concept(name="", discipline="economics")


def test_fingerprint_exposes_an_explicit_id_that_does_not_match() -> None:
    honest = Concept(name="price", discipline="economics")
    impostor = Concept(id=honest.id, name="tax", discipline="economics")
    assert impostor.id == honest.id and impostor.fingerprint != honest.fingerprint


def test_chunk_hash_is_derived_from_text() -> None:
    a = Chunk(document_id="d", ordinal=0, discipline="economics", text="alpha")
    b = Chunk(document_id="d", ordinal=0, discipline="economics", text="beta")
    assert a.content_hash == ids.content_hash("alpha") and a.id != b.id


def test_vocabulary_inverses_are_declared_and_consistent() -> None:
    vocab = default_vocabulary()
    assert {"causes", "prevents", "increases", "decreases", "is_a", "part_of", "has_part", "requires",
            "enables", "precedes", "follows", "defined_as", "example_of", "contrasts_with", "measured_by",
            "used_for"} <= set(vocab)
    for t in vocab.types():
        if t.inverse is not None and t.inverse != t.name:
            assert vocab.inverse(t.inverse) == t.name, t.name
    assert vocab.inverse("is_a") is None
    assert vocab.get("contrasts_with").symmetric


def test_labels_map_to_declared_types_or_fail() -> None:
    vocab = default_vocabulary()
    assert vocab.resolve("Leads to") == "causes"
    assert vocab.resolve("IS-A") == "is_a"
    assert vocab.resolve("teleports") is None
    with pytest.raises(UnknownRelationType, match="teleports"):
        vocab.require("teleports")


def test_vocabulary_extension_from_yaml(tmp_path: Path) -> None:
    good = tmp_path / "bio.yaml"
    good.write_text("- {name: catalyses, inverse: inhibited_by, phrase: catalyses, discipline: biology}\n"
                    "- {name: inhibited_by, inverse: catalyses, phrase: is inhibited by, discipline: biology}\n")
    vocab = Vocabulary.from_yaml(good, default_vocabulary())
    assert vocab.inverse("catalyses") == "inhibited_by" and "causes" in vocab
    dangling = tmp_path / "bad.yaml"
    dangling.write_text("- {name: binds, inverse: unbinds, phrase: binds}\n")
    with pytest.raises(ConfigError, match="unbinds"):
        Vocabulary.from_yaml(dangling, default_vocabulary())
    clash = [RelationType(name="causes", phrase="brings about")]
    with pytest.raises(ConfigError, match="declared twice"):
        default_vocabulary().extend(clash)


_SOURCES = st.tuples(st.sampled_from([0.4, 1.0]), st.sampled_from(["", "gold", "dependency"]),
                     st.sampled_from([None, "m"]), st.sampled_from(["", "chk_1", "chk_2"]),
                     st.sampled_from(["", "E1", "E2"]), st.sampled_from(["Fair Trade Act", "fair trade act",
                                                                         "fair Trade act"]))


def _statements(sources: list[tuple[Any, ...]]) -> list[tuple[Concept, Relation, Chain]]:
    out = []
    for confidence, extractor, model, chunk, evidence, name in sources:
        p = Provenance(extractor=extractor, model=model) if extractor else None
        c = Concept(name=name, discipline="economics", aliases=[evidence] if evidence else [], provenance=p,
                    chunk_ids=[chunk] if chunk else [], description=evidence)
        r = Relation(type="causes", subject_id=c.id, object_id="con_b", discipline="economics", evidence=evidence,
                     chunk_id=chunk, confidence=confidence, provenance=p)
        ch = Chain(discipline="economics", relation_ids=[r.id], concept_ids=[c.id, "con_b"], chunk_id=chunk,
                   evidence=evidence, provenance=p, split="test" if chunk == "chk_2" else None)
        out.append((c, r, ch))
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(_SOURCES, min_size=2, max_size=4), st.randoms(use_true_random=False))
def test_folding_statements_of_one_element_does_not_depend_on_their_order(sources: list[tuple[Any, ...]],
                                                                          rnd: Any) -> None:
    """What a batch keeps of several statements of one element (the source that sorts highest, the
    cased name, accumulated aliases and mentions, a given split) is the same in any order, and each
    chosen field comes from one of the statements."""
    stated = _statements(sources)
    shuffled = stated[:]
    rnd.shuffle(shuffled)
    for kind in range(3):
        ours = [s[kind] for s in stated]
        theirs = [s[kind] for s in shuffled]
        assert all(foldable(ours[0], x) for x in ours[1:])
        a, b = functools.reduce(fold, ours), functools.reduce(fold, theirs)
        comparable = {"aliases", "chunk_ids"}  # accumulated in order of arrival: compared as sets
        assert a.model_dump(exclude=comparable) == b.model_dump(exclude=comparable)
        if isinstance(a, Concept) and isinstance(b, Concept):
            assert set(a.aliases) == set(b.aliases) == {x for s in ours for x in s.aliases}  # type: ignore[union-attr]
            assert set(a.chunk_ids) == {x for s in ours for x in s.chunk_ids}  # type: ignore[union-attr]
            assert a.fingerprint == a.id == ours[0].id
        assert source_key(a) == max(source_key(x) for x in ours)


def test_statements_with_different_steps_or_ids_are_not_folded() -> None:
    (c, r, ch), = _statements([(1.0, "gold", None, "chk_1", "E1", "Fair Trade Act")])
    other_steps = ch.model_copy(update={"concept_ids": ["con_b", c.id]})
    assert not foldable(ch, other_steps) and not foldable(c, r)  # type: ignore[arg-type]
    forged = Concept(id=c.id, name="something else", discipline="economics")
    assert not foldable(c, forged)
    assert shown_name("fair trade act", "Fair trade act") == "Fair trade act"
    assert shown_name("Fair trade act", "Fair Trade Act") == "Fair Trade Act"
