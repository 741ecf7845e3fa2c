"""The thread and OpenUSD: stages imported as scenes and bindings, and twin state written
back as an overlay layer."""
