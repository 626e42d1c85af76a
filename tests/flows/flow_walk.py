"""Walking a flow's tasks, shared by the structure and SQL tests."""

from __future__ import annotations

from typing import Any, Iterator


def task_list(value: Any) -> list | None:
    if isinstance(value, list) and value and all(isinstance(t, dict) for t in value):
        return value
    return None


def iter_tasks(flow: dict) -> Iterator[tuple[str, dict, list[dict]]]:
    """Yield (path, task, ancestors) for every task of a flow, however deeply nested.

    Follows tasks/errors/finally/afterExecution at flow level and, inside tasks, the children
    of flowable tasks: tasks, then, else, errors, finally, Switch cases/defaults and Dag entries.
    """

    def children(task: dict, path: str, ancestors: list[dict]):
        for key in ("tasks", "then", "else", "errors", "finally", "defaults"):
            items = task_list(task.get(key))
            if items is None or (key == "defaults" and not all("type" in t for t in items)):
                continue
            yield from visit(items, f"{path}.{key}", ancestors)
        cases = task.get("cases")
        if isinstance(cases, dict):
            for name, items in cases.items():
                if task_list(items):
                    yield from visit(items, f"{path}.cases.{name}", ancestors)

    def visit(items: list, path: str, ancestors: list[dict]):
        for i, item in enumerate(items):
            item_path = f"{path}[{i}]"
            if "task" in item and "id" not in item and isinstance(item["task"], dict):
                item, item_path = item["task"], f"{item_path}.task"  # Dag entry
            yield item_path, item, ancestors
            yield from children(item, item_path, ancestors + [item])

    for key in ("tasks", "errors", "finally", "afterExecution"):
        items = task_list(flow.get(key))
        if items:
            yield from visit(items, key, [])
