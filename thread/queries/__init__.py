"""The questions people ask of the thread, one module per CLI verb: `trace`, `where-used`,
`recall`, `as-of`, `diff`, `path`, `show`, `query`, `status`, `twin`."""
