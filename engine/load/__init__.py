"""Loading: bytes -> Arrow strings -> recognised and mapped (CRM presets) -> typed ->
validated (``schemas``) -> written into a dataset (``engine.store``)."""
