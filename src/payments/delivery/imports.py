"""Which third-party distributions a Lambda handler needs, read from the source, not guessed.

A handler's closure is every `payments` module it imports, directly or not, including imports made
inside functions (the cold-start habit of importing late) and excluding `if TYPE_CHECKING:` blocks.
`payments.bootstrap` builds every adapter lazily, so following all of it would give every function
everything: instead only what a reached module names (`bootstrap.mailer`, `bootstrap.lambda_function`)
is followed, with the functions and classes those name in turn; a class's methods are followed one
by one, when reached code uses their name (`env.client(...)`: a function that never asks for an AWS
client needs no boto3). The third-party top-level imports found are mapped to their distributions,
which bring their own requirements for Lambda's platform (python3.12, Linux, aarch64).
"""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Final

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

BOOTSTRAP: Final = "payments.bootstrap"
LAMBDA_ENVIRONMENT: Final = {
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
}


@dataclass
class _Found:
    modules: set[str] = field(default_factory=set)  # payments.* modules (and packages) imported
    third_party: set[str] = field(default_factory=set)  # top-level names of other imports
    builders: set[str] = field(default_factory=set)  # bootstrap.<name> used
    attributes: set[str] = field(default_factory=set)  # every `<expr>.<name>` used (methods reached)
    names: set[str] = field(default_factory=set)  # every bare name read (functions, classes reached)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(nodes: Iterable[ast.AST]) -> Iterable[ast.AST]:
    """Every node under `nodes`, skipping `if TYPE_CHECKING:` bodies (annotations only)."""
    for node in nodes:
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from _walk(node.orelse)
            continue
        yield node
        yield from _walk(ast.iter_child_nodes(node))


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")[: -node.level]
    return ".".join([*base, node.module] if node.module else base)


def _scan(module: str, nodes: Iterable[ast.AST]) -> _Found:
    found = _Found()

    def add(name: str) -> None:
        if name == "payments" or name.startswith("payments."):
            found.modules.add(name)
        elif name.split(".", maxsplit=1)[0] not in sys.stdlib_module_names and name != "__future__":
            found.third_party.add(name.split(".", maxsplit=1)[0])

    for node in _walk(nodes):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            add(source)
            if source == "payments" or source.startswith("payments."):
                for alias in node.names:  # `from payments import bootstrap` names a module
                    found.modules.add(f"{source}.{alias.name}")
        elif isinstance(node, ast.Attribute):
            found.attributes.add(node.attr)
            if isinstance(node.value, ast.Name) and node.value.id == "bootstrap":
                found.builders.add(node.attr)
        elif isinstance(node, ast.Name):
            found.names.add(node.id)
    return found


class ImportGraph:
    def __init__(self, source_root: Path) -> None:
        self._root = source_root  # the directory holding the `payments` package
        self._trees: dict[str, ast.Module | None] = {}  # each module parsed once, for every closure

    def _path(self, module: str) -> Path | None:
        base = self._root.joinpath(*module.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    def _tree(self, module: str) -> ast.Module | None:
        if module not in self._trees:
            path = self._path(module)
            self._trees[module] = None if path is None else ast.parse(path.read_text(), filename=str(path))
        return self._trees[module]

    def closure(self, module: str) -> tuple[set[str], set[str]]:
        """(payments modules, third-party top-level names) the module needs when it runs."""
        modules: set[str] = set()
        third_party: set[str] = set()
        builders: set[str] = set()
        attributes: set[str] = set()
        pending = [module]
        while pending:
            while pending:
                current = pending.pop()
                if current in modules:
                    continue
                modules.add(current)
                tree = None if current == BOOTSTRAP else self._tree(current)
                if tree is None:  # bootstrap (below), or a name imported from a module
                    continue
                found = _scan(current, tree.body)
                third_party |= found.third_party
                builders |= found.builders
                attributes |= found.attributes
                pending.extend(found.modules - modules)
                parent = current.rpartition(".")[0]
                if parent and parent not in modules:
                    pending.append(parent)  # importing a module runs its package's __init__
            if BOOTSTRAP in modules:  # what the modules reached so far use of it; again if that reaches more
                extra_modules, extra_third = self._bootstrap(builders, attributes)
                third_party |= extra_third
                pending.extend(extra_modules - modules)
        return modules, third_party

    def _bootstrap(self, wanted: set[str], attributes: set[str]) -> tuple[set[str], set[str]]:
        """The imports of bootstrap's module level and of what is used of it: the functions and classes
        `wanted` (named as `bootstrap.<name>`), with those they name in turn, and of each used class
        its dunder methods and those whose name reached code uses as an attribute."""
        tree = self._tree(BOOTSTRAP)
        assert tree is not None
        functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
        classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
        top = [node for node in tree.body if not isinstance(node, ast.FunctionDef | ast.ClassDef)]
        found = _scan(BOOTSTRAP, top)
        modules, third_party = set(found.modules), set(found.third_party)
        used = set(attributes)
        seen: set[str] = set()  # functions and classes followed
        methods_seen: set[tuple[str, str]] = set()

        def follow(nodes: list[ast.AST]) -> set[str]:
            scanned = _scan(BOOTSTRAP, nodes)
            modules.update(scanned.modules)
            third_party.update(scanned.third_party)
            used.update(scanned.attributes)
            return (scanned.names | scanned.builders) & (set(functions) | set(classes))

        pending = set(wanted) & (set(functions) | set(classes))
        while True:
            while pending:
                name = pending.pop()
                if name in seen:
                    continue
                seen.add(name)
                if name in functions:
                    pending |= follow([functions[name]])
                else:  # a class: its body but its methods, which follow one by one
                    body = [node for node in classes[name].body if not isinstance(node, ast.FunctionDef)]
                    pending |= follow([*classes[name].bases, *classes[name].decorator_list, *body])
            methods = [
                (name, method)
                for name in seen & set(classes)
                for method in classes[name].body
                if isinstance(method, ast.FunctionDef)
                and (name, method.name) not in methods_seen
                and (method.name in used or (method.name.startswith("__") and method.name.endswith("__")))
            ]
            if not methods:
                return modules, third_party
            for name, method in methods:
                methods_seen.add((name, method.name))
                pending |= follow([method])


@functools.cache
def _providers() -> Mapping[str, list[str]]:
    """Top-level import name -> distributions (reading every installed distribution: once)."""
    return metadata.packages_distributions()


@functools.cache
def _graph(source_root: Path) -> ImportGraph:
    return ImportGraph(source_root)


def import_names_of(distributions: Iterable[str]) -> list[str]:
    """The top-level import names installed distributions provide (pyarrow -> pyarrow)."""
    wanted = {canonicalize_name(name) for name in distributions}
    return [top for top, dists in _providers().items() if any(canonicalize_name(d) in wanted for d in dists)]


def distributions_for(top_level_names: Iterable[str]) -> set[str]:
    """The installed distributions providing these imports, with their requirements on Lambda, closed."""
    providers = _providers()
    wanted = [canonicalize_name(dist) for name in top_level_names for dist in providers.get(name, [])]
    found: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name in found:
            continue
        found.add(name)
        for spec in metadata.requires(name) or []:
            requirement = Requirement(spec)
            if requirement.marker is None or Marker(str(requirement.marker)).evaluate(LAMBDA_ENVIRONMENT):
                wanted.append(canonicalize_name(requirement.name))
    return found


def handler_distributions(handler: str, *, source_root: Path) -> set[str]:
    """`payments.functions.authorize.handler` -> the distributions that function needs."""
    module = handler.rpartition(".")[0]
    _, third_party = _graph(source_root).closure(module)
    return distributions_for(third_party)
