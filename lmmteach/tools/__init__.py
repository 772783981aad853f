"""Maintainer and instructor tools: run from the command line, never imported by a lesson.

* ``python -m lmmteach.tools.notebooks`` -- execute the course notebooks in place, or time them;
* ``python -m lmmteach.tools.make_exercises`` -- generate ``exercises/`` from ``solutions/``;
* ``python -m lmmteach.tools.release`` (also ``lmmteach-release``) -- the student release for graded work;
* ``python -m lmmteach.tools.grade`` (also ``lmmteach-grade``) -- grade submitted exercise notebooks, each in
  its own worker (``grade_worker``) and sandboxed kernel (``sandbox``), judged here (``judge``);
* ``python -m lmmteach.tools.validate`` (also ``lmmteach-validate``) -- a student's check before submitting;
* ``python -m lmmteach.tools.make_data`` -- rebuild ``datasets/ciproxifan.csv`` (:mod:`lmmteach.reconstruct`);
* ``python -m lmmteach.tools.site`` -- build the course website from the stored outputs.

The Makefile's ``execute``, ``bench-notebooks``, ``exercises``, ``release``, ``data`` and ``site`` targets call them.
"""
