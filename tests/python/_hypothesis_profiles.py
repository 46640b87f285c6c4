"""Hypothesis settings profiles for the property and fuzz tests.

* ``ci`` (the default): a bounded, reproducible run. Every test draws at most
  ``max_examples`` cases from a fixed seed (``derandomize=True``), without the
  example database, so two CI runs of the same tree test the same cases.
* ``long``: many more cases from a fresh seed each run, with the database
  on, for a developer hunting bugs:
  ``GCONV_HYPOTHESIS_PROFILE=long python -m pytest tests/python -k "properties or fuzz"``.
* ``dev``: the ``ci`` bound but randomised, to explore new cases quickly.

``GCONV_HYPOTHESIS_PROFILE`` picks the profile; unset, it is ``ci``.
"""

import os

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the property tests skip themselves without hypothesis
    settings = None

PROFILE_ENV = "GCONV_HYPOTHESIS_PROFILE"
CI_MAX_EXAMPLES = 60

if settings is not None:
    _SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large,
                     HealthCheck.filter_too_much]
    settings.register_profile("ci", max_examples=CI_MAX_EXAMPLES, deadline=None,
                              derandomize=True, database=None, print_blob=False,
                              suppress_health_check=_SLOW_IS_FINE)
    settings.register_profile("dev", max_examples=CI_MAX_EXAMPLES, deadline=None,
                              print_blob=True, suppress_health_check=_SLOW_IS_FINE)
    settings.register_profile("long", max_examples=2000, deadline=None, print_blob=True,
                              suppress_health_check=_SLOW_IS_FINE)
    settings.load_profile(os.environ.get(PROFILE_ENV, "ci"))
