"""One module per question a sales leader asks (funnel, velocity, coverage, coaching, alerts,
data quality), each built on the semantic layer's metrics."""
