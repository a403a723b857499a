"""Load parity: what every file of the sample, the dirty sample and the bad-input corpus loads
to (each stored table's rows, the quarantine, the warnings, the load report and notes), as
order-independent digests, so a change to the load path can prove it stores the same rows.

``python -m tests.parity --update`` rewrites ``golden.json``; ``python -m tests.parity
--realdata DIR [--save FILE | --check FILE]`` does the same for a folder of folders of real
exports (kept out of the test suite, which never depends on files outside the project).
``realdata.json`` holds the digests of the public exports the product is tried on, taken with
``--realdata ../shared/realdata --save tests/parity/realdata.json``: hashes and counts only.
"""
