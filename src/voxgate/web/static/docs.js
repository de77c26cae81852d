// Swagger UI start-up, kept out of the HTML so the page works under a CSP without inline scripts.
window.ui = window.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  // No deep links: Swagger UI puts each as a link inside the operation's button (nested controls, which
  // screen readers cannot reach).
  deepLinking: false,
  // Requests made from the page carry the session cookie; state-changing ones need an Origin, which the
  // browser sends.
  withCredentials: true,
});
