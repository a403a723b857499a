"""Analysis helpers the pages need beyond ``engine.metrics``: the binned cycle distribution,
which velocity lever moved most, and a rep against the median of their peers. SQL is built
on the ``engine.metrics.sql.Sql`` builder with bound parameters; the rest works on results."""
