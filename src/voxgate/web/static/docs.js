// Swagger UI start-up, kept out of the HTML so the page works under a CSP without inline scripts.
window.ui = window.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  // Requests made from the page carry the session cookie; state-changing ones need an Origin, which the
  // browser sends.
  withCredentials: true,
});
