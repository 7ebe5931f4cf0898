"""Print pip constraints that pin every floor pyproject.toml declares (`name>=X` as `name==X`)
for the run-time dependencies and the extras the tests need, so that `.ci/run` can run the tests
on the lowest versions the project admits. The floors live in pyproject.toml alone."""

import re
import sys
import tomllib

EXTRAS = ("test", "data", "plot")  # the README's test install

with open("pyproject.toml", "rb") as file:
    project = tomllib.load(file)["project"]
requirements = project["dependencies"] + [r for extra in EXTRAS for r in project["optional-dependencies"][extra]]
for requirement in requirements:
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", requirement.strip())
    if match is None:
        sys.exit(f"Error: requirement {requirement!r} in pyproject.toml: expected 'name>=version'")
    print(f"{match[1]}=={match[2]}")
