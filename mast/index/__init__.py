"""The DynamoDB index the search reads and the match function writes (DESIGN.md, "Linkage").

Layout (IndexTable, ``pk``/``sk``; every item of a version carries ``V#<version>#`` in its key,
see :mod:`mast.index.layout`):

* lookup key → record ids          ``V#<v>#K#<key>``      / ``K`` (one item; past 500 records the
                                   count by birth year, and ``Y#<year>`` items holding each year's ids)
* record → details, person, address, term frequencies, its keys
                                   ``V#<v>#R#<record id>`` / ``R``
* person → record ids              ``V#<v>#P#<person id>`` / ``P``
* address → record ids             ``V#<v>#A#<address id>``/ ``A``
* the trained model                ``V#<v>#MODEL``        / ``<part>``
* the live version                 ``INDEX``              / ``LIVE``  (one conditional write switches it)
* each version's state             ``INDEX``              / ``V#<version>``
* each version's manifest (the keys of every item it holds, to delete it by)
                                   ``s3://<curated>/index/manifest/<version>/``

Read side (:class:`~mast.index.reader.IndexReader`, what the search function imports) uses boto3,
pydantic, numpy and rapidfuzz only — never pandas or pyarrow. The write side is
:mod:`mast.index.writer`; the match run that builds and updates versions is :mod:`mast.index.linking`.
"""

from mast.index.layout import IndexedRecord
from mast.index.reader import IndexReader, IndexUnavailable
from mast.index.salt import KeySaltUnavailable, key_salt

__all__ = ["IndexReader", "IndexUnavailable", "IndexedRecord", "KeySaltUnavailable", "key_salt"]
