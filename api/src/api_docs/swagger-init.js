// Starts Swagger UI on /v1/docs. The document's URL is resolved against the
// page's, so the page works under whatever prefix a proxy adds.
"use strict";
window.ui = SwaggerUIBundle({
  url: new URL("openapi.json", document.baseURI).href,
  dom_id: "#swagger-ui",
  deepLinking: true,
  // The default sends the document to validator.swagger.io for a badge.
  validatorUrl: null,
  // Only the document above: no ?url= or ?configUrl= from a link.
  queryConfigEnabled: false,
});
