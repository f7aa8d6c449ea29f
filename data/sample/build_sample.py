"""Rebuild ``knowledge.jsonl``: a hand-made L1/L2/L3 extraction of the two sample modules.

Run from the repository root: ``python data/sample/build_sample.py``. Every relation's evidence is
checked to be a verbatim span of the module text, so the sample stays grounded.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

from proda.schema import Chain, Chunk, Concept, Document, Provenance, Relation

HERE = Path(__file__).parent
MANUAL = Provenance(extractor="manual", model=None, prompt_version="sample-v1")

# (discipline/module, [(subject, type, object, evidence)], [[fact indexes forming a chain]])
FACTS = {
    "economics/m64124": (
        [
            ("budget deficit", "requires", "printing domestic currency",
             "huge budget deficits, which the government finances by printing its domestic currency"),
            ("printing domestic currency", "causes", "high inflation",
             "very high inflation generally arises from huge budget deficits, which the government finances by "
             "printing its domestic currency"),
            ("high inflation", "decreases", "real wage rate",
             "When wages do not rise as price levels rise, this leads to a decline in the real wage rate"),
            ("real wage rate", "increases", "standard of living",
             "a decline in the real wage rate and a decrease in the standard of living"),
            ("monetary policy", "prevents", "entrenched inflation",
             "countries can use monetary policy to prevent inflation from becoming entrenched"),
            ("indexing", "prevents", "loss of purchasing power",
             "Indexing wage contracts and interest rates means that they will increase when inflation "
             "increases to retain purchasing power"),
            ("high inflation", "causes", "loss of purchasing power",
             "will also lose purchasing power on monies that they lent"),
        ],
        [[0, 1, 2, 3], [1, 6], [4], [5]],
    ),
    "computer_science/m00037": (
        [
            ("while loop", "has_part", "loop body",
             "A while loop is a code construct that runs a set of statements, known as the loop body"),
            ("while loop", "requires", "loop expression",
             "while a given condition, known as the loop expression, is true"),
            ("loop expression", "precedes", "loop body",
             "If true, the loop body will execute at least one more time"),
            ("counter variable", "used_for", "loop expression",
             "A counter variable can be used in the loop expression to determine the number of iterations"),
            ("step size", "part_of", "counter variable",
             "The change in the counter's value in each iteration is called the step size"),
            ("fibonacci sequence", "example_of", "while loop",
             "Consider the following code that prints all Fibonacci numbers less than 20"),
        ],
        [[1, 2], [4, 3, 2]],
    ),
}


def build() -> list[dict[str, object]]:
    """Return the sample's records in load order."""
    raw = {json.loads(line)["id"]: json.loads(line) for line in (HERE / "documents.jsonl").open()}
    out: list[dict[str, object]] = []
    for source_id, (facts, chains) in FACTS.items():
        d = raw[source_id]
        doc = Document(source_id=source_id, discipline=d["discipline"], title=d["title"], book=d["book"],
                       source=d["source"], license=d["license"])
        chunk = Chunk(document_id=doc.id, ordinal=0, discipline=doc.discipline, text=d["text"])
        out += [doc.model_dump(mode="json"), chunk.model_dump(mode="json")]
        names = sorted({f[0] for f in facts} | {f[2] for f in facts})
        concepts = {n: Concept(name=n, discipline=doc.discipline, chunk_ids=[chunk.id], provenance=MANUAL)
                    for n in names}
        out += [c.model_dump(mode="json") for c in concepts.values()]
        rels = []
        for subj, typ, obj, evidence in facts:
            if evidence not in d["text"]:
                raise SystemExit(f"evidence is not verbatim in {source_id}: {evidence!r}")
            rels.append(Relation(type=typ, subject_id=concepts[subj].id, object_id=concepts[obj].id,
                                 discipline=doc.discipline, evidence=evidence, chunk_id=chunk.id,
                                 provenance=MANUAL))
        out += [r.model_dump(mode="json") for r in rels]
        for steps in chains:
            path = [rels[i] for i in steps]
            for a, b in pairwise(path):
                if a.object_id != b.subject_id:
                    raise SystemExit(f"chain {steps} in {source_id} is not a path")
            out.append(Chain(discipline=doc.discipline, relation_ids=[r.id for r in path],
                             concept_ids=[path[0].subject_id, *[r.object_id for r in path]],
                             relation_types=[r.type for r in path], chunk_id=chunk.id,
                             provenance=MANUAL).model_dump(mode="json"))
    return out


if __name__ == "__main__":
    with (HERE / "knowledge.jsonl").open("w") as fh:
        for rec in build():
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
