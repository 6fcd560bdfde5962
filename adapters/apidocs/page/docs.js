// Renders the OpenAPI document named by #swagger-ui's data-openapi-url with
// the vendored Swagger UI. Kept out of index.html so the page runs under a
// Content-Security-Policy without 'unsafe-inline' scripts.
window.addEventListener("load", function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "BaseLayout",
    // The default validator badge calls a public service; the page must
    // work, and leak nothing, without internet access.
    validatorUrl: null,
    docExpansion: "list",
    defaultModelsExpandDepth: 0
  });
});
