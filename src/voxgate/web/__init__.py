"""The web layer: FastAPI app, routes, auth, error rendering, static console. The composition root."""
