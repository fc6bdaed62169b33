"""`kerascli schema` and `kerascli init` (registered on the main app)."""
