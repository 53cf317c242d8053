"""The measuring layer: one module per row of the table (rows 1-2 share their streams).

Each row measures first (the load from `bench.load`, the references from `bench.floors`) and then turns its
numbers into a `bench.report.Row`; a row not met is profiled by the same module, under the same load.
"""
