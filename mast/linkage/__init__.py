"""Linkage: records into people (and addresses), one scorer for rebuild, incremental link and search.

Public API (import from the modules; this package imports nothing, so ``import mast.linkage`` is free)::

    table   = mast.linkage.table.prepare(columns)            # canonical columns -> RecordTable
              mast.linkage.table.prepare_records(rows)       # the same from dicts
    linker  = mast.linkage.link.Linker.build(table, model=None, decisions=(), options=LinkOptions())
                                                             # batch link; trains the model unless given
    linker.labels / linker.person_ids() / linker.address_ids()
    linker.add(columns, decisions=())                        # incremental link of new rows -> AddResult
    linker.search(query, limit=10)                           # -> [SearchHit] with explanations
    linker.explain(record_id_a, record_id_b)                 # -> Explanation (weight per field)
    model   = linker.model                                   # mast.linkage.model.Model
    model.score(table, left_rows, right_rows)                # -> PairScores (the one scorer)
    model.explain(scores, k) / model.to_json() / Model.from_json(text)
    mast.linkage.scorer.query_keys(query)                    # index keys of a search (no pandas/pyarrow)
    mast.linkage.scorer.score_query(model, query, candidates, frequencies)
    mast.linkage.scorer.rank_people(scored, person_of)
    mast.linkage.keys.record_keys(table) / key_strings(row)  # lookup keys (blocking), as data: LOOKUP_KEYS
    mast.linkage.comparisons.DEFAULT_SETTINGS                # comparisons, levels, guards, dependences
    mast.linkage.cluster.cluster(...)                        # clustering that holds together
    mast.linkage.decisions.Decision / load_decisions(path)   # steward decisions
    mast.linkage.io.read_canonical(path) / write_result(path, columns)   # CSV/Parquet (pyarrow)
"""
