# These notebooks are inputs for tests/test_grade.py (some loop forever or crash
# their kernel on purpose): never collect them as nbval tests.
collect_ignore_glob = ["*.ipynb"]
