"""Maintainer and instructor tools: run from the command line, never imported by a lesson.

* ``python -m lmmteach.tools.notebooks`` -- execute the course notebooks in place, or time them;
* ``python -m lmmteach.tools.make_exercises`` -- generate ``exercises/`` from ``solutions/``;
* ``python -m lmmteach.tools.grade`` (also ``lmmteach-grade``) -- grade submitted exercise notebooks;
* ``python -m lmmteach.tools.make_data`` -- rebuild ``datasets/ciproxifan.csv`` (:mod:`lmmteach.reconstruct`).

The Makefile's ``execute``, ``bench-notebooks``, ``exercises`` and ``data`` targets call them.
"""
