"""Bring your own topics: a starter pack from schemas (`simctl init`) and a pack fitted to a
recording (`simctl fit`), both written in the pack language so scenarios steer them.

Modules: ``source`` reads what is fitted (a recording, a generate folder, JSON lines), ``laws``
fits one field, ``rates`` a stream's rate and profile, ``entities`` a pool's size and skew,
``links`` follow-up chains with a censoring-aware delay law, ``build`` assembles and writes
the pack, ``init`` infers one from Avro schemas and ``closeness`` compares a regenerated run
with the source (`simctl fit --check`).
"""
