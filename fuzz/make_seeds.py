#!/usr/bin/env python3
"""Cuts the repository's recordings into small fuzzing seeds.

    python3 fuzz/make_seeds.py OUT_DIR

writes OUT_DIR/chrome_json, OUT_DIR/perfetto and OUT_DIR/input_events: a few
kilobytes each, every one a slice of a real recording (tests/fixtures) or a
hand-built shape of an older Chrome. The committed corpora (fuzz/corpus/) are
these, minimised with afl-cmin.bash, then grown by the fuzzing runs and picked
with pick_corpus.py; docs/fuzzing.md says how.
Session Avro seeds are not cut here: they are the stored values of
schemas/tests/data plus the Sessions these seeds read into
(`cargo test -p tracepipe-fuzz -- --ignored write_avro_seeds`).
"""

import base64
import gzip
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

WANTED = {
    "EventDispatch", "EventTiming", "ResourceSendRequest", "ResourceReceiveResponse",
    "ResourceFinish", "Screenshot", "TracingStartedInBrowser", "TracingStartedInPage",
    "FrameCommittedInBrowser", "FrameLoader:state_snapshot", "navigationStart", "CommitLoad",
    "SoftNavigationHeuristics::SameDocumentNavigationCommitted", "SoftNavigation", "process_name",
}
INPUT_TYPES = {"click", "keydown", "input", "change", "submit", "paste", "wheel"}
SETUP = {"process_name", "TracingStartedInBrowser", "TracingStartedInPage"}
NAVIGATION = {"FrameCommittedInBrowser", "navigationStart", "CommitLoad",
              "FrameLoader:state_snapshot", "SoftNavigation",
              "SoftNavigationHeuristics::SameDocumentNavigationCommitted"}
NETWORK = {"ResourceSendRequest", "ResourceReceiveResponse", "ResourceFinish"}


def tiny_jpeg():
    """A 16x16 JPEG (fuzz/seed-frame.jpg): screenshots the size of a seed."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "seed-frame.jpg"), "rb") as f:
        return base64.b64encode(f.read()).decode()


def load(path):
    with gzip.open(path, "rb") as f:
        text = f.read().decode().rstrip()
    if text.startswith("[") and not text.endswith("]"):
        # An array trace as Chrome streams it, without its closing bracket.
        text = text.rstrip(",") + "]"
    data = json.loads(text)
    if isinstance(data, list):
        return data, None
    return data["traceEvents"], data.get("metadata")


def input_type(e):
    data = (e.get("args") or {}).get("data") or {}
    return data.get("type")


def pick(events, keep, cap):
    """The first `cap` events of each name that `keep` accepts."""
    counts, out = {}, []
    for e in events:
        name = e.get("name", "")
        if not keep(e):
            continue
        key = "mark" if name.startswith("tracepipe:") else name
        if counts.get(key, 0) >= cap.get(key, cap.get("*", 3)):
            continue
        counts[key] = counts.get(key, 0) + 1
        out.append(e)
    return out


def slices(events):
    """Four cuts of one recording: its navigations, its inputs, its requests,
    its screenshots with the privacy marks around them."""
    wanted = [e for e in events
              if e.get("name") in WANTED or str(e.get("name", "")).startswith("tracepipe:")]
    jpeg = tiny_jpeg()
    setup = pick(wanted, lambda e: e["name"] in SETUP, {"*": 3})
    nav = setup + pick(wanted, lambda e: e["name"] in NAVIGATION or e["name"] == "tracepipe:click",
                       {"*": 3, "mark": 2})
    marks = [e for e in wanted if e["name"].startswith("tracepipe:") and e["name"] != "tracepipe:sensitive"]
    first_ts = marks[0]["ts"] if marks else 0
    inputs = setup + pick(
        wanted,
        lambda e: (e["name"] in ("EventDispatch", "EventTiming") and input_type(e) in INPUT_TYPES
                   and e["ts"] >= first_ts - 1000) or e in marks,
        {"*": 4, "mark": 6})
    ids = []
    for e in wanted:
        rid = ((e.get("args") or {}).get("data") or {}).get("requestId")
        if e["name"] == "ResourceSendRequest" and rid and len(ids) < 2:
            ids.append(rid)
    net = setup + [e for e in wanted if e["name"] in NETWORK
                   and ((e.get("args") or {}).get("data") or {}).get("requestId") in ids] + marks[:1]
    shots = []
    sensitive = [e for e in wanted if e["name"] == "tracepipe:sensitive"][:3]
    screenshots = [e for e in wanted if e["name"] == "Screenshot"]
    if screenshots:
        chosen = [screenshots[0], screenshots[len(screenshots) // 2], screenshots[-1]]
        for s in chosen:
            s = json.loads(json.dumps(s))
            s["args"]["snapshot"] = jpeg
            shots.append(s)
    shots = setup + sensitive + shots + marks[:1]
    out = {}
    for name, cut in (("nav", nav), ("input", inputs), ("net", net), ("shots", shots)):
        if len(cut) > len(setup):
            out[name] = sorted(cut, key=lambda e: e.get("ts", 0))
    return out


def small_metadata(metadata):
    if not metadata:
        return None
    return {k: v for k, v in metadata.items() if len(json.dumps(v)) < 200}


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def json_seeds(out):
    os.makedirs(out, exist_ok=True)
    sources = [
        ("wild-object", "recordings-wild/label_add_remove.trace.json.gz", "object"),
        ("wild-array", "recordings-wild/label_add_remove.array.json.gz", "array"),
        ("wild-devtools", "recordings-wild/label_add_remove.devtools.json.gz", "object"),
        ("secrets", "recordings/account_secrets.trace.json.gz", "object"),
        ("menu", "recordings/label_menu_toggle.trace.json.gz", "object"),
        ("paste", "recordings/pasted_text.trace.json.gz", "array"),
        ("attachment", "recordings/download_attachment.trace.json.gz", "object"),
    ]
    for label, rel, form in sources:
        events, metadata = load(os.path.join(FIXTURES, rel))
        for part, cut in slices(events).items():
            if form == "array":
                body = cut
            else:
                body = {"traceEvents": cut}
                meta = small_metadata(metadata)
                if meta:
                    body["metadata"] = meta
            write(os.path.join(out, f"{label}-{part}.json"),
                  json.dumps(body, separators=(",", ":")).encode())
    # Older Chrome shapes (ingest/tests/chrome_versions.rs has one test each).
    app = "http://localhost:8765/"
    old_page = [
        {"args": {"data": {"page": "F1", "sessionId": "9.1"}}, "cat": "disabled-by-default-devtools.timeline",
         "name": "TracingStartedInPage", "ph": "I", "pid": 20, "tid": 1, "ts": 1000},
        {"args": {"data": {"frame": "F1", "url": app + "#inbox", "name": "", "page": "F1"}},
         "cat": "devtools.timeline", "name": "CommitLoad", "ph": "X", "dur": 5, "pid": 20, "tid": 1, "ts": 2000},
        {"args": {"data": {"type": "click"}}, "cat": "devtools.timeline", "name": "EventDispatch",
         "ph": "X", "dur": 2, "pid": 20, "tid": 1, "ts": 3000},
    ]
    write(os.path.join(out, "chrome69-page.json"), json.dumps({"traceEvents": old_page}).encode())
    old_browser = [
        {"args": {"name": "Browser"}, "cat": "__metadata", "name": "process_name", "ph": "M", "pid": 1, "tid": 0, "ts": 0},
        {"args": {"data": {"frameTreeNodeId": 1, "frames": [{"frame": "F1", "url": app, "name": "", "processId": 20}],
                           "persistentIds": True}},
         "cat": "disabled-by-default-devtools.timeline", "name": "TracingStartedInBrowser", "ph": "I", "pid": 1,
         "tid": 1, "ts": 1000},
        {"args": {"frame": "F1", "data": {"documentLoaderURL": app + "#inbox", "isLoadingMainFrame": True,
                                          "navigationId": "N1"}},
         "cat": "blink.user_timing", "name": "navigationStart", "ph": "R", "pid": 20, "tid": 1, "ts": 1500},
        {"args": {"data": {"frame": "F1", "url": app + "#sent", "name": "", "processId": 20}},
         "cat": "disabled-by-default-devtools.timeline", "name": "FrameCommittedInBrowser", "ph": "I", "pid": 1,
         "tid": 1, "ts": 2000},
        {"args": {"data": {"type": "keydown"}}, "cat": "devtools.timeline", "name": "EventDispatch",
         "ph": "X", "dur": 2, "pid": 20, "tid": 1, "ts": 3000},
    ]
    write(os.path.join(out, "chrome80-browser.json"), json.dumps(old_browser).encode())
    write(os.path.join(out, "gzipped.json.gz"),
          gzip.compress(json.dumps({"traceEvents": old_page}).encode(), mtime=0))


def varint(b, i):
    value, shift = 0, 0
    while True:
        c = b[i]
        i += 1
        value |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return value, i


def encode_varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def fields(packet):
    """The top-level fields of a protobuf message: (number, bytes of the whole field)."""
    out, i = [], 0
    while i < len(packet):
        start = i
        key, i = varint(packet, i)
        wire = key & 7
        if wire == 0:
            _, i = varint(packet, i)
        elif wire == 2:
            length, i = varint(packet, i)
            i += length
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        out.append((key >> 3, packet[start:i]))
    return out


def field_varint(packet, number):
    for n, raw in fields(packet):
        if n == number:
            return varint(raw, varint(raw, 0)[1])[0]
    return None


# TracePacket's fields (perfetto/protos/perfetto/trace/trace_packet.proto).
TRACK_EVENT, INTERNED_DATA, SEQUENCE_ID, TRACK_DESCRIPTOR = 11, 12, 10, 60


def pb_field(number, value):
    """One protobuf field: an int as a varint, bytes or str length-delimited,
    a list as the field repeated."""
    if isinstance(value, list):
        return b"".join(pb_field(number, v) for v in value)
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return encode_varint(number << 3) + encode_varint(value)
    if isinstance(value, str):
        value = value.encode()
    return encode_varint(number << 3 | 2) + encode_varint(len(value)) + value


def pb(*fields):
    return b"".join(pb_field(n, v) for n, v in fields)


def annotation(name, value):
    """A DebugAnnotation: a string, an int or a dict of annotations."""
    if isinstance(value, dict):
        return pb((10, name), (11, [annotation(k, v) for k, v in value.items()]))
    if isinstance(value, int):
        return pb((10, name), (4, value))
    return pb((10, name), (6, value))


def hand_built_perfetto():
    """A small trace in the shape Chrome writes over CDP: the browser's and a
    renderer's tracks, a sequence whose names are interned and whose clock is
    incremental, and the events a Session is made of."""
    app = "http://localhost:8765/"
    browser = pb((1, 1), (3, pb((1, 10), (6, "Browser"))), (6, pb((1, 1))))
    renderer = pb((1, 2), (3, pb((1, 20), (6, "Renderer"))))
    thread = pb((1, 3), (5, 2), (4, pb((1, 20), (2, 21))))
    clocks = pb((1, [pb((1, 3), (2, 5_000_000)), pb((1, 6), (2, 9_000_000)),
                     pb((1, 64), (2, 1000), (3, True), (4, 1000))]))
    def event(ts, name, cat, args, track=3, sequence=7, clock=3):
        head = pb((22, [cat]), (23, name), (9, 3), (11, track), (4, [annotation("data", args)]))
        return pb((8, ts), (58, clock), (10, sequence), (11, head))
    detail = json.dumps({"target": {"tag": "button", "label": "Compose"}, "url": app + "#inbox"})
    packets = [
        pb((10, 7), (13, 1), (60, browser)),
        pb((10, 7), (60, renderer)),
        pb((10, 7), (60, thread)),
        pb((10, 7), (6, clocks)),
        event(5_100_000, "TracingStartedInBrowser", "disabled-by-default-devtools.timeline",
              {"frameTreeNodeId": 1, "persistentIds": 1}, track=1),
        event(5_200_000, "FrameCommittedInBrowser", "disabled-by-default-devtools.timeline",
              {"frame": "F1", "url": app + "#inbox", "name": "", "processId": 20}, track=1),
        event(5_300_000, "tracepipe:click", "blink.user_timing", {"detail": detail}),
        event(5_300_100, "EventDispatch", "devtools.timeline", {"type": "click"}),
        event(5_400_000, "ResourceSendRequest", "devtools.timeline",
              {"requestId": "1.1", "url": app + "api/labels", "requestMethod": "POST"}),
        # A second sequence: interned names and annotation names, and times
        # on its own incremental clock (id 64, in microseconds).
        pb((10, 8), (13, 1), (12, pb((2, [pb((1, 1), (2, "EventDispatch")),
                                          pb((1, 2), (2, "tracepipe:keydown"))]),
                                      (1, [pb((1, 1), (2, "devtools.timeline"))]),
                                      (3, [pb((1, 1), (2, "data")), pb((1, 2), (2, "type"))]),
                                      (29, [pb((1, 1), (2, b"keydown"))])))),
        pb((10, 8), (59, pb((58, 64), (11, pb((11, 3)))))),
        pb((8, 500), (10, 8), (11, pb((10, 1), (3, [1]), (9, 3),
                                       (4, [pb((1, 1), (11, [pb((1, 2), (17, 1))]))])))),
        pb((8, 10), (10, 8), (11, pb((10, 2), (3, [1]), (9, 3),
                                      (4, [pb((1, 1), (9, json.dumps({"detail": json.dumps({"key": "Enter"})})))])))),
    ]
    return b"".join(b"\x0a" + encode_varint(len(p)) + p for p in packets)


def perfetto_seeds(out):
    """Cuts of the Perfetto twin of a wild recording. Event names are interned
    per packet sequence, so a cut keeps, for each event it takes, the
    sequence's packets before it that carry no event (descriptors, clocks,
    defaults) and the interned data of those that do, without their events."""
    os.makedirs(out, exist_ok=True)
    with gzip.open(os.path.join(FIXTURES, "recordings-wild/label_add_remove.pftrace.gz"), "rb") as f:
        data = f.read()
    packets, i = [], 0
    while i < len(data):
        length, j = varint(data, i + 1)
        packets.append(data[j:j + length])
        i = j + length

    def frame(selected):
        return b"".join(b"\x0a" + encode_varint(len(p)) + p for p in selected)

    def context(hits):
        wanted_seqs = {field_varint(packets[h], SEQUENCE_ID) for h in hits}
        last = max(hits)
        kept = []
        for k, p in enumerate(packets[:last + 1]):
            fs = fields(p)
            numbers = {n for n, _ in fs}
            if k in hits:
                kept.append(p)
            elif TRACK_DESCRIPTOR in numbers:
                # The process and thread tracks events belong to, which
                # another sequence may describe: the browser's process.
                if len(p) < 300 and (field_varint(p, SEQUENCE_ID) in wanted_seqs or b"Browser" in p):
                    kept.append(p)
            elif field_varint(p, SEQUENCE_ID) in wanted_seqs:
                if TRACK_EVENT not in numbers:
                    kept.append(p)
                elif INTERNED_DATA in numbers:
                    kept.append(b"".join(raw for n, raw in fs if n != TRACK_EVENT))
        return kept

    groups = {
        "nav": [b"TracingStartedInBrowser", b"navigationStart", b"FrameLoader", b"SoftNavigation"],
        "input": [b"tracepipe:click", b"EventDispatch", b"EventTiming"],
        "net": [b"ResourceSendRequest", b"ResourceReceiveResponse", b"ResourceFinish"],
    }
    write(os.path.join(out, "hand-built.pftrace"), hand_built_perfetto())
    write(os.path.join(out, "hand-built.pftrace.gz"), gzip.compress(hand_built_perfetto(), mtime=0))
    for name, needles in groups.items():
        hits = set()
        for needle in needles:
            found = [k for k, p in enumerate(packets) if needle in p and len(p) < 2500]
            hits.update(found[:2])
        write(os.path.join(out, f"wild-{name}.pftrace"), frame(context(hits)))


def input_events_seeds(out):
    os.makedirs(out, exist_ok=True)
    url = "https://mail.example.com/mail/u/0/#inbox"
    def line(ts, action, selector, info, **extra):
        event = {"suite": "gmail", "tab": 1, "url": url, "timestamp": ts, "action": action,
                 "selector": selector, "additional_info": info}
        event.update(extra)
        return json.dumps(event)
    lines = [
        line("2026-01-06T20:30:01.337745+00:00", "scroll", {"tag": "div", "id": "main", "class": "a b"},
             {"scroll_x": 0, "scroll_y": 100}),
        line("2026-01-06T20:30:02.000000+00:00", "click", {"tag": "div", "role": "button", "label": "Compose"}, {}),
        line("2026-01-06T20:30:03.5+00:00", "input", {"tag": "input", "name": "cardnumber"},
             {"value": "4111111111111111"}),
        line("2026-01-06T20:30:04+00:00", "screenshot", None, None, image_format="jpeg",
             viewport={"width": 1280, "height": 800}, filename="shot_0001.jpg"),
        line("2026-01-06T20:30:05Z", "keydown", {"tag": "input", "type": "search"}, {"key": "Enter", "ctrl": True}),
        line("2026-01-06T20:30:06+02:00", "change", {"tag": "select", "aria-label": "Label"},
             {"value": "Work", "checked": True, "aria-checked": "true"}),
        line("2026-01-06T20:30:07+00:00", "navigate", {}, {"from": url, "to": url + "/sent"}),
    ]
    write(os.path.join(out, "session.jsonl"), ("\n".join(lines) + "\n").encode())
    write(os.path.join(out, "crlf-blank.jsonl"), ("\r\n\r\n".join(lines[:3]) + "\r\n").encode())
    write(os.path.join(out, "screenshot.jsonl"), (lines[3] + "\n" + lines[1]).encode())
    write(os.path.join(out, "session.jsonl.gz"), gzip.compress(("\n".join(lines[4:]) + "\n").encode(), mtime=0))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    json_seeds(os.path.join(out, "chrome_json"))
    perfetto_seeds(os.path.join(out, "perfetto"))
    input_events_seeds(os.path.join(out, "input_events"))


if __name__ == "__main__":
    main()
