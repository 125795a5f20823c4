#!/usr/bin/env python3
"""Check that the headers in include/molm follow the layer order of docs/architecture.md.

The order is the fenced ```layers block of docs/architecture.md: one layer a line, lowest first;
folders on one line form one layer and may include each other. A header belongs to the longest
listed folder that is a prefix of its path (backend/cpu/kernels/x.hpp is in backend/cpu). A
top-level header include/molm/<name>.hpp belongs to the layer of folder <name>; version.hpp belongs
to core; molm.hpp, the umbrella, sits above every layer.

Every `#include "molm/..."` line of include/molm/**/*.hpp is read (conditional ones included) and
these are reported, one line each:
  - an include of a header in a higher layer;
  - a cycle in the header-to-header include graph (printed as a path back to its start);
  - an include of a header that does not exist;
  - a header that belongs to no layer.

    python3 scripts/check-layers.py [--dot FILE]
--dot writes the folder-level include graph (Graphviz) to FILE ("-" for standard output).
Exit status 1 when anything was reported, 0 otherwise.
"""
import argparse
import collections
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
INCLUDE = ROOT / "include"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
UMBRELLA = "molm/molm.hpp"
TOP_LEVEL = {"molm/version.hpp": "core"}  # top-level headers with no folder of their name

INCLUDE_LINE = re.compile(r'^\s*#\s*include\s*"(molm/[^"]+)"')
LAYERS_BLOCK = re.compile(r"^```layers[ \t]*\n(.*?)^```", re.M | re.S)


def read_layers(path):
    """{folder: layer index} from the ```layers block."""
    if not path.is_file():
        sys.exit(f"{path.relative_to(ROOT)}: not found (it holds the ```layers block)")
    match = LAYERS_BLOCK.search(path.read_text(encoding="utf-8"))
    if not match:
        sys.exit(f"{path.relative_to(ROOT)}: no ```layers block")
    layers = {}
    for index, line in enumerate(l for l in match.group(1).splitlines() if l.strip()):
        for folder in line.split():
            if folder in layers:
                sys.exit(f"{path.relative_to(ROOT)}: folder {folder} listed twice")
            layers[folder] = index
    return layers


def layer_of(header, layers):
    """(layer index, folder naming the layer) of a header "molm/...", or None."""
    if header == UMBRELLA:
        return (max(layers.values()) + 1, "molm.hpp")
    rel = header[len("molm/"):]
    parts = rel.split("/")
    if len(parts) == 1:
        folder = TOP_LEVEL.get(header, rel[:-len(".hpp")] if rel.endswith(".hpp") else None)
        return (layers[folder], folder) if folder in layers else None
    for n in range(len(parts) - 1, 0, -1):
        folder = "/".join(parts[:n])
        if folder in layers:
            return (layers[folder], folder)
    return None


def read_graph():
    """{header: [(line number, included header)]} for every header under include/molm."""
    graph = {}
    for path in sorted((INCLUDE / "molm").rglob("*.hpp")):
        name = path.relative_to(INCLUDE).as_posix()
        edges = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = INCLUDE_LINE.match(line)
            if match:
                edges.append((number, match.group(1)))
        graph[name] = edges
    return graph


def cycles(graph):
    """One cycle (a list of headers, first == last) for each strongly connected component that has one."""
    succ = {u: sorted({v for _, v in edges if v in graph}) for u, edges in graph.items()}
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    counter = [0]

    def strongconnect(root):  # Tarjan, iterative
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter[0]
                counter[0] += 1
                stack.append(node)
                on_stack.add(node)
            if i < len(succ[node]):
                work.append((node, i + 1))
                nxt = succ[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])

    for node in sorted(graph):
        if node not in index:
            strongconnect(node)

    found = []
    for component in components:
        members = set(component)
        start = min(component)
        if len(component) == 1 and start not in succ[start]:
            continue
        # shortest path from start back to itself inside the component
        previous, queue, end = {}, collections.deque([start]), None
        while queue and end is None:
            node = queue.popleft()
            for nxt in succ[node]:
                if nxt == start:
                    end = node
                    break
                if nxt in members and nxt not in previous:
                    previous[nxt] = node
                    queue.append(nxt)
        path = [start]
        node = end
        while node != start:
            path.append(node)
            node = previous[node]
        path.append(start)
        path.reverse()
        found.append(path)
    return sorted(found)


def write_dot(graph, layers, out):
    edges = collections.Counter()
    for header, includes in graph.items():
        a = layer_of(header, layers)
        for _, target in includes:
            b = layer_of(target, layers)
            if a and b and a[1] != b[1]:
                edges[(a[1], b[1], b[0] > a[0])] += 1
    out.write("digraph molm_layers {\n  rankdir=BT;\n")
    for (a, b, upward), count in sorted(edges.items()):
        style = ', color=red' if upward else ''
        out.write(f'  "{a}" -> "{b}" [label={count}{style}];\n')
    out.write("}\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dot", metavar="FILE", help='write the folder graph (Graphviz) to FILE, "-" for stdout')
    args = parser.parse_args()

    layers = read_layers(ARCHITECTURE)
    graph = read_graph()
    problems = []
    count = 0
    for header, includes in sorted(graph.items()):
        where = f"include/{header}"
        own = layer_of(header, layers)
        if own is None:
            problems.append(f"{where}: belongs to no layer of docs/architecture.md")
        for number, target in includes:
            count += 1
            if target not in graph:
                problems.append(f"{where}: includes {target}, which does not exist (line {number})")
                continue
            other = layer_of(target, layers)
            if own and other and other[0] > own[0]:
                problems.append(f"{where}: includes {target} (layer {other[1]} above layer {own[1]})")
    for cycle in cycles(graph):
        problems.append(f"include/{cycle[0]}: include cycle: " + " -> ".join(cycle))

    if args.dot:
        if args.dot == "-":
            write_dot(graph, layers, sys.stdout)
        else:
            with open(args.dot, "w", encoding="utf-8") as out:
                write_dot(graph, layers, out)

    report = sys.stderr if args.dot == "-" else sys.stdout  # keep a graph on stdout clean
    for problem in problems:
        print(problem, file=report)
    if problems:
        print(f"check-layers: {len(problems)} problems in {len(graph)} headers ({count} includes)", file=report)
        return 1
    print(f"check-layers: {len(graph)} headers, {count} includes, {max(layers.values()) + 1} layers: "
          "no upward include, no cycle, nothing missing", file=report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
