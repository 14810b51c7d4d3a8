"""Tasks: what a recipe kind trains (network, data, loss), registered by kind in :data:`TASKS`."""
from .base import TASKS, LossModule, Task, register_task  # noqa: F401


def make_task(cfg, ctx) -> Task:
    return TASKS.get(cfg.recipe.kind)(cfg, ctx)
