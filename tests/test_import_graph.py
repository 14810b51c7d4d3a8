"""The import graph of wsss_zoo/ has no cycle, and the layers import only downwards.

Edges are read from the source (``import`` and ``from ... import`` statements anywhere in a module,
including those inside functions, which run later but are still dependencies). ``from . import x``
is an edge to the submodule ``x`` when it is one. A module's own parent packages are not edges:
Python imports a package before any of its submodules, and a package ``__init__`` that re-exports
its submodules is the usual facade. Plugin modules that registries import by name (strings in
``Registry(..., packages=...)``) are not edges either: that is the registration mechanism.
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "wsss_zoo"

#: layers, lowest first (DEVELOPERS guide "Shape of the code"); a module may import its own layer and below
LAYERS = [
    ("base", ("wsss_zoo.errors", "wsss_zoo.classes", "wsss_zoo.devices", "wsss_zoo.precision", "wsss_zoo.weight_casts", "wsss_zoo.registry",
              "wsss_zoo.distributed")),
    ("files", ("wsss_zoo.inputs", "wsss_zoo.convert", "wsss_zoo.crf", "wsss_zoo.metrics", "wsss_zoo.safe_pickle",
               "wsss_zoo.finite",
               "wsss_zoo.fileio", "wsss_zoo.sources", "wsss_zoo.loading")),
    ("cache", ("wsss_zoo.cache", "wsss_zoo.download", "wsss_zoo.hub")),
    ("models", ("wsss_zoo.models",)),
    ("pipelines", ("wsss_zoo.pipelines",)),
    ("api", ("wsss_zoo.api", "wsss_zoo.model_card", "wsss_zoo.viz", "wsss_zoo.viz_layout")),
    ("edge", ("wsss_zoo.cli", "wsss_zoo.data", "wsss_zoo.evaluate", "wsss_zoo.publish", "wsss_zoo.report",
              "wsss_zoo.__main__")),
]


def module_files():
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def import_graph():
    mods = module_files()

    def known(name):
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(known(a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    targets.add(sub if sub in mods else known(module))
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        graph[name] = {t for t in targets if t and t != name and t not in ancestors and t.startswith("wsss_zoo")}
    return graph


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer_of(module):
    best = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (rank, len(prefix))
    return None if best is None else best[0]


def test_no_import_cycle_in_the_package():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_every_module_has_a_layer_and_imports_only_downwards():
    graph = import_graph()
    unplaced = sorted(m for m in graph if m != "wsss_zoo" and layer_of(m) is None)
    assert not unplaced, f"modules without a layer in LAYERS: {unplaced}"
    upward = sorted(f"{m} ({LAYERS[layer_of(m)][0]}) -> {t} ({LAYERS[layer_of(t)][0]})"
                    for m, targets in graph.items() if m != "wsss_zoo"
                    for t in targets if t != "wsss_zoo" and layer_of(t) > layer_of(m))
    assert not upward, "imports against the layering:\n" + "\n".join(upward)
