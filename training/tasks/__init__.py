"""Tasks: what a recipe kind trains (network, data, loss). Importing this package registers them all."""
from .base import TASKS, LossModule, Task, register_task  # noqa: F401
from . import classification, dense, prep  # noqa: F401  (registration)


def make_task(cfg, ctx) -> Task:
    try:
        cls = TASKS[cfg.recipe.kind]
    except KeyError:
        raise KeyError(f"recipe {cfg.recipe.name}: unknown task kind {cfg.recipe.kind!r}; known {sorted(TASKS)}")
    return cls(cfg, ctx)
