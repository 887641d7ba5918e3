"""Task registry: `get_task(cfg)` returns the task named by `task.name`. Importing the modules registers them."""

from xlgen.tasks import classification, jsonl, qa  # noqa: F401  (registration)
from xlgen.tasks.base import TASKS, Example, Task, get_task, register_task

__all__ = ["TASKS", "Example", "Task", "get_task", "register_task"]
