"""Tools for the course's maintainers (site build, ...); lessons never import them."""
