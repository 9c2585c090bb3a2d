// Tracker's page: a hash-routed single page over the JSON API.
//
//   #issues          the current repository's issues (Open / Closed tabs)
//   #issues/new      a new issue
//   #issues/<n>      one issue, its comments, a comment box, Close / Reopen
//   #search/<q>      issues of every repository matching q
//
// Everything a person acts on has an accessible name; issue links, forms and
// their controls carry the repository and issue as data-* attributes, which
// is all the capture contract asks of an application.

"use strict";

(function () {
  const state = { owner: "acme", repo: "widgets", tab: "open", repos: [] };
  const view = document.getElementById("view");
  const toastBox = document.querySelector(".toast");

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  // Shows `nodes` (nested lists and nulls allowed) as the view.
  function show(...nodes) {
    view.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
  }

  async function api(method, url, body) {
    const res = await fetch(url, {
      method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json();
    if (!res.ok) throw new Error(json.error || res.statusText);
    return json;
  }

  const repoPath = (owner, repo) => `/api/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`;
  const repoData = (owner, repo) => ({ "data-owner": owner, "data-repo": repo });
  const issueData = (owner, repo, number) => ({ ...repoData(owner, repo), "data-issue-number": String(number) });

  let toastTimer;
  function toast(text) {
    toastBox.textContent = text;
    toastBox.classList.add("shown");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => toastBox.classList.remove("shown"), 2500);
  }

  function chips(labels) {
    return labels.map((l) => h("span", { class: `chip ${l}` }, l));
  }

  // A link to an issue, named "Issue 12: its title" wherever it is listed.
  function issueLink(owner, repo, issue) {
    return h("li", {},
      h("a", {
        href: `#issues/${issue.number}`,
        "aria-label": `Issue ${issue.number}: ${issue.title}`,
        ...issueData(owner, repo, issue.number),
        onclick: () => { state.owner = owner; state.repo = repo; },
      }, issue.title),
      chips(issue.labels),
      h("div", { class: "meta" }, `#${issue.number} in ${owner}/${repo} · ${issue.state} · ${issue.comments} comments`));
  }

  function renderRepos() {
    const nav = document.querySelector(".repos");
    nav.replaceChildren(
      ...state.repos.map((r) => h("button", {
        type: "button",
        "aria-pressed": String(r.owner === state.owner && r.repo === state.repo),
        onclick: () => {
          state.owner = r.owner;
          state.repo = r.repo;
          state.tab = "open";
          if (location.hash === "#issues") route();
          else location.hash = "#issues";
        },
      }, `${r.owner}/${r.repo}`)));
  }

  async function showList() {
    const { owner, repo, tab } = state;
    renderRepos();
    const issues = await api("GET", `${repoPath(owner, repo)}/issues?state=${tab}`);
    const tabButton = (value, name) => h("button", {
      type: "button",
      class: "tab",
      "aria-pressed": String(tab === value),
      ...repoData(owner, repo),
      "data-state": value,
      onclick: () => { state.tab = value; showList(); },
    }, name);
    show(
      h("h1", {}, `${owner}/${repo}`),
      h("div", { class: "bar" },
        tabButton("open", "Open"), tabButton("closed", "Closed"),
        h("span", { class: "grow" }),
        h("button", { type: "button", class: "primary", ...repoData(owner, repo), onclick: () => { location.hash = "#issues/new"; } }, "New issue")),
      issues.length
        ? h("ul", { class: "issues", "aria-label": `${tab === "open" ? "Open" : "Closed"} issues` }, issues.map((i) => issueLink(owner, repo, i)))
        : h("p", {}, "No issues here."));
  }

  // Ctrl+Enter (or Cmd+Enter) in a text area submits its form.
  const submitOnCtrlEnter = (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      event.target.form.requestSubmit();
    }
  };

  function showNew() {
    const { owner, repo } = state;
    renderRepos();
    const ids = repoData(owner, repo);
    const form = h("form", { class: "editor", "aria-label": "New issue", ...ids },
      h("label", { for: "issue-title" }, "Title"),
      h("input", { type: "text", id: "issue-title", name: "title", required: true, autocomplete: "off", ...ids }),
      h("label", { for: "issue-body" }, "Description"),
      h("textarea", { id: "issue-body", name: "body", ...ids, onkeydown: submitOnCtrlEnter }),
      h("fieldset", {}, h("legend", {}, "Labels"),
        (state.repos.find((r) => r.owner === owner && r.repo === repo) || { labels: [] }).labels.map((l) =>
          h("label", {}, h("input", { type: "checkbox", name: "labels", value: l, "data-label": l }), ` ${l}`))),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: () => { location.hash = "#issues"; } }, "Cancel"),
        h("button", { type: "submit", class: "primary", ...ids }, "Submit new issue")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const title = form.elements.title.value.trim();
      if (!title) return;
      const labels = [...form.querySelectorAll("input[name=labels]:checked")].map((c) => c.value);
      const created = await api("POST", `${repoPath(owner, repo)}/issues`, { title, body: form.elements.body.value, labels });
      toast(`Issue #${created.number} created.`);
      location.hash = `#issues/${created.number}`;
    });
    show(h("h1", {}, `New issue in ${owner}/${repo}`), form);
  }

  async function findIssue(number) {
    const here = await api("GET", `${repoPath(state.owner, state.repo)}/issues/${number}`).catch(() => null);
    if (here) return here;
    for (const r of state.repos) {
      const there = await api("GET", `${repoPath(r.owner, r.repo)}/issues/${number}`).catch(() => null);
      if (there) {
        state.owner = r.owner;
        state.repo = r.repo;
        return there;
      }
    }
    return null;
  }

  async function showIssue(number) {
    const issue = await findIssue(number);
    renderRepos();
    if (!issue) {
      show(h("h1", {}, "No such issue"));
      return;
    }
    const { owner, repo } = state;
    const ids = issueData(owner, repo, number);
    const form = h("form", { class: "editor", "aria-label": "Add a comment", ...ids },
      h("label", { for: "comment-body" }, "Add a comment"),
      h("textarea", { id: "comment-body", name: "body", ...ids, onkeydown: submitOnCtrlEnter }),
      h("div", { class: "actions" },
        issue.state === "open"
          ? h("button", { type: "button", class: "secondary", ...ids, "data-state": "closed", onclick: () => setState("closed") }, "Close issue")
          : h("button", { type: "button", class: "secondary", ...ids, "data-state": "open", onclick: () => setState("open") }, "Reopen issue"),
        h("button", { type: "submit", class: "primary", ...ids }, "Comment")));
    async function setState(next) {
      await api("PATCH", `${repoPath(owner, repo)}/issues/${number}`, { state: next });
      toast(next === "closed" ? `Issue #${number} closed.` : `Issue #${number} reopened.`);
      showIssue(number);
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = form.elements.body.value.trim();
      if (!body) return;
      await api("POST", `${repoPath(owner, repo)}/issues/${number}/comments`, { body: form.elements.body.value });
      toast("Comment added.");
      showIssue(number);
    });
    show(
      h("a", { href: "#issues" }, "Back to issues"),
      h("h1", {}, `${issue.title} `, h("span", { class: "meta" }, `#${issue.number}`)),
      h("div", { class: "bar" }, h("span", { class: `state ${issue.state}` }, issue.state === "open" ? "Open" : "Closed"), chips(issue.labels)),
      h("article", { class: "comment" }, h("header", {}, `${issue.author} opened this issue`), h("p", {}, issue.body)),
      issue.comments.map((c) => h("article", { class: "comment" }, h("header", {}, `${c.author} commented`), h("p", {}, c.body))),
      form);
  }

  async function showSearch(q) {
    renderRepos();
    const results = await api("GET", `/api/search/issues?q=${encodeURIComponent(q)}`);
    document.querySelector(".search input").value = q;
    show(
      h("h1", {}, `${results.length} results for “${q}”`),
      results.length ? h("ul", { class: "issues", "aria-label": "Search results" }, results.map((i) => issueLink(i.owner, i.repo, i))) : h("p", {}, "Nothing matches."));
  }

  async function route() {
    const hash = decodeURIComponent(location.hash || "#issues");
    let m;
    if (hash === "#issues/new") showNew();
    else if ((m = /^#issues\/(\d+)$/.exec(location.hash))) await showIssue(Number(m[1]));
    else if ((m = /^#search\/(.*)$/.exec(location.hash))) await showSearch(decodeURIComponent(m[1]));
    else if (hash === "#issues") await showList();
    else location.hash = "#issues";
  }

  document.querySelector(".search").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = event.target.elements.q.value.trim();
    if (q) location.hash = `#search/${encodeURIComponent(q)}`;
  });
  const dialog = document.querySelector(".shortcuts");
  document.querySelector(".help").addEventListener("click", () => dialog.showModal());
  document.querySelector(".close-shortcuts").addEventListener("click", () => dialog.close());

  window.addEventListener("hashchange", route);
  api("GET", "/api/repos").then((repos) => {
    state.repos = repos;
    route();
  });
})();
