#!/usr/bin/env python3
"""Picks a corpus to commit within a size budget.

    python3 fuzz/pick_corpus.py MAPS INPUTS OUT BUDGET_BYTES

MAPS is what `afl-showmap -i INPUTS -o MAPS -- BINARY` wrote: one file per
input, one `edge:count` line per edge it reached. Inputs are taken greedily
by the edges they add per byte, until the budget is spent or nothing adds
an edge; they are copied to OUT, those AFL found named by their content. afl-cmin keeps every input needed for full
coverage, which for inputs grown from kilobyte-sized traces is megabytes;
this keeps the coverage that fits in the repository.
"""

import hashlib
import heapq
import os
import shutil
import sys


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    maps, inputs, out, budget = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    edges, sizes = {}, {}
    for name in os.listdir(maps):
        path = os.path.join(inputs, name)
        if not os.path.isfile(path):
            continue
        with open(os.path.join(maps, name)) as f:
            # An edge and its hit-count bucket, as afl-cmin counts them.
            edges[name] = {line.strip() for line in f if line.strip()}
        sizes[name] = max(os.path.getsize(path), 1)
    total = set().union(*edges.values()) if edges else set()
    # Lazy greedy: what an input adds only shrinks as others are taken, so
    # a score is recomputed only when it comes to the top of the heap.
    heap = [(-len(reached) / sizes[name], name) for name, reached in edges.items()]
    heapq.heapify(heap)
    covered, chosen, spent = set(), [], 0
    while heap:
        _, name = heapq.heappop(heap)
        if spent + sizes[name] > budget:
            continue
        new = len(edges[name] - covered)
        if not new:
            continue
        score = -new / sizes[name]
        if heap and score > heap[0][0]:
            heapq.heappush(heap, (score, name))
            continue
        covered |= edges[name]
        chosen.append(name)
        spent += sizes[name]
    os.makedirs(out, exist_ok=True)
    for name in chosen:
        source = os.path.join(inputs, name)
        if name.startswith("id:"):
            # AFL's names hold `:` and `,`; a found input is named by its content.
            with open(source, "rb") as f:
                name = "found-" + hashlib.sha256(f.read()).hexdigest()[:16]
        shutil.copy(source, os.path.join(out, name))
    print(f"{len(chosen)} inputs, {spent} bytes, {len(covered)} of {len(total)} edge buckets")


if __name__ == "__main__":
    main()
