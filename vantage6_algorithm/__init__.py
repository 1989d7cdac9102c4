"""Algorithm tools: what runs inside an algorithm container, wire-compatible with vantage6 4.x.

- :mod:`vantage6_algorithm.wrap` -- ``wrap_algorithm()``, the container's entry point
- :mod:`vantage6_algorithm.decorators` -- ``@data(n)``, ``@algorithm_client``, ``@metadata``
- :mod:`vantage6_algorithm.client` -- ``AlgorithmClient`` (talks to the node proxy)
- :mod:`vantage6_algorithm.mock_client` -- ``MockAlgorithmClient`` (whole runs in-process)
- :mod:`vantage6_algorithm.data` -- loading csv/parquet/excel/sql databases

Only the standard library, pandas, numpy and requests are used (plus the stdlib-only
``vantage6_common.envcoding``, ``.serialization`` and ``.status``), so it runs on the plain
Debian algorithm image. Nothing is imported here, to keep ``wrap_algorithm`` start-up light.
"""
