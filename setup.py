"""The one dynamic part of the package's metadata (the rest is pyproject.toml): every folder of
tasks/ ships as a subpackage of tfseq.tasks, so a new task is its folder and one register() line."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["tfseq", "tfseq.*"]),
        "tfseq.tasks",
        *(f"tfseq.tasks.{name}" for name in find_packages("tasks")),
    ]
)
