// Starts ReDoc on /v1/redoc. The document's URL is resolved against the
// page's, so the page works under whatever prefix a proxy adds. ReDoc's
// default fonts (Roboto, Montserrat) are web fonts its examples load from
// Google; the page loads nothing from elsewhere, so it names local ones.
"use strict";
Redoc.init(
  new URL("openapi.json", document.baseURI).href,
  {
    expandResponses: "200,201",
    theme: {
      typography: {
        fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        headings: { fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" },
        code: { fontFamily: "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace" },
      },
    },
  },
  document.getElementById("redoc"),
);
