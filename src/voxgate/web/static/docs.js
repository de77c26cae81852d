// Swagger UI start-up, kept out of the HTML so the page works under a CSP without inline scripts.
window.ui = window.SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui" });
