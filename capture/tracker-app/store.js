// Tracker's in-memory data: two repositories with a few issues each. Every
// `reset()` puts back the same issues, so recordings repeat.

"use strict";

const LABELS = ["bug", "enhancement", "documentation", "question"];

function seed() {
  const issue = (number, title, labels, state = "open", comments = []) => ({
    number,
    title,
    body: `${title}. Seen on the main branch.`,
    labels,
    state,
    author: "mira",
    comments: comments.map((body) => ({ author: "jon", body })),
  });
  return {
    "acme/widgets": [
      issue(12, "Crash when saving an empty widget", ["bug"], "open", ["I can reproduce this on 2.3."]),
      issue(14, "Add a dark theme", ["enhancement"]),
      issue(15, "Slider ignores keyboard arrows", ["bug"]),
      issue(17, "Document the plugin API", ["documentation"]),
      issue(18, "Export widgets as SVG", ["enhancement"]),
      issue(19, "Tooltip flickers on hover", ["bug"]),
      issue(21, "Support right-to-left layouts", ["enhancement"]),
      issue(22, "Memory grows after each undo", ["bug"]),
      issue(9, "Old build script fails on Windows", ["bug"], "closed"),
      issue(7, "Rename the settings panel", ["question"], "closed"),
    ],
    "acme/website": [
      issue(31, "Broken link on the pricing page", ["bug"]),
      issue(33, "Add a changelog page", ["documentation"]),
      issue(34, "Search results show drafts", ["bug"]),
      issue(36, "Compress the hero images", ["enhancement"]),
      issue(38, "Footer overlaps on small screens", ["bug"]),
      issue(28, "Move the blog to the new theme", ["enhancement"], "closed"),
    ],
  };
}

class Store {
  constructor() {
    this.reset();
  }

  reset() {
    this.data = seed();
    this.next = { "acme/widgets": 23, "acme/website": 39 };
  }

  repos() {
    return Object.keys(this.data).map((full) => {
      const [owner, repo] = full.split("/");
      return { owner, repo, open: this.data[full].filter((i) => i.state === "open").length, labels: LABELS };
    });
  }

  issues(owner, repo) {
    return this.data[`${owner}/${repo}`];
  }

  list(owner, repo, state) {
    const all = this.issues(owner, repo);
    if (!all) return null;
    return all.filter((i) => state === "all" || i.state === state).sort((a, b) => b.number - a.number).map(summary);
  }

  issue(owner, repo, number) {
    const all = this.issues(owner, repo);
    return all && all.find((i) => i.number === number);
  }

  create(owner, repo, { title, body, labels }) {
    const all = this.issues(owner, repo);
    if (!all) return null;
    if (!title || !String(title).trim()) return { error: "an issue needs a title" };
    const key = `${owner}/${repo}`;
    const created = {
      number: this.next[key]++,
      title: String(title),
      body: String(body || ""),
      labels: (labels || []).filter((l) => LABELS.includes(l)),
      state: "open",
      author: "you",
      comments: [],
    };
    all.push(created);
    return created;
  }

  update(owner, repo, number, { state }) {
    const issue = this.issue(owner, repo, number);
    if (!issue) return null;
    if (state !== "open" && state !== "closed") return { error: "state is open or closed" };
    issue.state = state;
    return issue;
  }

  comment(owner, repo, number, { body }) {
    const issue = this.issue(owner, repo, number);
    if (!issue) return null;
    if (!body || !String(body).trim()) return { error: "a comment needs a body" };
    issue.comments.push({ author: "you", body: String(body) });
    return issue;
  }

  // Words must all appear in the title; `is:open`, `is:closed`, `label:x`
  // and `repo:owner/name` narrow the results.
  search(q) {
    const words = [];
    const want = {};
    for (const part of q.split(/\s+/).filter(Boolean)) {
      const m = /^(is|label|repo):(.+)$/.exec(part);
      if (m) want[m[1]] = m[2];
      else words.push(part.toLowerCase());
    }
    const out = [];
    for (const [full, all] of Object.entries(this.data)) {
      if (want.repo && want.repo !== full) continue;
      for (const i of all) {
        if (want.is && i.state !== want.is) continue;
        if (want.label && !i.labels.includes(want.label)) continue;
        if (!words.every((w) => i.title.toLowerCase().includes(w))) continue;
        const [owner, repo] = full.split("/");
        out.push({ owner, repo, ...summary(i) });
      }
    }
    return out;
  }
}

function summary(i) {
  return { number: i.number, title: i.title, labels: i.labels, state: i.state, comments: i.comments.length };
}

module.exports = { Store, LABELS };
