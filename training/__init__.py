"""Training recipes that reproduce the published wsss_zoo checkpoints.

Entry point: ``python training/run.py --list`` and ``torchrun --nproc-per-node N training/run.py RECIPE ...``.
The recipes are data (:mod:`training.recipes`); one loop (:mod:`training.engine`) trains all of them, and a
*task* per network family (:mod:`training.tasks`) supplies the model, the data and the loss.
"""
