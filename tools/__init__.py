"""Tools at the edge: the operator's `mast` command, the benchmarks and the synthetic generator.

Nothing here ships in a Lambda function (``mast package`` packs each function only the ``mast``
modules it imports). Tools may import ``mast`` and ``infra``; ``mast`` imports nothing from here
(an import contract in the tests holds this).
"""
