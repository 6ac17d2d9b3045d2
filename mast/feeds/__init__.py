"""Partner feeds: definitions, parsing and validation, receipts.

- :mod:`mast.feeds.definition`: ``FeedDefinition`` (pydantic) and its loaders,
  ``load_feed_definition(feed_id)`` / ``load_feed_definitions()``, from
  ``<MAST_CONFIG_DIR>/feeds/<feed id>.yaml``; no pyarrow, so any function may read them.
- :mod:`mast.feeds.parse`: ``parse_extract(data, definition, *, ingest_id, file_name,
  ingest_date=None) -> ParsedExtract`` and ``parse_upload(data, feed_id, …)``; column-wise with
  pyarrow, a batch of rows at a time (:mod:`mast.feeds.reading`), so memory stays bounded (import
  it only where pyarrow is packaged: ingest, match, the CLI).
- :mod:`mast.feeds.receipt`: ``Receipt`` (the report JSON), ``receipt_json``, ``rejected_csv``.
- :mod:`mast.feeds.supersede`: ``content_hash``, ``ended_record_ids``, ``apply_withdrawals``.
- :mod:`mast.feeds.spec`: the schema a partner's data lead builds the extract to.

Nothing is imported here, so ``import mast.feeds`` stays cheap.
"""
